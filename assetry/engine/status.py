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
"""

from __future__ import annotations

import collections
import os
import pathlib
from typing import Any

from assetry.assets.graph import AssetGraph
from assetry.engine.context import RunContext, resolve_config
from assetry.engine.planner import (
    ACCEPTED,
    SKIPPED,
    UP_TO_DATE,
    StepPlan,
    accept_reason,
    plan_step,
)
from assetry.engine.recording import Recorder, now
from assetry.engine.result import StepRecord
from assetry.engine.roots import remove_temporaries
from assetry.engine.state import STALE, StepState
from assetry.engine.steps import StepKey, expand, run_keys, upstream_state
from assetry.io_managers.base import Observation, Stored
from assetry.records import CatalogWriter, connect

__all__ = ["accept", "status", "summarize_reasons"]

_ORDER = (
    "fresh", "missing", "modified", "code changed", "config changed", "upstream stale",
    "upstream changed",
)
_SHORT = {
    UP_TO_DATE: "fresh",
    "never materialized": "missing",
    "product missing": "missing",
    "product modified outside assetry": "modified",
}


def _context(assets: Any, catalog: Any, select: Any, config: Any, root: Any) -> tuple[RunContext, list[str]]:
    graph = AssetGraph.build(assets)
    selected = graph.select(select)
    root_path = pathlib.Path(os.path.abspath(root)) if root is not None else catalog.root
    return RunContext(graph, resolve_config(graph, config), root_path, catalog.records()), selected


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
           partitions: bool = False) -> Any:
    """One row per selected asset: ``asset``, ``fresh``, ``reason``; per partition on request.

    An asset whose upstream will rerun is reported ``upstream stale: <name>``.
    With ``partitions=True`` the frame has one row per partition (and one per
    unpartitioned asset) with columns ``asset``, ``partition``, ``fresh``, ``reason``.

    Examples:
        >>> Catalog("data/catalog.duckdb").status([flights, delays])  # doctest: +SKIP
    """
    ctx, selected = _context(assets, catalog, select, config, root)
    graph = ctx.graph
    needed = set(selected)
    for name in selected:
        needed |= graph.ancestors(name)
    states: dict[StepKey, StepState] = {}
    decided: dict[str, list[tuple[str | None, bool, str]]] = {n: [] for n in selected}
    for step in expand(graph, run_keys(graph, [n for n in graph.order if n in needed])).order:
        name, key = step
        plan = plan_step(step, upstream_state(graph, step, states), ctx,
                         cache=graph.specs[name].cache, before_run=True)
        states[step] = StepState(status=STALE if plan.run else SKIPPED,
                                 data_fingerprint=_data_fingerprint(plan.observation))
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


def accept(assets: Any, *, catalog: Any, select: Any = None, config: Any = None, root: Any = None) -> Any:
    """Record current fingerprints of existing, unmodified products as fresh, without running.

    Returns one row per selected asset (per partition of a partitioned one):
    ``asset``, ``accepted``, ``reason`` (and ``partition`` when any asset is partitioned).

    Examples:
        >>> Catalog("data/catalog.duckdb").accept([flights, delays])  # doctest: +SKIP
    """
    import polars as pl  # lazily: `import assetry` does not load polars

    ctx, selected = _context(assets, catalog, select, config, root)
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
