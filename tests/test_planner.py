"""The planner: one table of (intent, record, observation, flags) -> (fresh, reason), no files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import pytest

from assetry.engine.planner import (
    ACCEPTED,
    BLOCKED,
    FAILED,
    RUN,
    SKIPPED,
    Intent,
    Record,
    StepPlan,
    UpstreamState,
    accept_reason,
    plan_step,
)
from assetry.io_managers.base import Observation

UPSTREAM = {"a": "data-a", "b": "data-b"}


def _fingerprint(code: str, config: str, io: str, upstream: Mapping[str, str]) -> str:
    """A stand-in for the real recipe: equal parts, equal whole."""
    return "|".join([code, config, io, *(f"{k}={v}" for k, v in sorted(upstream.items()))])


@attrs.frozen
class Facts:
    """What a RunContext would answer, as plain values: the planner reads nothing else."""

    code: str = "code"
    config: str = "config"
    io: str = "io"
    recorded: Record | None = None
    observed: Observation | None = None

    def intent(self, name: str, upstream: Mapping[str, str]) -> Intent:
        up = dict(upstream)
        whole = _fingerprint(self.code, self.config, self.io, up)
        return Intent(self.code, self.config, self.io, up, whole)

    def record(self, name: str, partition: str | None = None) -> Record | None:
        return self.recorded

    def observe(self, name: str, partition: str | None = None) -> Observation | None:
        return self.observed


def record(upstream: Mapping[str, str] = UPSTREAM, data: str = "data", **parts: str) -> Record:
    """The catalog's record of a good product made from ``upstream`` with these parts."""
    fields = {"code": "code", "config": "config", "io": "io", **parts}
    return Record(
        fingerprint=_fingerprint(fields["code"], fields["config"], fields["io"], upstream),
        code_fingerprint=fields["code"], config_fingerprint=fields["config"],
        io_fingerprint=fields["io"], upstream=dict(upstream), data_fingerprint=data,
    )


SAME = Observation("data", "stat")

# id -> (facts: intent parts, record, observation), upstream state, flags -> (fresh, reason)
ROWS: dict[str, tuple[Facts, UpstreamState, dict[str, Any], bool, str]] = {
    "up to date": (Facts(recorded=record(), observed=SAME), UpstreamState(UPSTREAM), {},
                   True, "up to date"),
    "forced": (Facts(recorded=record(), observed=SAME), UpstreamState(UPSTREAM),
               {"forced": True}, False, "forced"),
    "cache disabled": (Facts(recorded=record(), observed=SAME), UpstreamState(UPSTREAM),
                       {"cache": False}, False, "cache disabled"),
    "forced wins over cache disabled": (Facts(), UpstreamState(UPSTREAM),
                                        {"forced": True, "cache": False}, False, "forced"),
    "never materialized": (Facts(observed=SAME), UpstreamState(UPSTREAM), {},
                           False, "never materialized"),
    "product missing": (Facts(recorded=record()), UpstreamState(UPSTREAM), {},
                        False, "product missing"),
    "product modified": (Facts(recorded=record(), observed=Observation("edited")),
                         UpstreamState(UPSTREAM), {}, False, "product modified outside assetry"),
    "code changed": (Facts(code="new", recorded=record(), observed=SAME),
                     UpstreamState(UPSTREAM), {}, False, "code changed"),
    "config changed": (Facts(config="new", recorded=record(), observed=SAME),
                       UpstreamState(UPSTREAM), {}, False, "config changed"),
    "io settings changed": (Facts(io="zstd-9", recorded=record(), observed=SAME),
                            UpstreamState(UPSTREAM), {}, False, "config changed"),
    "upstream changed": (Facts(recorded=record(), observed=SAME),
                         UpstreamState({"a": "new-a", "b": "new-b"}), {},
                         False, "upstream changed: a, b"),
    "upstream added": (Facts(recorded=record(upstream={"a": "data-a"}), observed=SAME),
                       UpstreamState(UPSTREAM), {}, False, "upstream changed: b"),
    "upstream stale": (Facts(recorded=record(), observed=SAME),
                       UpstreamState(UPSTREAM, stale=("x",)), {"before_run": True},
                       False, "upstream stale: x"),
    "code changed wins over upstream stale": (
        Facts(code="new", recorded=record(), observed=SAME),
        UpstreamState(UPSTREAM, stale=("x",)), {"before_run": True}, False, "code changed"),
    "recipe changed, every part equal": (
        Facts(recorded=attrs.evolve(record(), fingerprint="old recipe"), observed=SAME),
        UpstreamState(UPSTREAM), {}, False, "code changed"),
    "upstream failed": (Facts(recorded=record(), observed=SAME),
                        UpstreamState({}, bad=("b", "a")), {}, False, "upstream failed: a, b"),
    "upstream missing": (Facts(recorded=record(), observed=SAME),
                         UpstreamState({}, missing=("a",), missing_steps=(("a", None),)), {},
                         False, "upstream missing"),
    "before a run, a missing upstream is not an error": (
        Facts(recorded=record(upstream={"a": ""}), observed=SAME),
        UpstreamState({}, missing=("a",), missing_steps=(("a", None),)), {"before_run": True},
        True, "up to date"),
}


@pytest.mark.parametrize(
    ("facts", "upstream", "flags", "fresh", "reason"), list(ROWS.values()), ids=list(ROWS)
)
def test_plan_step(facts, upstream, flags, fresh, reason):
    """The first reason that applies wins; only an unchanged product with equal parts is fresh."""
    plan = plan_step(("report", None), upstream, facts, **flags)
    assert (plan.fresh, plan.reason) == (fresh, reason)


def test_a_run_plan_carries_the_intent_it_would_record():
    """A step planned to run carries its intent (from the upstream fingerprints) and observation."""
    plan = plan_step(("report", None), UpstreamState(UPSTREAM), Facts(observed=SAME))
    assert plan.action == RUN
    assert plan.intent is not None and dict(plan.intent.upstream) == UPSTREAM
    assert plan.observation == SAME


def test_blocked_and_failed_steps_look_at_nothing():
    """A step whose upstream failed or is missing is decided before its product is observed."""

    class Untouchable:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the planner asked for {name}")

    blocked = plan_step(("report", None), UpstreamState({}, bad=("a",)), Untouchable())
    assert (blocked.action, blocked.intent) == (BLOCKED, None)
    upstream = UpstreamState({}, missing=("daily",), missing_steps=(("daily", "2013-01-02"),))
    failed = plan_step(("report", "2013-01-02"), upstream, Untouchable())
    assert failed.action == FAILED
    assert failed.error == (
        "asset 'report[2013-01-02]' needs 'daily[2013-01-02]', which has no stored product; "
        "select it too (select='+report')"
    )


def test_before_a_run_missing_upstream_enter_the_intent_empty():
    """status and accept plan with an empty fingerprint for an upstream that has no product yet."""
    upstream = UpstreamState({"a": "data-a"}, missing=("b",), missing_steps=(("b", None),))
    plan = plan_step(("report", None), upstream, Facts(), before_run=True)
    assert plan.intent is not None and dict(plan.intent.upstream) == {"a": "data-a", "b": ""}


ACCEPT_ROWS = {
    "never materialized": (None, SAME, ACCEPTED),
    "code changed": (record(code="old"), SAME, ACCEPTED),
    "product missing": (record(), None, "product missing"),
    "no record, no product": (None, None, "product missing"),
    "product modified": (record(), Observation("edited"), "product modified outside assetry"),
}


@pytest.mark.parametrize(("recorded", "observed", "reason"), list(ACCEPT_ROWS.values()),
                         ids=list(ACCEPT_ROWS))
def test_accept_reason(recorded, observed, reason):
    """accept takes a product that exists and is as the catalog recorded, whatever else changed."""
    plan = plan_step(("report", None), UpstreamState(UPSTREAM),
                     Facts(recorded=recorded, observed=observed), before_run=True)
    assert accept_reason(plan) == reason


def test_plan_is_a_frozen_value():
    """A plan is a value: equal facts, equal plans; changed copies come from attrs.evolve."""
    facts = Facts(recorded=record(), observed=SAME)
    first = plan_step(("report", None), UpstreamState(UPSTREAM), facts)
    assert first == plan_step(("report", None), UpstreamState(UPSTREAM), facts)
    assert first.action == SKIPPED
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first.reason = "other"  # type: ignore[misc]
    assert isinstance(attrs.evolve(first, action=RUN), StepPlan)
