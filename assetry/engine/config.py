"""Config values typed by their parameter's annotation, before a run.

A config value may come from ``materialize(config=...)``, ``-c asset.param=value``
(read as YAML), an ``assetry.yaml`` spec, or ``${ENV}`` expansion in it (always
a string). :func:`convert` turns it into the type the parameter's annotation
names, so that ``"5"`` reaches ``offset: int`` as ``5`` and ``1`` and ``1.0``
for a ``float`` are the same config (the same fingerprint). The annotations
understood: ``int``, ``float``, ``bool``, ``str``, ``datetime.date``,
``datetime.datetime``, ``pathlib.Path`` (and other ``PurePath`` types),
``Literal[...]``, ``enum.Enum`` subclasses, ``X | None`` and unions of these,
``Annotated[X, ...]``. Any other annotation (a frame, a list, a class of the
user's) leaves the value as it is. A value that cannot be converted raises
:class:`ConfigTypeError`, whose message names the asset, the parameter, the
value and the expected type.

Pure: no file, no catalog. The engine calls it from
:func:`assetry.engine.context.resolve_config`.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import pathlib
import types
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["ConfigTypeError", "convert", "describe"]

_TRUE = {"true", "yes", "on", "1", "y", "t"}
_FALSE = {"false", "no", "off", "0", "n", "f"}


class ConfigTypeError(ValueError):
    """A config value that its parameter's annotation cannot take; ``expected`` says what would."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def describe(annotation: Any) -> str:
    """The annotation as a person reads it: ``int``, ``'a' | 'b'``, ``datetime.date | None``.

    Examples:
        >>> import datetime, typing
        >>> describe(datetime.date | None), describe(typing.Literal["a", "b"])
        ('datetime.date | None', "'a' | 'b'")
    """
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(describe(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return describe(typing.get_args(annotation)[0])
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type):
        module = annotation.__module__
        if module == "builtins":
            return annotation.__qualname__
        if module == "pathlib":
            return "pathlib.Path"
        return f"{module}.{annotation.__qualname__}"
    return repr(annotation)


def convert(value: Any, annotation: Any) -> Any:
    """``value`` as the annotation's type; raises :class:`ConfigTypeError` when it cannot be.

    Examples:
        >>> convert("5", int), convert(1, float), convert("yes", bool)
        (5, 1.0, True)
        >>> import datetime
        >>> convert("2013-01-01", datetime.date)
        datetime.date(2013, 1, 1)
        >>> convert("ten", int)
        Traceback (most recent call last):
        ...
        assetry.engine.config.ConfigTypeError: int
    """
    if annotation is None or annotation is typing.Any or isinstance(annotation, str):
        return value  # no annotation, or one that could not be resolved
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return convert(value, typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return _literal(value, typing.get_args(annotation), annotation)
    if origin is typing.Union or origin is types.UnionType:
        return _union(value, typing.get_args(annotation), annotation)
    if annotation is type(None):
        if value is None or _is_null(value):
            return None
        raise ConfigTypeError("None")
    if not isinstance(annotation, type):
        return value  # list[int], a TypeVar, ...: not ours to check
    for base, converter in _CONVERTERS:
        # pathlib's own path types only: a subclass of another library's (a SQL asset's
        # ``Location``) says how an upstream is passed, not what a config value is.
        if annotation is base or (base is pathlib.PurePath and issubclass(annotation, base)
                                  and annotation.__module__ == "pathlib"):
            return converter(value, annotation)
    if issubclass(annotation, enum.Enum):
        return _enum(value, annotation)
    return value


def _is_null(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in ("", "none", "null", "~")


def _union(value: Any, members: tuple[Any, ...], annotation: Any) -> Any:
    if value is None and type(None) in members:
        return None
    others = [m for m in members if m is not type(None)]
    for member in others:  # a value already of one member's type stays as it is
        if isinstance(member, type) and type(value) is member:
            return value
    for member in others:
        try:
            return convert(value, member)
        except ConfigTypeError:
            continue
    if type(None) in members and _is_null(value):
        return None
    raise ConfigTypeError(describe(annotation))


def _literal(value: Any, allowed: tuple[Any, ...], annotation: Any) -> Any:
    for choice in allowed:
        if type(value) is type(choice) and value == choice:
            return choice
    for choice in allowed:  # "1" from the environment for Literal[1, 2]
        try:
            if convert(value, type(choice)) == choice:
                return choice
        except ConfigTypeError:
            continue
    raise ConfigTypeError(describe(annotation))


def _int(value: Any, cls: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value.strip())
            except ValueError:
                number = None  # type: ignore[assignment]
            if number is not None and number.is_integer():
                return int(number)
    raise ConfigTypeError("int")


def _float(value: Any, cls: type) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ConfigTypeError("float")


def _bool(value: Any, cls: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ConfigTypeError("bool (true or false)")


def _str(value: Any, cls: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # YAML read -c title=2013 as a number
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    raise ConfigTypeError("str")


def _date(value: Any, cls: type) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date()
        raise ConfigTypeError("datetime.date (YYYY-MM-DD)")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigTypeError("datetime.date (YYYY-MM-DD)")


def _datetime(value: Any, cls: type) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigTypeError("datetime.datetime (ISO 8601, YYYY-MM-DDTHH:MM:SS)")


def _path(value: Any, cls: type[pathlib.PurePath]) -> pathlib.PurePath:
    if isinstance(value, cls):
        return value
    if isinstance(value, (str, os.PathLike)) and str(value).strip():
        return cls(value)
    raise ConfigTypeError(describe(cls))


def _enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        name = value.strip()
        if name.startswith(f"{cls.__name__}."):
            name = name[len(cls.__name__) + 1:]
        if name in cls.__members__:
            return cls.__members__[name]
    for member in cls:
        if member.value == value and type(member.value) is type(value):
            return member
    for member in cls:  # "2" from the environment for an enum of numbers
        try:
            if convert(value, type(member.value)) == member.value:
                return member
        except ConfigTypeError:
            continue
    names = ", ".join(cls.__members__)
    raise ConfigTypeError(f"{describe(cls)} (one of {names})")


_CONVERTERS: tuple[tuple[type, Callable[[Any, Any], Any]], ...] = (
    (bool, _bool),
    (int, _int),
    (float, _float),
    (str, _str),
    (dt.datetime, _datetime),
    (dt.date, _date),
    (pathlib.PurePath, _path),
)
