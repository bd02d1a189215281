"""Run the benchmarks of every target, then print them all in one table: ``python benchmarks/run_all.py``.

Each target line holds the measured value, the baseline measured in the same
run (the plain Parquet loop, polars by hand, pandas.to_sql, a hand-written
COPY), the ratio or difference, the limit, and PASS or FAIL. Every figure
comes from fresh processes over freshly generated pipeline modules
(``bench_core.py``; ``bench_upload.py`` for PostgreSQL, at ``ASSETRY_TEST_PG``,
default ``postgresql://postgres@127.0.0.1:5432/test``; ``bench_versions.py`` for
reverting a change against the rerun it avoids, and restoring by product size;
``bench_storage.py`` for products on a moto S3 server it starts on 127.0.0.1;
``bench_ui.py`` for a run with ``assetry ui``'s page polling against the run alone;
``bench_sources.py`` for a no-op run with 1,000 source assets against the same run without
them, the whole command and the run alone).

    python benchmarks/run_all.py            # the figures of docs/performance.md (12-15 min on 2 cores)
    python benchmarks/run_all.py --quick    # small N, one run each: a smoke run (~2 min), every line
    python benchmarks/run_all.py --extras   # also the executor and partition benchmarks (information)
    python benchmarks/run_all.py --profile  # also where the time goes (profile_run.py: cProfile, py-spy)

Exit status 0 when every target passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import PEERS, ChildFailed, run_child, table
from generate import write_module

TARGETS = [["bench_core.py"], ["bench_upload.py"], ["bench_versions.py"], ["bench_storage.py"],
           ["bench_ui.py"], ["bench_sources.py"]]
EXTRAS = [["bench_executors.py"], ["bench_partitions.py", "--days", "365"]]
PROFILES = [
    ["profile_run.py", "--shape", "chain", "--assets", "1000", "--executor", "sync"],
    ["profile_run.py", "--shape", "chain", "--assets", "1000", "--executor", "threads"],
    ["profile_run.py", "--shape", "wide", "--assets", "10000", "--executor", "threads"],
    ["profile_run.py", "--shape", "chain", "--assets", "10", "--executor", "sync"],
    ["profile_run.py", "--shape", "chain", "--assets", "10", "--executor", "sync", "--noop"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--extras", action="store_true",
                        help="also run bench_executors.py and bench_partitions.py")
    parser.add_argument("--profile", action="store_true",
                        help="also profile the cold 1,000-asset chain, the 10,000-asset wide graph "
                        "and the 10-asset runs (profile_run.py)")
    args = parser.parse_args()
    began = time.perf_counter()
    print(f"assetry benchmarks on {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}{' (--quick)' if args.quick else ''}", flush=True)
    failed_scripts = []
    with tempfile.TemporaryDirectory() as tmp:
        try:  # a working tree that cannot run a 3-asset pipeline would only waste the long run
            module = write_module(tmp, "assetry", "chain", 3)
            run_child(PEERS / "assetry_run.py", module, pathlib.Path(tmp) / "preflight")
        except ChildFailed as exc:
            print(f"\nassetry cannot run a 3-asset pipeline here; nothing measured:\n{exc}")
            return 2
        results = pathlib.Path(tmp) / "results.jsonl"
        env = {**os.environ, "ASSETRY_BENCH_RESULTS": str(results)}
        for cmd in TARGETS + (EXTRAS if args.extras else []) + (PROFILES if args.profile else []):
            extra = ["--quick"] if args.quick and cmd[0] in ("bench_core.py", "bench_upload.py", "bench_versions.py",
                                                        "bench_storage.py", "bench_ui.py") else []
            if args.quick and cmd[0] == "bench_sources.py":
                extra = ["--repeat", "1", "--gb", "0.02"]
            print(f"\n=== {' '.join(cmd + extra)}", flush=True)
            t0 = time.perf_counter()
            rc = subprocess.call([sys.executable, str(HERE / cmd[0]), *cmd[1:], *extra], env=env)
            print(f"=== {cmd[0]} finished in {time.perf_counter() - t0:.0f} s (exit {rc})", flush=True)
            if rc != 0:
                failed_scripts.append(cmd[0])
        rows = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    passed = sum(r["verdict"] == "PASS" for r in rows)
    failed = sum(r["verdict"] == "FAIL" for r in rows)
    print(f"\n=== every target, {time.perf_counter() - began:.0f} s in all, load average "
          f"{os.getloadavg()[0]:.2f} at the end\n")
    print(table(rows))
    print(f"\n{passed} passed, {failed} failed (targets); "
          f"{'scripts that failed to run: ' + ', '.join(failed_scripts) if failed_scripts else 'every script ran'}")
    return 0 if not failed and not failed_scripts else 1


if __name__ == "__main__":
    sys.exit(main())
