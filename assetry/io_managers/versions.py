"""The version store of file and directory products: earlier products kept as hard links.

When a product is about to be replaced, :func:`keep` links it (a file, or
every file of a directory) under ``<root>/.assetry/versions/<asset>/<data
fingerprint>/``; a hard link costs no data, the bytes are shared until the
product is replaced by a new file (assetry always replaces, never rewrites in
place). Only where a link is impossible (another device, a file system
without links) is the file copied. :func:`put_back` makes a kept version the
product again, atomically (linked into a temporary beside the product, then
renamed over it), and :func:`discard` removes a version.

Tables in DuckDB and PostgreSQL (``SQLTable``, ``DuckDBTable``, a SQL asset's
table) are kept in the ``assetry_versions`` schema of their own database,
named by asset and data fingerprint prefix: the worker's replace moves the old
table there in the swap's own transaction (:func:`keeping`, through
:func:`assetry.clients.relations.keeping_replaced`), and :func:`put_table_back`
swaps one back in one transaction. A version's location is then a relation
location (``duckdb:/w.duckdb#assetry_versions.delays__3f9a01bc22d4``).

It knows nothing of the catalog or the graph: which versions exist and which
to keep is the engine's (:mod:`assetry.engine.restore`). Views, tables of
other databases and object storage have no versions (:func:`versionable`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import pathlib
import re
import shutil
import sys
from typing import Any

import xxhash

from assetry.clients import Client
from assetry.clients.relations import (
    VERSIONED_DIALECTS,
    VERSIONS_SCHEMA,
    drop_version,
    keeping_replaced,
    put_version_back,
)
from assetry.errors import ClientError, StorageError
from assetry.io_managers.base import (
    TEMP_MARKER,
    FileIOManager,
    Observation,
    _stat_key,
    temporary_name,
    temporary_run,
)
from assetry.io_managers.directories import Directory, _files
from assetry.io_managers.locations import format_location, parse_location
from assetry.io_managers.relations import Relation
from assetry.io_managers.sql import DuckDBTable, SQLTable

__all__ = [
    "VERSIONS_DIR", "discard", "discard_version", "has_version", "is_relation", "keep", "keeping",
    "keeping_target", "leftovers", "product_in", "put_back", "put_table_back", "restored_observation", "table_of",
    "version_location", "version_path", "version_product", "versionable",
]

#: Where versions live inside a run's root.
VERSIONS_DIR = pathlib.PurePosixPath(".assetry") / "versions"

_SAFE = re.compile(r"[^A-Za-z0-9_.=-]")
#: errno values that mean "no link here": copy instead.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def versionable(io: Any, location: str | None) -> bool:
    """Whether the store keeps versions of this product: a local file or directory, or a
    table in DuckDB or PostgreSQL.

    Examples:
        >>> from assetry.io_managers import Parquet
        >>> versionable(Parquet(), "data/a.parquet"), versionable(Parquet(), "s3://b/a.parquet")
        (True, False)
        >>> versionable(None, "data/a.parquet")
        False
    """
    if not location:
        return False
    if isinstance(io, (FileIOManager, Directory)):
        return "://" not in location and not is_relation(location)
    return table_of(io, location) is not None


def is_relation(location: str) -> bool:
    """Whether a location (of a product or a version) names a relation rather than a path.

    Examples:
        >>> is_relation("duckdb:/w.duckdb#main.t"), is_relation("data/t.parquet")
        (True, False)
    """
    return "#" in location and ":" in location.split("#", 1)[0]


def table_of(io: Any, location: str) -> tuple[Client, str, str] | None:
    """``(client, schema, table)`` of a product whose versions are kept as tables, else None.

    A table of ``SQLTable``, ``DuckDBTable`` or a SQL asset (``Relation`` of kind
    ``table``) in DuckDB or PostgreSQL; views and other databases have no versions.
    """
    if isinstance(io, Relation):
        if io.kind != "table":
            return None
    elif not isinstance(io, (SQLTable, DuckDBTable)):
        return None
    client = io.client
    if not isinstance(client, Client) or client.dialect not in VERSIONED_DIALECTS:
        return None
    found = parse_location(location)
    if found is None or found.partition is not None or found.identity != client.identity():
        return None
    schema = found.schema if found.schema is not None else client.default_schema()
    return client, schema, found.table


_SQL_SAFE = re.compile(r"[^A-Za-z0-9_]")


def _table_name(asset: str, partition: str | None, data_fingerprint: str) -> str:
    """``<asset>[__<partition>]__<data fingerprint prefix>``, short enough for PostgreSQL.

    Examples:
        >>> _table_name("delays", None, "3f9a01bc22d4e5f6")
        'delays__3f9a01bc22d4'
    """
    base = _SQL_SAFE.sub("_", asset) + ("" if partition is None else "__" + _SQL_SAFE.sub("_", partition))
    if len(base) > 40:  # PostgreSQL cuts names at 63 bytes: keep the fingerprint whole
        base = f"{base[:30]}_{xxhash.xxh3_64_hexdigest(base.encode())[:8]}"
    return f"{base}__{data_fingerprint[:12]}"


def version_location(root: str | os.PathLike[str], io: Any, location: str, asset: str,
                     partition: str | None, data_fingerprint: str) -> str:
    """Where a version of this product is kept: a folder under the root, or a table in
    ``assetry_versions`` (for a product :func:`versionable` accepts)."""
    table = table_of(io, location) if is_relation(location) else None
    if table is None:
        return str(version_path(root, asset, partition, data_fingerprint))
    return format_location(table[0].identity(), VERSIONS_SCHEMA,
                           _table_name(asset, partition, data_fingerprint))


def keeping_target(io: Any, location: str, version: str) -> tuple[str, str, str, str]:
    """What a worker needs to keep this table when it replaces it: the database's identity,
    the schema and table, and the version's table name. Resolved in the driver, so the
    worker asks the database nothing more.

    Raises:
        StorageError: the product is no table whose versions are kept.
    """
    table = table_of(io, location)
    found = parse_location(version)
    if table is None or found is None:
        raise StorageError(f"{location!r} is no table whose versions are kept")
    client, schema, name = table
    return client.identity(), schema, name, found.table


def keeping(target: tuple[str, str, str, str]) -> Any:
    """A context in which the worker's save (or SQL) that replaces the table of ``target``
    (:func:`keeping_target`) keeps the old one as the version, in the swap's transaction.

    The context yields a dict whose ``kept`` says whether it did.
    """
    return keeping_replaced(*target)


def has_version(io: Any, version: str) -> bool:
    """Whether the version at ``version`` (a folder or a relation location) is there."""
    if not is_relation(version):
        return pathlib.Path(version).is_dir()
    found = parse_location(version)
    client = getattr(io, "client", None)
    if found is None or not isinstance(client, Client):
        return False
    return client.relation_kind(VERSIONS_SCHEMA, found.table) == "table"


def put_table_back(io: Any, version: str, location: str, keep_as: str | None) -> bool:
    """Make the kept table ``version`` the product at ``location`` in one transaction; the
    table there now is kept as ``keep_as`` (a version location) or dropped. Returns whether
    it was kept.

    Raises:
        StorageError: the version is gone or could not be put back; the product is as it was.
    """
    table, found = table_of(io, location), parse_location(version)
    keep_found = parse_location(keep_as) if keep_as is not None else None
    if table is None or found is None:
        raise StorageError(f"version {version!r} is no table of {location!r}")
    client, schema, name = table
    try:
        return put_version_back(client, schema, name, found.table,
                                keep_found.table if keep_found is not None else None)
    except ClientError as exc:
        raise StorageError(f"cannot put version {version!r} back at {location!r}: {exc}") from exc


def discard_version(version: str, io: Any = None) -> bool:
    """Remove a kept version, a folder or a table (which needs the product's ``io``).

    Returns False when a table's database cannot be reached through ``io``.
    """
    if not is_relation(version):
        discard(pathlib.Path(version))
        return True
    found, client = parse_location(version), getattr(io, "client", None)
    if found is None or not isinstance(client, Client) or client.identity() != found.identity:
        return False
    try:
        drop_version(client, found.table)
    except ClientError:
        return False
    return True


def version_product(version: str) -> str:
    """What a manager loads for a kept version: the file or directory inside its folder, or
    the kept table's location itself."""
    return version if is_relation(version) else str(product_in(pathlib.Path(version)))


def version_path(root: str | os.PathLike[str], asset: str, partition: str | None,
                 data_fingerprint: str) -> pathlib.Path:
    """The folder of one version: ``<root>/.assetry/versions/<asset>[/<partition>]/<data fp>``.

    Examples:
        >>> version_path("data", "delays", None, "ab12").as_posix()
        'data/.assetry/versions/delays/ab12'
    """
    base = pathlib.Path(root) / VERSIONS_DIR / _SAFE.sub("_", asset)
    if partition is not None:
        base = base / _SAFE.sub("_", partition)
    return base / data_fingerprint


def keep(location: str, target: pathlib.Path) -> None:
    """Keep the product at ``location`` as the version folder ``target``.

    A file is kept as ``target/<file name>``, a directory as ``target/<dir name>/...``.
    An existing ``target`` is kept as it is (the same data fingerprint is the same data).

    Raises:
        StorageError: the product could neither be linked nor copied.
    """
    source = pathlib.Path(location)
    if target.exists():
        return
    tmp = temporary_name(target)
    try:
        tmp.mkdir(parents=True)
        inside = tmp / source.name
        if source.is_dir():
            shutil.copytree(source, inside, copy_function=_link_or_copy,
                            ignore=shutil.ignore_patterns(f"*{TEMP_MARKER}*"))
        else:
            _link_or_copy(str(source), str(inside))
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if target.exists():  # another run kept the same data meanwhile
            return
        raise StorageError(f"cannot keep a version of {location!r} in {str(target)!r}: {exc}") from exc


def put_back(target: pathlib.Path, location: str) -> None:
    """Make the version kept in ``target`` the product at ``location``, in one rename.

    The current product stays as it was until the rename; a crash before it
    leaves only a temporary (swept like any other).

    Raises:
        StorageError: the version is gone or damaged, or could not be put in place.
    """
    final = pathlib.Path(location)
    kept = product_in(target)
    tmp = temporary_name(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        if kept.is_dir():
            shutil.copytree(kept, tmp, copy_function=_link_or_copy)
            if final.is_dir() and _exchange(tmp, final):  # one atomic swap: never missing
                shutil.rmtree(tmp, ignore_errors=True)  # the replaced product (kept already)
                return
            old = temporary_name(final, "old-")
            if final.exists():
                os.replace(final, old)  # a directory cannot be renamed over another
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            _link_or_copy(str(kept), str(tmp))
            os.replace(tmp, final)
    except OSError as exc:
        _remove(tmp)
        raise StorageError(f"cannot put version {str(target)!r} back at {location!r}: {exc}") from exc


def restored_observation(io: Any, location: str, data_fingerprint: str) -> Observation:
    """The observation of a product just put back: its kept data fingerprint, its new stat key.

    Nothing is read (restoring costs the same for any size); the stat key is the
    one the manager's ``observe`` computes, so the next run need not hash it either.
    """
    if is_relation(location):
        return Observation(data_fingerprint, None)
    if isinstance(io, Directory):
        key_hash = xxhash.xxh3_128()
        for rel, st in _files(pathlib.Path(location)) or []:
            key_hash.update(
                f"{len(rel)}:{rel}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino};".encode()
            )
        return Observation(data_fingerprint, key_hash.hexdigest())
    return Observation(data_fingerprint, _stat_key(os.stat(location)))


def product_in(target: pathlib.Path) -> pathlib.Path:
    """The kept file or directory inside a version's folder.

    Raises:
        StorageError: the folder is gone or does not hold exactly one product.
    """
    entries = [p for p in target.iterdir() if TEMP_MARKER not in p.name] if target.is_dir() else []
    if len(entries) != 1:
        raise StorageError(f"version {str(target)!r} is gone or damaged; it cannot be put back")
    return entries[0]


def discard(target: pathlib.Path) -> None:
    """Remove a kept version (the product itself is never touched: it is another link)."""
    shutil.rmtree(target, ignore_errors=True)
    parent = target.parent
    try:  # an asset with no versions left leaves no empty folder behind
        parent.rmdir()
    except OSError:
        pass


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or the file system cannot, and the caller renames in two steps instead."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without it (older glibc, musl)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def leftovers(root: str | os.PathLike[str]) -> dict[pathlib.Path, str | None]:
    """Temporaries in the version store (a version being kept when its run died), with the id
    of the run that made each (None when made outside a run)."""
    base = pathlib.Path(root) / VERSIONS_DIR
    if not base.is_dir():
        return {}
    return {p: temporary_run(p.name) for p in base.glob("**/*" + TEMP_MARKER + "*")
            if TEMP_MARKER not in p.parent.name}


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        shutil.copy2(src, dst)  # across devices or without links: the one case that copies
    return dst


def _remove(path: pathlib.Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
