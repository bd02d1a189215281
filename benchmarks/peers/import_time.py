"""``import polars`` then ``import assetry``, timed in this fresh process; heavy modules loaded.

    python benchmarks/peers/import_time.py
"""

from __future__ import annotations

import sys

from _measure import phase, report

with phase("polars"):
    import polars  # noqa: F401
with phase("import"):
    import assetry  # noqa: F401

HEAVY = ("pyarrow", "duckdb", "sqlalchemy", "numpy", "pandas", "cloudpickle", "rich", "yaml",
         "click")
report(loaded=[m for m in HEAVY if m in sys.modules])
