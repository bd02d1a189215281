"""The rows a run writes to the catalog, one step (an asset or one partition) at a time.

It owns the shape of the ``runs``, ``materializations``, ``assets``,
``dependencies`` and ``checks`` rows and hands them to the catalog's batched
writer. It decides nothing: the runner says what happened, this writes it.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from assetry.assets.graph import AssetGraph
from assetry.engine.steps import StepKey
from assetry.io_managers.base import Stored
from assetry.io_managers.catalog_form import CatalogForm
from assetry.records import CatalogWriter, SourceRow, dumps_upstream

__all__ = ["Recorder", "edge_changes", "executor_name", "now", "read_edges"]


def now() -> dt.datetime:
    """The current UTC time, naive (the catalog's TIMESTAMP columns are UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def executor_name(executor: Any) -> str:
    """What ``runs.executor`` records: ``"threads"``..., ``"dask"`` for a ``distributed.Client``,
    else an executor's ``name`` or its class name (never a repr, which can hold addresses)."""
    if isinstance(executor, str):
        return executor
    if type(executor).__module__.startswith("distributed"):
        return "dask"
    name = getattr(executor, "name", None)
    return name if isinstance(name, str) else type(executor).__name__


def read_edges(con: Any) -> list[tuple[str, str]]:
    """Every row of ``dependencies``: (asset, upstream)."""
    return con.execute("SELECT asset, upstream FROM dependencies").fetchall()


def edge_changes(names: Iterable[str], edges: list[tuple[str, str]],
                 rows: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """What makes ``dependencies`` (its ``rows``) hold ``edges`` for the assets ``names``:
    the edges to delete and those to insert; a row held twice is written anew, once.

    Examples:
        >>> edge_changes(["a", "b"], [("b", "a")], [("b", "a"), ("x", "y")])
        ([], [])
        >>> edge_changes(["a", "b"], [("b", "a")], [("b", "a"), ("b", "a")])
        ([('b', 'a')], [('b', 'a')])
    """
    mine = set(names)
    held = [(a, u) for a, u in rows if a in mine]
    have, wanted = set(held), set(edges)
    if len(have) != len(held):  # a row twice: written anew, once
        gone, have = list(have), set()
    else:
        gone = [e for e in have if e not in wanted]
    return gone, [e for e in dict.fromkeys(edges) if e not in have]


def _write_edges(names: list[str], edges: list[tuple[str, str]], held: list[tuple[str, str]],
                 con: Any) -> None:
    """Make ``dependencies``, which held the rows ``held`` when the run opened it, hold
    ``edges`` for the assets ``names``, writing only what changed (no other run writes
    the catalog while this one holds its run lock: the rows need not be read again)."""
    gone, new = edge_changes(names, edges, held)
    if gone:
        con.execute("DELETE FROM dependencies WHERE (asset, upstream) IN "
                    "(SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]))",
                    [[a for a, _ in gone], [u for _, u in gone]])
    if new:
        con.execute("INSERT INTO dependencies BY NAME SELECT unnest(?::VARCHAR[]) AS asset, "
                    "unnest(?::VARCHAR[]) AS upstream", [[a for a, _ in new], [u for _, u in new]])


@attrs.define
class Recorder:
    """Writes one run's rows through a :class:`CatalogWriter`."""

    writer: CatalogWriter
    run_id: str
    rows: Mapping[StepKey, dict[str, Any]]
    _io_forms: dict[Any, dict[str, Any]] = attrs.field(factory=dict)
    #: The ``runs`` row as :meth:`start` queued it, for :meth:`abandon` when it never got in.
    _run_row: dict[str, Any] = attrs.field(factory=dict)

    def start(self, graph: AssetGraph, root: Any, executor: Any,
              held_edges: list[tuple[str, str]]) -> None:
        """The ``runs`` row, and the graph's edges in ``dependencies``.

        ``held_edges`` are the rows of ``dependencies`` as the run read them
        (:func:`read_edges`, before its writer started): when they are the graph's
        edges, as at every run of an unchanged graph, nothing is written; else the
        writer's thread writes the difference, without reading them again.
        """
        self._run_row = {
            "run_id": self.run_id, "started_at": now(), "status": "running",
            "root": str(root), "executor": executor_name(executor),
            "pid": os.getpid(),
        }
        self.writer.put("runs", dict(self._run_row))
        edges = [(name, up) for name in graph.specs for up in graph.upstream[name]]
        if edge_changes(graph.specs, edges, held_edges) == ([], []):
            return
        # Written in the writer's thread, only what changed: a graph of a thousand sources
        # has a thousand edges, and deleting and inserting them all again cost a no-op run
        # more than observing the sources.
        self.writer.call(functools.partial(_write_edges, list(graph.specs), edges, held_edges))

    def finish(self, result: Any) -> None:
        """Close the ``runs`` row with the counts; a run stopped by a signal is ``interrupted``."""
        status = (
            "interrupted" if getattr(result, "interrupted_by", None)
            else "success" if result.success else "failed"
        )
        self.writer.sql(
            "UPDATE runs SET finished_at = ?, status = ?, n_materialized = ?, n_skipped = ?, "
            "n_failed = ?, n_blocked = ? WHERE run_id = ?",
            [now(), status, len(result.materialized),
             len(result.skipped), len(result.failed), len(result.blocked), self.run_id],
        )

    def checks(self, step: StepKey, outcomes: Any) -> None:
        """One ``checks`` row per check outcome."""
        for c in outcomes:
            self.writer.put("checks", {
                "run_id": self.run_id, "asset": step[0], "partition": step[1], "check": c.check,
                "passed": c.passed, "blocking": c.blocking, "detail": c.detail,
            })

    def asset(self, step: StepKey, intent: Any, observation: Any, io: Any, stored: Any,
              kind: str = "asset") -> None:
        """The ``assets`` row of a freshly stored product (replacing its previous row).

        ``code_definitions`` keeps what names a later change (the intent's
        explanation); ``kind`` is ``asset``, or ``source`` for an observed source.
        """
        explain = getattr(intent, "explain", None)
        self.writer.put("assets", {
            "asset": step[0], "partition": step[1], "fingerprint": intent.fingerprint,
            "code_fingerprint": intent.code, "config_fingerprint": intent.config,
            "io_fingerprint": intent.io, "upstream": dumps_upstream(dict(intent.upstream)),
            "data_fingerprint": observation.data_fingerprint, "stat_key": observation.stat_key,
            "io": io.describe(), **self._io_columns(io), "location": stored.location,
            "rows": stored.rows, "bytes": stored.bytes, "schema": stored.schema,
            "updated_at": now(), "run_id": self.run_id,
            "code_definitions": explain.catalog_text() if explain is not None else None,
            "kind": kind,
        })

    def source(self, step: StepKey, intent: Any, observation: Any, io: Any, location: str,
               changed: bool) -> None:
        """A source's ``assets`` row: its new observation, or only its new stat when unchanged."""
        row = self.rows.get(step)
        if changed or row is None or row.get("location") != location:
            self.asset(step, intent, observation, io, Stored(location), kind="source")
        else:
            self.refresh_stat(step, observation)

    def unchanged_sources(self, steps: list[StepKey], code: str, at: dt.datetime) -> None:
        """The ``materializations`` rows of sources observed unchanged, made inside the catalog.

        The rows :meth:`materialization` writes for such a step, one by one:
        ``observed``, ``up to date``, the data fingerprint, location, rows and bytes
        of the step's ``assets`` row, which stays as it is, stat and all (the run
        found the file at that location with that stat). DuckDB copies them from
        that row: one list of names crosses over (none when they are every source
        the catalog holds), where a batch of the rows themselves was four lists of a
        thousand strings, each converted one by one.
        """
        select = (
            "INSERT INTO materializations BY NAME SELECT ?::VARCHAR AS run_id, a.asset, "
            "a.partition, 'observed' AS status, 'up to date' AS reason, "
            "a.data_fingerprint AS fingerprint, ?::VARCHAR AS code_fingerprint, a.data_fingerprint, "
            "?::TIMESTAMP AS started_at, a.rows, a.bytes, a.location, 0 AS attempts FROM assets a "
        )
        held = [k for k, row in self.rows.items() if type(row) is SourceRow]
        params: list[Any] = [self.run_id, code, at]
        if len(held) == len(steps) and set(held) == set(steps):
            # Every source row of the catalog (as the run read it; only this run writes
            # until it ends): no list to hand over, which DuckDB takes value by value.
            select += "WHERE a.kind = 'source'"
        else:
            partitions = [s[1] for s in steps]
            keyed = any(p is not None for p in partitions)
            select += "SEMI JOIN (SELECT unnest(?::VARCHAR[]) AS asset" + (
                ", unnest(?::VARCHAR[]) AS partition) s ON a.asset = s.asset AND "
                "a.partition IS NOT DISTINCT FROM s.partition" if keyed
                else ") s ON a.asset = s.asset AND a.partition IS NULL")
            params += [[s[0] for s in steps], *([partitions] if keyed else [])]
        self.writer.sql(select, params)
        self.writer.fold()  # checkpointed while the run prepares the rest, not at its end

    def refresh_stat(self, step: StepKey, observation: Any) -> None:
        """Remember a touched-but-identical product's new stat, so the next run need not re-hash."""
        row = self.rows.get(step)
        if row is None or row.get("stat_key") == observation.stat_key:
            return
        if type(row) is SourceRow:  # read narrow: the catalog's row keeps its other columns
            self.writer.sql("UPDATE assets SET stat_key = ? WHERE asset = ? AND partition IS NOT "
                            "DISTINCT FROM ?", [observation.stat_key, step[0], step[1]])
            return
        self.writer.put("assets", {**row, "stat_key": observation.stat_key})

    def materialization(self, step: StepKey, record: Any, intent: Any, data_fp: str | None,
                        started_at: dt.datetime | None, logs: str | None = None) -> None:
        """The ``materializations`` row of one step (with its traceback and captured output)."""
        row = self.rows.get(step) if record.status == "skipped" else None
        values = {
            "run_id": self.run_id, "asset": step[0], "partition": step[1],
            "status": record.status, "reason": record.reason,
            "fingerprint": intent.fingerprint if intent else (row or {}).get("fingerprint"),
            "code_fingerprint": intent.code if intent else (row or {}).get("code_fingerprint"),
            "data_fingerprint": (
                data_fp if record.status in ("materialized", "skipped", "accepted", "observed",
                                         "restored")
                else None
            ),
            "started_at": started_at or now(), "duration_s": record.duration_s,
            "rows": record.rows, "bytes": record.bytes, "location": record.location,
            "error": record.error, "attempts": record.attempts,
            "traceback": getattr(record, "traceback", None), "logs": logs,
        }
        # Every row goes to the writer at once, skips too: put() only appends to a list and
        # the writer commits on a time bound, so a killed run keeps them and a wide no-op
        # run still costs a few transactions.
        self.writer.put("materializations", values)

    def abandon(self, result: Any) -> None:
        """After a catalog write failure: mark the ``runs`` row failed, if the catalog takes it.

        The row itself is written first if the failed batch was the one that held it.
        """
        row = self._run_row
        if row:
            columns = ", ".join(row)
            self.writer.salvage(
                f"INSERT INTO runs ({columns}) SELECT {', '.join('?' for _ in row)} "
                "WHERE NOT EXISTS (SELECT 1 FROM runs WHERE run_id = ?)",
                [*row.values(), self.run_id],
            )
        self.writer.salvage(
            "UPDATE runs SET finished_at = ?, status = 'failed', n_materialized = ?, "
            "n_skipped = ?, n_failed = ?, n_blocked = ? WHERE run_id = ?",
            [now(), len(result.materialized), len(result.skipped), len(result.failed),
             len(result.blocked), self.run_id],
        )

    def _io_columns(self, io: Any) -> dict[str, Any]:
        # io_class, io_settings, io_pickle. Managers are frozen values; describing one
        # per partition would dominate a wide run.
        try:
            cached = self._io_forms.get(io)
        except TypeError:  # a manager with an unhashable setting: describe it every time
            return attrs.asdict(CatalogForm.of(io))
        if cached is None:
            cached = self._io_forms[io] = attrs.asdict(CatalogForm.of(io))
        return cached
