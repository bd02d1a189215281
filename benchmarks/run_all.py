"""Run every benchmark, one after another: ``python benchmarks/run_all.py``.

Each benchmark measures its own baseline in the same run and prints ratios
against it. The PostgreSQL upload benchmark reads ``ASSETRY_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/test``). ``--quick`` shrinks the sizes for
a smoke run; the figures quoted in the README and issue notes use the defaults.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent

FULL = [
    ["bench_core.py"],
    ["bench_upload.py", "--skip-multi"],
    ["bench_executors.py"],
    ["bench_partitions.py"],
]
QUICK = [
    ["bench_core.py", "--assets", "200", "--rows", "1000000"],
    ["bench_upload.py", "--rows", "100000", "--skip-multi"],
    ["bench_executors.py"],
    ["bench_partitions.py", "--days", "365"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    failed = 0
    for cmd in QUICK if args.quick else FULL:
        print(f"\n=== {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / cmd[0]), *cmd[1:]])
        print(f"=== {cmd[0]} finished in {time.perf_counter() - t0:.1f}s (exit {rc})", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
