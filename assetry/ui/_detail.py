"""What the page shows about one asset, the runs, and one run: read from the catalog on request.

Plain dictionaries, ready for the templates and for ``/api/``. Timestamps
stay ``datetime`` values here (the catalog's are UTC); the JSON encoder of
:mod:`assetry.ui._app` writes them as ISO text. Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from assetry.records import pid_alive
from assetry.ui._board import Board
from assetry.ui._preview import preview

__all__ = ["asset_detail", "roots", "run_detail", "runs"]

_HISTORY = 200  # rows of an asset's history table
_CHART = 60  # materializing runs in its chart
_RUNS = 200  # runs in the list


def roots(board: Board) -> list[str]:
    """Where products may be read from: every run's root, the catalog's directory, ``--root``."""
    found = {os.path.dirname(os.path.abspath(board.catalog.path))}
    if board.source.root is not None:
        found.add(os.path.abspath(board.source.root))
    if board.catalog.path.exists():
        found |= {r for (r,) in board.sql(
            "SELECT DISTINCT root FROM runs WHERE root IS NOT NULL").rows() if "://" not in r}
    return sorted(found)


def asset_detail(board: Board, name: str, *, with_preview: bool = True) -> dict[str, Any] | None:
    """Everything the asset page shows; None for a name the graph and catalog do not know."""
    node = next((n for n in board.assets() if n["asset"] == name), None)
    if node is None:
        return None
    detail: dict[str, Any] = {**node, "description": board.description(name)}
    if not board.catalog.path.exists():
        return {**detail, "history": [], "chart": [], "stored": [], "schema": [], "checks": [],
                "last_error": None, "logs": None, "preview": {"note": "no catalog yet"}}
    with board.reading():  # one read for every question; the product is previewed after
        found = _read_asset(board, name)
    detail.update(found)
    if with_preview:
        stored = found["stored"]
        shown = stored[0] if stored else None
        detail["preview"] = {
            **preview(shown["location"] if shown else None, found["roots"]),
            "partition": shown["partition"] if shown else None,
        }
    del detail["roots"]
    return detail


def _read_asset(board: Board, name: str) -> dict[str, Any]:
    detail: dict[str, Any] = {"roots": roots(board)}
    columns = _columns(board, "materializations")
    detail["history"] = _dicts(board.sql(
        "SELECT run_id, partition, status, reason, started_at, duration_s, rows, bytes, location "
        "FROM materializations WHERE asset = ? ORDER BY started_at DESC LIMIT ?", [name, _HISTORY]))
    detail["chart"] = list(reversed(_dicts(board.sql(
        "SELECT run_id, min(started_at) AS started_at, sum(duration_s) AS duration_s, "
        "sum(rows)::BIGINT AS rows, count(*) AS steps FROM materializations "
        "WHERE asset = ? AND status = 'materialized' GROUP BY run_id "
        "ORDER BY started_at DESC LIMIT ?", [name, _CHART]))))
    stored = _dicts(board.sql(
        "SELECT partition, location, io, rows, bytes, schema, updated_at, run_id FROM assets "
        "WHERE asset = ? ORDER BY updated_at DESC, partition", [name]))
    detail["stored"] = stored[:50]
    detail["n_stored"] = len(stored)
    detail["schema"] = _schema(next((s["schema"] for s in stored if s.get("schema")), None))
    detail["checks"] = _checks(board, name)
    tb = "traceback" if "traceback" in columns else "NULL"
    detail["last_error"] = next(iter(_dicts(board.sql(
        f"SELECT run_id, partition, started_at, error, {tb} AS traceback FROM materializations "
        "WHERE asset = ? AND status = 'failed' ORDER BY started_at DESC LIMIT 1", [name]))), None)
    detail["logs"] = None
    if "logs" in columns:
        detail["logs"] = next(iter(_dicts(board.sql(
            "SELECT run_id, partition, started_at, logs FROM materializations "
            "WHERE asset = ? AND logs IS NOT NULL ORDER BY started_at DESC LIMIT 1", [name]))), None)
    return detail


def _schema(text: str | None) -> list[dict[str, str]]:
    if not text:
        return []
    try:
        parsed = json.loads(text)
    except ValueError:
        return []
    if isinstance(parsed, dict):
        return [{"name": str(k), "type": str(v)} for k, v in parsed.items()]
    if isinstance(parsed, list):  # a relation's columns: [[name, type], ...] or [name, ...]
        return [{"name": str(c[0]), "type": str(c[1])} if isinstance(c, list | tuple) and len(c) > 1
                else {"name": str(c), "type": ""} for c in parsed]
    return []


def _checks(board: Board, name: str) -> list[dict[str, Any]]:
    """The check outcomes of the asset's latest run that checked it, summed over partitions."""
    latest = board.sql(
        "SELECT c.run_id FROM checks c LEFT JOIN runs r USING (run_id) WHERE c.asset = ? "
        "ORDER BY r.started_at DESC NULLS LAST LIMIT 1", [name])
    if latest.height == 0:
        return []
    run_id = latest.item()
    return [dict(r, run_id=run_id) for r in _dicts(board.sql(
        'SELECT "check", any_value(blocking) AS blocking, count(*) FILTER (WHERE passed) AS passed, '
        "count(*) AS total, coalesce(first(detail) FILTER (WHERE NOT passed), first(detail)) AS detail "
        'FROM checks WHERE asset = ? AND run_id = ? GROUP BY "check" ORDER BY "check"',
        [name, run_id]))]


def runs(board: Board) -> list[dict[str, Any]]:
    """The latest runs, newest first, each with its duration and whether it is alive."""
    if not board.catalog.path.exists():
        return []
    found = _dicts(board.sql(
        "SELECT run_id, started_at, finished_at, status, n_materialized, n_skipped, n_failed, "
        "n_blocked, executor, root, pid FROM runs ORDER BY started_at DESC LIMIT ?", [_RUNS]))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # the catalog's times are naive UTC
    for run in found:
        end = run["finished_at"] or now
        run["duration_s"] = (end - run["started_at"]).total_seconds() if run["started_at"] else None
        run["alive"] = run["status"] == "running" and (run["pid"] is None or pid_alive(run["pid"]))
        if run["status"] == "running" and not run["alive"]:
            run["status"] = "running (its process is gone)"
    return found


def run_detail(board: Board, run_id: str) -> dict[str, Any] | None:
    """One run and its steps (every materialization row), oldest first; None if unknown."""
    cat = board.catalog
    if not cat.path.exists():
        return None
    found = [r for r in runs(board) if r["run_id"] == run_id]
    if not found:
        rows = _dicts(board.sql(
            "SELECT run_id, started_at, finished_at, status, n_materialized, n_skipped, n_failed, "
            "n_blocked, executor, root, pid, NULL AS duration_s, false AS alive FROM runs "
            "WHERE run_id = ?", [run_id]))
        if not rows:
            return None
        found = rows
    run = found[0]
    run["steps"] = _dicts(board.sql(
        "SELECT asset, partition, status, reason, started_at, duration_s, rows, error "
        "FROM materializations WHERE run_id = ? ORDER BY started_at, asset, partition", [run_id]))
    counts: dict[str, int] = {}
    for step in run["steps"]:
        counts[step["status"]] = counts.get(step["status"], 0) + 1
    run["counts"] = counts
    return run


def _dicts(frame: Any) -> list[dict[str, Any]]:
    return list(frame.iter_rows(named=True))


def _columns(board: Board, table: str) -> set[str]:
    return {c for (c,) in board.sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).rows()}
