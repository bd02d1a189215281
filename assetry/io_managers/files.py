"""File IO managers: one product, one file (Parquet, CSV, JSON, Pickle).

Each writes through :func:`~assetry.io_managers.base.atomic_path` and loads by
the parameter's annotation. They know nothing of the catalog or the graph.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, ClassVar

import attrs

from assetry._frames import convert_frame, frame_schema, is_arrow_table, load_kind, polars_frame
from assetry.errors import AssetTypeError
from assetry.io_managers.base import TEMP_MARKER, FileIOManager, IOManager, PartitionedProduct

__all__ = ["CSV", "JSON", "Parquet", "Pickle"]


def _frame_or_fail(value: Any, manager: str) -> Any:
    frame = polars_frame(value)
    if frame is None:
        raise AssetTypeError(
            f"{manager} stores data frames, but the value is {type(value).__name__}; "
            "return a polars, Arrow or pandas frame, or choose another io="
        )
    return frame


@attrs.frozen
class Parquet(FileIOManager):
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
        if kind == "path":
            return pathlib.Path(location)
        if kind == "lazy":
            return pl.scan_parquet(location)
        if kind == "arrow":
            import pyarrow.parquet as pq

            return pq.read_table(location)
        return convert_frame(pl.read_parquet(location), kind)

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
        if kind not in ("natural", "polars", "lazy", "arrow", "pandas") or not partitions.keys:
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
class CSV(FileIOManager):
    """One CSV file with a header row.

    Examples:
        >>> CSV(separator=";").describe()
        "CSV(separator=';')"
    """

    separator: str = ","
    short_name: ClassVar[str] = "csv"
    extension: ClassVar[str] = "csv"
    stores_frames: ClassVar[bool] = True

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
        if kind == "path":
            return pathlib.Path(location)
        if kind == "lazy":
            return pl.scan_csv(location, separator=self.separator)
        return convert_frame(pl.read_csv(location, separator=self.separator), kind)


@attrs.frozen
class JSON(FileIOManager):
    """One JSON file; the default for ``dict`` and ``list`` of plain values.

    Keys are sorted so that equal values give equal bytes (and equal fingerprints).

    Examples:
        >>> JSON().describe()
        'JSON(indent=None)'
    """

    indent: int | None = None
    short_name: ClassVar[str] = "json"
    extension: ClassVar[str] = "json"

    def write(self, value: Any, path: pathlib.Path) -> tuple[int | None, str | None]:
        try:
            text = json.dumps(value, indent=self.indent, sort_keys=True)
        except TypeError as exc:
            raise AssetTypeError(
                f"JSON stores plain values, but the value is not JSON-serializable ({exc}); "
                "return dicts, lists, strings and numbers, or choose io='pickle'"
            ) from exc
        path.write_text(text, encoding="utf-8")
        return (len(value) if isinstance(value, (list, dict)) else None), None

    def load(self, location: str, annotation: Any = None) -> Any:
        if load_kind(annotation) == "path":
            return pathlib.Path(location)
        with open(location, encoding="utf-8") as f:
            return json.load(f)


@attrs.frozen
class Pickle(FileIOManager):
    """One cloudpickle file; the default for any other value.

    Examples:
        >>> Pickle().describe()
        'Pickle(protocol=5)'
    """

    protocol: int = 5
    short_name: ClassVar[str] = "pickle"
    extension: ClassVar[str] = "pkl"

    def write(self, value: Any, path: pathlib.Path) -> tuple[int | None, str | None]:
        import cloudpickle

        try:
            data = cloudpickle.dumps(value, protocol=self.protocol)
        except Exception as exc:
            raise AssetTypeError(
                f"the value of type {type(value).__name__} cannot be pickled ({exc})"
            ) from exc
        path.write_bytes(data)
        rows = len(value) if hasattr(value, "__len__") else None
        return rows, frame_schema(value)

    def load(self, location: str, annotation: Any = None) -> Any:
        import cloudpickle

        if load_kind(annotation) == "path":
            return pathlib.Path(location)
        with open(location, "rb") as f:
            return cloudpickle.load(f)
