"""Sources: data that assetry did not write, observed on every run and loaded, never saved.

Three managers stand behind :func:`assetry.source`:

- :class:`SourceFile`: one file (``raw/flights.csv``), or one per partition
  (``raw/days/{partition}.csv``);
- :class:`SourceFolder`: every file of a folder that matches a glob;
- :class:`SourceToken`: any version token, the value an ``observe()`` callable
  returns, encoded canonically (:func:`assetry.fingerprints.encode`).

A relation (``io=SQLTable(...)``) needs no manager of its own: its manager's
``observe`` and ``load`` serve as they are.

Observing costs one ``stat`` per file while nothing changed (:meth:`SourceFile.unchanged`,
which a no-op run asks of its sources in bulk): the stat key
(size, ``mtime_ns``, ``ctime_ns``, inode) is compared with the one the catalog
recorded, and a file is read and hashed (xxh3-128, 2 MiB blocks through one
reused buffer; not mapped, since a file truncated while it is read must be an
error, not a crash) only when its key changed. A folder keeps each file's key
and digest in its stat key, so adding one file to a folder of thousands hashes
that file alone. A file is
loaded by its extension and the parameter's annotation, as any product.

These managers never write, move or delete anything: ``save`` refuses.
This module knows nothing of the graph, the engine or the catalog.
"""

from __future__ import annotations

import json
import os
import pathlib
import stat
import typing
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import xxhash

from assetry import fingerprints
from assetry._frames import convert_frame, load_kind
from assetry.errors import AssetTypeError, StorageError
from assetry.io_managers.base import IOManager, Observation, Stored, _stat_key

__all__ = ["PLACEHOLDER", "SourceFile", "SourceFolder", "SourceIO", "SourceToken", "hash_content"]

#: The partition key's place in a partitioned source's path.
PLACEHOLDER = "{partition}"

#: Files under this size are read with one call; larger ones stream in blocks of this size
#: through one buffer (2 MiB stays in the CPU's cache between the read and the hash: ~9 GB/s
#: from the page cache, where 64 MiB blocks give ~2 GB/s).
_BLOCK = 2 << 20


def hash_content(path: str | os.PathLike[str]) -> str:
    """The xxh3-128 hex digest of a file's bytes, read in 2 MiB blocks into one buffer.

    The same digest as :func:`assetry.io_managers.base.hash_file`; several GB/s
    from the page cache (the read, not the hash, is the cost).

    Examples:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"abc")
        >>> hash_content(f.name) == xxhash.xxh3_128_hexdigest(b"abc")
        True
    """
    h = xxhash.xxh3_128()
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if size < _BLOCK:
            h.update(f.read())
            while chunk := f.read(_BLOCK):  # a file that grew while it was read
                h.update(chunk)
            return h.hexdigest()
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        buffer = bytearray(_BLOCK)
        view = memoryview(buffer)
        while n := f.readinto(buffer):
            h.update(view[:n])
    return h.hexdigest()


class SourceIO(IOManager):
    """Base of the managers of sources: where a partition's data is, observing, loading.

    ``save`` refuses: assetry never writes a source.
    """

    #: The path as declared (relative paths stay relative), for messages.
    shown: str

    def locate(self, key: str | None) -> str:
        """The location of the source, or of one partition's data (``key`` fills ``{partition}``)."""
        path: str = self.path  # type: ignore[attr-defined]
        return path if key is None else path.replace(PLACEHOLDER, key)

    def where(self, key: str | None) -> str:
        """The location as the user wrote it, for ``source missing: raw/flights.csv``."""
        return self.shown if key is None else self.shown.replace(PLACEHOLDER, key)

    def default_location(self, root: pathlib.Path, name: str, partition: str | None = None) -> str:
        return self.locate(None)

    def save(self, value: Any, location: str) -> Stored:
        raise StorageError(
            f"{location!r} is a source: assetry reads it and never writes it; declare an "
            "@asset to produce data"
        )


# -- one file ------------------------------------------------------------------------------


@attrs.frozen
class SourceFile(SourceIO):
    """One file of data, or one per partition when the path holds ``{partition}``.

    Loaded by extension: ``.csv``, ``.tsv``, ``.parquet``, ``.json``,
    ``.ndjson``/``.jsonl``, ``.arrow``/``.ipc``/``.feather``; any file as a
    ``pathlib.Path``. A ``pl.LazyFrame`` parameter gets a real scan.

    Examples:
        >>> SourceFile("/data/raw/flights.csv", "raw/flights.csv").where(None)
        'raw/flights.csv'
    """

    path: str
    shown: str = ""
    short_name: ClassVar[str] = "source_file"

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        try:
            st = os.stat(location)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISDIR(st.st_mode):
            return None
        key = _stat_key(st)
        if previous is not None and previous.stat_key == key:
            return previous
        return Observation(data_fingerprint=hash_content(location), stat_key=key)

    def unchanged(self, location: str, stat_key: str | None) -> bool:
        """Whether the file still has the stat key recorded of it: one ``stat``, nothing read.

        A no-op run asks this of each source in bulk; False (changed, missing,
        a folder now, unreadable) leaves the step to :meth:`observe`, which says which.

        Examples:
            >>> import tempfile
            >>> with tempfile.NamedTemporaryFile(delete=False) as f:
            ...     _ = f.write(b"abc")
            >>> source = SourceFile(f.name)
            >>> source.unchanged(f.name, source.observe(f.name).stat_key)
            True
            >>> source.unchanged(f.name, "3:0:0:0")
            False
        """
        return SourceFile.unchanged_all([(location, stat_key)])[0]

    @staticmethod
    def unchanged_all(files: list[tuple[str, str | None]]) -> list[bool]:
        """:meth:`unchanged` of each ``(location, recorded stat key)``, in one loop: a
        no-op run of a thousand sources pays their ``stat`` calls and little else."""
        found = []
        for location, stat_key in files:
            if stat_key is None:
                found.append(False)
                continue
            try:
                st = os.stat(location)
            except (OSError, ValueError):
                found.append(False)
                continue
            found.append(_stat_key(st) == stat_key and not stat.S_ISDIR(st.st_mode))
        return found

    def load(self, location: str, annotation: Any = None) -> Any:
        return read_file(location, annotation)


def _format(path: str) -> str:
    suffix = pathlib.PurePath(path).suffix.lower().lstrip(".")
    return {"pq": "parquet", "jsonl": "ndjson", "feather": "ipc", "arrow": "ipc"}.get(suffix, suffix)


_SCANS = {"csv": "scan_csv", "tsv": "scan_csv", "parquet": "scan_parquet",
          "ndjson": "scan_ndjson", "ipc": "scan_ipc"}


def read_file(location: str, annotation: Any = None) -> Any:
    """A data file loaded by its extension as the annotation asks (see :class:`SourceFile`)."""
    import polars as pl

    kind = load_kind(annotation)
    fmt = _format(location)
    if kind == "path":
        return pathlib.Path(location)
    if fmt == "json" and kind in ("natural", "str") or kind.startswith("dict:"):
        if fmt != "json":
            raise AssetTypeError(
                f"source file {location!r} is one file; annotate the parameter pl.DataFrame, "
                "pl.LazyFrame, pyarrow.Table or pathlib.Path"
            )
        with open(location, encoding="utf-8") as f:
            return json.load(f)
    if fmt not in _SCANS and fmt != "json":
        if kind == "natural":
            return pathlib.Path(location)
        raise AssetTypeError(
            f"cannot read {location!r} as a frame: assetry reads .csv, .tsv, .parquet, .json, "
            ".ndjson and .arrow files; annotate the parameter pathlib.Path and read it yourself"
        )
    if kind == "lazy":
        if fmt == "json":
            return pl.read_json(location).lazy()
        return _scan(pl, fmt, location)
    if kind == "arrow" and fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(location)
    frame = pl.read_json(location) if fmt == "json" else _scan(pl, fmt, location).collect()
    return convert_frame(frame, kind)


def _scan(pl: Any, fmt: str, source: Any) -> Any:
    options = {"separator": "\t"} if fmt == "tsv" else {}
    return getattr(pl, _SCANS[fmt])(source, **options)


# -- a folder ------------------------------------------------------------------------------


@attrs.frozen
class SourceFolder(SourceIO):
    """Every file of a folder that matches ``glob`` (``*.csv``; ``**/*.csv`` reaches sub-folders).

    A parameter annotated ``dict[str, pl.DataFrame]`` (or no annotation) gets
    ``{file stem: frame}``; ``pl.LazyFrame`` one scan over every file;
    ``pl.DataFrame`` every file stacked; ``pathlib.Path`` the folder. A folder
    with no matching file is missing.

    Examples:
        >>> SourceFolder("/data/raw/days", "raw/days", "*.csv").where(None)
        'raw/days/*.csv'
    """

    path: str
    shown: str = ""
    glob: str = "*"
    short_name: ClassVar[str] = "source_folder"

    def where(self, key: str | None) -> str:
        return f"{SourceIO.where(self, key).rstrip('/')}/{self.glob}"

    def files(self, location: str) -> list[str] | None:
        """The matching files' paths relative to the folder, sorted; None when the folder is missing."""
        folder = pathlib.Path(location)
        if not folder.is_dir():
            return None
        found = sorted(
            p.relative_to(folder).as_posix() for p in folder.glob(self.glob) if p.is_file()
        )
        return found

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        files = self.files(location)
        if not files:
            return None
        known = _folder_index(previous)
        index: dict[str, list[str]] = {}
        same = len(known) == len(files)
        for rel in files:
            key = _stat_key(os.stat(os.path.join(location, rel)))
            old = known.get(rel)
            if old is not None and old[0] == key:
                index[rel] = old
            else:
                same = False
                index[rel] = [key, hash_content(os.path.join(location, rel))]
        if same and previous is not None:
            return previous
        content = xxhash.xxh3_128()
        for rel, (_, digest) in index.items():
            content.update(f"{len(rel)}:{rel}:{digest};".encode())
        return Observation(content.hexdigest(), "folder:" + json.dumps(index, separators=(",", ":")))

    def load(self, location: str, annotation: Any = None) -> Any:
        import polars as pl

        kind = load_kind(annotation)
        if kind == "path":
            return pathlib.Path(location)
        files = self.files(location) or []
        paths = [os.path.join(location, rel) for rel in files]
        if kind == "natural" or kind.startswith("dict:"):
            args = typing.get_args(annotation)
            inner = args[1] if len(args) == 2 else pl.DataFrame
            return {_stem(rel): read_file(p, inner) for rel, p in zip(files, paths, strict=True)}
        fmts = {_format(p) for p in paths}
        if len(fmts) != 1 or next(iter(fmts)) not in _SCANS:
            raise AssetTypeError(
                f"source folder {self.where(None)!r} holds {', '.join(sorted(fmts)) or 'no'} "
                "files; one frame needs files of one format among csv, tsv, parquet, ndjson, "
                "arrow; annotate the parameter dict[str, pl.DataFrame] to get one frame per file"
            )
        lazy = _scan(pl, fmts.pop(), paths)
        return lazy if kind == "lazy" else convert_frame(lazy.collect(), kind)


def _stem(rel: str) -> str:
    """A file's key: its path in the folder without the extension (``2013-01-01``)."""
    path = pathlib.PurePosixPath(rel)
    return str(path.with_suffix("")) if path.suffix else rel


def _folder_index(previous: Observation | None) -> dict[str, list[str]]:
    if previous is None or not (previous.stat_key or "").startswith("folder:"):
        return {}
    try:
        found = json.loads(previous.stat_key[len("folder:"):])  # type: ignore[index]
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


# -- a version token -----------------------------------------------------------------------


@attrs.frozen
class SourceToken(SourceIO):
    """A source known by a version token: whatever ``fn()`` returns, encoded canonically.

    Loading it gives the token itself; downstream usually names it in ``deps=``.

    Examples:
        >>> token = SourceToken(lambda: "v1.2", "release")
        >>> token.observe(token.locate(None)) == token.observe(token.locate(None))
        True
    """

    fn: Callable[[], Any]
    shown: str = ""
    short_name: ClassVar[str] = "source_token"

    def locate(self, key: str | None) -> str:
        name = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        return f"observe:{getattr(self.fn, '__module__', '?')}:{name}"

    def where(self, key: str | None) -> str:
        return self.shown

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        value = self.fn()
        return Observation(fingerprints.hash_bytes(fingerprints.encode(value)), None)

    def load(self, location: str, annotation: Any = None) -> Any:
        return self.fn()

    def settings(self) -> dict[str, Any]:
        return {"observe": self.locate(None)}
