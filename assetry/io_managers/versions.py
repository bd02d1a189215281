"""The version store of file and directory products: earlier products kept as hard links.

When a product is about to be replaced, :func:`keep` links it (a file, or
every file of a directory) under ``<root>/.assetry/versions/<asset>/<data
fingerprint>/``; a hard link costs no data, the bytes are shared until the
product is replaced by a new file (assetry always replaces, never rewrites in
place). Only where a link is impossible (another device, a file system
without links) is the file copied. :func:`put_back` makes a kept version the
product again, atomically (linked into a temporary beside the product, then
renamed over it), and :func:`discard` removes a version.

It knows nothing of the catalog or the graph: which versions exist and which
to keep is the engine's (:mod:`assetry.engine.restore`). Products in
databases and object storage have no versions here (:func:`versionable`).
"""

from __future__ import annotations

import errno
import os
import pathlib
import re
import shutil
from typing import Any

import xxhash

from assetry.errors import StorageError
from assetry.io_managers.base import (
    TEMP_MARKER,
    FileIOManager,
    Observation,
    _stat_key,
    temporary_name,
)
from assetry.io_managers.directories import Directory, _files

__all__ = [
    "VERSIONS_DIR", "discard", "keep", "product_in", "put_back", "restored_observation", "version_path",
    "versionable",
]

#: Where versions live inside a run's root.
VERSIONS_DIR = pathlib.PurePosixPath(".assetry") / "versions"

_SAFE = re.compile(r"[^A-Za-z0-9_.=-]")
#: errno values that mean "no link here": copy instead.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def versionable(io: Any, location: str | None) -> bool:
    """Whether the store keeps versions of this product: a local file or directory.

    Examples:
        >>> from assetry.io_managers import Parquet
        >>> versionable(Parquet(), "data/a.parquet"), versionable(Parquet(), "s3://b/a.parquet")
        (True, False)
        >>> versionable(None, "data/a.parquet")
        False
    """
    if not isinstance(io, (FileIOManager, Directory)) or not location or "://" in location:
        return False
    return not ("#" in location and ":" in location.split("#", 1)[0])


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
