"""Benchmark: planning and running a wide partitioned pipeline.

Three daily-partitioned assets over ten years (3,650 partitions each, 10,950
steps), chained partition to partition, plus one unpartitioned summary of
every partition. Measures:

- the first run (every partition materialized),
- a no-op run (every step fresh): total wall time and the planning share,
- one new partition (``end`` widened by a day) against the full first run.

Run it with ``python benchmarks/bench_partitions.py [--days N] [--root DIR]``.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import pathlib
import pstats
import sys
import tempfile
import textwrap
import time

PIPELINE = '''
import datetime
import polars as pl
from assetry import DailyPartitions, asset

DAYS = DailyPartitions("2000-01-01", "{end}")

@asset(partitions=DAYS)
def raw(partition: datetime.date) -> pl.DataFrame:
    return pl.DataFrame({{"date": [partition], "n": [partition.day]}})

@asset(partitions=DAYS)
def cleaned(partition: datetime.date, raw: pl.DataFrame) -> pl.DataFrame:
    return raw.with_columns(n2=pl.col("n") * 2)

@asset(partitions=DAYS)
def enriched(partition: datetime.date, cleaned: pl.DataFrame) -> pl.DataFrame:
    return cleaned.with_columns(n3=pl.col("n2") + 1)

@asset
def summary(enriched: pl.LazyFrame) -> pl.DataFrame:
    return enriched.select(pl.len(), pl.col("n3").sum()).collect()
'''


def _load(directory: pathlib.Path, end: str, serial: int) -> object:
    path = directory / f"bench_pipeline_{serial}.py"
    path.write_text(textwrap.dedent(PIPELINE.format(end=end)))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _timed(label: str, fn: object) -> tuple[float, object]:
    """Wall seconds, and this thread's CPU seconds (steady on a busy machine)."""
    t0, c0 = time.perf_counter(), time.thread_time()
    out = fn()  # type: ignore[operator]
    took, cpu = time.perf_counter() - t0, time.thread_time() - c0
    print(f"{label:<44} {took:8.3f} s wall {cpu:8.3f} s cpu")
    return took, out


def main() -> None:
    """Run the benchmark and print the figures."""
    import datetime as dt

    from assetry import Catalog, materialize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3650)
    parser.add_argument("--root", default=None)
    parser.add_argument("--profile", action="store_true", help="profile the no-op run")
    args = parser.parse_args()
    base = pathlib.Path(args.root or tempfile.mkdtemp(prefix="assetry-bench-"))
    root = base / "data"
    end = dt.date(2000, 1, 1) + dt.timedelta(days=args.days - 1)
    print(f"{args.days:,} daily partitions x 3 assets + 1 summary, root {root}")

    module = _load(base, end.isoformat(), 0)
    full, first = _timed("first run (every partition)", lambda: materialize(module, root=root))
    assert len(first.materialized) == 3 * args.days + 1, first  # type: ignore[attr-defined]

    _, noop = _timed("no-op run (materialize, everything fresh)", lambda: materialize(module, root=root))
    assert noop.materialized == [], noop.materialized  # type: ignore[attr-defined]
    _timed("no-op plan (Catalog.status)", lambda: Catalog(root / "catalog.duckdb").status(module))
    wall, cpu = _plan_time(module, root)
    print(f"{'no-op planning inside the run':<44} {wall:8.3f} s wall {cpu:8.3f} s cpu")
    if args.profile:
        cProfile.runctx("materialize(module, root=root)", globals(), {
            "materialize": materialize, "module": module, "root": root}, str(base / "bench.prof"))
        pstats.Stats(str(base / "bench.prof")).sort_stats("cumulative").print_stats(25)

    wider = _load(base, (end + dt.timedelta(days=1)).isoformat(), 1)
    one, result = _timed("one new partition (end widened by a day)", lambda: materialize(wider, root=root))
    ran = result.materialized  # type: ignore[attr-defined]
    print(f"  materialized: {', '.join(ran)}")
    print(f"one new partition costs {one / full:.1%} of the full run")


def _plan_time(module: object, root: pathlib.Path) -> tuple[float, float]:
    """Wall and CPU seconds spent planning a no-op run: graph, steps, observations, decisions."""
    from assetry.engine import runner

    wall = cpu = 0.0
    original = runner._Run._plan

    def timed_plan(self: object, step: object) -> object:
        nonlocal wall, cpu
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return original(self, step)  # type: ignore[arg-type]
        finally:
            wall += time.perf_counter() - t0
            cpu += time.thread_time() - c0

    runner._Run._plan = timed_plan  # type: ignore[method-assign]
    try:
        t0, c0 = time.perf_counter(), time.thread_time()
        graph = runner.AssetGraph.build(module)
        runner.expand(graph, runner.run_keys(graph, graph.order))
        wall += time.perf_counter() - t0
        cpu += time.thread_time() - c0
        runner.materialize(module, root=root)
    finally:
        runner._Run._plan = original  # type: ignore[method-assign]
    return wall, cpu


if __name__ == "__main__":
    main()
