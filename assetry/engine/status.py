"""Status and accept: the plan before a run, and recording harmless changes as fresh.

Both walk the graph's steps in order (an unpartitioned asset, or one partition
of a partitioned asset) with the same :class:`RunContext` and the same
:func:`~assetry.engine.planner.plan_step` the runner uses, so ``status`` says
exactly what ``materialize`` would do first.

A partitioned asset gets one summary row: ``fresh`` when every partition is,
with reason ``up to date``; otherwise the reason counts partitions by state,
``"<n> fresh, <n> <state>, ..."`` in the order fresh, missing, modified, code
changed, config changed, upstream stale, upstream changed, then any other
state; states with no partition are left out (``364 fresh, 1 missing``). The
states are the planner's reasons shortened: ``never materialized`` and
``product missing`` are ``missing``, ``product modified outside assetry`` is
``modified``, ``upstream stale: x`` is ``upstream stale``. ``partitions=True``
gives one row per partition instead, with the planner's full reason.

:func:`dry_run` plans exactly the steps a ``materialize`` call would run (its
selection, ``force``, ``partitions``), observing the upstream it would only
read, and writes nothing. :func:`plan_word` and :func:`plan_text` put a row in
the words of an honest plan: ``will run`` when the asset's own inputs changed,
``may run (upstream will rerun: x)`` when only an upstream reruns first (it
runs only if that upstream's data changes: early cutoff cannot be predicted),
and ``fresh``.
"""

from __future__ import annotations

import collections
import os
import pathlib
import re
from typing import Any

from assetry._surface import option_hint
from assetry.assets import is_source
from assetry.assets.binding import bind_clients
from assetry.assets.graph import AssetGraph
from assetry.engine.context import RunContext, resolve_config
from assetry.engine.observing import observe_source
from assetry.engine.planner import (
    ACCEPTED,
    FAILED,
    OBSERVED,
    RESTORED,
    SKIPPED,
    SOURCE_CHANGED,
    UP_TO_DATE,
    StepPlan,
    accept_reason,
    plan_step,
)
from assetry.engine.recording import Recorder, now
from assetry.engine.restore import Kept, read_kept
from assetry.engine.result import StepRecord
from assetry.engine.roots import remove_temporaries
from assetry.engine.state import EXTERNAL, STALE, StepState
from assetry.engine.steps import StepKey, expand, forced_names, run_keys, upstream_state
from assetry.errors import AssetGraphError
from assetry.io_managers.base import Observation, Stored
from assetry.records import CatalogWriter, connect
from assetry.storage import RemoteRoot, is_remote

__all__ = [
    "FRESH", "MAY_RUN", "WILL_RESTORE", "WILL_RUN", "accept", "dry_run", "plan_counts", "plan_text", "plan_word",
    "status", "summarize_reasons",
]

#: The words of an honest plan (see :func:`plan_word`).
FRESH, WILL_RUN, MAY_RUN, WILL_RESTORE = "fresh", "will run", "may run", "will restore"
_UPSTREAM_STALE = "upstream stale"

_ORDER = (
    "fresh", "missing", "modified", "code changed", "config changed", "upstream stale",
    "upstream changed", "restored", "upstream failed", "source changed", "source missing",
)
_SHORT = {
    UP_TO_DATE: "fresh",
    "never materialized": "missing",
    "product missing": "missing",
    "product modified outside assetry": "modified",
}


def _context(assets: Any, catalog: Any, select: Any, config: Any, root: Any,
             clients: Any = None) -> tuple[RunContext, list[str]]:
    graph = AssetGraph.build(bind_clients(assets, clients))
    selected = graph.select(select)
    root_path = pathlib.Path(os.path.abspath(root)) if root is not None else catalog.root
    if root is not None and is_remote(str(root)):  # a URL: the options registered, or the env's
        root_path = RemoteRoot(str(root))  # type: ignore[assignment]
    return RunContext(graph, resolve_config(graph, config), root_path, catalog.records()), selected


def _kept(catalog: Any) -> dict[StepKey, list[Kept]]:
    """The catalog's kept versions by step (none for a catalog not made yet)."""
    if not catalog.path.exists():
        return {}
    con = connect(catalog.path, read_only=True)
    try:
        return read_kept(con)
    finally:
        con.close()


def _versions(kept: dict[StepKey, list[Kept]], step: StepKey) -> dict[str, Kept]:
    return {k.fingerprint: k for k in kept.get(step, ())}


def _planned(plan: StepPlan, otherwise: str | None = None) -> StepState:
    """What a planned step comes to before the run: a restored one has its version's data;
    one that does not run is ``otherwise`` (default: its plan's action)."""
    if plan.action == RESTORED:
        return StepState(status=RESTORED, data_fingerprint=plan.version.data_fingerprint)
    return StepState(status=STALE if plan.run else otherwise or plan.action,
                     data_fingerprint=_data_fingerprint(plan.observation))


def summarize_reasons(reasons: list[str]) -> str:
    """One reason for a partitioned asset from its partitions' reasons (see the module docstring).

    Examples:
        >>> summarize_reasons(["up to date"] * 364 + ["never materialized"])
        '364 fresh, 1 missing'
        >>> summarize_reasons(["up to date", "up to date"])
        'up to date'
    """
    counts = collections.Counter(_SHORT.get(r, r.split(":", 1)[0]) for r in reasons)
    if set(counts) <= {"fresh"}:
        return UP_TO_DATE
    rank = {state: i for i, state in enumerate(_ORDER)}
    states = sorted(counts, key=lambda s: (rank.get(s, len(rank)), s))
    return ", ".join(f"{counts[s]} {s}" for s in states)


def status(assets: Any, *, catalog: Any, select: Any = None, config: Any = None, root: Any = None,
           partitions: bool = False, clients: Any = None) -> Any:
    """One row per selected asset: ``asset``, ``fresh``, ``reason``; per partition on request.

    An asset whose upstream will rerun is reported ``upstream stale: <name>``;
    one whose fingerprint is a kept version's, ``restored: version of <time> (run <id>)``
    (its downstream then plans with the restored data, as the run will). With ``partitions=True`` the frame has one row per partition (and one per
    unpartitioned asset) with columns ``asset``, ``partition``, ``fresh``, ``reason``.

    Examples:
        >>> Catalog("data/catalog.duckdb").status([flights, delays])  # doctest: +SKIP
    """
    ctx, selected = _context(assets, catalog, select, config, root, clients)
    graph = ctx.graph
    needed = set(selected)
    for name in selected:
        needed |= graph.ancestors(name)
    states: dict[StepKey, StepState] = {}
    decided: dict[str, list[tuple[str | None, bool, str]]] = {n: [] for n in selected}
    kept = _kept(catalog)
    for step in expand(graph, run_keys(graph, [n for n in graph.order if n in needed])).order:
        name, key = step
        if is_source(graph.specs[name]):  # observed now, as the run would: its data is known
            plan = ctx.plan_source(step)
            states[step] = StepState(status=plan.action,
                                     data_fingerprint=_data_fingerprint(plan.observation))
        else:
            plan = plan_step(step, upstream_state(graph, step, states), ctx,
                             cache=graph.specs[name].cache, before_run=True,
                             versions=_versions(kept, step))
            states[step] = _planned(plan, SKIPPED)
        if name in decided:
            decided[name].append((key, plan.fresh, plan.reason))
    return _status_frame(graph, selected, decided, partitions)


def _data_fingerprint(observation: Observation | None) -> str | None:
    return observation.data_fingerprint if observation is not None else None


def _status_frame(graph: AssetGraph, selected: list[str],
                  decided: dict[str, list[tuple[str | None, bool, str]]], partitions: bool) -> Any:
    import polars as pl  # lazily: `import assetry` does not load polars

    if partitions:
        rows = [{"asset": n, "partition": k, "fresh": f, "reason": r}
                for n in selected for k, f, r in decided[n]]
        return pl.DataFrame(rows, schema={"asset": pl.String, "partition": pl.String,
                                          "fresh": pl.Boolean, "reason": pl.String})
    rows = []
    for name in selected:
        outcomes = decided[name]
        if graph.specs[name].partitions is None:
            _, fresh, reason = outcomes[0]
        else:
            fresh = all(f for _, f, _ in outcomes)
            reason = summarize_reasons([r for _, _, r in outcomes])
        rows.append({"asset": name, "fresh": fresh, "reason": reason})
    return pl.DataFrame(rows, schema={"asset": pl.String, "fresh": pl.Boolean, "reason": pl.String})


def dry_run(assets: Any, *, catalog: Any, select: Any = None, force: Any = False,
            config: Any = None, root: Any = None, partitions: Any = None,
            clients: Any = None) -> Any:
    """What ``materialize`` with these arguments would do: ``asset``, ``fresh``, ``reason``.

    One row per asset the run takes up (its selection and the sources they
    read), planned as :func:`status` plans, but over the run's own steps: an
    upstream outside the selection is observed as it is, since the run will not
    rerun it, and a step whose upstream outside the run has no product will
    fail (``upstream missing``). Nothing runs and nothing is written.

    Examples:
        >>> dry_run([flights, delays], catalog=Catalog("data/catalog.duckdb"))  # doctest: +SKIP
    """
    ctx, selected = _context(assets, catalog, select, config, root, clients)
    graph = ctx.graph
    forced = forced_names(force, graph)
    if partitions is not None and not any(s.partitions for s in graph.specs.values()):
        raise AssetGraphError(
            f"{option_hint('partitions')} was given, but no selected asset is partitioned"
        )
    steps = expand(graph, run_keys(graph, selected, partitions))
    states: dict[StepKey, StepState] = {
        step: StepState(status=EXTERNAL, data_fingerprint=_data_fingerprint(ctx.observe(*step)))
        for step in steps.external
    }
    in_run = {name for name, _ in steps.order}
    kept = _kept(catalog)
    decided: dict[str, list[tuple[str | None, bool, str]]] = {n: [] for n in graph.order if n in in_run}
    for step in steps.order:
        name = step[0]
        upstream = upstream_state(graph, step, states)
        if is_source(graph.specs[name]):
            plan = ctx.plan_source(step)
        elif any(up not in in_run for up in upstream.missing):  # as the run: it cannot start
            plan = StepPlan(FAILED, "upstream missing")
        else:
            plan = plan_step(step, upstream, ctx, forced=name in forced,
                             cache=graph.specs[name].cache, before_run=True,
                             versions=_versions(kept, step))
        states[step] = _planned(plan)
        decided[name].append((step[1], plan.fresh, plan.reason))
    return _status_frame(graph, list(decided), decided, False)


def plan_word(fresh: bool, reason: str) -> str:
    """An asset's fate in an honest plan, from a status row's ``fresh`` and ``reason``.

    ``fresh``; ``will run`` when its own inputs changed (or it is forced, or
    uncached); ``may run`` when only an upstream reruns first (``upstream
    stale``, for every stale partition); ``will restore`` when a kept version
    is put back instead; ``changed`` for a source with new data; ``blocked``
    behind a failed source, ``will fail`` without its input.

    Examples:
        >>> plan_word(False, "upstream stale: flights"), plan_word(False, "code changed")
        ('may run', 'will run')
        >>> plan_word(False, "restored: version of 2026-12-01 14:03 (run 41ab09cd)")
        'will restore'
        >>> plan_word(False, "3 fresh, 2 upstream stale"), plan_word(True, "up to date")
        ('may run', 'fresh')
    """
    if fresh:
        return FRESH
    if reason.startswith("upstream failed"):
        return "blocked"
    if reason.startswith(("source missing", "source unreadable", "upstream missing")):
        return "will fail"
    if reason == SOURCE_CHANGED:
        return "changed"
    if reason.startswith(_UPSTREAM_STALE + ":"):
        return MAY_RUN
    if reason.startswith(RESTORED + ":"):
        return WILL_RESTORE
    counted = [re.fullmatch(r"\d+ (.+)", part.strip()) for part in reason.split(",")]
    states = {m.group(1) for m in counted if m}
    if all(counted) and states <= {"fresh", _UPSTREAM_STALE}:
        return MAY_RUN
    if all(counted) and states <= {"fresh", RESTORED}:
        return WILL_RESTORE
    return WILL_RUN


def plan_text(fresh: bool, reason: str) -> str:
    """:func:`plan_word` with its reason: ``may run (upstream will rerun: flights)``.

    Examples:
        >>> plan_text(False, "upstream stale: flights, weather")
        'may run (upstream will rerun: flights, weather)'
        >>> plan_text(False, "config changed: min_flights 100 -> 10")
        'will run (config changed: min_flights 100 -> 10)'
        >>> plan_text(False, "restored: version of 2026-12-01 14:03 (run 41ab09cd)")
        'will restore (version of 2026-12-01 14:03, run 41ab09cd)'
    """
    word = plan_word(fresh, reason)
    if word == FRESH:
        return FRESH
    if reason.startswith(RESTORED + ":"):  # restored: version of <time> (run <id>)
        return f"{word} ({reason.split(':', 1)[1].strip().replace(' (run ', ', run ').rstrip(')')})"
    if reason.startswith(_UPSTREAM_STALE + ":"):
        return f"{word} (upstream will rerun:{reason.split(':', 1)[1]})"
    return f"{word} ({reason})"


def plan_counts(words: list[str]) -> str:
    """The closing line of a plan: ``1 will run, 6 may run, 3 fresh`` (then any other fate).

    Examples:
        >>> plan_counts(["will run", "may run", "fresh", "may run"])
        '1 will run, 2 may run, 1 fresh'
    """
    counts = collections.Counter(words)
    others = sorted(set(counts) - {WILL_RUN, MAY_RUN, FRESH, WILL_RESTORE})
    if counts[WILL_RESTORE]:
        others.insert(0, WILL_RESTORE)
    return ", ".join(f"{counts[w]} {w}" for w in (WILL_RUN, MAY_RUN, FRESH, *others))


def accept(assets: Any, *, catalog: Any, select: Any = None, config: Any = None, root: Any = None,
           clients: Any = None) -> Any:
    """Record current fingerprints of existing, unmodified products as fresh, without running.

    Returns one row per selected asset (per partition of a partitioned one):
    ``asset``, ``accepted``, ``reason`` (and ``partition`` when any asset is partitioned).

    Examples:
        >>> Catalog("data/catalog.duckdb").accept([flights, delays])  # doctest: +SKIP
    """
    import polars as pl  # lazily: `import assetry` does not load polars

    ctx, selected = _context(assets, catalog, select, config, root, clients)
    graph = ctx.graph
    con = connect(catalog.path)
    for crashed in con.crashed_roots:
        remove_temporaries(crashed)
    writer = CatalogWriter(con)
    recorder = Recorder(writer, "accept-" + os.urandom(8).hex(), ctx.rows)
    rows: list[dict[str, Any]] = []
    states: dict[StepKey, StepState] = {}
    try:
        for step in expand(graph, run_keys(graph, graph.order)).order:
            if is_source(graph.specs[step[0]]):  # recorded as observed, as a run would
                plan = _accept_source(recorder, ctx, step)
                states[step] = StepState(status=plan.action,
                                         data_fingerprint=_data_fingerprint(plan.observation))
                if step[0] in selected:
                    rows.append({"asset": step[0], "partition": step[1],
                                 "accepted": plan.observation is not None, "reason": plan.reason})
                continue
            if step[0] not in selected:  # observed only: its data feeds the selected ones
                states[step] = StepState(data_fingerprint=_data_fingerprint(ctx.observe(*step)))
                continue
            plan = plan_step(step, upstream_state(graph, step, states), ctx, before_run=True)
            states[step] = StepState(data_fingerprint=_data_fingerprint(plan.observation))
            reason = accept_reason(plan)
            if reason == ACCEPTED:
                _record_acceptance(recorder, ctx, step, plan)
            rows.append({"asset": step[0], "partition": step[1], "accepted": reason == ACCEPTED,
                         "reason": reason})
    finally:
        writer.close()
        con.close()
    schema = {"asset": pl.String, "partition": pl.String, "accepted": pl.Boolean, "reason": pl.String}
    frame = pl.DataFrame(rows, schema=schema)
    return frame if any(graph.specs[n].partitions for n in selected) else frame.drop("partition")


def _accept_source(recorder: Recorder, ctx: RunContext, step: StepKey) -> StepPlan:
    """Observe a source and record the observation; a missing one is left as it was."""
    plan, state = observe_source(ctx, recorder, step)
    if plan.observation is not None:
        observed = StepRecord(asset=step[0], status=OBSERVED, reason=plan.reason,
                              partition=step[1], duration_s=0.0, location=state.product[1])  # type: ignore[index]
        recorder.materialization(step, observed, state.intent, state.data_fingerprint, now())
    return plan


def _record_acceptance(recorder: Recorder, ctx: RunContext, step: StepKey, plan: StepPlan) -> None:
    """The ``assets`` row of the product as it is, and an ``accepted`` materialization."""
    io, location = ctx.product(*step)
    old = ctx.rows.get(step) or {}
    stored = Stored(location, old.get("rows"), old.get("bytes"), old.get("schema"))  # type: ignore[arg-type]
    recorder.asset(step, plan.intent, plan.observation, io, stored)
    accepted = StepRecord(
        asset=step[0], status=ACCEPTED, reason=ACCEPTED, partition=step[1], duration_s=0.0,
        rows=stored.rows, bytes=stored.bytes, location=location,
    )
    data = _data_fingerprint(plan.observation)
    recorder.materialization(step, accepted, plan.intent, data, now())
