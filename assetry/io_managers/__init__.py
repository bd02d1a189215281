"""IO managers: how products are stored and loaded.

See :mod:`assetry.io_managers.base` for the protocol a user can implement. This
module is the package's face; it owns turning ``@asset(io=...)`` into a manager
(:func:`resolve`, by instance or one of :data:`SHORT_NAMES`) and the default
manager for an annotation or a value.
"""

from __future__ import annotations

import typing
from typing import Any

from assetry._frames import FRAME_KINDS, frame_kind, load_kind
from assetry.errors import AssetGraphError
from assetry.io_managers.base import IOManager, Observation, Stored
from assetry.io_managers.directories import Directory
from assetry.io_managers.files import CSV, JSON, Parquet, Pickle
from assetry.io_managers.sql import DuckDBTable, SQLTable

__all__ = [
    "CSV",
    "JSON",
    "SHORT_NAMES",
    "Directory",
    "DuckDBTable",
    "IOManager",
    "Observation",
    "Parquet",
    "Pickle",
    "SQLTable",
    "Stored",
    "default_for_annotation",
    "default_for_value",
    "resolve",
]

_BY_SHORT_NAME: dict[str, type[IOManager]] = {
    cls.short_name: cls for cls in (Parquet, CSV, JSON, Pickle, Directory)
}
#: The names ``@asset(io=...)`` takes for a manager with default settings, in API.md's order.
SHORT_NAMES: tuple[str, ...] = tuple(_BY_SHORT_NAME)


def resolve(io: IOManager | str | None, asset: str = "?") -> IOManager | None:
    """Turn ``@asset(io=...)`` into an IO manager instance (None stays None).

    Examples:
        >>> resolve("csv")
        CSV(separator=',')
        >>> SHORT_NAMES
        ('parquet', 'csv', 'json', 'pickle', 'directory')
    """
    if io is None or isinstance(io, IOManager):
        return io
    if isinstance(io, str) and io.lower() in SHORT_NAMES:
        return _BY_SHORT_NAME[io.lower()]()
    raise AssetGraphError(
        f"asset {asset!r} has io={io!r}, which is neither an IO manager nor one of "
        f"{sorted(SHORT_NAMES)}"
    )


def default_for_annotation(annotation: Any) -> IOManager | None:
    """The default manager for a return annotation, or None to decide from the value."""
    kind = load_kind(annotation)
    if kind in FRAME_KINDS:
        return Parquet()
    if kind.startswith("dict:") and kind != "dict:natural":
        return Directory()
    origin = typing.get_origin(annotation) or annotation
    if origin in (dict, list):
        return JSON()
    if annotation is None or annotation is typing.Any or isinstance(annotation, str):
        return None
    return Pickle()


def default_for_value(value: Any) -> IOManager:
    """The default manager for a value whose return type was not annotated."""
    if frame_kind(value) is not None:
        return Parquet()
    if isinstance(value, dict) and value and all(
        frame_kind(v) in ("polars", "lazy") for v in value.values()
    ):
        return Directory()
    if isinstance(value, (dict, list)) and _is_plain(value):
        return JSON()
    return Pickle()


def _is_plain(value: Any, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(_is_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v, depth + 1) for k, v in value.items())
    return False
