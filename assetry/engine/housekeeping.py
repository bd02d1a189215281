"""Versions by hand: ``assetry restore`` makes a kept version current, ``assetry gc`` removes them.

Both open the catalog for writing, as a run does (so they wait for a running
run to end, and no run loses a version from under them), and go through the
run's :class:`~assetry.engine.restore.VersionKeeper`. They never remove a
current product.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
from collections.abc import Mapping
from typing import Any

from assetry.engine.planner import RESTORED
from assetry.engine.restore import DEFAULT_VERSIONS, VersionKeeper, counted, now, read_kept
from assetry.engine.steps import StepKey
from assetry.errors import AssetError, AssetGraphError, StorageError
from assetry.io_managers.base import Observation
from assetry.io_managers.versions import is_relation, version_product

__all__ = [
    "choose_version", "collect_garbage", "parse_age", "pick_version", "restore_asset",
    "version_usage",
]


def choose_version(name: str, rows: list[tuple[str, str]], current: str | None,
                   version: int | str) -> str:
    """The product path of one kept version (``rows``: data fingerprint and folder, newest first).

    Raises:
        StorageError: no such version is kept, or a prefix names several.
    """
    return version_product(pick_version(name, rows, current, version))


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
            observation = keeper.put_back(step, chosen, io, location, row, now_seen,
                                          max(1, DEFAULT_VERSIONS))
            run_id = "restore-" + os.urandom(8).hex()
            writer.put("assets", {
                **row, "fingerprint": chosen.fingerprint, "stat_key": observation.stat_key,
                "data_fingerprint": chosen.data_fingerprint, "rows": chosen.rows,
                "bytes": chosen.bytes, "schema": chosen.schema, "updated_at": now(),
                "run_id": run_id,
            })
            writer.put("materializations", {
                "run_id": run_id, "asset": name, "partition": partition, "status": RESTORED,
                "reason": chosen.reason, "fingerprint": chosen.fingerprint,
                "data_fingerprint": chosen.data_fingerprint, "started_at": now(),
                "duration_s": 0.0, "rows": chosen.rows, "bytes": chosen.bytes,
                "location": location,
            })
        finally:
            writer.close()
    finally:
        con.close()
    return chosen.reason


def collect_garbage(catalog: str | os.PathLike[str], root: str | os.PathLike[str], *,
                    keep: int | None = None, older_than: dt.timedelta | None = None,
                    limits: Mapping[str, int] | None = None) -> int:
    """Remove kept versions (``assetry gc``): beyond the newest ``keep`` per asset (else the
    asset's own number in ``limits``, if given), or older than ``older_than``. Never the
    current product. Returns how many were removed.

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
            cutoff = now() - older_than if older_than is not None else None
            for step, versions in list(kept.items()):
                current = (rows.get(step) or {}).get("data_fingerprint")
                earlier = counted(versions, current)
                if any(is_relation(k.location) for k in earlier):
                    keeper.ios[step] = _rebuilt(step, rows.get(step))
                limit = keep if keep is not None else (limits or {}).get(step[0])
                drop = earlier[: max(0, len(earlier) - limit)] if limit is not None else []
                if cutoff is not None:
                    drop += [k for k in earlier if k not in drop and (k.created_at or cutoff) < cutoff]
                removed += keeper.remove(step, drop)
        finally:
            writer.close()
    finally:
        con.close()
    return removed


def _rebuilt(step: StepKey, row: Mapping[str, Any] | None) -> Any:
    """The IO manager of a step's product, rebuilt from its row (a table version needs its
    client); None when it cannot be (the table versions then stay)."""
    from assetry.io_managers.catalog_form import CatalogForm

    if row is None:
        return None
    try:
        return CatalogForm.from_row(row).rebuild(step[0])
    except AssetError:
        return None


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


def version_usage(catalog: str | os.PathLike[str]) -> dict[str, tuple[int, int]]:
    """Per asset: how many versions are kept and the bytes they hold (``assetry status``, ``list``).

    A file version holding the current product's data is another link to the
    same file: it is counted as kept but holds no bytes of its own. Tables
    count their recorded bytes where the catalog has them (SQL products
    record none). A catalog not made yet gives ``{}``.
    """
    from assetry.records import connect, read_records

    path = pathlib.Path(catalog)
    if not path.exists():
        return {}
    con = connect(path, read_only=True)
    try:
        rows, kept = read_records(con), read_kept(con)
    finally:
        con.close()
    usage: dict[str, tuple[int, int]] = {}
    for step, versions in kept.items():
        current = (rows.get(step) or {}).get("data_fingerprint")
        held = {k.location: k for k in counted(versions, current)}
        n, size = usage.get(step[0], (0, 0))
        usage[step[0]] = (n + len({k.location for k in versions}),
                          size + sum(k.bytes or 0 for k in held.values()))
    return usage
