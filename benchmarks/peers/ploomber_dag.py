"""Ploomber: the same pipeline as a DAG of PythonCallable tasks, in this fresh process.

    python benchmarks/peers/ploomber_dag.py MODULE ROOT

MODULE is the generated Ploomber module (``generate.py ploomber ...``); its
``make_dag(ROOT)`` builds the DAG and ``dag.build()`` runs what is outdated
(Ploomber keeps its metadata beside each product). Runs only where
``ploomber`` is installed (it is not a dependency).
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
    import ploomber  # noqa: F401

module = load_module(args.module)
preimport(args.preimport)


def pipeline() -> int:
    dag = module.make_dag(args.root)
    dag.build(force=False, show_progress=False)
    return module.N


ran = run(pipeline, args.profile)
report(ran=ran, skipped=0, failed=0)
