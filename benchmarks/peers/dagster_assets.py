"""Dagster: the same pipeline as software-defined assets, in this fresh process.

    python benchmarks/peers/dagster_assets.py MODULE ROOT

MODULE is the generated Dagster module (``generate.py dagster ...``): one
``@asset`` per function, upstream by parameter name. ``dagster.materialize``
runs every asset in process, storing each through the filesystem IO manager
under ROOT (Dagster has no cache: a rerun runs everything). Runs only where
``dagster`` is installed (it is not a dependency).
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
    import dagster

module = load_module(args.module)
preimport(args.preimport)


def pipeline() -> int:
    assets = dagster.load_assets_from_modules([module])
    dagster.materialize(
        assets, resources={"io_manager": dagster.FilesystemIOManager(base_dir=args.root)}
    )
    return len(assets)


ran = run(pipeline, args.profile)
report(ran=ran, skipped=0, failed=0)
