"""IO managers: how products are stored and loaded.

See :mod:`assetry.io_managers.base` for the protocol a user can implement.
"""

from __future__ import annotations

import typing
from typing import Any

from assetry._frames import load_kind
from assetry.errors import AssetGraphError
from assetry.io_managers.base import IOManager, Observation, Stored
from assetry.io_managers.directories import Directory
from assetry.io_managers.files import CSV, JSON, Parquet, Pickle
from assetry.io_managers.sql import DuckDBTable, SQLTable

__all__ = [
    "CSV",
    "JSON",
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

_SHORT = {cls.short_name: cls for cls in (Parquet, CSV, JSON, Pickle, Directory)}


def resolve(io: IOManager | str | None, asset: str = "?") -> IOManager | None:
    """Turn ``@asset(io=...)`` into an IO manager instance (None stays None).

    Examples:
        >>> resolve("csv")
        CSV(separator=',')
    """
    if io is None or isinstance(io, IOManager):
        return io
    if isinstance(io, str) and io.lower() in _SHORT:
        return _SHORT[io.lower()]()
    raise AssetGraphError(
        f"asset {asset!r} has io={io!r}, which is neither an IO manager nor one of "
        f"{sorted(_SHORT)}"
    )


def default_for_annotation(annotation: Any) -> IOManager | None:
    """The default manager for a return annotation, or None to decide from the value."""
    kind = load_kind(annotation)
    if kind in ("polars", "lazy", "arrow", "pandas"):
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
    mod = type(value).__module__
    name = type(value).__name__
    if (mod.startswith("polars") and name in ("DataFrame", "LazyFrame")) or (
        mod.startswith(("pyarrow", "pandas")) and name in ("Table", "DataFrame")
    ):
        return Parquet()
    if isinstance(value, dict) and value and all(
        type(v).__module__.startswith("polars") and type(v).__name__ in ("DataFrame", "LazyFrame")
        for v in value.values()
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
