"""Hamilton with its cache: the same generated pipeline, in this fresh process.

    python benchmarks/peers/hamilton_cache.py MODULE ROOT

The Hamilton idiom: build a driver over the module with ``.with_cache(path=ROOT)``
and request every node. Cold when ROOT is empty; a rerun finds its results in
the cache. Runs only where ``sf-hamilton`` is installed (it is not a dependency).
"""

from __future__ import annotations

import argparse

from _measure import load_module, phase, preimport, report, run

parser = argparse.ArgumentParser()
parser.add_argument("module")
parser.add_argument("root")
parser.add_argument("--preimport", default="")
parser.add_argument("--profile", default=None)
args = parser.parse_args()

with phase("polars"):
    import polars  # noqa: F401
with phase("import"):
    from hamilton import driver

module = load_module(args.module)
preimport(args.preimport)
names = [n for n in vars(module) if n.startswith("a") and n[1:].isdigit()]


def pipeline() -> int:
    dr = driver.Builder().with_modules(module).with_cache(path=args.root).build()
    dr.execute(names)
    return len(names)


ran = run(pipeline, args.profile)
report(ran=ran, skipped=0, failed=0)
