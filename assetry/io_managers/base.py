"""The IO manager protocol: how a product is saved, loaded, and observed.

An IO manager is a frozen attrs class whose fields are its settings (they enter
the asset's fingerprint). It has symmetric verbs:

- ``save(value, location) -> Stored``: write the value atomically; a reader
  never sees a half-written product under ``location``.
- ``load(location, annotation=None)``: read it back as the annotated type
  (``pl.DataFrame``, ``pl.LazyFrame``, ``pa.Table``, ``pathlib.Path``, pandas...);
  no annotation gives the manager's natural type.
- ``observe(location, previous=None) -> Observation | None``: the product's
  current data fingerprint, or ``None`` when it is missing. ``previous`` is what
  the catalog recorded last time, so a cheap change detector (file stat) can
  avoid re-reading unchanged content.
- ``default_location(root, name, partition=None)``: where the product goes
  when the user does not say; ``partition`` is the partition's hive-style path
  segment (``date=2013-01-01``), so files land at ``<root>/<name>/date=2013-01-01/``.
- ``load_partitions(partitions, annotation=None)``: every stored partition of a
  partitioned asset as one value, for an unpartitioned downstream: one frame
  (lazy or eager) with the partition column, or ``dict[key, value]`` when the
  annotation is a ``dict``. The base class builds it from ``load``; a manager
  may do better (Parquet scans every partition at once).

This module owns the protocol and shared helpers for file products; it never
touches the catalog (how the catalog keeps a manager, by class path and
``catalog_settings()``, is :mod:`assetry.io_managers.catalog_form`).
"""

from __future__ import annotations

import abc
import os
import pathlib
import stat
import typing
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import attrs
import xxhash

from assetry._frames import convert_frame, load_kind
from assetry.errors import AssetTypeError, StorageError

__all__ = [
    "TEMP_MARKER",
    "FileIOManager",
    "IOManager",
    "Observation",
    "PartitionedProduct",
    "Stored",
    "atomic_path",
    "hash_file",
]

#: Every temporary product name contains this marker, so leftovers can be found.
TEMP_MARKER = ".assetry-tmp-"

_CHUNK = 1 << 20


@attrs.frozen
class Stored:
    """What ``save`` reports about the product it wrote."""

    location: str
    rows: int | None = None
    bytes: int | None = None
    schema: str | None = None


@attrs.frozen
class Observation:
    """A product's current state: a cheap change key and its data fingerprint."""

    data_fingerprint: str
    stat_key: str | None = None


@attrs.frozen
class PartitionedProduct:
    """The stored partitions of one asset, as an unpartitioned downstream receives them.

    ``keys``, ``values`` (what the ``partition`` parameter received: a date or
    a string) and ``locations`` run in parallel, in partition order.
    """

    asset: str
    column: str
    keys: tuple[str, ...]
    values: tuple[Any, ...]
    locations: tuple[str, ...]


class IOManager(abc.ABC):
    """Base class of every IO manager (subclasses are ``@attrs.frozen``).

    Examples:
        >>> from assetry.io_managers import Parquet
        >>> Parquet().default_location(pathlib.Path("data"), "flights")
        'data/flights.parquet'
    """

    #: The short name accepted by ``@asset(io="...")``.
    short_name: ClassVar[str] = ""

    @abc.abstractmethod
    def default_location(self, root: pathlib.Path, name: str, partition: str | None = None) -> str:
        """See the module docstring."""

    @abc.abstractmethod
    def save(self, value: Any, location: str) -> Stored:
        """See the module docstring."""

    @abc.abstractmethod
    def load(self, location: str, annotation: Any = None) -> Any:
        """See the module docstring."""

    @abc.abstractmethod
    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        """See the module docstring."""

    def load_partitions(self, partitions: PartitionedProduct, annotation: Any = None) -> Any:
        """Every stored partition as one value (see the module docstring).

        ``dict[str, X]`` gives ``{key: value loaded as X}``; a frame annotation
        gives one frame of all partitions with the partition column added where
        a partition lacks it; ``pathlib.Path`` the asset's directory; no
        annotation a frame for managers that store frames, else a dict.
        """
        kind = load_kind(annotation)
        if kind == "natural":
            kind = "polars" if self.stores_frames else "dict:natural"
        if kind.startswith("dict:"):
            args = typing.get_args(annotation)
            inner = args[1] if len(args) == 2 else None
            return {k: self.load(loc, inner) for k, loc in zip(partitions.keys, partitions.locations)}
        if kind == "path":
            return partition_directory(partitions)
        return concat_partitions(self, partitions, kind)

    #: Whether products are frames (an unannotated downstream of all partitions gets one frame).
    stores_frames: ClassVar[bool] = False

    def settings(self) -> dict[str, Any]:
        """The settings that enter the fingerprint (every attrs field by default)."""
        return {f.name: getattr(self, f.name) for f in attrs.fields(type(self))}  # type: ignore[arg-type]

    def for_catalog(self) -> IOManager:
        """The copy of this manager kept in the catalog: a database client loses its password."""
        if not attrs.has(type(self)) or "client" not in attrs.fields_dict(type(self)):  # type: ignore[arg-type]
            return self  # no client field (DuckDBTable names a file: nothing secret)
        client = getattr(self, "client", None)
        if client is not None and hasattr(client, "without_secrets"):
            return attrs.evolve(self, client=client.without_secrets())  # type: ignore[misc]
        return self

    def catalog_settings(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this manager: every ``init`` field by default.

        The catalog keeps them as JSON beside the class path
        (:class:`~assetry.io_managers.catalog_form.CatalogForm`).
        A manager with a setting JSON cannot hold overrides this and accepts what it
        returns in ``__init__``, or is kept as a pickle.

        Examples:
            >>> from assetry.io_managers import Parquet
            >>> Parquet().catalog_settings()
            {'compression': 'zstd'}
        """
        return {f.alias: getattr(self, f.name) for f in attrs.fields(type(self)) if f.init}  # type: ignore[arg-type]

    def describe(self) -> str:
        """A one-line description for the catalog's ``io`` column."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"


# -- files ---------------------------------------------------------------------------------


def hash_file(path: str | os.PathLike[str]) -> str:
    """The xxh3-128 hex digest of a file's bytes."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _stat_key(st: os.stat_result) -> str:
    # size, mtime, ctime and inode, as git's index does: a user can reset mtime, not ctime.
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


@contextmanager
def atomic_path(location: str | os.PathLike[str]) -> Iterator[pathlib.Path]:
    """Yield a temporary path beside ``location``; rename it into place on success.

    The temporary name sits in the same directory (so the rename is atomic on
    one file system) and is removed if the body raises.
    """
    final = pathlib.Path(location)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create directory {str(final.parent)!r}: {exc}") from exc
    if final.is_dir():
        raise StorageError(
            f"product path {str(final)!r} is a directory where a file is expected; remove it"
        )
    tmp = final.with_name(f"{final.name}{TEMP_MARKER}{uuid.uuid4().hex[:12]}")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: pathlib.Path) -> None:
    try:
        if path.is_dir():
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        # Best effort: a leftover temporary file is cleaned by the next run.
        return


class FileIOManager(IOManager):
    """Shared behaviour of managers that store one file per product."""

    extension: ClassVar[str] = ""

    def default_location(self, root: pathlib.Path, name: str, partition: str | None = None) -> str:
        # os.path, not pathlib: a wide partitioned run builds thousands of these while planning.
        if partition is None:
            return os.path.join(root, f"{name}.{self.extension}")
        return os.path.join(root, name, partition, f"data.{self.extension}")

    def save(self, value: Any, location: str) -> Stored:
        with atomic_path(location) as tmp:
            rows, schema = self.write(value, tmp)
        return Stored(location=location, rows=rows, bytes=os.path.getsize(location), schema=schema)

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        try:
            st = os.stat(location)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISDIR(st.st_mode):
            return None  # a directory where the file should be: the save says so clearly
        key = _stat_key(st)
        if previous is not None and previous.stat_key == key:
            return previous
        return Observation(data_fingerprint=hash_file(location), stat_key=key)

    @abc.abstractmethod
    def write(self, value: Any, path: pathlib.Path) -> tuple[int | None, str | None]:
        """Write ``value`` to ``path``; return its row count and schema (or None)."""


# -- partitions ------------------------------------------------------------------------------


def partition_directory(partitions: PartitionedProduct) -> pathlib.Path:
    """The asset's directory that holds every partition (``<root>/<asset>``)."""
    parents = {os.path.dirname(os.path.dirname(loc)) for loc in partitions.locations}
    if len(parents) != 1:
        raise StorageError(
            f"the partitions of {partitions.asset!r} do not share one directory; "
            "annotate the parameter dict[str, pathlib.Path] to get each partition's path"
        )
    return pathlib.Path(parents.pop())


def concat_partitions(io: IOManager, partitions: PartitionedProduct, kind: str) -> Any:
    """Load each partition and stack them into one frame of the requested kind."""
    import polars as pl

    lazy = kind == "lazy"
    frames = []
    for value, location in zip(partitions.values, partitions.locations):
        frame = io.load(location, pl.LazyFrame if lazy else pl.DataFrame)
        if not isinstance(frame, (pl.DataFrame, pl.LazyFrame)):
            raise AssetTypeError(
                f"the partitions of {partitions.asset!r} are {type(frame).__name__} values, not "
                "frames; annotate the parameter dict[str, ...] to receive {key: value}"
            )
        names = frame.collect_schema().names() if lazy else frame.columns
        if partitions.column not in names:
            frame = frame.with_columns(pl.lit(value).alias(partitions.column))
        frames.append(frame)
    if not frames:
        return convert_frame(pl.DataFrame(), kind, partitions.asset)
    stacked = pl.concat(frames, how="diagonal_relaxed")  # type: ignore[type-var]
    return stacked if lazy else convert_frame(stacked, kind, partitions.asset)


# -- loading by annotation -----------------------------------------------------------------
