"""The plain loop: the same Parquet reads and writes by hand, in this fresh process.

    python benchmarks/peers/loop.py MODULE ROOT

MODULE is the generated loop module (``generate.py loop ...``). It reruns
everything on every call: it has no way to know what is fresh.
"""

from __future__ import annotations

import argparse

from _measure import load_module, phase, report, run

parser = argparse.ArgumentParser()
parser.add_argument("module")
parser.add_argument("root")
parser.add_argument("--profile", default=None)
args = parser.parse_args()

with phase("polars"):
    import polars  # noqa: F401
with phase("import"):
    pass
module = load_module(args.module)
ran = run(lambda: module.run(args.root), args.profile)
report(ran=ran, skipped=0, failed=0)
