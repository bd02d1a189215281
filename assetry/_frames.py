"""The one place that recognises and converts frames: polars, lazy polars, Arrow, pandas.

Every package that must tell a frame's kind from a value or an annotation, or
turn one kind into another, asks here. It imports polars lazily, pyarrow and
pandas never (they are recognised by their module's name), so importing it
costs nothing.
"""

from __future__ import annotations

import pathlib
import typing
from typing import Any

import attrs

from assetry._surface import install_hint
from assetry.errors import AssetTypeError

__all__ = [
    "FRAME_KINDS",
    "convert_frame",
    "frame_kind",
    "frame_schema",
    "is_arrow_table",
    "load_kind",
    "polars_frame",
    "to_polars",
]

#: The kinds of frame assetry stores and loads, as :func:`load_kind` names them.
FRAME_KINDS = ("polars", "lazy", "arrow", "pandas")


def load_kind(annotation: Any) -> str:
    """Classify a parameter annotation into the kind of value to load.

    One of ``"natural"``, ``"polars"``, ``"lazy"``, ``"arrow"``, ``"pandas"``,
    ``"path"``, ``"dict:<kind>"`` (a dict of one of the former), ``"str"``.
    """
    if annotation is None or annotation is typing.Any or annotation is attrs.NOTHING:
        return "natural"
    if isinstance(annotation, str):
        return _kind_from_text(annotation)
    origin = typing.get_origin(annotation)
    if origin is dict:
        args = typing.get_args(annotation)
        return "dict:" + (load_kind(args[1]) if len(args) == 2 else "natural")
    if origin is typing.Union or origin is getattr(__import__("types"), "UnionType", None):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return load_kind(members[0]) if len(members) == 1 else "natural"
    if isinstance(annotation, type):
        if issubclass(annotation, pathlib.PurePath):
            return "path"
        mod = annotation.__module__
        name = annotation.__name__
        if mod.startswith("polars"):
            return {"DataFrame": "polars", "LazyFrame": "lazy"}.get(name, "natural")
        if mod.startswith("pyarrow") and name == "Table":
            return "arrow"
        if mod.startswith("pandas") and name == "DataFrame":
            return "pandas"
    return "natural"


def _kind_from_text(text: str) -> str:
    # An annotation that could not be resolved (a string): match on its last name.
    t = text.replace(" ", "")
    if t.startswith("dict["):
        inner = t[5:-1].split(",", 1)
        return "dict:" + (_kind_from_text(inner[1]) if len(inner) == 2 else "natural")
    last = t.rsplit(".", 1)[-1]
    return {
        "DataFrame": "polars" if "pd." not in t and "pandas" not in t else "pandas",
        "LazyFrame": "lazy",
        "Table": "arrow",
        "Path": "path",
    }.get(last, "natural")


def convert_frame(df: Any, kind: str, asset: str = "?") -> Any:
    """Turn an eager polars frame into the requested kind of value."""
    if kind in ("natural", "polars"):
        return df
    if kind == "lazy":
        return df.lazy()
    if kind == "arrow":
        return df.to_arrow()
    if kind == "pandas":
        try:
            return df.to_pandas()
        except ModuleNotFoundError as exc:
            raise AssetTypeError(
                f"asset {asset!r} asks for a pandas.DataFrame, but pandas is not installed; "
                f"install it with: {install_hint('pandas')}"
            ) from exc
    raise AssetTypeError(f"cannot load a frame as {kind!r} for asset {asset!r}")


def frame_kind(value: Any) -> str | None:
    """The kind of frame a value is (one of :data:`FRAME_KINDS`), or None.

    Decided by the value's type, its module and name, as :func:`load_kind`
    decides for an annotation: nothing is imported.

    Examples:
        >>> import polars as pl
        >>> frame_kind(pl.LazyFrame()), frame_kind({"a": 1})
        ('lazy', None)
    """
    kind = load_kind(type(value))
    return kind if kind in FRAME_KINDS else None


def polars_frame(value: Any) -> Any:
    """A polars frame (eager or lazy) as it is, an Arrow or pandas frame as an eager one, else None.

    Examples:
        >>> import polars as pl
        >>> polars_frame(pl.DataFrame({"a": [1]}).to_arrow()).height
        1
        >>> polars_frame([1, 2]) is None
        True
    """
    import polars as pl

    if isinstance(value, (pl.DataFrame, pl.LazyFrame)):  # subclasses too
        return value
    return to_polars(value) if frame_kind(value) in ("arrow", "pandas") else None


def to_polars(value: Any) -> Any:
    """Turn a polars, Arrow or pandas frame into an eager polars DataFrame."""
    import polars as pl

    if isinstance(value, pl.DataFrame):
        return value
    if isinstance(value, pl.LazyFrame):
        return value.collect()
    return pl.from_arrow(value) if is_arrow_table(value) else pl.from_pandas(value)


def is_arrow_table(value: Any) -> bool:
    """Whether a value is a ``pyarrow.Table`` (without importing pyarrow)."""
    return type(value).__module__.startswith("pyarrow") and type(value).__name__ == "Table"


def frame_schema(value: Any) -> str | None:
    """A JSON text of ``{column: dtype}`` for a polars or Arrow frame, else None."""
    import json

    import polars as pl

    if isinstance(value, pl.DataFrame):
        schema = value.schema
    elif isinstance(value, pl.LazyFrame):
        schema = value.collect_schema()
    elif is_arrow_table(value):
        return json.dumps({f.name: str(f.type) for f in value.schema})
    else:
        return None
    return json.dumps({k: str(v) for k, v in schema.items()})
