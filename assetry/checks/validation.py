"""Checks on an asset's value before it is stored: its return type and its schema.

Pure functions of the value and the declaration; they raise
:class:`AssetTypeError` or :class:`SchemaError` with every problem named.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from assetry._frames import is_arrow_table
from assetry.errors import AssetTypeError, SchemaError

__all__ = ["check_return", "check_schema", "type_name"]


def type_name(t: Any) -> str:
    """A short readable name: ``polars.DataFrame``, ``dict``, ``dict[str, polars.DataFrame]``."""
    if isinstance(t, str):
        return t
    origin = typing.get_origin(t)
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(t))
        base = getattr(origin, "__name__", str(origin))
        return f"{base}[{args}]" if args else base
    if isinstance(t, type):
        mod = t.__module__.split(".")[0]
        return t.__qualname__ if mod == "builtins" else f"{mod}.{t.__qualname__}"
    return repr(t)


def _matches(value: Any, annotation: Any) -> bool | None:
    """True/False when the annotation can be checked, None when it cannot."""
    if annotation is None or annotation is Any or isinstance(annotation, (str, typing.TypeVar)):
        return None
    if annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        results = [_matches(value, a) for a in typing.get_args(annotation)]
        return bool(any(r is not False for r in results))
    if origin is typing.Annotated:
        return _matches(value, typing.get_args(annotation)[0])
    if origin is not None:
        if isinstance(origin, type) and not isinstance(value, origin):
            return False
        args = typing.get_args(annotation)
        if origin is dict and len(args) == 2 and isinstance(value, dict):
            return all(
                _matches(k, args[0]) is not False and _matches(v, args[1]) is not False
                for k, v in value.items()
            )
        if origin in (list, set, frozenset) and len(args) == 1:
            return all(_matches(v, args[0]) is not False for v in value)
        return True if isinstance(origin, type) else None
    if isinstance(annotation, type):
        if annotation is float and isinstance(value, int) and not isinstance(value, bool):
            return True
        return isinstance(value, annotation)
    return None


def check_return(asset: str, value: Any, annotation: Any) -> None:
    """Raise :class:`AssetTypeError` when ``value`` does not match the return annotation.

    Examples:
        >>> check_return("report", {}, dict)
    """
    if _matches(value, annotation) is False:
        raise AssetTypeError(
            f"asset {asset!r} returned {type_name(type(value))}, but its annotation says "
            f"{type_name(annotation)}"
        )


def check_schema(asset: str, value: Any, schema: Any) -> None:
    """Raise :class:`SchemaError` listing every missing, extra or mistyped column.

    Examples:
        >>> import polars as pl
        >>> check_schema("t", pl.DataFrame({"a": [1]}), {"a": pl.Int64})
    """
    import polars as pl

    if schema is None:
        return
    if isinstance(value, pl.LazyFrame):
        actual = dict(value.collect_schema())
    elif isinstance(value, pl.DataFrame):
        actual = dict(value.schema)
    elif is_arrow_table(value):
        actual = dict(pl.from_arrow(value.schema.empty_table()).schema)  # type: ignore[union-attr]
    else:
        raise SchemaError(
            f"asset {asset!r} declares a schema, but returned {type_name(type(value))}, "
            "which has no columns; return a polars or Arrow frame"
        )
    expected = dict(schema)
    problems = [
        f"missing column {c!r} ({expected[c]})" for c in expected if c not in actual
    ] + [f"extra column {c!r} ({actual[c]})" for c in actual if c not in expected]
    problems += [
        f"column {c!r} is {actual[c]}, expected {expected[c]}"
        for c in expected
        if c in actual and not _dtype_equal(actual[c], expected[c])
    ]
    if problems:
        raise SchemaError(f"asset {asset!r} does not match its schema: " + "; ".join(problems))


def _dtype_equal(actual: Any, expected: Any) -> bool:
    try:
        return bool(actual == expected)
    except (TypeError, ValueError):
        return str(actual) == str(expected)
