"""The planner: what to do with one step, and why. Pure.

A step (an asset, or one partition of it) is planned from what its upstream
steps came to (:class:`UpstreamState`), what the catalog recorded of its
product (:class:`Record`), what the product looks like now (an
:class:`~assetry.io_managers.base.Observation`) and the fingerprint it would
have now (:class:`Intent`). :func:`plan_step` is the one plan of a step: the
runner, ``status`` and ``accept`` all call it; :func:`decide` is its freshness
rule and :func:`accept_reason` the rule of ``accept``.

A step that would run, but whose fingerprint is a kept version's (:mod:`assetry.engine.restore`),
is ``restored``: ``restored: version of 2026-12-01 14:03 (run 41ab09cd)``.

A source is planned by :func:`plan_source` from its observation alone:
``source changed``, ``up to date``, or failed (``source missing: raw/flights.csv``).

A reason names what changed when the intent can explain itself (an
:class:`~assetry.engine.reasons.Explain`) and the record kept the same parts
(``assets.code_definitions``): ``code changed: mean_delay (flights/helpers.py)``,
``config changed: min_flights 100 -> 10`` (worded by :mod:`assetry.engine.reasons`).

It reads no file and runs no code: the facts come from a :class:`Facts`
object (:class:`~assetry.engine.context.RunContext` observes products), so a
planner test needs neither. It imports nothing else of the engine but the
wording of reasons.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import attrs

from assetry._surface import select_hint
from assetry.engine.reasons import Explain, code_reason, config_reason
from assetry.errors import AssetError
from assetry.io_managers.base import Observation
from assetry.records import loads_upstream

__all__ = [
    "ACCEPTED", "BLOCKED", "FAILED", "OBSERVED", "RESTORED", "RUN", "SKIPPED", "SOURCE_CHANGED",
    "UP_TO_DATE", "Decision", "Explain", "Facts", "Intent", "Record", "StepPlan",
    "UpstreamState", "accept_reason", "decide", "plan_source", "plan_step",
]

UP_TO_DATE = "up to date"
PRODUCT_MISSING = "product missing"
MODIFIED = "product modified outside assetry"
ACCEPTED = "accepted"
SOURCE_CHANGED = "source changed"

#: What a plan says to do with a step; all but ``run`` are also the step's final status.
RUN, SKIPPED, BLOCKED, FAILED = "run", "skipped", "blocked", "failed"
#: A source's step: observed, never run.
OBSERVED = "observed"
#: A kept version of the product is put back instead of running the function.
RESTORED = "restored"


@attrs.frozen
class Record:
    """What the catalog's ``assets`` table says of a product's last good state."""

    fingerprint: str
    code_fingerprint: str
    config_fingerprint: str
    io_fingerprint: str
    upstream: Mapping[str, str]
    data_fingerprint: str
    stat_key: str | None = None
    location: str | None = None
    #: ``assets.code_definitions``: JSON of each definition's and config value's digest.
    explained: str | None = None
    #: ``assets.io``: the IO manager that stored the product, described.
    io: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Record:
        """Build from a row of the ``assets`` table."""
        # Positional, in field order: a wide no-op run builds one per partition.
        return cls(
            str(row["fingerprint"]),
            str(row["code_fingerprint"]),
            str(row["config_fingerprint"]),
            str(row["io_fingerprint"]),
            _LazyUpstream(row["upstream"]),  # type: ignore[arg-type]
            str(row["data_fingerprint"]),
            row.get("stat_key"),  # type: ignore[arg-type]
            row.get("location"),  # type: ignore[arg-type]
            row.get("code_definitions"),  # type: ignore[arg-type]
            row.get("io"),  # type: ignore[arg-type]
        )

    @property
    def observation(self) -> Observation:
        """The recorded state, for a cheap unchanged-product check."""
        return Observation(self.data_fingerprint, self.stat_key)

class _LazyUpstream(Mapping[str, str]):
    """The ``assets.upstream`` JSON, parsed on first use.

    A fresh asset's fingerprint matches, so its upstream map is never read;
    a no-op run over thousands of partitions skips thousands of parses.
    """

    __slots__ = ("_parsed", "_text")

    def __init__(self, text: str | None) -> None:
        self._text = text
        self._parsed: dict[str, str] | None = None

    def _map(self) -> dict[str, str]:
        if self._parsed is None:
            self._parsed = loads_upstream(self._text)
        return self._parsed

    def __getitem__(self, key: str) -> str:
        return self._map()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())

    def __eq__(self, other: object) -> bool:
        return dict(self._map()) == (dict(other) if isinstance(other, Mapping) else other)

    def __hash__(self) -> int:
        return hash(self._text)

    def __repr__(self) -> str:
        return repr(self._map())


@attrs.frozen
class Intent:
    """The fingerprint parts an asset would have if it ran now."""

    code: str
    config: str
    io: str
    upstream: Mapping[str, str]
    fingerprint: str
    #: Names what changed, for reasons and for the catalog; None when unknown.
    explain: Explain | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Decision:
    """Run or skip, and the reason in words."""

    run: bool
    reason: str


def decide(
    intent: Intent,
    record: Record | None,
    product: Observation | None,
    *,
    forced: bool = False,
    cache: bool = True,
    stale_upstream: tuple[str, ...] = (),
) -> Decision:
    """Decide one asset; the first reason that applies wins.

    ``product`` is the product's current observation (None when missing);
    ``stale_upstream`` names upstream assets that will rerun first (used when
    planning before a run, where their new data is not known yet).

    Examples:
        >>> i = Intent("c", "k", "io", {}, "f")
        >>> decide(i, None, None).reason
        'never materialized'
    """
    reason = _stale_reason(intent, record, product, forced, cache, stale_upstream)
    return Decision(False, UP_TO_DATE) if reason is None else Decision(True, reason)


def _stale_reason(intent: Intent, record: Record | None, product: Observation | None,
                  forced: bool, cache: bool, stale_upstream: tuple[str, ...]) -> str | None:
    """Why the asset must run, or None when it is up to date (see :func:`decide`)."""
    if forced:
        return "forced"
    if not cache:
        return "cache disabled"
    if record is None:
        return "never materialized"
    if product is None:
        return PRODUCT_MISSING
    if product.data_fingerprint != record.data_fingerprint:
        return MODIFIED
    if intent.code != record.code_fingerprint:
        return code_reason(intent.explain, record.explained)
    if intent.config != record.config_fingerprint or intent.io != record.io_fingerprint:
        return config_reason(intent.explain, record.explained, record.io,
                             values=intent.config != record.config_fingerprint)
    if stale_upstream:
        return "upstream stale: " + ", ".join(sorted(stale_upstream))
    if intent.fingerprint == record.fingerprint:
        return None  # the whole covers upstream: no need to compare parts
    changed = sorted(
        name
        for name in set(intent.upstream) | set(record.upstream)
        if intent.upstream.get(name) != record.upstream.get(name)
    )
    if changed:
        return "upstream changed: " + ", ".join(changed)
    # Every part matched but the whole did not: the fingerprint recipe itself changed.
    return "code changed"


def plan_source(observation: Observation | None, recorded: str | None, where: str,
                error: str | None = None, *, unreadable: bool = False) -> StepPlan:
    """Plan a source's step from what it looks like now: observed (changed or not), or failed.

    ``recorded`` is the data fingerprint the catalog recorded at the last
    observation (None for none); ``where`` is the source as declared
    (``raw/flights.csv``), for the reason of a failure; without an
    observation, ``error`` says why, and ``unreadable`` tells a source that is
    there but could not be read (or whose ``observe=`` raised) from a missing one.

    Examples:
        >>> plan_source(None, None, "raw/flights.csv").reason
        'source missing: raw/flights.csv'
        >>> plan_source(Observation("d"), None, "raw/flights.csv").reason
        'source changed'
        >>> plan_source(Observation("d"), "d", "raw.csv").fresh
        True
    """
    if observation is None:
        reason = f"source {'unreadable' if unreadable else 'missing'}: {where}"
        return StepPlan(FAILED, reason, error=error or reason)
    changed = recorded != observation.data_fingerprint
    return StepPlan(OBSERVED, SOURCE_CHANGED if changed else UP_TO_DATE, None, observation)


@attrs.frozen
class UpstreamState:
    """What a step's upstream steps came to (:func:`assetry.engine.steps.upstream_state`)."""

    #: Upstream name -> data fingerprint (combined over partitions where several feed in).
    fingerprints: Mapping[str, str]
    #: Upstream assets with a failed or blocked step.
    bad: tuple[str, ...] = ()
    #: Upstream assets with no stored product (for a partitioned upstream: none at all).
    missing: tuple[str, ...] = ()
    #: The same, as the steps that lack it (``(asset, partition)``), for messages.
    missing_steps: tuple[tuple[str, str | None], ...] = ()
    #: Upstream assets with a step that will rerun first (only known before a run).
    stale: tuple[str, ...] = ()
    #: Upstream name -> the partition keys that feed in, for partitioned -> unpartitioned edges.
    partitions: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)


class Facts(Protocol):
    """Where the planner gets an asset's intent, record and observation (a ``RunContext``)."""

    def intent(self, name: str, upstream: Mapping[str, str]) -> Intent:
        """The fingerprint the asset would have now, given its upstream data fingerprints."""
        ...

    def record(self, name: str, partition: str | None = None) -> Record | None:
        """The catalog's record of the product, if any."""
        ...

    def observe(self, name: str, partition: str | None = None) -> Observation | None:
        """The product's current state; None when it is missing."""
        ...


@attrs.frozen
class StepPlan:
    """What to do with one step (``run``, ``skipped``, ``blocked``, ``failed``) and why."""

    action: str
    reason: str
    #: The fingerprint the step would have now; None for a blocked or failed step.
    intent: Intent | None = None
    #: The product as it is now (None when missing or not looked at).
    observation: Observation | None = None
    record: Record | None = None
    #: Why the step failed, for a step failed before it ran.
    error: str | None = None
    #: The kept version a ``restored`` plan puts back (an :class:`assetry.engine.restore.Kept`).
    version: Any = None
    #: Why a ``restored`` step would run if its version cannot be put back.
    stale_reason: str | None = None

    def run_instead(self) -> StepPlan:
        """A ``restored`` plan whose version cannot be put back: run, for the stale reason."""
        return attrs.evolve(self, action=RUN, reason=self.stale_reason or self.reason, version=None)

    @property
    def run(self) -> bool:
        """Whether the step must run."""
        return self.action == RUN

    @property
    def fresh(self) -> bool:
        """Whether the step is up to date: skipped, or a source observed unchanged."""
        return self.action == SKIPPED or (self.action == OBSERVED and self.reason == UP_TO_DATE)


def plan_step(
    step: tuple[str, str | None],
    upstream: UpstreamState,
    facts: Facts,
    *,
    forced: bool = False,
    cache: bool = True,
    before_run: bool = False,
    versions: Mapping[str, Any] | None = None,
) -> StepPlan:
    """Plan one step: block it, fail it, skip it, restore it, or run it.

    In a run, an upstream that failed blocks the step and an upstream without
    a product fails it; otherwise :func:`decide`'s rule says run or skip. Before a
    run (``status``, ``accept``: ``before_run=True``) nothing has failed yet
    and an upstream without a product may yet be made: it enters the intent
    with an empty fingerprint, and ``upstream.stale`` names those that rerun first.
    ``versions`` maps fingerprints to kept versions of the product: a stale step whose
    fingerprint is one of them is ``restored`` (not when forced or uncached).

    Examples:
        >>> class Nothing:
        ...     def intent(self, name, upstream):
        ...         return Intent("c", "k", "io", upstream, "f")
        ...     def record(self, name, partition=None):
        ...         return None
        ...     def observe(self, name, partition=None):
        ...         return None
        >>> plan_step(("report", None), UpstreamState({"a": "1"}), Nothing()).reason
        'never materialized'
        >>> plan_step(("report", None), UpstreamState({}, bad=("a",)), Nothing()).action
        'blocked'
    """
    name, key = step
    fingerprints = upstream.fingerprints
    if upstream.bad:  # before a run too: a source found missing blocks its downstream
        return StepPlan(BLOCKED, "upstream failed: " + ", ".join(sorted(upstream.bad)))
    if not before_run:
        if upstream.missing:
            return StepPlan(FAILED, "upstream missing", error=_missing_error(step, upstream))
    elif upstream.missing:
        fingerprints = {**fingerprints, **dict.fromkeys(upstream.missing, "")}
    intent = facts.intent(name, fingerprints)
    unreadable = None
    try:
        observation = facts.observe(name, key)
    except AssetError as exc:  # a product that cannot be read is stale, never a failed plan
        observation, unreadable = None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    record = facts.record(name, key)
    reason = _stale_reason(intent, record, observation, forced, cache, upstream.stale)
    if unreadable is not None and reason == "product missing":
        reason = f"product missing: {unreadable}"
    if reason is None:
        return StepPlan(SKIPPED, UP_TO_DATE, intent, observation, record)
    version = (versions or {}).get(intent.fingerprint)
    if version is not None and not (forced or not cache or upstream.stale):
        return StepPlan(RESTORED, version.reason, intent, observation, record,
                        version=version, stale_reason=reason)
    return StepPlan(RUN, reason, intent, observation, record)


def _missing_error(step: tuple[str, str | None], upstream: UpstreamState) -> str:
    hint = ", ".join(repr(_label(s)) for s in sorted(upstream.missing_steps, key=lambda s: s[0]))
    return (
        f"asset {_label(step)!r} needs {hint}, which has no stored product; select it too "
        f"({select_hint(step[0])})"
    )


def _label(step: tuple[str, str | None]) -> str:
    name, key = step
    return name if key is None else f"{name}[{key}]"


def accept_reason(plan: StepPlan) -> str:
    """``accepted``, or why ``accept`` leaves a step's record as it is.

    A product is accepted when it exists and is what the catalog recorded (or
    the catalog has no record of it); its code, config and upstream may differ.

    Examples:
        >>> accept_reason(StepPlan(RUN, "never materialized"))
        'product missing'
        >>> accept_reason(StepPlan(RUN, "code changed", observation=Observation("d")))
        'accepted'
    """
    product, record = plan.observation, plan.record
    if product is None:
        return PRODUCT_MISSING
    if record is not None and record.data_fingerprint != product.data_fingerprint:
        return MODIFIED
    return ACCEPTED
