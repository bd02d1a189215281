"""Observing a source in a run (or in ``accept``): its plan, its ``assets`` row, its state.

A source's step is never handed to an executor: the run observes it where it
plans (:meth:`~assetry.engine.context.RunContext.plan_source`), records the
observation as the source's ``assets`` row (``kind = 'source'``; only the stat
when the data is unchanged) and gives the step its state: ``observed`` with
the data fingerprint its downstream depends on, or ``failed`` when the source
is missing or unreadable. The caller writes the ``materializations`` row, as
for any step. It writes nothing to the source itself, ever.
"""

from __future__ import annotations

from assetry.engine.context import RunContext
from assetry.engine.planner import FAILED, OBSERVED, SOURCE_CHANGED, StepPlan
from assetry.engine.recording import Recorder
from assetry.engine.state import StepState
from assetry.engine.steps import StepKey

__all__ = ["observe_source"]


def observe_source(ctx: RunContext, recorder: Recorder, step: StepKey) -> tuple[StepPlan, StepState]:
    """Observe one source step and record its ``assets`` row; its plan and its new state.

    Examples:
        >>> plan, state = observe_source(ctx, recorder, ("raw_flights", None))  # doctest: +SKIP
        >>> plan.reason, state.status  # doctest: +SKIP
        ('source changed', 'observed')
    """
    plan = ctx.plan_source(step)
    observation = plan.observation
    if observation is None:
        return plan, StepState(status=FAILED, reason=plan.reason, error_kind="StorageError")
    io, location = ctx.product(*step)
    intent = ctx.source_intent(step[0], observation)
    recorder.source(step, intent, observation, io, location,  # type: ignore[arg-type]
                    changed=plan.reason == SOURCE_CHANGED)
    state = StepState(status=OBSERVED, reason=plan.reason, intent=intent,
                      product=(io, location),  # type: ignore[arg-type]
                      data_fingerprint=observation.data_fingerprint)
    return plan, state
