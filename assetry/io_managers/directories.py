"""The Directory IO manager: a variable number of outputs stored as one directory.

A ``dict[str, DataFrame]`` becomes ``<root>/<name>/<key>.<ext>``, one file per
key, written in a temporary directory that is swapped in whole (under the same
rules as a file: named with the run's id, flushed when durable, never swapped
in for a dead run; see :mod:`assetry.io_managers.base`). Its data
fingerprint covers every file's relative name and content. Loading a
directory that is not there is an error naming it, never an empty dict.

On an object store (a URL location) a directory is a generation of objects
named by a manifest written last (:mod:`assetry.io_managers.remote`); its
data fingerprint is computed by the same formula, so equal files give equal
fingerprints wherever they are stored.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
from typing import Any, ClassVar

import attrs
import xxhash

from assetry._frames import load_kind
from assetry.errors import AssetTypeError, StorageError
from assetry.io_managers.base import (
    TEMP_MARKER,
    FileIOManager,
    IOManager,
    Observation,
    Stored,
    check_alive,
    durable,
    hash_file,
    sync_directory,
    temporary_name,
)
from assetry.io_managers.files import Parquet
from assetry.storage import is_remote

__all__ = ["Directory"]

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]*$")


@attrs.frozen
class Directory(IOManager):
    """A directory with one file per key of a ``dict[str, frame]``.

    Examples:
        >>> Directory().default_location(pathlib.Path("data"), "by_carrier")
        'data/by_carrier'
    """

    format: FileIOManager = attrs.field(factory=Parquet)
    short_name: ClassVar[str] = "directory"

    def default_location(self, root: pathlib.Path, name: str, partition: str | None = None) -> str:
        # os.path.join, not ``/``: a remote root is a URL string (assetry.storage.RemoteRoot).
        if partition is None:
            return os.path.join(root, name)
        return os.path.join(root, name, partition)

    def settings(self) -> dict[str, Any]:
        return {"format": self.format.describe()}

    def save(self, value: Any, location: str) -> Stored:
        if not isinstance(value, dict):
            raise AssetTypeError(
                f"Directory stores a dict of frames, but the value is {type(value).__name__}"
            )
        for key in value:
            if not isinstance(key, str) or not _KEY.match(key) or ".." in key:
                raise AssetTypeError(
                    f"Directory key {key!r} is not a safe file name; use letters, digits, _ . = -"
                )
        if is_remote(location):
            from assetry.io_managers import remote

            return remote.save_directory(self.format, value, location)
        final = pathlib.Path(location)
        tmp = temporary_name(final)
        try:
            tmp.mkdir(parents=True)
        except OSError as exc:
            raise StorageError(f"cannot create directory {str(tmp)!r}: {exc}") from exc
        rows = 0
        try:
            for key, frame in value.items():
                stored = self.format.save(frame, str(tmp / f"{key}.{self.format.extension}"))
                rows += stored.rows or 0
            _swap(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Stored(location=location, rows=rows, bytes=_size(final), schema=None)

    def load(self, location: str, annotation: Any = None) -> Any:
        if is_remote(location):
            from assetry.io_managers import remote
            from assetry.io_managers.staging import remote_ref  # a SQL asset reads it in place

            ref = remote_ref(location, annotation, self.format.extension, directory=True)
            if ref is not None:
                return ref
            kind = load_kind(annotation)
            inner = kind.split(":", 1)[1] if kind.startswith("dict:") else "natural"
            return remote.load_directory(self.format, location, _annotation_for(inner), kind)
        if not os.path.isdir(location):
            what = "is a file, not a directory" if os.path.exists(location) else "does not exist"
            raise StorageError(
                f"directory product {location!r} {what} (deleted or replaced outside assetry?); "
                "run its asset again (force=...) to store it anew"
            )
        kind = load_kind(annotation)
        if kind == "path":
            return pathlib.Path(location)
        inner = kind.split(":", 1)[1] if kind.startswith("dict:") else "natural"
        ext = f".{self.format.extension}"
        annotation_for = _annotation_for(inner)
        return {
            p.name[: -len(ext)]: self.format.load(str(p), annotation_for)
            for p in sorted(pathlib.Path(location).glob(f"*{ext}"))
            if TEMP_MARKER not in p.name
        }

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        if is_remote(location):
            from assetry.io_managers import remote

            return remote.observe_directory(location, previous)
        files = _files(pathlib.Path(location))
        if files is None:
            return None
        key_hash = xxhash.xxh3_128()
        for rel, st in files:
            key_hash.update(
                f"{len(rel)}:{rel}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino};".encode()
            )
        key = key_hash.hexdigest()
        if previous is not None and previous.stat_key == key:
            return previous
        content = xxhash.xxh3_128()
        for rel, _ in files:
            digest = hash_file(os.path.join(location, rel))
            content.update(f"{len(rel)}:{rel}:{digest};".encode())
        return Observation(data_fingerprint=content.hexdigest(), stat_key=key)


def _annotation_for(kind: str) -> Any:
    import polars as pl

    return {"lazy": pl.LazyFrame, "polars": pl.DataFrame, "path": pathlib.Path}.get(kind)


def _files(root: pathlib.Path) -> list[tuple[str, os.stat_result]] | None:
    if not root.is_dir():
        return None
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if TEMP_MARKER not in d)
        for fn in sorted(filenames):
            if TEMP_MARKER in fn:
                continue
            full = os.path.join(dirpath, fn)
            out.append((os.path.relpath(full, root), os.stat(full)))
    return out


def _size(root: pathlib.Path) -> int:
    return sum(st.st_size for _, st in (_files(root) or []))


def _swap(tmp: pathlib.Path, final: pathlib.Path) -> None:
    # Two renames: the old directory moves aside, the new one moves in. A reader sees
    # either the old complete directory, the new complete one, or (for an instant) none.
    if final.exists() and not final.is_dir():
        raise StorageError(f"product path {str(final)!r} is a file where a directory is expected")
    # Its files were flushed as the format saved them (and their entries in ``tmp``).
    check_alive(final)  # a dead run's directory never replaces a newer one
    old = temporary_name(final, "old-")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if durable():
        sync_directory(final.parent)
    shutil.rmtree(old, ignore_errors=True)
