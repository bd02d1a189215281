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

Putting a product in place (:func:`atomic_path`, :func:`put_in_place`) is the
one moment a save can harm what a user has, so three rules live here:

- A temporary name carries the marker ``.assetry-tmp-`` and, inside a run
  (:func:`run_scope`), the run's id: ``t.parquet.assetry-tmp-<run id>-<random>``,
  so a sweep removes only the temporaries of runs that are dead
  (:mod:`assetry.engine.roots` judges that by the run's lock).
- A save made for a run whose driver is gone (an orphaned worker) is refused
  at the rename: a product of a dead run never replaces a newer one.
- With ``ASSETRY_FSYNC=1`` the file (or every file of a directory) is flushed
  to disk before the rename, and its directory after it (:func:`durable`).

Longer than 400 lines: the protocol and the helpers every file manager shares
(putting a product in place, partitions), which are read together.
"""

from __future__ import annotations

import abc
import contextvars
import os
import pathlib
import re
import stat
import typing
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import attrs
import xxhash

from assetry._frames import convert_frame, load_kind
from assetry.errors import AssetTypeError, StorageError
from assetry.storage import is_remote

__all__ = [
    "DURABLE_ENV",
    "TEMP_MARKER",
    "FileIOManager",
    "IOManager",
    "Observation",
    "PartitionedProduct",
    "RunScope",
    "Stored",
    "atomic_path",
    "check_alive",
    "durable",
    "hash_file",
    "put_in_place",
    "run_scope",
    "sync_directory",
    "sync_tree",
    "temporary_name",
    "temporary_run",
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


# -- putting a product in place ----------------------------------------------------------------

#: Set to ``1`` (``true``, ``yes``, ``on``) to flush every product to disk before it is renamed
#: into place and recorded; ``0`` or unset (the default) leaves that to the operating system.
DURABLE_ENV = "ASSETRY_FSYNC"

_ON = ("1", "true", "yes", "on")
_OFF = ("", "0", "false", "no", "off")
_RUN_ID = re.compile(r"[0-9a-f]{32}")


@attrs.frozen
class RunScope:
    """The run a save belongs to: its id (in temporary names) and how to tell it is alive."""

    run_id: str
    #: True while the run's driver lives; None: never asked (always alive).
    alive: Callable[[], bool] | None = None


_SCOPE: contextvars.ContextVar[RunScope | None] = contextvars.ContextVar("assetry_run", default=None)


@contextmanager
def run_scope(run_id: str, alive: Callable[[], bool] | None = None) -> Iterator[RunScope]:
    """Saves inside the block belong to run ``run_id`` (32 hex digits), in this thread.

    Their temporaries are named with the run's id, and each is put in place only
    if ``alive()`` (when given) is still true at the rename.

    Examples:
        >>> with run_scope("0" * 32) as scope:
        ...     temporary_name(pathlib.Path("t.json")).name.startswith("t.json.assetry-tmp-" + "0" * 32)
        True
    """
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"a run id is 32 lowercase hex digits, not {run_id!r}")
    scope = RunScope(run_id, alive)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def temporary_name(final: pathlib.Path, tag: str = "") -> pathlib.Path:
    """The temporary name beside ``final``: ``<name>.assetry-tmp-[<run id>-]<tag><random>``.

    Examples:
        >>> temporary_name(pathlib.Path("d/t.json")).name[:19]
        't.json.assetry-tmp-'
    """
    scope = _SCOPE.get()
    run = "" if scope is None else f"{scope.run_id}-"
    return final.with_name(f"{final.name}{TEMP_MARKER}{run}{tag}{uuid.uuid4().hex[:12]}")


def temporary_run(name: str) -> str | None:
    """The id of the run that made a temporary name, or None (not temporary, or made outside a run).

    Examples:
        >>> temporary_run("t.json.assetry-tmp-" + "ab" * 16 + "-0123456789ab")
        'abababababababababababababababab'
        >>> temporary_run("t.json.assetry-tmp-0123456789ab") is None
        True
    """
    _, marker, rest = name.partition(TEMP_MARKER)
    if not marker or len(rest) < 33 or rest[32] != "-" or not _RUN_ID.fullmatch(rest[:32]):
        return None
    return rest[:32]


def durable() -> bool:
    """Whether products are flushed to disk before they are put in place (``ASSETRY_FSYNC``).

    Raises:
        StorageError: the variable is neither on (``1 true yes on``) nor off (``0 false no off``).
    """
    raw = os.environ.get(DURABLE_ENV)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise StorageError(
        f"environment variable {DURABLE_ENV} is {raw!r}; set it to 1 (flush every product to "
        "disk before it is recorded) or 0 (the default), or unset it"
    )


def sync_tree(path: str | os.PathLike[str]) -> None:
    """Flush a file, or every file and directory under a directory, to disk (fsync)."""
    if os.path.isdir(path):
        for dirpath, _, filenames in os.walk(path):
            for name in filenames:
                _fsync(os.path.join(dirpath, name))
            _fsync(dirpath)
    else:
        _fsync(path)


def sync_directory(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries (a rename into it) to disk."""
    _fsync(path)


def _fsync(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if os.path.isdir(path):
            return  # a file system that cannot sync a directory (some network ones): nothing to add
        raise StorageError(f"cannot flush {str(path)!r} to disk: {exc}") from exc
    finally:
        os.close(fd)


def put_in_place(tmp: pathlib.Path, final: pathlib.Path, *, sync: bool | None = None) -> None:
    """Rename a finished temporary over ``final``: flushed first when durable, never for a dead run.

    Raises:
        StorageError: the run this save belongs to is no longer alive (see :func:`run_scope`);
            the temporary is left for the caller to remove and ``final`` is untouched.
    """
    if sync is None:
        sync = durable()
    if sync:
        sync_tree(tmp)
    check_alive(final)
    os.replace(tmp, final)
    if sync:
        sync_directory(final.parent)


def check_alive(final: pathlib.Path) -> None:
    """Raise StorageError if the run this save belongs to has died (its driver is gone)."""
    scope = _SCOPE.get()
    if scope is None or scope.alive is None or scope.alive():
        return
    raise StorageError(
        f"the run {scope.run_id} that computed {str(final)!r} is no longer alive (its driver "
        "process ended); its product is not put in place, so a newer one is never replaced"
    )


@contextmanager
def atomic_path(location: str | os.PathLike[str]) -> Iterator[pathlib.Path]:
    """Yield a temporary path beside ``location``; rename it into place on success.

    The temporary name sits in the same directory (so the rename is atomic on
    one file system) and is removed if the body raises; see
    :func:`put_in_place` for what the rename checks first.
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
    tmp = temporary_name(final)
    try:
        yield tmp
        put_in_place(tmp, final)
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
        if is_remote(location):  # an object store: written locally, then uploaded whole
            from assetry.io_managers import remote

            return remote.save_written(self, value, location)
        with atomic_path(location) as tmp:
            rows, schema = self.write(value, tmp)
        return Stored(location=location, rows=rows, bytes=os.path.getsize(location), schema=schema)

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        if is_remote(location):  # the object's ETag, re-hashed only when it changed
            from assetry.io_managers import remote

            return remote.observe_file(location, previous)
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
    if partitions.locations and is_remote(partitions.locations[0]):
        raise StorageError(
            f"the partitions of {partitions.asset!r} are on an object store, which has no local "
            "directory to give; annotate the parameter dict[str, pathlib.Path] to get a local "
            "copy of each partition, or pl.LazyFrame to scan them where they are"
        )
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
