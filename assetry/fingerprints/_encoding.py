"""Canonical encoding: any config value, IO setting or code tuple reduced to stable bytes.

Every value is type-tagged and length-prefixed before it is hashed, so two
different values never share bytes. The encoding is the fingerprint's
foundation: changing it changes every fingerprint, so tests pin its output
(``tests/test_encoding.py``).

The exact builtins (``int``, ``str``, ``dict``...) are looked up in a dict, the
hot path; every other type goes through :func:`functools.singledispatch` on its
MRO, where :func:`register` lets a user add a config type of their own. numpy,
polars, pandas and Arrow data are encoded by content
(:mod:`assetry.fingerprints._content`). A value that cannot be encoded exactly
raises :class:`EncodingError`; nothing is ever encoded by a guess such as its
``repr``.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import pathlib
import re
import struct
import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

import xxhash

from assetry.errors import AssetError

__all__ = ["EncodingError", "encode", "frame", "hash_bytes", "hash_fields", "register"]

T = TypeVar("T")

_LENGTH = struct.Struct("<Q")
_FLOAT = struct.Struct("<d")
_COMPLEX = struct.Struct("<dd")


class EncodingError(AssetError, TypeError):
    """A value that cannot enter a fingerprint exactly (a config value, an IO setting).

    ``cls`` is the offending type; :meth:`within` says where it was met.
    """

    def __init__(self, cls: type, why: str | None = None, where: str | None = None) -> None:
        self.cls = cls
        self.why = why or (
            "cannot be fingerprinted exactly; register how it is encoded with "
            f"assetry.fingerprints.register({cls.__name__}, ...), or pass a plain value "
            "(its settings) instead"
        )
        self.where = where
        if where is None:
            super().__init__(f"a value of type {self.type_name!r} {self.why}")
        else:
            super().__init__(f"{where} holding a value of type {self.type_name!r}, which {self.why}")

    @property
    def type_name(self) -> str:
        """The offending type, with its module."""
        module = getattr(self.cls, "__module__", "") or ""
        qualname = getattr(self.cls, "__qualname__", repr(self.cls))
        return qualname if module == "builtins" else f"{module}.{qualname}"

    def within(self, where: str | None) -> EncodingError:
        """The same error, its message saying where the value was met (``asset 'a' has ...``)."""
        return EncodingError(self.cls, self.why, where)


def _frame(tag: bytes, payload: bytes) -> bytes:
    # Tag and length first: no concatenation of encodings can pass for another.
    return tag + _LENGTH.pack(len(payload)) + payload


frame = _frame  # for the content encoders of assetry.fingerprints._content


def _int(value: int) -> bytes:
    return _frame(b"i", value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True))


def _dict(value: Mapping[Any, Any]) -> bytes:
    pairs = sorted(((encode(key), item) for key, item in value.items()), key=lambda p: p[0])
    return _frame(b"d", b"".join(key + encode(item) for key, item in pairs))


def _zone(value: datetime.datetime | datetime.time) -> str | None:
    return None if value.tzinfo is None else str(value.tzinfo)


_EXACT: dict[type, Callable[[Any], bytes]] = {
    type(None): lambda v: _frame(b"N", b""),
    bool: lambda v: _frame(b"b", b"\x01" if v else b"\x00"),
    int: _int,
    float: lambda v: _frame(b"f", _FLOAT.pack(v)),
    complex: lambda v: _frame(b"c", _COMPLEX.pack(v.real, v.imag)),
    str: lambda v: _frame(b"s", v.encode("utf-8", "surrogatepass")),
    bytes: lambda v: _frame(b"y", v),
    bytearray: lambda v: _frame(b"y", bytes(v)),
    memoryview: lambda v: _frame(b"y", v.tobytes()),
    tuple: lambda v: _frame(b"t", b"".join(map(encode, v))),
    list: lambda v: _frame(b"l", b"".join(map(encode, v))),
    dict: _dict,
    set: lambda v: _frame(b"e", b"".join(sorted(map(encode, v)))),
    frozenset: lambda v: _frame(b"e", b"".join(sorted(map(encode, v)))),
    datetime.datetime: lambda v: _frame(b"W", encode((v.isoformat(), _zone(v), v.fold))),
    datetime.date: lambda v: _frame(b"D", v.isoformat().encode()),
    datetime.time: lambda v: _frame(b"H", encode((v.isoformat(), _zone(v), v.fold))),
    datetime.timedelta: lambda v: _frame(b"R", encode((v.days, v.seconds, v.microseconds))),
    decimal.Decimal: lambda v: _frame(b"m", str(v).encode()),
}

# --- Types without an exact encoder: dispatched on the type's MRO ---------------------------


def _enum(value: enum.Enum) -> bytes:
    return _frame(b"E", encode((type(value).__qualname__, value.name, value.value)))


def _polars(value: Any) -> bytes | None:
    # Recognised by module name, so that encoding never imports polars.
    module = getattr(type(value), "__module__", "") or ""
    if module.startswith("polars.datatypes"):
        return _frame(b"Q", str(value).encode())
    if module == "polars.schema":
        return _frame(b"S", encode(tuple(value.items())))
    return None


def _subclass_of(base: type) -> Callable[[Any], bytes]:
    """The encoder of ``base``'s subclasses: the base's own, after two exceptions.

    An enum member that mixes in ``int`` or ``str`` (``IntEnum``, ``StrEnum``,
    ``class Color(str, Enum)``) is a member first, although its MRO lists the
    builtin before ``Enum``; and ``pl.Schema``, a dict, keeps its own tag.
    """
    exact = _EXACT[base]

    def encode_subclass(value: Any) -> bytes:
        if isinstance(value, enum.Enum):
            return _enum(value)
        if base is datetime.timedelta and getattr(value, "nanoseconds", None):  # pandas.Timedelta
            return _frame(b"R", encode((value.days, value.seconds, value.microseconds,
                                        value.nanoseconds)))
        polars = _polars(value)
        return exact(value) if polars is None else polars

    encode_subclass.__qualname__ = f"encode_{base.__name__}_subclass"
    return encode_subclass


def _fields(value: Any) -> tuple[tuple[str, Any], ...] | None:
    cls = type(value)
    attributes = getattr(cls, "__attrs_attrs__", None)
    if attributes is not None and not isinstance(value, type):
        return tuple((a.name, getattr(value, a.name)) for a in attributes)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
    return None


@functools.singledispatch
def _by_type(value: Any) -> bytes:
    """Any other object: polars data types, attrs and dataclass fields, data by content."""
    polars = _polars(value)
    if polars is not None:
        return polars
    qualname = type(value).__qualname__
    fields = _fields(value)
    if fields is not None:
        return _frame(b"A", encode((qualname, fields)))
    from assetry.fingerprints._content import encode_content  # imports only this module

    content = encode_content(value)
    if content is not None:
        return content
    if callable(value) and isinstance(getattr(value, "__name__", None), str):
        return _function(value)  # a library's function object (``np.mean``, a ufunc)
    raise EncodingError(type(value))


def _named(kind: str, text: str) -> bytes:
    # Written as the ``repr`` fallback wrote these exact, stable texts: the pins hold.
    return _frame(b"O", encode((kind, text)))


def _class(value: type) -> bytes:
    polars = _polars(value)  # ``pl.Int64`` is a class too
    if polars is not None:
        return polars
    module, qualname = value.__module__, value.__qualname__
    text = f"<class '{qualname}'>" if module == "builtins" else f"<class '{module}.{qualname}'>"
    return _named(type(value).__qualname__, text)


def _function(value: Any) -> bytes:
    """A function by its module and qualname: a name, as a class is (its code is not config)."""
    qualname = getattr(value, "__qualname__", None) or value.__name__
    owner = getattr(value, "__self__", None)
    if "<" in qualname or not (owner is None or isinstance(owner, types.ModuleType)):
        raise EncodingError(type(value), "has no name to be fingerprinted by (a lambda, a nested "
                            "function or a bound method); pass a module-level function")
    return _named("function", f"{value.__module__}:{qualname}")


_by_type.register(enum.Enum, _enum)
_by_type.register(type, _class)
_by_type.register(range, lambda v: _named("range", repr(v)))
_by_type.register(type(...), lambda v: _named("ellipsis", "Ellipsis"))
_by_type.register(types.FunctionType, _function)
_by_type.register(types.BuiltinFunctionType, _function)
for _base in _EXACT.keys() - {type(None), bool}:  # neither can be subclassed
    _by_type.register(_base, _subclass_of(_base))
del _base
_by_type.register(
    pathlib.PurePath, lambda v: _frame(b"p", encode((type(v).__qualname__, str(v))))
)
_by_type.register(re.Pattern, lambda v: _frame(b"r", encode((v.pattern, v.flags))))
#: Types whose encoding assetry fixes; a user may not register them again.
_BUILTIN = frozenset(_by_type.registry) | frozenset(_EXACT)


@overload
def register(cls: type[T]) -> Callable[[Callable[[T], Any]], Callable[[T], Any]]: ...


@overload
def register(cls: type[T], func: Callable[[T], Any]) -> Callable[[T], Any]: ...


def register(cls: type[T], func: Callable[[T], Any] | None = None) -> Any:
    """Register how instances of a type of yours enter a fingerprint.

    ``func`` turns a value into a canonical value that stands for it: anything
    :func:`encode` accepts, typically a tuple or dict of the settings that
    matter, or bytes. The value is encoded with a tag of its own and the
    class's qualname, so it never shares bytes with the plain value, nor with
    another class's. Subclasses are covered too, unless registered themselves
    (``functools.singledispatch`` decides by the MRO). Use it as a decorator or
    call it with both arguments; it returns ``func``.

    Without a registration, an attrs or dataclass instance is encoded by its
    fields, and a value of any other type of yours is refused with
    :class:`EncodingError`.

    Args:
        cls: Your class. Types that assetry encodes itself (``int``, ``dict``,
            ``Enum``, paths...) cannot be registered again.
        func: ``value -> canonical value``; it must not return ``value`` itself.

    Examples:
        >>> class Window:
        ...     def __init__(self, days: int) -> None:
        ...         self.days = days
        >>> @register(Window)
        ... def _window(value: Window) -> int:
        ...     return value.days
        >>> encode(Window(7)) == encode(Window(7)) != encode(Window(8))
        True
    """
    if not isinstance(cls, type):
        raise TypeError(f"register() takes a class, but got {cls!r}")
    if cls in _BUILTIN:
        raise TypeError(
            f"cannot register {cls.__qualname__!r}: assetry encodes it already; "
            "register a class of your own"
        )
    if func is None:
        return lambda f: register(cls, f)
    qualname = cls.__qualname__

    def encode_registered(value: Any) -> bytes:
        return _frame(b"U", encode((qualname, func(value))))

    _by_type.register(cls, encode_registered)
    return func


def encode(value: Any) -> bytes:
    """Encode a value as canonical, unambiguous bytes.

    Every value is written as a type tag, its payload's length, then the
    payload, so distinct values never share bytes and encodings never run into
    each other: ``("ab", "c")`` and ``("a", "bc")`` differ, ``True`` differs
    from ``1``, ``"1"`` from ``1`` and ``[1]`` from ``(1,)``. Dicts are ordered
    by encoded key and sets by encoded item, so insertion order does not count.

    Supported: None, bool, int, float (by its IEEE bits: ``-0.0`` and ``0.0``
    differ), complex, str, bytes, tuple, list, dict, set and frozenset (one tag
    for both), dates, datetimes (with their zone), times, timedeltas,
    ``Decimal``, paths, enums (class qualname, member name and value), compiled
    regular expressions, ranges, classes and module-level functions (by their
    qualified name), polars data types and ``pl.Schema`` (column order counts),
    attrs or dataclass instances (class qualname and fields), numpy arrays and
    scalars, polars, pandas and Arrow frames and series (by content: see
    :mod:`assetry.fingerprints._content`), and the types given to
    :func:`register`. A subclass of a builtin is encoded as the builtin (a
    namedtuple as a tuple).

    Anything else raises :class:`EncodingError`, a ``TypeError``: a ``repr``
    may embed a memory address (``<object at 0x...>``, new in every process)
    or elide the middle of a large value, hiding a change. :func:`register`
    such a type, or pass its settings instead.

    Examples:
        >>> encode(("ab", "c")) == encode(("a", "bc"))
        False
        >>> encode({"a": 1, "b": 2}) == encode({"b": 2, "a": 1})
        True
        >>> try:
        ...     encode(object())
        ... except TypeError as error:
        ...     print(str(error)[:50])
        a value of type 'object' cannot be fingerprinted e
    """
    # The exact builtins skip dispatch: they are nearly every value a fingerprint meets.
    # Dispatch is on type(), as before, not on a proxy's __class__.
    cls = type(value)
    return (_EXACT.get(cls) or _by_type.dispatch(cls))(value)


def hash_bytes(data: bytes) -> str:
    """Hash bytes with xxh3-128 and return the hex digest.

    Examples:
        >>> len(hash_bytes(b"flights"))
        32
    """
    return xxhash.xxh3_128_hexdigest(data)


def hash_fields(**fields: Any) -> str:
    """Hash named values, independently of the order they are given in.

    Examples:
        >>> hash_fields(a=1, b="x") == hash_fields(b="x", a=1)
        True
        >>> hash_fields(a="ab", b="c") == hash_fields(a="a", b="bc")
        False
    """
    return hash_bytes(encode(fields))
