"""Partition sets: the keys an asset is split into.

A partitioned asset (``@asset(partitions=...)``) is stored, fingerprinted and
recorded once per key. This module owns the sets themselves
(:class:`DailyPartitions`, :class:`StaticPartitions`), turning a key into the
value the asset's ``partition`` parameter receives, and matching one item of a
run's ``partitions=`` selection (a key or a ``"first..last"`` range). Narrowing
a run to keys is :mod:`assetry.engine.steps`; the fingerprint of a set of
partitions is :mod:`assetry.fingerprints`. It reads no file and runs no asset.

Each partition is stored under the asset's directory, hive-style:
``<root>/<asset>/<column>=<key>/data.<ext>``, where the column is ``date`` for
daily partitions and ``partition`` for static ones (``column=`` overrides).
"""

from __future__ import annotations

import abc
import datetime as dt
import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from assetry.errors import AssetGraphError

__all__ = [
    "RANGE_SEPARATOR",
    "DailyPartitions",
    "Partitions",
    "StaticPartitions",
]

#: ``"first..last"`` names an inclusive range of keys.
RANGE_SEPARATOR = ".."

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Partitions(abc.ABC):
    """A set of partition keys (strings) with a value type and a storage column.

    Subclasses are frozen attrs classes. The set is deliberately not part of an
    asset's fingerprint: widening it adds partitions and reruns nothing else.
    """

    column: str

    @abc.abstractmethod
    def keys(self) -> tuple[str, ...]:
        """Every key of the set, in order."""

    @abc.abstractmethod
    def value(self, key: str) -> Any:
        """What the asset's ``partition`` parameter receives for ``key``."""

    @abc.abstractmethod
    def match(self, item: str) -> tuple[str, ...] | None:
        """The keys a selection item (a key or ``first..last``) names; None if it cannot apply."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A short description for messages: ``2013-01-01..2013-12-31``, ``['a', 'b']``."""

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __bool__(self) -> bool:
        # A set is a declaration, true even when empty (a start date in the future).
        return True

    def segment(self, key: str) -> str:
        """The hive-style path segment of a key: ``date=2013-01-01``.

        Examples:
            >>> DailyPartitions("2013-01-01", "2013-01-02").segment("2013-01-02")
            'date=2013-01-02'
        """
        return f"{self.column}={key}"

    def compatible(self, other: Partitions) -> bool:
        """Whether a downstream with ``other`` maps partition to partition onto this set."""
        return type(self) is type(other)


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise AssetGraphError(
        f"DailyPartitions needs dates, but got {value!r}; give a datetime.date or 'YYYY-MM-DD'"
    )


def _optional_date(value: Any) -> dt.date | None:
    return None if value is None else _to_date(value)


def _check_column(instance: Any, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not _COLUMN.match(value):
        raise AssetGraphError(
            f"partition column {value!r} is not a plain column name; use letters, digits and _"
        )


@functools.lru_cache(maxsize=64)
def _daily_keys(start: dt.date, end: dt.date) -> tuple[str, ...]:
    n = (end - start).days + 1
    return tuple((start + dt.timedelta(days=i)).isoformat() for i in range(max(n, 0)))


@attrs.frozen
class DailyPartitions(Partitions):
    """One partition per day from ``start`` to ``end`` inclusive (``end=None``: up to today).

    Keys are ISO dates (``"2013-01-01"``); the ``partition`` parameter receives a
    ``datetime.date``. Products are stored at ``<asset>/date=<key>/``.

    Examples:
        >>> days = DailyPartitions("2013-01-01", "2013-01-03")
        >>> days.keys()
        ('2013-01-01', '2013-01-02', '2013-01-03')
        >>> days.value("2013-01-02")
        datetime.date(2013, 1, 2)
    """

    start: dt.date = attrs.field(converter=_to_date)
    end: dt.date | None = attrs.field(default=None, converter=_optional_date)
    column: str = attrs.field(default="date", validator=_check_column, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise AssetGraphError(
                f"DailyPartitions ends ({self.end}) before it starts ({self.start}); "
                "swap start and end"
            )

    @property
    def last(self) -> dt.date:
        """The last day: ``end``, or today when ``end`` is None."""
        return self.end if self.end is not None else dt.date.today()

    def keys(self) -> tuple[str, ...]:
        return _daily_keys(self.start, self.last)

    def value(self, key: str) -> dt.date:
        return dt.date.fromisoformat(key)

    def match(self, item: str) -> tuple[str, ...] | None:
        first, sep, last = item.partition(RANGE_SEPARATOR)
        try:
            lo = dt.date.fromisoformat(first.strip())
            hi = dt.date.fromisoformat(last.strip()) if sep else lo
        except ValueError:
            return None
        lo, hi = max(lo, self.start), min(hi, self.last)
        return _daily_keys(lo, hi) if lo <= hi else ()

    def describe(self) -> str:
        return f"{self.start.isoformat()}..{self.last.isoformat()}"


def _to_keys(keys: Iterable[Any]) -> tuple[str, ...]:
    if isinstance(keys, str):
        raise AssetGraphError(
            f"StaticPartitions takes a list of keys, but got the string {keys!r}; "
            f"write StaticPartitions([{keys!r}])"
        )
    out = tuple(keys)
    problems = [k for k in out if not isinstance(k, str) or not _KEY.match(k) or ".." in k]
    if problems:
        raise AssetGraphError(
            f"partition key(s) {', '.join(map(repr, problems))} are not safe file names; "
            "use letters, digits, _ . -, not starting with . or -"
        )
    dupes = sorted({k for k in out if out.count(k) > 1})
    if dupes:
        raise AssetGraphError(f"StaticPartitions lists {', '.join(map(repr, dupes))} more than once")
    if not out:
        raise AssetGraphError("StaticPartitions needs at least one key")
    return out


@attrs.frozen(repr=False)
class StaticPartitions(Partitions):
    """A fixed list of string keys (regions, carriers, tenants).

    The ``partition`` parameter receives the key itself. Products are stored at
    ``<asset>/partition=<key>/``. A range ``"b..d"`` follows the order given.

    Examples:
        >>> regions = StaticPartitions(["eu", "us"])
        >>> regions.keys(), regions.value("eu"), regions.segment("us")
        (('eu', 'us'), 'eu', 'partition=us')
    """

    keys_: tuple[str, ...] = attrs.field(converter=_to_keys, alias="keys")
    column: str = attrs.field(default="partition", validator=_check_column, kw_only=True)

    def __repr__(self) -> str:
        column = "" if self.column == "partition" else f", column={self.column!r}"
        return f"StaticPartitions({list(self.keys_)!r}{column})"

    def keys(self) -> tuple[str, ...]:
        return self.keys_

    def value(self, key: str) -> str:
        return key

    def match(self, item: str) -> tuple[str, ...] | None:
        if item in self.keys_:
            return (item,)
        first, sep, last = item.partition(RANGE_SEPARATOR)
        if not sep or first not in self.keys_ or last not in self.keys_:
            return None
        i, j = self.keys_.index(first), self.keys_.index(last)
        return self.keys_[i : j + 1]

    def describe(self) -> str:
        return repr(list(self.keys_))
