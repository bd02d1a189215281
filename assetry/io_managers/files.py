"""File IO managers: one product, one file (Parquet, CSV, JSON, Pickle).

Each writes through :func:`~assetry.io_managers.base.atomic_path` and loads by
the parameter's annotation. They know nothing of the catalog or the graph.

Small frames take a fast path (a pipeline of many tiny assets pays these costs
once per asset, next to a read and a write of a few hundred bytes): an eager
frame under :data:`SMALL_BYTES` is serialised in memory, written with one
call, and fingerprinted from the very bytes written, so the ``observe`` that
follows a ``save`` finds the digest without reading the file again; a small
file is read with one call and decoded from memory. Big frames stream to and
from the file as before (no second copy in memory). Both paths give the same
bytes, so the same data fingerprint.

A location on an object store (``s3://...``, :func:`assetry.storage.is_remote`)
goes through :mod:`assetry.io_managers.remote`: the same bytes, uploaded whole;
a ``pl.LazyFrame`` of a remote Parquet file reads only the byte ranges it needs.
Local paths never take that branch.

Longer than 400 lines: four managers that share the in-memory fast path and its
cache, each with its local and remote loading side by side.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import threading
from typing import Any, ClassVar

import attrs
import xxhash

from assetry._frames import (
    convert_frame,
    frame_kind,
    frame_schema,
    is_arrow_table,
    load_kind,
    polars_frame,
)
from assetry.errors import AssetTypeError
from assetry.io_managers.base import (
    TEMP_MARKER,
    FileIOManager,
    IOManager,
    Observation,
    PartitionedProduct,
    Stored,
    _stat_key,
    atomic_path,
)
from assetry.storage import is_remote

#: Frames (by ``estimated_size``) and files smaller than this take the in-memory fast path.
SMALL_BYTES = 4 << 20

#: What the latest in-memory saves wrote: location -> its observation (digest and stat key).
#: ``observe`` trusts an entry only while the file's stat key is unchanged; a few hundred
#: entries cover the saves whose ``observe`` has not come yet, one per running task.
_SAVED: dict[str, Observation] = {}
_SAVED_MAX = 512
_SAVED_LOCK = threading.Lock()


def _remember(location: str, observation: Observation) -> None:
    with _SAVED_LOCK:
        _SAVED.pop(location, None)
        _SAVED[location] = observation
        if len(_SAVED) > _SAVED_MAX:
            del _SAVED[next(iter(_SAVED))]


def _save_bytes(data: Any, location: str) -> Observation:
    """Write ``data`` atomically to ``location``; its observation, from the bytes themselves."""
    if is_remote(location):
        from assetry.io_managers import remote

        return remote.save_bytes(data, location)
    with atomic_path(location) as tmp, open(tmp, "wb") as f:
        f.write(data)
    observation = Observation(
        data_fingerprint=xxhash.xxh3_128_hexdigest(data), stat_key=_stat_key(os.stat(location))
    )
    _remember(location, observation)
    return observation


def _small_file(location: str) -> bytes | None:
    """The bytes of a file under :data:`SMALL_BYTES`, in one read; None for a bigger one."""
    with open(location, "rb") as f:
        if os.fstat(f.fileno()).st_size >= SMALL_BYTES:
            return None
        return f.read()

__all__ = ["CSV", "JSON", "Parquet", "Pickle"]


def _refuse_unreadable(value: Any, manager: str, *, needs_columns: bool = False) -> None:
    """Refuse, before anything is written, a frame this manager could store but not read back.

    Duplicate column names (an Arrow table or a pandas frame allows them; Parquet
    writes them and no reader takes them back) and, when ``needs_columns`` (CSV),
    a frame without columns (an empty line, which reads back as an error).
    Polars frames have unique names, so they cost nothing here unless
    ``needs_columns``.

    Raises:
        AssetTypeError: naming the columns and the way out; the task adds the asset's name.
    """
    kind = frame_kind(value)
    if kind is None or (kind in ("polars", "lazy") and not needs_columns):
        return
    if kind == "polars":
        names: list[Any] = value.columns
    elif kind == "lazy":
        names = value.collect_schema().names()
    elif kind == "arrow":
        names = value.column_names
    else:  # pandas
        names = list(value.columns)
    seen: set[Any] = set()
    twice = [n for n in names if n in seen or seen.add(n)]  # type: ignore[func-returns-value]
    if twice:
        listed = ", ".join(repr(n) for n in dict.fromkeys(twice))
        what = {"arrow": "an Arrow table", "pandas": "a pandas frame"}.get(kind, "a frame")
        raise AssetTypeError(
            f"{manager} cannot store {what} with duplicate column names ({listed}): "
            "the file could not be read back; give every column its own name"
        )
    if needs_columns and not names:
        raise AssetTypeError(
            f"{manager} cannot store a frame with no columns: the file would hold no header "
            "and could not be read back; return at least one column, or choose io='parquet'"
        )


def _frame_or_fail(value: Any, manager: str) -> Any:
    frame = polars_frame(value)
    if frame is None:
        raise AssetTypeError(
            f"{manager} stores data frames, but the value is {type(value).__name__}; "
            "return a polars, Arrow or pandas frame, or choose another io="
        )
    return frame


class _MemoryFile(FileIOManager):
    """A file manager whose small products are written from memory and observed from it."""

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        if is_remote(location):
            return FileIOManager.observe(self, location, previous)
        saved = _SAVED.get(location)
        if saved is not None:
            try:
                key = _stat_key(os.stat(location))
            except OSError:
                key = None
            if key == saved.stat_key:
                return saved  # the file is as this process wrote it: its digest is known
        return FileIOManager.observe(self, location, previous)


@attrs.frozen
class Parquet(_MemoryFile):
    """One Parquet file; the default for polars and Arrow frames.

    A ``pl.LazyFrame`` value is streamed to the file with ``sink_parquet``; a
    downstream annotated ``pl.LazyFrame`` gets a real ``scan_parquet``.

    Examples:
        >>> Parquet(compression="snappy").describe()
        "Parquet(compression='snappy')"
    """

    compression: str = "zstd"
    short_name: ClassVar[str] = "parquet"
    extension: ClassVar[str] = "parquet"
    stores_frames: ClassVar[bool] = True

    def save(self, value: Any, location: str) -> Stored:
        import polars as pl

        _refuse_unreadable(value, "Parquet")
        if not isinstance(value, pl.DataFrame) or value.estimated_size() >= SMALL_BYTES:
            return FileIOManager.save(self, value, location)
        # The same writer into memory gives the same bytes as into the file.
        buffer = io.BytesIO()
        value.write_parquet(buffer, compression=self.compression)  # type: ignore[arg-type]
        data = buffer.getbuffer()
        _save_bytes(data, location)
        return Stored(location=location, rows=value.height, bytes=len(data),
                      schema=frame_schema(value))

    def write(self, value: Any, path: pathlib.Path) -> tuple[int | None, str | None]:
        import polars as pl

        if is_arrow_table(value):
            import pyarrow.parquet as pq

            pq.write_table(value, path, compression=self.compression)
            return value.num_rows, frame_schema(value)
        frame = _frame_or_fail(value, "Parquet")
        if isinstance(frame, pl.LazyFrame):
            frame.sink_parquet(path, compression=self.compression)  # type: ignore[call-overload]
            return pl.scan_parquet(path).select(pl.len()).collect().item(), frame_schema(frame)
        frame.write_parquet(path, compression=self.compression)
        return frame.height, frame_schema(frame)

    def load(self, location: str, annotation: Any = None) -> Any:
        import polars as pl

        kind = load_kind(annotation)
        if is_remote(location):
            from assetry.io_managers.staging import remote_ref  # a SQL asset reads it in place

            return remote_ref(location, annotation, "parquet") or _load_remote_parquet(location, kind)
        if kind == "path":
            return pathlib.Path(location)
        if kind == "lazy":
            return pl.scan_parquet(location)
        if kind == "arrow":
            import pyarrow.parquet as pq

            return pq.read_table(location)
        data = _small_file(location)
        return convert_frame(pl.read_parquet(location if data is None else data), kind)

    def load_partitions(self, partitions: PartitionedProduct, annotation: Any = None) -> Any:
        """All partitions as one hive-partitioned ``scan_parquet`` (with the partition column).

        When the asset's directory holds exactly the partitions asked for, the
        scan is ``<root>/<asset>/**/*.parquet``; otherwise it lists the files.
        A filter on the partition column skips the other files unread.

        Examples:
            >>> Parquet().load_partitions(partitions, pl.LazyFrame)  # doctest: +SKIP
            <LazyFrame ...>
        """
        import polars as pl

        kind = load_kind(annotation)
        if partitions.keys and is_remote(partitions.locations[0]):
            from assetry.io_managers.staging import remote_ref  # a SQL asset reads them in place

            ref = remote_ref(partitions.locations[0], annotation, "parquet", partitions=partitions)
            if ref is not None:
                return ref
        if kind not in ("natural", "polars", "lazy", "arrow", "pandas") or not partitions.keys or (
                is_remote(partitions.locations[0])):
            return IOManager.load_partitions(self, partitions, annotation)
        dtype = pl.Date if type(partitions.values[0]).__name__ == "date" else pl.String
        source: Any = _hive_glob(partitions) or list(partitions.locations)
        frame = pl.scan_parquet(
            source, hive_partitioning=True, hive_schema={partitions.column: dtype}
        )
        if kind == "lazy":
            return frame
        if kind == "arrow":
            return frame.collect().to_arrow()
        return convert_frame(frame.collect(), kind, partitions.asset)


def _load_remote_parquet(location: str, kind: str) -> Any:
    """A remote Parquet product by annotation: a lazy scan reads only what it needs."""
    import polars as pl

    from assetry.io_managers import remote

    if kind == "path":
        return remote.local_path(location)
    if kind == "lazy":
        return remote.scan_parquet(location)
    if kind == "arrow":
        return remote.arrow_table(location)
    return convert_frame(pl.read_parquet(io.BytesIO(remote.read(location))), kind)


def _hive_glob(partitions: PartitionedProduct) -> str | None:
    """``<dir>/**/*.parquet`` when that directory holds exactly these partitions, else None."""
    segments = {f"{partitions.column}={k}" for k in partitions.keys}
    dirs = {os.path.dirname(loc) for loc in partitions.locations}
    bases = {os.path.dirname(d) for d in dirs}
    if len(bases) != 1 or {os.path.basename(d) for d in dirs} != segments:
        return None
    if any(os.path.basename(loc) != "data.parquet" for loc in partitions.locations):
        return None
    base = bases.pop()
    try:
        present = {n for n in os.listdir(base) if TEMP_MARKER not in n}
    except OSError:
        return None
    return os.path.join(base, "**", "*.parquet") if present == segments else None


@attrs.frozen
class CSV(_MemoryFile):
    """One CSV file with a header row.

    Examples:
        >>> CSV(separator=";").describe()
        "CSV(separator=';')"
    """

    separator: str = ","
    short_name: ClassVar[str] = "csv"
    extension: ClassVar[str] = "csv"
    stores_frames: ClassVar[bool] = True

    def save(self, value: Any, location: str) -> Stored:
        import polars as pl

        _refuse_unreadable(value, "CSV", needs_columns=True)
        if not isinstance(value, pl.DataFrame) or value.estimated_size() >= SMALL_BYTES:
            return FileIOManager.save(self, value, location)
        buffer = io.BytesIO()
        value.write_csv(buffer, separator=self.separator)
        data = buffer.getbuffer()
        _save_bytes(data, location)
        return Stored(location=location, rows=value.height, bytes=len(data),
                      schema=frame_schema(value))

    def write(self, value: Any, path: pathlib.Path) -> tuple[int | None, str | None]:
        import polars as pl

        frame = _frame_or_fail(value, "CSV")
        if isinstance(frame, pl.LazyFrame):
            frame = frame.collect()
        frame.write_csv(path, separator=self.separator)
        return frame.height, frame_schema(frame)

    def load(self, location: str, annotation: Any = None) -> Any:
        import polars as pl

        kind = load_kind(annotation)
        if is_remote(location):
            from assetry.io_managers import remote
            from assetry.io_managers.staging import remote_ref  # a SQL asset reads it in place

            ref = remote_ref(location, annotation, "csv")
            if ref is not None:
                return ref
            if kind == "path":
                return remote.local_path(location)
            frame = pl.read_csv(io.BytesIO(remote.read(location)), separator=self.separator)
            return frame.lazy() if kind == "lazy" else convert_frame(frame, kind)
        if kind == "path":
            return pathlib.Path(location)
        if kind == "lazy":
            return pl.scan_csv(location, separator=self.separator)
        return convert_frame(pl.read_csv(location, separator=self.separator), kind)


@attrs.frozen
class JSON(_MemoryFile):
    """One JSON file; the default for ``dict`` and ``list`` of plain values.

    Keys are sorted so that equal values give equal bytes (and equal fingerprints).

    Examples:
        >>> JSON().describe()
        'JSON(indent=None)'
    """

    indent: int | None = None
    short_name: ClassVar[str] = "json"
    extension: ClassVar[str] = "json"

    def save(self, value: Any, location: str) -> Stored:
        data = self._encode(value)  # before any file exists: a bad value leaves nothing
        _save_bytes(data, location)
        return Stored(location=location, rows=_rows(value), bytes=len(data), schema=None)

    def write(self, value: Any, path: pathlib.Path) -> tuple[int | None, str | None]:
        path.write_bytes(self._encode(value))
        return _rows(value), None

    def _encode(self, value: Any) -> bytes:
        try:
            text = json.dumps(value, indent=self.indent, sort_keys=True)
        except TypeError as exc:
            raise AssetTypeError(
                f"JSON stores plain values, but the value is not JSON-serializable ({exc}); "
                "return dicts, lists, strings and numbers, or choose io='pickle'"
            ) from exc
        return text.encode("utf-8")

    def load(self, location: str, annotation: Any = None) -> Any:
        if is_remote(location):
            return _load_remote(location, annotation, json.loads)
        if load_kind(annotation) == "path":
            return pathlib.Path(location)
        with open(location, encoding="utf-8") as f:
            return json.load(f)


def _load_remote(location: str, annotation: Any, decode: Any) -> Any:
    """A remote JSON or pickle product: a local copy for ``Path``, else its bytes decoded."""
    from assetry.io_managers import remote

    if load_kind(annotation) == "path":
        return remote.local_path(location)
    return decode(remote.read(location))


def _rows(value: Any) -> int | None:
    return len(value) if isinstance(value, (list, dict)) else None


@attrs.frozen
class Pickle(_MemoryFile):
    """One cloudpickle file; the default for any other value.

    Examples:
        >>> Pickle().describe()
        'Pickle(protocol=5)'
    """

    protocol: int = 5
    short_name: ClassVar[str] = "pickle"
    extension: ClassVar[str] = "pkl"

    def save(self, value: Any, location: str) -> Stored:
        data = self._encode(value)  # the whole pickle is in memory anyway: one write
        _save_bytes(data, location)
        rows = len(value) if hasattr(value, "__len__") else None
        return Stored(location=location, rows=rows, bytes=len(data), schema=frame_schema(value))

    def write(self, value: Any, path: pathlib.Path) -> tuple[int | None, str | None]:
        path.write_bytes(self._encode(value))
        rows = len(value) if hasattr(value, "__len__") else None
        return rows, frame_schema(value)

    def _encode(self, value: Any) -> bytes:
        import cloudpickle

        try:
            return cloudpickle.dumps(value, protocol=self.protocol)
        except Exception as exc:
            raise AssetTypeError(
                f"the value of type {type(value).__name__} cannot be pickled ({exc})"
            ) from exc

    def load(self, location: str, annotation: Any = None) -> Any:
        if is_remote(location):
            import pickle

            return _load_remote(location, annotation, pickle.loads)
        if load_kind(annotation) == "path":
            return pathlib.Path(location)
        # The standard unpickler reads cloudpickle's output (cloudpickle.load is pickle.load);
        # it imports cloudpickle itself when a value needs it, so a run that only loads skips it.
        import pickle

        with open(location, "rb") as f:
            return pickle.load(f)
