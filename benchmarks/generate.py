"""Generate the benchmark pipelines: the same tiny polars assets for every library.

    python benchmarks/generate.py {assetry,loop,hamilton,ploomber,dagster} {chain,wide} N DIR

Every pipeline has N assets named ``a0`` ... ``a{N-1}``. ``a0`` builds a
10-row frame; every other asset reads its upstream, adds 1 to the column
``x`` and stores the 10-row result. The two shapes:

- ``chain``: ``a{i}`` reads ``a{i-1}`` (one long dependency chain);
- ``wide``: every ``a{i}`` reads ``a0`` (N - 1 independent assets).

Each library gets the module a user of it would write (its own idiom), written
as a fresh ``.py`` file so that a benchmark imports it the way a user's
pipeline is imported. The plain loop is the floor: the same reads and writes of
the same Parquet files, by hand, with no bookkeeping at all.
"""

from __future__ import annotations

import argparse
import pathlib

__all__ = ["LIBRARIES", "SHAPES", "parent", "source", "write_module"]

SHAPES = ("chain", "wide")
LIBRARIES = ("assetry", "loop", "hamilton", "ploomber", "dagster")
ROWS = 10


def parent(shape: str, i: int) -> int | None:
    """The upstream index of asset ``i`` (None for the first)."""
    if i == 0:
        return None
    return i - 1 if shape == "chain" else 0


def _check(shape: str, n: int) -> None:
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, not {shape!r}")
    if n < 2:
        raise ValueError(f"a pipeline needs at least 2 assets, not {n}")


def _assetry(shape: str, n: int) -> str:
    out = ["import polars as pl", "from assetry import asset", "", ""]
    out += ["@asset", "def a0() -> pl.DataFrame:", f"    return pl.DataFrame({{'x': range({ROWS})}})", ""]
    for i in range(1, n):
        up = f"a{parent(shape, i)}"
        out += [
            "", "@asset", f"def a{i}({up}: pl.DataFrame) -> pl.DataFrame:",
            f"    return {up}.with_columns(pl.col('x') + 1)", "",
        ]
    return "\n".join(out)


def _hamilton(shape: str, n: int) -> str:
    # Hamilton wires nodes by parameter name, exactly as assetry does.
    out = ["import polars as pl", "", ""]
    out += ["def a0() -> pl.DataFrame:", f"    return pl.DataFrame({{'x': range({ROWS})}})", ""]
    for i in range(1, n):
        up = f"a{parent(shape, i)}"
        out += ["", f"def a{i}({up}: pl.DataFrame) -> pl.DataFrame:",
                f"    return {up}.with_columns(pl.col('x') + 1)", ""]
    return "\n".join(out)


def _loop(shape: str, n: int) -> str:
    # The floor: the same Parquet reads and writes, no catalog, no fingerprints, no scheduling.
    return f'''"""The plain loop: {shape} of {n} assets, each read, +1, written as Parquet."""
import pathlib

import polars as pl

N = {n}
SHAPE = {shape!r}


def run(root):
    root = pathlib.Path(root)
    root.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({{"x": range({ROWS})}}).write_parquet(root / "a0.parquet")
    for i in range(1, N):
        up = i - 1 if SHAPE == "chain" else 0
        frame = pl.read_parquet(root / f"a{{up}}.parquet")
        frame.with_columns(pl.col("x") + 1).write_parquet(root / f"a{{i}}.parquet")
    return N
'''


def _ploomber(shape: str, n: int) -> str:
    # Ploomber's Python API: one PythonCallable per asset, a File product, `>>` for edges.
    return f'''"""Ploomber: {shape} of {n} tasks, each a PythonCallable with a Parquet File product."""
import pathlib

import polars as pl
from ploomber import DAG
from ploomber.executors import Serial
from ploomber.products import File
from ploomber.tasks import PythonCallable

N = {n}
SHAPE = {shape!r}


def first(product):
    pl.DataFrame({{"x": range({ROWS})}}).write_parquet(str(product))


def step(upstream, product, up):
    pl.read_parquet(str(upstream[up])).with_columns(pl.col("x") + 1).write_parquet(str(product))


def make_dag(root):
    root = pathlib.Path(root)
    root.mkdir(parents=True, exist_ok=True)
    dag = DAG(executor=Serial(build_in_subprocess=False, catch_exceptions=False))
    tasks = [PythonCallable(first, File(root / "a0.parquet"), dag, name="a0")]
    for i in range(1, N):
        up = i - 1 if SHAPE == "chain" else 0
        task = PythonCallable(step, File(root / f"a{{i}}.parquet"), dag, name=f"a{{i}}",
                              params={{"up": f"a{{up}}"}})
        tasks[up] >> task
        tasks.append(task)
    return dag
'''


def _dagster(shape: str, n: int) -> str:
    # Dagster's software-defined assets; products go through its filesystem IO manager.
    out = ["import polars as pl", "from dagster import asset", "", ""]
    out += ["@asset", "def a0() -> pl.DataFrame:", f"    return pl.DataFrame({{'x': range({ROWS})}})", ""]
    for i in range(1, n):
        up = f"a{parent(shape, i)}"
        out += ["", "@asset", f"def a{i}({up}: pl.DataFrame) -> pl.DataFrame:",
                f"    return {up}.with_columns(pl.col('x') + 1)", ""]
    return "\n".join(out)


_WRITERS = {"assetry": _assetry, "loop": _loop, "hamilton": _hamilton,
            "ploomber": _ploomber, "dagster": _dagster}


def source(library: str, shape: str, n: int) -> str:
    """The text of the pipeline module for ``library``.

    Examples:
        >>> "def a2(a1: pl.DataFrame)" in source("assetry", "chain", 3)
        True
        >>> "def a2(a0: pl.DataFrame)" in source("assetry", "wide", 3)
        True
    """
    _check(shape, n)
    return _WRITERS[library](shape, n)


def write_module(directory: str | pathlib.Path, library: str, shape: str, n: int) -> pathlib.Path:
    """Write the module to ``<directory>/<library>_<shape>_<n>.py`` and return its path."""
    path = pathlib.Path(directory) / f"{library}_{shape}_{n}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source(library, shape, n))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", choices=LIBRARIES)
    parser.add_argument("shape", choices=SHAPES)
    parser.add_argument("n", type=int)
    parser.add_argument("directory")
    args = parser.parse_args()
    print(write_module(args.directory, args.library, args.shape, args.n))


if __name__ == "__main__":
    main()
