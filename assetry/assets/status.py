"""Status and accept: the plan before a run, and recording harmless changes as fresh.

Both walk the graph in order with the same :class:`RunContext` the runner
uses, so ``status`` says exactly what ``materialize`` would do first.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from assetry.assets.context import RunContext, resolve_config
from assetry.assets.graph import AssetGraph
from assetry.assets.planner import decide

__all__ = ["accept", "status"]


def _context(assets: Any, catalog: Any, select: Any, config: Any, root: Any) -> tuple[RunContext, list[str]]:
    graph = AssetGraph.build(assets)
    selected = graph.select(select)
    root_path = pathlib.Path(os.path.abspath(root)) if root is not None else catalog.root
    return RunContext(graph, resolve_config(graph, config), root_path, catalog.records()), selected


def status(assets: Any, *, catalog: Any, select: Any = None, config: Any = None, root: Any = None) -> Any:
    """One row per selected asset: ``asset``, ``fresh``, ``reason`` (and ``partition``).

    An asset whose upstream will rerun is reported ``upstream stale: <name>``.

    Examples:
        >>> Catalog("data/catalog.duckdb").status([flights, delays])  # doctest: +SKIP
    """
    import polars as pl

    ctx, selected = _context(assets, catalog, select, config, root)
    graph = ctx.graph
    needed = set(selected)
    for name in selected:
        needed |= graph.ancestors(name)
    stale: set[str] = set()
    data_fp: dict[str, str | None] = {}
    rows = []
    for name in graph.order:
        if name not in needed:
            continue
        obs = ctx.observe(name)
        ups = graph.upstream[name]
        intent = ctx.intent(name, {u: data_fp.get(u) or "" for u in ups})
        decision = decide(
            intent, ctx.record(name), obs, cache=graph.specs[name].cache,
            stale_upstream=tuple(u for u in ups if u in stale),
        )
        data_fp[name] = obs.data_fingerprint if obs else None
        if decision.run:
            stale.add(name)
        if name in selected:
            rows.append({"asset": name, "fresh": not decision.run, "reason": decision.reason})
    return pl.DataFrame(rows, schema={"asset": pl.String, "fresh": pl.Boolean, "reason": pl.String})


def accept(assets: Any, *, catalog: Any, select: Any = None, config: Any = None, root: Any = None) -> Any:
    """Record current fingerprints of existing, unmodified products as fresh, without running.

    Returns one row per selected asset: ``asset``, ``accepted``, ``reason``.

    Examples:
        >>> Catalog("data/catalog.duckdb").accept([flights, delays])  # doctest: +SKIP
    """
    import cloudpickle
    import polars as pl

    from assetry.assets.runner import now
    from assetry.catalog import CatalogWriter, connect, dumps_upstream

    ctx, selected = _context(assets, catalog, select, config, root)
    graph = ctx.graph
    run_id = "accept-" + os.urandom(8).hex()
    con = connect(catalog.path)
    writer = CatalogWriter(con)
    rows: list[dict[str, Any]] = []
    data_fp: dict[str, str | None] = {}
    try:
        for name in graph.order:
            obs = ctx.observe(name)
            data_fp[name] = obs.data_fingerprint if obs else None
            if name not in selected:
                continue
            record = ctx.record(name)
            io, location = ctx.product(name)
            if obs is None or io is None:
                rows.append({"asset": name, "accepted": False, "reason": "product missing"})
                continue
            if record is not None and record.data_fingerprint != obs.data_fingerprint:
                rows.append({"asset": name, "accepted": False, "reason": "product modified outside assetry"})
                continue
            intent = ctx.intent(name, {u: data_fp.get(u) or "" for u in graph.upstream[name]})
            old = ctx.rows.get((name, None)) or {}
            writer.put("assets", {
                **old, "asset": name, "partition": None, "fingerprint": intent.fingerprint,
                "code_fingerprint": intent.code, "config_fingerprint": intent.config,
                "io_fingerprint": intent.io, "upstream": dumps_upstream(dict(intent.upstream)),
                "data_fingerprint": obs.data_fingerprint, "stat_key": obs.stat_key,
                "io": io.describe(), "io_pickle": cloudpickle.dumps(io), "location": location,
                "updated_at": now(), "run_id": run_id,
            })
            writer.put("materializations", {
                "run_id": run_id, "asset": name, "partition": None, "status": "accepted",
                "reason": "accepted", "fingerprint": intent.fingerprint,
                "code_fingerprint": intent.code, "data_fingerprint": obs.data_fingerprint,
                "started_at": now(), "duration_s": 0.0, "location": location,
                "rows": old.get("rows"), "bytes": old.get("bytes"),
            })
            rows.append({"asset": name, "accepted": True, "reason": "accepted"})
    finally:
        writer.close()
        con.close()
    return pl.DataFrame(rows, schema={"asset": pl.String, "accepted": pl.Boolean, "reason": pl.String})
