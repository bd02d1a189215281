"""The floor a run's catalog sets: the DuckDB statements a 10-asset run needs, and nothing else.

    python benchmarks/peers/duckdb_floor.py CATALOG cold|noop [--assets 10]

The catalog is a DuckDB file users query directly (API.md), so every run of a
fresh process pays, at least: a DuckDB instance, attaching the file (``cold``:
creating it in the storage format assetry uses, with the catalog's tables),
reading the ``assets`` rows, one transaction writing the ``runs`` row and one
``materializations`` row per asset, and the checkpoint that leaves no
write-ahead log behind (docs/catalog.md). ``duckdb`` is imported before the
clock starts, as the benchmark's "pipeline time after imports" does. No
engine, no scheduling, no products: whatever a run costs above this is
assetry's own. ``noop`` copies ``CATALOG`` (an existing catalog, left
untouched) and runs on the copy; ``cold`` creates a new file (``CATALOG`` unused: ``-``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from _measure import phase, report

parser = argparse.ArgumentParser()
parser.add_argument("catalog")
parser.add_argument("kind", choices=("cold", "noop"))
parser.add_argument("--assets", type=int, default=10)
args = parser.parse_args()

with phase("import"):
    import duckdb

    from assetry.records._open import STORAGE_VERSION
    from assetry.records._schema import TABLES

work = tempfile.mkdtemp(prefix="assetry-floor-")
path = os.path.join(work, "catalog.duckdb")
if args.kind == "noop":
    shutil.copy(args.catalog, path)
ddl = [
    f'CREATE TABLE IF NOT EXISTS cat."{table}" ('
    + ", ".join(f'"{c}" {t}' for c, t in columns.items()) + ")"
    for table, columns in TABLES.items()
]
steps: dict[str, float] = {}


def timed(name: str, *statements: str) -> None:
    began = time.perf_counter()
    for s in statements:
        con.execute(s)
    steps[name] = steps.get(name, 0.0) + time.perf_counter() - began


began = time.perf_counter()
t0 = time.perf_counter()
con = duckdb.connect(":memory:")
steps["instance"] = time.perf_counter() - t0
option = f" (STORAGE_VERSION '{STORAGE_VERSION}')" if args.kind == "cold" else ""
timed("attach", f"ATTACH '{path}' AS cat{option}")
if args.kind == "cold":
    timed("tables", "BEGIN", *ddl, "COMMIT")
t0 = time.perf_counter()
con.execute("SELECT * FROM cat.assets").fetchall()
steps["read"] = time.perf_counter() - t0
timed("write", "BEGIN",
      "INSERT INTO cat.runs (run_id, status) VALUES ('floor', 'running')",
      "INSERT INTO cat.materializations (run_id, asset, status) "
      f"SELECT 'floor', 'a' || range, 'skipped' FROM range({args.assets})",
      "UPDATE cat.runs SET status = 'success' WHERE run_id = 'floor'", "COMMIT")
timed("checkpoint", "CHECKPOINT cat")
timed("detach", "DETACH cat")
run_s = time.perf_counter() - began
con.close()
shutil.rmtree(work, ignore_errors=True)
report(run_s=run_s, **{f"{k}_s": v for k, v in steps.items()})
