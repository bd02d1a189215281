"""Status and accept: the plan before a run, and recording harmless changes as fresh.

Both walk the graph's steps in order (an unpartitioned asset, or one partition
of a partitioned asset) with the same :class:`RunContext` the runner uses, so
``status`` says exactly what ``materialize`` would do first.

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
from assetry.engine.planner import UP_TO_DATE, decide
from assetry.engine.recording import Recorder, now
from assetry.engine.result import StepRecord
from assetry.engine.roots import remove_temporaries
from assetry.engine.steps import StepKey, expand, run_keys, upstream_state, upstream_steps
from assetry.io_managers.base import Stored
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
    import polars as pl

    ctx, selected = _context(assets, catalog, select, config, root)
    graph = ctx.graph
    needed = set(selected)
    for name in selected:
        needed |= graph.ancestors(name)
    steps = expand(graph, run_keys(graph, [n for n in graph.order if n in needed]))
    stale: set[StepKey] = set()
    data_fp: dict[StepKey, str | None] = {}
    decided: dict[str, list[tuple[str | None, bool, str]]] = {n: [] for n in selected}
    for step in steps.order:
        name, key = step
        obs = ctx.observe(name, key)
        state = upstream_state(graph, step, {}, data_fp)
        fps = {u: state.fingerprints.get(u, "") for u in graph.upstream[name]}
        stale_up = {up[0] for up in upstream_steps(graph, step) if up in stale}
        decision = decide(
            ctx.intent(name, fps), ctx.record(name, key), obs, cache=graph.specs[name].cache,
            stale_upstream=tuple(sorted(stale_up)),
        )
        data_fp[step] = obs.data_fingerprint if obs else None
        if decision.run:
            stale.add(step)
        if name in decided:
            decided[name].append((key, not decision.run, decision.reason))
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
    import polars as pl

    ctx, selected = _context(assets, catalog, select, config, root)
    graph = ctx.graph
    run_id = "accept-" + os.urandom(8).hex()
    con = connect(catalog.path)
    for crashed in con.crashed_roots:
        remove_temporaries(crashed)
    writer = CatalogWriter(con)
    recorder = Recorder(writer, run_id, ctx.rows)
    rows: list[dict[str, Any]] = []
    data_fp: dict[StepKey, str | None] = {}
    try:
        for step in expand(graph, run_keys(graph, graph.order)).order:
            name, key = step
            obs = ctx.observe(name, key)
            data_fp[step] = obs.data_fingerprint if obs else None
            if name not in selected:
                continue
            row = {"asset": name, "partition": key, "accepted": False}
            record = ctx.record(name, key)
            io, location = ctx.product(name, key)
            if obs is None or io is None:
                rows.append({**row, "reason": "product missing"})
                continue
            if record is not None and record.data_fingerprint != obs.data_fingerprint:
                rows.append({**row, "reason": "product modified outside assetry"})
                continue
            state = upstream_state(graph, step, {}, data_fp)
            intent = ctx.intent(name, {u: state.fingerprints.get(u, "") for u in graph.upstream[name]})
            old = ctx.rows.get(step) or {}
            stored = Stored(location, old.get("rows"), old.get("bytes"), old.get("schema"))  # type: ignore[arg-type]
            recorder.asset(step, intent, obs, io, stored)
            accepted = StepRecord(
                asset=name, status="accepted", reason="accepted", partition=key, duration_s=0.0,
                rows=stored.rows, bytes=stored.bytes, location=location,
            )
            recorder.materialization(step, accepted, intent, obs.data_fingerprint, now())
            rows.append({**row, "accepted": True, "reason": "accepted"})
    finally:
        writer.close()
        con.close()
    schema = {"asset": pl.String, "partition": pl.String, "accepted": pl.Boolean, "reason": pl.String}
    frame = pl.DataFrame(rows, schema=schema)
    return frame if any(graph.specs[n].partitions for n in selected) else frame.drop("partition")

