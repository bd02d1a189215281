"""Versions in a run: set the product aside before it is replaced, put a kept one back, prune.

A run opens a :class:`VersionKeeper` over the catalog's ``versions`` rows that
are still kept. Before a step replaces its product (it runs, or a version is
restored over it), :meth:`VersionKeeper.set_aside` keeps the product as it
is, through the store of :mod:`assetry.io_managers.versions` (hard links),
and records a ``versions`` row. When the planner finds a kept version whose
fingerprint is the one the step would have now (a ``restored`` plan),
:meth:`VersionKeeper.restore` puts it back instead of running the function.
At the end of the run :meth:`VersionKeeper.prune` keeps the newest ``N`` per
step (the asset's ``versions=``, else the run's) and removes the rest.

A table in DuckDB or PostgreSQL is kept by the worker's own swap
(:func:`run_keeping`), in the swap's transaction; the keeper writes its row
once the task is done and the table is there (:meth:`VersionKeeper.settle`).

It decides nothing about freshness (the planner does) and writes rows only
through the run's catalog writer. Views, other databases and object storage
are not versioned (see docs/versions.md). Restoring and removing versions by
hand (``assetry restore``, ``assetry gc``) is :mod:`assetry.engine.housekeeping`'s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
import time
from collections.abc import Mapping
from typing import Any

import attrs

from assetry.engine.planner import RESTORED
from assetry.engine.roots import run_alive
from assetry.engine.state import StepState
from assetry.engine.steps import StepKey
from assetry.engine.task import Outcome, Task, run_task
from assetry.errors import AssetError, AssetGraphError
from assetry.io_managers.base import Observation, Stored, run_scope
from assetry.io_managers.versions import (
    discard,
    discard_version,
    has_version,
    is_relation,
    keep,
    keeping,
    keeping_target,
    leftovers,
    put_back,
    put_table_back,
    restored_observation,
    version_location,
    versionable,
)

__all__ = [
    "DEFAULT_VERSIONS", "Kept", "VersionKeeper", "check_versions", "counted", "now", "read_kept",
    "run_keeping",
]

#: Earlier versions kept per asset when neither the asset nor the run says otherwise.
DEFAULT_VERSIONS = 3


@attrs.frozen
class Kept:
    """One kept version of a step's product (a row of the ``versions`` table)."""

    asset: str
    partition: str | None
    data_fingerprint: str
    fingerprint: str
    run_id: str | None
    created_at: dt.datetime | None
    rows: int | None
    bytes: int | None
    location: str
    product: str | None = None
    schema: str | None = None
    kept_at: dt.datetime | None = None

    @property
    def reason(self) -> str:
        """``restored: version of <YYYY-MM-DD HH:MM> (run <id prefix>)``.

        Examples:
            >>> Kept("a", None, "d", "f", "41ab09cd77", dt.datetime(2026, 12, 1, 14, 3),
            ...      None, None, "v").reason
            'restored: version of 2026-12-01 14:03 (run 41ab09cd)'
        """
        when = self.created_at.strftime("%Y-%m-%d %H:%M") if self.created_at else "an earlier run"
        return f"restored: version of {when}" + (f" (run {self.run_id[:8]})" if self.run_id else "")

    def row(self) -> dict[str, Any]:
        """The ``versions`` row."""
        return {**attrs.asdict(self), "kept": True}


def check_versions(versions: Any) -> int:
    """The run's ``versions=``, checked: a whole number >= 0.

    Examples:
        >>> check_versions(2)
        2
    """
    if isinstance(versions, bool) or not isinstance(versions, int) or versions < 0:
        raise AssetGraphError(f"versions={versions!r} is not a whole number >= 0; give 0 to keep none")
    return versions


def read_kept(con: Any) -> dict[StepKey, list[Kept]]:
    """Every kept version in the catalog, by step, oldest first."""
    import duckdb

    fields = [f.name for f in attrs.fields(Kept)]
    try:
        cur = con.execute(
            f"SELECT {', '.join(fields)} FROM versions WHERE kept ORDER BY created_at, kept_at"
        )
    except duckdb.CatalogException:  # a catalog read in its older shape has no versions yet
        return {}
    out: dict[StepKey, list[Kept]] = {}
    for values in cur.fetchall():
        kept = Kept(**dict(zip(fields, values)))
        out.setdefault((kept.asset, kept.partition), []).append(kept)
    return out


@attrs.define
class VersionKeeper:
    """One run's versions: what is kept, what it sets aside and restores, what it prunes."""

    root: pathlib.Path
    writer: Any
    default: int
    kept: dict[StepKey, list[Kept]]
    #: Steps whose product this run replaced: only these are pruned at the end.
    touched: set[StepKey] = attrs.field(factory=set)
    #: The IO manager of each step with versions in play (a table's versions need its client).
    ios: dict[StepKey, Any] = attrs.field(factory=dict)
    #: Tables the worker keeps in its swap: the version row to write once it is there.
    pending: dict[StepKey, Kept] = attrs.field(factory=dict)
    #: The run's id: temporaries in the store carry it, so a sweep knows when they are orphans.
    run_id: str | None = None

    def sweep(self) -> None:
        """Remove what dead runs left in the version store (a version half kept)."""
        for path, run in leftovers(self.root).items():
            if run is not None and run != self.run_id and not run_alive(self.root, run):
                discard(path)

    def _scope(self) -> Any:
        return contextlib.nullcontext() if self.run_id is None else run_scope(self.run_id)

    def limit(self, spec: Any) -> int:
        """How many earlier versions this asset keeps."""
        own = getattr(spec, "versions", None)
        return self.default if own is None else own

    def matching(self, step: StepKey) -> Mapping[str, Kept]:
        """The step's kept versions by fingerprint (the newest wins), for the planner."""
        return {k.fingerprint: k for k in self.kept.get(step, ())}

    def candidate(self, step: StepKey, row: Mapping[str, Any] | None,
                  observation: Observation | None, io: Any, limit: int) -> Kept | None:
        """The version the current product would become, if it is to be kept.

        A product missing or modified outside assetry is not kept (its record does
        not describe it), nor one whose fingerprint is kept already.
        """
        self.touched.add(step)
        if limit <= 0 or row is None or observation is None:
            return None
        location = row.get("location")
        try:
            if not versionable(io, location) or observation.data_fingerprint != row["data_fingerprint"]:
                return None
            where = version_location(self.root, io, location, step[0], step[1],  # type: ignore[arg-type]
                                     row["data_fingerprint"])
        except AssetError:  # a database that cannot be reached: no version, never a failed run
            return None
        if any(k.fingerprint == row["fingerprint"] for k in self.kept.get(step, ())):
            return None
        self.ios[step] = io
        return Kept(
            asset=step[0], partition=step[1], data_fingerprint=row["data_fingerprint"],
            fingerprint=row["fingerprint"], run_id=row.get("run_id"),
            created_at=row.get("updated_at"), rows=row.get("rows"), bytes=row.get("bytes"),
            location=where, product=location, schema=row.get("schema"), kept_at=now(),
        )

    def set_aside(self, step: StepKey, row: Mapping[str, Any] | None, observation: Observation | None,
                  io: Any, limit: int) -> None:
        """Keep the current product before it is replaced (see :meth:`candidate`).

        A file or directory is linked now; a table is kept by the worker's swap
        (:meth:`job`), and its row written when it is there (:meth:`settle`).
        A failure to keep it never fails the step.
        """
        kept = self.candidate(step, row, observation, io, limit)
        if kept is None:
            return
        if is_relation(kept.location):
            self.pending[step] = kept
            return
        try:
            with self._scope():
                keep(kept.product, pathlib.Path(kept.location))  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - no version is a lost shortcut, never a failed run
            return
        self._add(step, kept)

    def _add(self, step: StepKey, kept: Kept) -> None:
        self.kept.setdefault(step, []).append(kept)
        self.writer.put("versions", kept.row())

    def set_aside_step(self, step: StepKey, plan: Any, ctx: Any, spec: Any) -> None:
        """Keep a step's product as a version before the run replaces it."""
        io, _ = ctx.product(*step)
        self.set_aside(step, ctx.rows.get(step), plan.observation, io, self.limit(spec))

    def job(self, step: StepKey, task: Any) -> tuple[Any, ...]:
        """What to submit for a step's task: ``run_task``, or, when its table is to be kept,
        :func:`run_keeping` (the worker's swap moves the old table to ``assetry_versions``)."""
        kept = self.pending.get(step)
        if kept is None:
            return (run_task, task)
        try:
            target = keeping_target(self.ios[step], kept.product, kept.location)  # type: ignore[arg-type]
        except AssetError:  # no version is a lost shortcut, never a failed run
            self.pending.pop(step)
            return (run_task, task)
        return (run_keeping, task, target)

    def settle(self, step: StepKey) -> None:
        """After a step's task: record the table its swap kept, if it is there."""
        kept = self.pending.pop(step, None)
        if kept is None:
            return
        try:
            there = has_version(self.ios.get(step), kept.location)
        except Exception:  # noqa: BLE001 - an unreachable database: no version, never a failed run
            there = False
        if there:
            self._add(step, kept)

    def restore_step(self, step: StepKey, plan: Any, ctx: Any,
                     recorder: Any) -> tuple[StepState, Outcome] | None:
        """Carry out a ``restored`` plan: the current product set aside, the version put back,
        its ``assets`` row written; the step's state and outcome, or None if it cannot be."""
        io, location = ctx.product(*step)
        if io is None or location is None:
            return None
        started, t0 = now(), time.perf_counter()
        version = plan.version
        limit = self.limit(ctx.graph.specs[step[0]])
        try:
            observation = self.put_back(step, version, io, location, ctx.rows.get(step),
                                        plan.observation, limit)
        except AssetError:
            return None
        stored = Stored(location, version.rows, version.bytes, version.schema)
        recorder.asset(step, plan.intent, observation, io, stored)
        state = StepState(status=RESTORED, reason=plan.reason, intent=plan.intent,
                          data_fingerprint=observation.data_fingerprint, started_at=started,
                          product=(io, location))
        outcome = Outcome(ok=True, duration_s=time.perf_counter() - t0, stored=stored,
                          observation=observation, io=io)
        return state, outcome

    def put_back(self, step: StepKey, version: Kept, io: Any, location: str,
                 row: Mapping[str, Any] | None, now_seen: Observation | None,
                 limit: int) -> Observation:
        """Keep the current product (as :meth:`set_aside`) and put ``version`` in its place.

        A file or directory is linked back (its version stays, another link); a
        table is swapped back in one transaction with the current one, so the
        version is the product again and its rows say ``kept = false``.

        Raises:
            StorageError: the version is gone or could not be put in place; the
                product is as it was.
        """
        if not is_relation(version.location):
            self.set_aside(step, row, now_seen, io, limit)
            return self.restore(version, io, location)
        current = self.candidate(step, row, now_seen, io, limit)
        keep_as = current.location if current is not None and current.location != version.location else None
        if put_table_back(io, version.location, location, keep_as):
            self._add(step, current)  # type: ignore[arg-type]
        self._forget(step, version.location)
        return restored_observation(io, location, version.data_fingerprint)

    def _forget(self, step: StepKey, where: str) -> None:
        """A table version put back is the product again: no longer kept."""
        self.kept[step] = [k for k in self.kept.get(step, []) if k.location != where]
        self.writer.sql("UPDATE versions SET kept = false WHERE location = ?", [where])

    def prune_run(self, specs: Mapping[str, Any], states: Mapping[StepKey, StepState]) -> None:
        """At the end of a run: :meth:`prune` with each asset's limit and each step's data now."""
        limits = {name: self.limit(spec) for name, spec in specs.items()}
        self.prune(limits, {step: state.data_fingerprint for step, state in states.items()})

    def restore(self, kept: Kept, io: Any, location: str) -> Observation:
        """Put a kept file or directory version back at ``location``; its observation (nothing
        is read).

        Raises:
            StorageError: the version is gone or could not be put in place; the
                product is as it was.
        """
        with self._scope():
            put_back(pathlib.Path(kept.location), location)
        return restored_observation(io, location, kept.data_fingerprint)

    def prune(self, limits: Mapping[str, int], current: Mapping[StepKey, str | None]) -> None:
        """Remove all but the newest versions of each step this run touched.

        ``limits`` is each asset's number of versions; ``current`` each step's
        current data fingerprint: a file version holding the current product's data
        costs nothing and is not counted (nor removed); a table version always counts.
        """
        for step in sorted(self.touched, key=lambda s: (s[0], s[1] or "")):
            earlier = counted(self.kept.get(step, []), current.get(step))
            drop = earlier[: max(0, len(earlier) - limits.get(step[0], self.default))]
            self.remove(step, drop)

    def remove(self, step: StepKey, drop: list[Kept]) -> int:
        """Remove these versions of a step: their files or tables, and ``kept`` false on their
        rows. A table whose database cannot be reached stays kept. Returns how many went."""
        if not drop:
            return 0
        left = [k for k in self.kept.get(step, []) if k not in drop]
        in_use = {k.location for k in left}
        removed = 0
        for k in drop:
            if k.location not in in_use and not discard_version(k.location, self.ios.get(step)):
                left.append(k)
                continue
            removed += 1
            self.writer.sql(
                "UPDATE versions SET kept = false WHERE asset = ? AND coalesce(partition, chr(0)) = "
                "coalesce(?, chr(0)) AND fingerprint = ?",
                [k.asset, k.partition, k.fingerprint],
            )
        self.kept[step] = left
        return removed


def counted(versions: list[Kept], current: str | None) -> list[Kept]:
    """The versions retention counts: all but files holding the current data (they cost nothing).

    Examples:
        >>> v = [Kept("a", None, "d1", "f1", None, None, None, None, "data/v1"),
        ...      Kept("a", None, "d2", "f2", None, None, None, None, "duckdb:/w#assetry_versions.a")]
        >>> [k.fingerprint for k in counted(v, "d1")], [k.fingerprint for k in counted(v, "d2")]
        (['f2'], ['f1', 'f2'])
    """
    return [k for k in versions if k.data_fingerprint != current or is_relation(k.location)]


def run_keeping(task: Task, target: tuple[str, str, str, str]) -> Outcome:
    """``run_task``, with the swap that replaces the task's table keeping the old one in
    ``assetry_versions``, in the same transaction (``target``: see
    :func:`~assetry.io_managers.versions.keeping_target`). Runs in the worker."""
    with keeping(target):
        return run_task(task)


def now() -> dt.datetime:
    """The time now, in UTC without a zone (as the catalog keeps times)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
