"""``assetry ui``: a local web page over the catalog, live while a run goes.

The page shows the asset graph coloured by state (fresh, stale with its
reason, running, failed, blocked, never materialized), each asset's page (why
it is stale or fresh, its upstream and downstream, its history as a chart and
a table, its schema, the first rows of its product, its checks, its last
error), the runs, and each run's timeline; the same data as JSON under
``/api/``. See docs/ui.md.

Its libraries (Starlette, uvicorn, Jinja2) come with the extra
``assetry[ui]``; this face imports none of them, so a missing extra is one
line naming the install command. Only :mod:`assetry.cli` imports this package.
"""

from __future__ import annotations

from assetry.ui._board import STATES, Source
from assetry.ui._server import require_extra, serve

__all__ = ["STATES", "Source", "require_extra", "serve"]
