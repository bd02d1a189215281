"""One assetry run of a generated pipeline, in this fresh process.

    python benchmarks/peers/assetry_run.py MODULE ROOT [--executor sync|threads]
        [--preimport a,b,c] [--profile FILE] [--again N]

What a user runs: ``import assetry``, import the pipeline module, call
``materialize(module, root=ROOT)``. Cold when ROOT is empty, a no-op rerun when
it holds the products of a previous run. ``--again N`` then calls it N more times in
the same process (no-op reruns, as a notebook's next calls) and reports their median
as ``again_s``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _measure import load_module, phase, preimport, report, run

parser = argparse.ArgumentParser()
parser.add_argument("module")
parser.add_argument("root")
parser.add_argument("--executor", default="threads")
parser.add_argument("--preimport", default="")
parser.add_argument("--profile", default=None)
parser.add_argument("--again", type=int, default=0)
args = parser.parse_args()

with phase("polars"):
    import polars  # noqa: F401
with phase("import"):
    from assetry import materialize

module = load_module(args.module)
preimport(args.preimport)
result = run(lambda: materialize(module, root=args.root, executor=args.executor), args.profile)
again = []
for _ in range(args.again):
    began = time.perf_counter()
    materialize(module, root=args.root, executor=args.executor)
    again.append(time.perf_counter() - began)
extra = {"again_s": statistics.median(again)} if again else {}
report(ran=len(result.materialized), skipped=len(result.skipped), failed=len(result.failed),
       **extra)
