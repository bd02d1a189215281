"""Executors compared: speed-up on CPU-heavy assets, and the cost of scheduling tiny ones.

Run as ``python benchmarks/bench_executors.py`` (``run_all.py --extras`` runs it
too; it is information, not a target of issue 13). Two measurements, each
against ``executor="sync"`` measured in the same process on the same machine:

1. 16 independent CPU-heavy assets (a pure-Python loop, about 0.25 s each),
   under sync, threads, processes and a Dask LocalCluster of two worker
   processes: wall time and speed-up over sync.
2. 1,000 tiny independent assets returning a dict (JSON products), under each
   executor: what scheduling costs per asset in one warm process. The targets
   for tiny assets (fresh processes, Parquet, against the plain loop, sync and
   threads) are ``bench_core.py``'s.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
import tempfile
import time
from typing import Any

from assetry import materialize

HEAVY = 16
TINY = 1000
TARGET_S = 0.25


def spin(n: int) -> int:
    """The heavy assets' work: a pure-Python loop (it holds the GIL)."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


def calibrate() -> int:
    """Loop count for about ``TARGET_S`` seconds of ``spin`` on this machine."""
    n = 200_000
    t0 = time.perf_counter()
    spin(n)
    return int(n * TARGET_S / (time.perf_counter() - t0))


def heavy_source(n_loop: int) -> str:
    """A module of independent heavy assets."""
    lines = ["from assetry import asset", "", f"N = {n_loop}", ""]
    for i in range(HEAVY):
        lines += [
            "@asset", f"def heavy_{i}() -> dict:", "    total = 0",
            "    for j in range(N):", "        total = (total + j * j) % 1_000_003",
            f'    return {{"asset": {i}, "total": total}}', "",
        ]
    return "\n".join(lines)


def tiny_source() -> str:
    """A module of ``TINY`` independent assets returning a small dict."""
    lines = ["from assetry import asset", ""]
    for i in range(TINY):
        lines += ["@asset", f"def tiny_{i}() -> dict:", f'    return {{"i": {i}}}', ""]
    return "\n".join(lines)


def load(directory: pathlib.Path, name: str, text: str) -> Any:
    """Write a module file and import it by path (as a user's pipeline file)."""
    path = directory / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def timed_run(module: Any, executor: Any, directory: pathlib.Path, **kw: Any) -> float:
    """Wall seconds of one first run of every asset into a fresh root."""
    root = pathlib.Path(tempfile.mkdtemp(dir=directory))
    t0 = time.perf_counter()
    result = materialize(module, root=root, executor=executor, **kw)
    elapsed = time.perf_counter() - t0
    assert len(result.materialized) == len(result.records), result.failed
    return elapsed


def inline_seconds(module: Any, prefix: str, count: int) -> float:
    """Seconds to call the asset functions directly, one after another."""
    fns = [getattr(module, f"{prefix}_{i}") for i in range(count)]
    t0 = time.perf_counter()
    for fn in fns:
        fn()
    return time.perf_counter() - t0


def main() -> None:
    """Run both benchmarks and print the figures."""
    from distributed import Client, LocalCluster

    cores = os.cpu_count()
    print(f"assetry executor benchmark on {cores} cores, Python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = pathlib.Path(tmp)
        heavy = load(directory, "bench_heavy", heavy_source(calibrate()))
        tiny = load(directory, "bench_tiny", tiny_source())
        t0 = time.perf_counter()
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = Client(cluster)
        print(f"Dask LocalCluster (2 worker processes) started in {time.perf_counter() - t0:.2f} s")
        executors: list[tuple[str, Any]] = [
            ("sync", "sync"), ("threads", "threads"), ("processes", "processes"),
            ("dask", client),
        ]
        try:
            timed_run(heavy, "processes", directory)  # starts the fork server once
            timed_run(heavy, client, directory)  # ships the module to the workers once
            heavy_table(heavy, executors, directory)
            tiny_table(tiny, executors, directory)
        finally:
            client.close()
            cluster.close()
    print(f"\nload average at the end {os.getloadavg()[0]:.2f} (other work on the machine skews figures)")


def heavy_table(module: Any, executors: list[tuple[str, Any]], directory: pathlib.Path) -> None:
    """Print wall time and speed-up over sync for the heavy assets."""
    inline = inline_seconds(module, "heavy", HEAVY)
    print(f"\n{HEAVY} CPU-heavy assets, {inline / HEAVY:.3f} s each inline ({inline:.2f} s in all)")
    print(f"{'executor':<10} {'wall s':>8} {'speed-up vs sync':>17}")
    base = None
    for name, executor in executors:
        wall = min(timed_run(module, executor, directory) for _ in range(2))
        base = base or wall
        print(f"{name:<10} {wall:>8.2f} {base / wall:>16.2f}x")


def tiny_table(module: Any, executors: list[tuple[str, Any]], directory: pathlib.Path) -> None:
    """Print each executor's per-asset cost above inline calls, for tiny assets."""
    inline = inline_seconds(module, "tiny", TINY)
    print(f"\n{TINY} tiny assets; inline calls take {inline * 1e6 / TINY:.2f} us per asset")
    print(f"{'executor':<10} {'wall s':>8} {'overhead s/asset':>17} {'vs sync s/asset':>16}")
    sync_wall = None
    for name, executor in executors:
        wall = timed_run(module, executor, directory)
        sync_wall = sync_wall or wall
        per = (wall - inline) / TINY
        print(f"{name:<10} {wall:>8.2f} {per:>17.5f} {(wall - sync_wall) / TINY:>16.5f}")


if __name__ == "__main__":
    main()
