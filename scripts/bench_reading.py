"""Reading the catalog during a run: how long readers wait, and what they cost the run.

A run of N tiny assets (sync executor) writes the catalog while a reader process
polls ``Catalog.sql`` every ``--every`` seconds. Each round runs the pipeline
three times: with the writer holding the file for the whole run (as before the
release between batches), alone, and with the reader; the script prints each
run's wall time, the reader's longest and median wait, what releasing costs
a run, and what the reader costs it (medians). docs/catalog.md ("Reading
during a run") quotes its figures.

    python scripts/bench_reading.py --assets 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

#: N tiny assets in layers of 50 (each needs the one 50 before it): the runner records a
#: layer as it finishes, so a reader sees the run's progress batch by batch.
PIPELINE = """
from assetry import asset

def make(i):
    def f() -> dict:
        return {{"i": i}}
    deps = [f"a{{i - 50:04d}}"] if i >= 50 else []
    return asset(name=f"a{{i:04d}}", code_version="1", deps=deps)(f)

for _i in range({n}):
    globals()[f"a{{_i:04d}}"] = make(_i)
"""

READER = """
import json, pathlib, sys, time
import duckdb, polars
from assetry import Catalog

cat, stop, every = Catalog(sys.argv[1]), pathlib.Path(sys.argv[2]), float(sys.argv[3])
pathlib.Path(sys.argv[4]).write_text("ready")
waits, seen = [], []
start, c0 = time.perf_counter(), time.process_time()
while not stop.exists():
    t0 = time.perf_counter()
    seen.append(cat.sql("SELECT count(*) FROM materializations").item())
    waits.append(time.perf_counter() - t0)
    time.sleep(every)
print(json.dumps({"waits": waits, "seen": seen, "cpu_s": time.process_time() - c0,
                  "elapsed_s": time.perf_counter() - start}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--every", type=float, default=0.05, help="seconds between reads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(measure(pathlib.Path(tmp), args.assets, args.rounds, args.every), indent=1))


def measure(tmp: pathlib.Path, n: int, rounds: int, every: float) -> dict:
    """Run the pipeline ``rounds`` times alone and with a reader; return the figures."""
    from assetry import Catalog, materialize
    from assetry.cli.targets import load_target

    (tmp / "wide.py").write_text(textwrap.dedent(PIPELINE.format(n=n)))
    (tmp / "reader.py").write_text(READER)
    modules = list(load_target(str(tmp / "wide.py")).modules)
    root = tmp / "data"
    materialize(modules, root=root, executor="sync")  # warm: imports, scan cache
    from assetry.records import _runlock

    release = _runlock.WriterConnection.release
    alone, read, held, waits, reader_cpu = [], [], [], [], []
    _CPU.clear()
    for _ in range(rounds):
        # The writer as before this mechanism: it never lets the file go during a run.
        _runlock.WriterConnection.release = lambda self: None  # type: ignore[method-assign]
        held.append(_timed(materialize, modules, root))
        _runlock.WriterConnection.release = release  # type: ignore[method-assign]
        alone.append(_timed(materialize, modules, root))
        stop, ready = tmp / "stop", tmp / "ready"
        stop.unlink(missing_ok=True)
        ready.unlink(missing_ok=True)
        reader = subprocess.Popen(
            [sys.executable, str(tmp / "reader.py"), str(root / "catalog.duckdb"), str(stop),
             str(every), str(ready)], stdout=subprocess.PIPE, text=True,
        )
        while not ready.exists():
            time.sleep(0.01)
        read.append(_timed(materialize, modules, root))
        stop.write_text("")
        out = json.loads(reader.communicate(timeout=60)[0])
        reader_cpu.append(out["cpu_s"] / max(out["elapsed_s"], 1e-9))
        waits += out["waits"]
    rows = Catalog(root / "catalog.duckdb").sql(
        "SELECT count(*) FROM materializations WHERE status = 'materialized'").item()
    return {
        "assets": n, "rounds": rounds, "holding_s": held, "alone_s": alone, "with_reader_s": read,
        "release_cost": statistics.median(alone) / statistics.median(held) - 1,
        "slowdown": statistics.median(read) / statistics.median(alone) - 1,
        # CPU seconds of the run itself: held, alone, with the reader (every third run each).
        "run_cpu_s": {"holding": statistics.median(_CPU[0::3]), "alone": statistics.median(_CPU[1::3]),
                      "with_reader": statistics.median(_CPU[2::3])},
        "reader_cpu_share": statistics.median(reader_cpu),  # of one core, while polling
        "reads": len(waits), "max_wait_s": max(waits), "median_wait_s": statistics.median(waits),
        "rows_recorded": rows, "rows_expected": n * (1 + 3 * rounds),
    }


_CPU: list[float] = []  # the run's own CPU seconds (every thread of this process), per run


def _timed(materialize, modules, root) -> float:
    t0, c0 = time.perf_counter(), time.process_time()
    materialize(modules, root=root, executor="sync", force=True)
    _CPU.append(time.process_time() - c0)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
