"""One value per step: what a step (an asset, or one partition of it) has come to so far.

The runner keeps a :class:`StepState` per step in one dict, which the
:class:`~assetry.engine.result.MaterializeResult` holds and answers from
(``products``, ``errors``); planning a step reads its upstream steps' states
(:func:`assetry.engine.steps.upstream_state`). ``status`` keeps the same dict
for its plan before a run. A state is a frozen value: a change is a new one
(``attrs.evolve``). This module holds data only; it decides nothing.
"""

from __future__ import annotations

import datetime as dt

import attrs

from assetry.engine.planner import Intent
from assetry.io_managers import IOManager

__all__ = ["EXTERNAL", "MATERIALIZED", "RUNNING", "STALE", "UNKNOWN", "StepState"]

#: Statuses besides the planner's (``skipped``, ``blocked``, ``failed``): an upstream outside
#: the run, observed only; a step handed to an executor; one that stored its product; and,
#: in a plan before a run, one that would rerun.
EXTERNAL, RUNNING, MATERIALIZED, STALE = "external", "running", "materialized", "stale"


@attrs.frozen
class StepState:
    """A step's status, the plan's reason and intent, and what its product is now.

    Examples:
        >>> state = StepState(status="running", reason="code changed")
        >>> attrs.evolve(state, status="failed", error_kind="SchemaError").status
        'failed'
    """

    #: ``external``, ``running``, ``skipped``, ``materialized``, ``failed``, ``blocked``
    #: (``stale`` in a plan before a run); None before anything is known.
    status: str | None = None
    #: The planner's reason (the run's reason; a failed check's own reason is on the record).
    reason: str = ""
    #: The fingerprint the step runs with, once planned to run.
    intent: Intent | None = None
    #: The product's data fingerprint: observed, or stored by this run; None when missing.
    data_fingerprint: str | None = None
    started_at: dt.datetime | None = None
    #: The IO manager and location of the stored product, once there is one.
    product: tuple[IOManager, str] | None = None
    #: The :class:`~assetry.errors.AssetError` kind of a failure, if one.
    error_kind: str | None = None


#: The state of a step nothing is known about yet.
UNKNOWN = StepState()
