"""How a run goes: steps, the planner, observations, the runner, executors, recording.

The engine turns a graph of declared assets (:mod:`assetry.assets`) into work:
:func:`materialize` plans each step with :mod:`assetry.engine.planner`, runs
the stale ones on an executor and records every outcome in the catalog file
(:mod:`assetry.records`). :func:`status` and :func:`accept` are the same plan
without the run. Only ``assetry``, ``assetry.catalog``, ``assetry.notebook``
and ``assetry.cli`` import the engine.
"""

from __future__ import annotations

from assetry.engine.result import AssetContext, MaterializeResult
from assetry.engine.runner import materialize
from assetry.engine.status import accept, status

__all__ = ["AssetContext", "MaterializeResult", "accept", "materialize", "status"]
