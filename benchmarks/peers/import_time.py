"""``import polars`` then ``import assetry``, timed in this fresh process; heavy modules loaded.

    python benchmarks/peers/import_time.py

Reports the wall time (``import_s``, as every peer's phases) and the CPU time of
this process during the import (``import_cpu_s``: the import's own work, which
a busy machine does not inflate the way it inflates wall time), and how
``assetry`` was found (``found_by``): through the editable install's import
finder (``pip install -e``: one more finder on ``sys.meta_path`` that maps the
package to the source tree; a wheel install does not have it) or on
``sys.path`` (as a wheel in site-packages is, or the source tree on
``PYTHONPATH``, which is how ``bench_core.py`` measures it without the finder).
"""

from __future__ import annotations

import importlib.machinery
import sys
import time

from _measure import FIGURES, phase, report

with phase("polars"):
    import polars  # noqa: F401
cpu = time.process_time()
with phase("import"):
    import assetry  # noqa: F401
FIGURES["import_cpu_s"] = time.process_time() - cpu

HEAVY = ("pyarrow", "duckdb", "sqlalchemy", "numpy", "pandas", "cloudpickle", "rich", "yaml",
         "click")
on_path = importlib.machinery.PathFinder.find_spec("assetry") is not None
report(loaded=[m for m in HEAVY if m in sys.modules],
       found_by="sys.path" if on_path else "editable finder",
       modules=sum(1 for m in sys.modules if m == "assetry" or m.startswith("assetry.")))
