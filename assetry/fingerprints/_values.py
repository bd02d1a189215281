"""Values that code reaches: which enter a fingerprint by value, and the code held inside them.

The rule (docs/fingerprints.md, "What the code fingerprint covers"): an
immutable value (a number, a string, bytes, ``None``, a bool, a date, an enum
member, a path, a tuple or frozenset of immutables...) enters by value, so
``N = int(os.environ["N"])`` is seen when the environment changes. Anything
else (a list, a dict, a set, a bytearray, an object) may change while the
program runs, so it enters by the source that builds it
(:mod:`~assetry.fingerprints._bindings`) plus the code it holds: the functions,
classes and partials found in it by :func:`code_in`. This module decides and
searches; it reads no file and hashes nothing.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import functools
import itertools
import pathlib
import re
import types
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["code_in", "is_immutable", "is_plain"]

_SCALARS = frozenset({type(None), bool, int, float, complex, str, bytes})
_SEQUENCES = frozenset({list, tuple, set, frozenset})
_RICH = (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal, enum.Enum,
         pathlib.PurePath, re.Pattern, range)
_DEPTH = 32
#: At most this many items of one value are searched for code: a memo cache may be huge, and
#: it is searched again for every asset that names it (a 20,000-entry dict costs ~0.2 ms).
LIMIT = 2_000


def is_immutable(value: Any, depth: int = 0) -> bool:
    """Whether a value cannot change while the program runs: it enters a fingerprint by value.

    Examples:
        >>> is_immutable((1, "a", frozenset({2.5})))
        True
        >>> is_immutable([1, 2]), is_immutable((1, [2]))
        (False, False)
    """
    kind = type(value)
    if kind in _SCALARS or isinstance(value, _RICH):
        return True
    if isinstance(value, (tuple, frozenset)):
        return depth < _DEPTH and all(is_immutable(v, depth + 1) for v in value)
    return (getattr(kind, "__module__", "") or "").startswith("polars.datatypes")


def is_plain(value: Any, depth: int = 0) -> bool:
    """Whether a value is built of plain data only (containers included): encodable by value.

    Used only where no source says how a mutable value is built (a notebook
    cell's namespace, code run by ``exec``): there its value is all there is.
    """
    kind = type(value)
    if kind in _SCALARS or isinstance(value, _RICH):
        return True
    if kind in (tuple, list, set, frozenset):
        return depth < _DEPTH and all(is_plain(v, depth + 1) for v in value)
    if kind is dict:
        items = value.items()
        return depth < _DEPTH and all(is_plain(i, depth + 1) for kv in items for i in kv)
    return (getattr(kind, "__module__", "") or "").startswith(("polars.datatypes", "polars.schema"))


def _wrapped(value: Any) -> Any:
    """``__wrapped__`` from the instance's own ``__dict__`` (never a proxy's ``__getattr__``)."""
    try:
        return vars(value).get("__wrapped__")
    except TypeError:
        return None


def _attributes(value: Any) -> list[Any]:
    found = []
    try:
        found.extend(vars(value).values())
    except TypeError:
        pass
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__"):
                found.append(getattr(value, slot, None))
    return found


def code_in(value: Any, user_class: Callable[[type], bool]) -> list[Any]:
    """The functions, classes and wrapped functions held in a value, searched breadth first.

    It enters lists, tuples, sets, dicts (values, then keys), ``functools.partial``
    (function, arguments), bound methods (function, and the instance's class)
    and instances of the user's own classes (their class, and their
    attributes); it stops at any other object, and looks at no more than
    :data:`LIMIT` items.

    Examples:
        >>> import functools
        >>> def scale(x, k):
        ...     return x * k
        >>> code_in({"a": [functools.partial(scale, k=2)], "n": 3}, lambda c: False) == [scale]
        True
    """
    found: list[Any] = []
    queue: list[Any] = [value]
    seen: set[int] = set()
    budget = LIMIT
    while queue:
        batch, queue = queue, []
        for item in batch:
            if type(item) in _SCALARS or id(item) in seen:
                continue
            seen.add(id(item))
            inner = _inside(item, found, user_class)
            if budget > 0:
                # Copied in C up to the budget: a memo dict being filled by a running asset
                # on another thread cannot change size under this loop.
                taken = tuple(itertools.islice(inner, budget))
                budget -= len(taken)
                queue.extend(taken)
    return found


def _inside(item: Any, found: list[Any], user_class: Callable[[type], bool]) -> Iterable[Any]:
    """Record ``item`` in ``found`` if it is code; return what to search inside it."""
    kind = type(item)
    if kind in _SEQUENCES:  # the common case first: plain containers of data
        return item  # type: ignore[no-any-return]
    if kind is dict:  # values first: a registry holds its functions there
        return itertools.chain(item.values(), item.keys())
    if isinstance(item, (types.FunctionType, type)):
        found.append(item)
        return ()
    if isinstance(item, types.MethodType):
        owner = item.__self__
        return (item.__func__, owner if isinstance(owner, type) else type(owner))
    if isinstance(item, functools.partial):
        return (item.func, *item.args, *item.keywords.values())
    if isinstance(item, dict):
        return itertools.chain(item.values(), item.keys())
    if isinstance(item, (list, tuple, set, frozenset)):
        return item
    if _wrapped(item) is not None:  # functools.lru_cache, an asset: followed by the walk
        found.append(item)
        return ()
    if user_class(kind):
        found.append(kind)
        return _attributes(item)
    return ()
