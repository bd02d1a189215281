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

It decides nothing about freshness (the planner does) and writes rows only
through the run's catalog writer. Products in databases and object storage
are not versioned (see docs/versions.md).
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import time
from collections.abc import Mapping
from typing import Any

import attrs

from assetry.engine.planner import RESTORED
from assetry.engine.state import StepState
from assetry.engine.steps import StepKey
from assetry.engine.task import Outcome
from assetry.errors import AssetError, AssetGraphError, StorageError
from assetry.io_managers.base import Observation, Stored
from assetry.io_managers.versions import (
    discard,
    keep,
    product_in,
    put_back,
    restored_observation,
    version_path,
    versionable,
)

__all__ = [
    "DEFAULT_VERSIONS", "Kept", "VersionKeeper", "check_versions", "choose_version",
    "collect_garbage", "parse_age", "pick_version", "read_kept", "restore_asset",
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


def choose_version(name: str, rows: list[tuple[str, str]], current: str | None,
                   version: int | str) -> str:
    """The product path of one kept version (``rows``: data fingerprint and folder, newest first).

    Raises:
        StorageError: no such version is kept, or a prefix names several.
    """
    return str(product_in(pathlib.Path(pick_version(name, rows, current, version))))


def pick_version(name: str, rows: list[tuple[str, Any]], current: str | None,
                 version: int | str) -> Any:
    """One of ``rows`` (data fingerprint, value; newest first): ``-1`` the newest whose data is
    not ``current``, ``-2`` the one before, or a data fingerprint prefix.

    Examples:
        >>> pick_version("a", [("d3", 3), ("d2", 2), ("d1", 1)], "d3", -1)
        2
        >>> pick_version("a", [("d3", 3), ("ab", 2)], "d3", "a")
        2

    Raises:
        StorageError: no such version is kept, or a prefix names several.
    """
    values: dict[str, Any] = {}
    for data, value in rows:  # the newest row of a data fingerprint wins: same data
        values.setdefault(data, value)
    if isinstance(version, str) and version.lstrip("-").isdigit() and version.startswith("-"):
        version = int(version)  # from the command line
    if isinstance(version, int) and not isinstance(version, bool):
        earlier = [d for d in values if d != current]
        if version >= 0 or -version > len(earlier):
            raise StorageError(
                f"asset {name!r} has {len(earlier)} earlier version(s) kept, so version={version!r} "
                "names none; give -1 for the previous one (Catalog.versions lists them)"
            )
        return values[earlier[-version - 1]]
    found = [d for d in values if d.startswith(str(version))]
    if len(found) != 1:
        what = "no kept version" if not found else f"{len(found)} kept versions"
        raise StorageError(
            f"asset {name!r} has {what} whose data fingerprint starts with {version!r}; "
            "give a longer prefix, or see Catalog.versions"
        )
    return values[found[0]]


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

    def limit(self, spec: Any) -> int:
        """How many earlier versions this asset keeps."""
        own = getattr(spec, "versions", None)
        return self.default if own is None else own

    def matching(self, step: StepKey) -> Mapping[str, Kept]:
        """The step's kept versions by fingerprint (the newest wins), for the planner."""
        return {k.fingerprint: k for k in self.kept.get(step, ())}

    def set_aside(self, step: StepKey, row: Mapping[str, Any] | None, observation: Observation | None,
                  io: Any, limit: int) -> None:
        """Keep the current product before it is replaced, if it is the one the catalog recorded.

        A product missing or modified outside assetry is not kept (its record
        does not describe it). A failure to keep it never fails the step.
        """
        self.touched.add(step)
        if limit <= 0 or row is None or observation is None:
            return
        location = row.get("location")
        if not versionable(io, location) or observation.data_fingerprint != row["data_fingerprint"]:
            return
        fingerprint = row["fingerprint"]
        if any(k.fingerprint == fingerprint for k in self.kept.get(step, ())):
            return
        target = version_path(self.root, step[0], step[1], row["data_fingerprint"])
        try:
            keep(location, target)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - no version is a lost shortcut, never a failed run
            return
        kept = Kept(
            asset=step[0], partition=step[1], data_fingerprint=row["data_fingerprint"],
            fingerprint=fingerprint, run_id=row.get("run_id"), created_at=row.get("updated_at"),
            rows=row.get("rows"), bytes=row.get("bytes"), location=str(target),
            product=location, schema=row.get("schema"), kept_at=_now(),
        )
        self.kept.setdefault(step, []).append(kept)
        self.writer.put("versions", kept.row())

    def set_aside_step(self, step: StepKey, plan: Any, ctx: Any, spec: Any) -> None:
        """Keep a step's product as a version before the run replaces it."""
        io, _ = ctx.product(*step)
        self.set_aside(step, ctx.rows.get(step), plan.observation, io, self.limit(spec))

    def restore_step(self, step: StepKey, plan: Any, ctx: Any,
                     recorder: Any) -> tuple[StepState, Outcome] | None:
        """Carry out a ``restored`` plan: the current product set aside, the version put back,
        its ``assets`` row written; the step's state and outcome, or None if it cannot be."""
        io, location = ctx.product(*step)
        if io is None or location is None:
            return None
        started, t0 = _now(), time.perf_counter()
        self.set_aside_step(step, plan, ctx, ctx.graph.specs[step[0]])
        version = plan.version
        try:
            observation = self.restore(version, io, location)
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

    def prune_run(self, specs: Mapping[str, Any], states: Mapping[StepKey, StepState]) -> None:
        """At the end of a run: :meth:`prune` with each asset's limit and each step's data now."""
        limits = {name: self.limit(spec) for name, spec in specs.items()}
        self.prune(limits, {step: state.data_fingerprint for step, state in states.items()})

    def restore(self, kept: Kept, io: Any, location: str) -> Observation:
        """Put a kept version back at ``location``; its observation (nothing is read).

        Raises:
            StorageError: the version is gone or could not be put in place; the
                product is as it was.
        """
        put_back(pathlib.Path(kept.location), location)
        return restored_observation(io, location, kept.data_fingerprint)

    def prune(self, limits: Mapping[str, int], current: Mapping[StepKey, str | None]) -> None:
        """Remove all but the newest versions of each step this run touched.

        ``limits`` is each asset's number of versions; ``current`` each step's
        current data fingerprint: a version holding the current product's data
        costs nothing and is not counted (nor removed).
        """
        for step in sorted(self.touched, key=lambda s: (s[0], s[1] or "")):
            versions = self.kept.get(step, [])
            earlier = [k for k in versions if k.data_fingerprint != current.get(step)]
            drop = earlier[: max(0, len(earlier) - limits.get(step[0], self.default))]
            self.remove(step, drop)

    def remove(self, step: StepKey, drop: list[Kept]) -> None:
        """Remove these versions of a step: their files, and ``kept`` false on their rows."""
        if not drop:
            return
        left = [k for k in self.kept.get(step, []) if k not in drop]
        self.kept[step] = left
        in_use = {k.location for k in left}
        for k in drop:
            if k.location not in in_use:
                discard(pathlib.Path(k.location))
            self.writer.sql(
                "UPDATE versions SET kept = false WHERE asset = ? AND coalesce(partition, chr(0)) = "
                "coalesce(?, chr(0)) AND fingerprint = ?",
                [k.asset, k.partition, k.fingerprint],
            )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def restore_asset(catalog: str | os.PathLike[str], root: str | os.PathLike[str], name: str,
                  version: int | str = -1, partition: str | None = None) -> str:
    """Make a kept version of an asset's product current, by hand (``assetry restore``).

    The current product is kept as a version first; the ``assets`` row takes the
    version's fingerprints and a ``materializations`` row says ``restored``. Its
    downstream is then stale by data, as after any change. Returns the reason.

    Raises:
        StorageError: the asset has no product or no such version.
    """
    from assetry.io_managers.catalog_form import CatalogForm
    from assetry.records import CatalogWriter, connect, read_records

    step = (name, partition)
    con = connect(catalog)
    try:
        row = read_records(con).get(step)
        kept = read_kept(con)
        if row is None:
            raise StorageError(f"asset {name!r} has no stored product in catalog {str(catalog)!r}")
        newest_first = [(k.data_fingerprint, k) for k in reversed(kept.get(step, []))]
        chosen = pick_version(name, newest_first, row["data_fingerprint"], version)
        writer = CatalogWriter(con)
        try:
            keeper = VersionKeeper(pathlib.Path(root), writer, DEFAULT_VERSIONS, kept)
            io, location = CatalogForm.from_row(row).rebuild(name), row["location"]
            now_seen = io.observe(location, Observation(row["data_fingerprint"], row.get("stat_key")))
            keeper.set_aside(step, row, now_seen, io, max(1, DEFAULT_VERSIONS))
            observation = keeper.restore(chosen, io, location)
            run_id = "restore-" + os.urandom(8).hex()
            writer.put("assets", {
                **row, "fingerprint": chosen.fingerprint, "stat_key": observation.stat_key,
                "data_fingerprint": chosen.data_fingerprint, "rows": chosen.rows,
                "bytes": chosen.bytes, "schema": chosen.schema, "updated_at": _now(),
                "run_id": run_id,
            })
            writer.put("materializations", {
                "run_id": run_id, "asset": name, "partition": partition, "status": RESTORED,
                "reason": chosen.reason, "fingerprint": chosen.fingerprint,
                "data_fingerprint": chosen.data_fingerprint, "started_at": _now(),
                "duration_s": 0.0, "rows": chosen.rows, "bytes": chosen.bytes,
                "location": location,
            })
        finally:
            writer.close()
    finally:
        con.close()
    return chosen.reason


def collect_garbage(catalog: str | os.PathLike[str], root: str | os.PathLike[str], *,
                    keep: int | None = None, older_than: dt.timedelta | None = None) -> int:
    """Remove kept versions (``assetry gc``): beyond the newest ``keep`` per asset, or older
    than ``older_than``. Never the current product. Returns how many were removed.

    It holds the catalog like a run, so it waits for a running run to end and no
    run's versions go from under it.
    """
    from assetry.records import CatalogWriter, connect, read_records

    con = connect(catalog)
    try:
        rows = read_records(con)
        kept = read_kept(con)
        writer = CatalogWriter(con)
        removed = 0
        try:
            keeper = VersionKeeper(pathlib.Path(root), writer, DEFAULT_VERSIONS, kept)
            cutoff = _now() - older_than if older_than is not None else None
            for step, versions in list(kept.items()):
                current = (rows.get(step) or {}).get("data_fingerprint")
                earlier = [k for k in versions if k.data_fingerprint != current]
                drop = earlier[: max(0, len(earlier) - keep)] if keep is not None else []
                if cutoff is not None:
                    drop += [k for k in earlier if k not in drop and (k.created_at or cutoff) < cutoff]
                keeper.remove(step, drop)
                removed += len(drop)
        finally:
            writer.close()
    finally:
        con.close()
    return removed


def parse_age(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``45m``, ``2w`` as a duration.

    Examples:
        >>> parse_age("30d").days
        30
    """
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    number, unit = text[:-1], text[-1:].lower()
    if unit not in units or not number.isdigit():
        raise AssetGraphError(f"age {text!r} is not a number and a unit; give 30d, 12h, 45m or 2w")
    return dt.timedelta(**{units[unit]: int(number)})
