"""Partition sets: the keys an asset is split into, and how a run selects some of them.

A partitioned asset (``@asset(partitions=...)``) is stored, fingerprinted and
recorded once per key. This module owns the sets themselves
(:class:`DailyPartitions`, :class:`StaticPartitions`), turning a key into the
value the asset's ``partition`` parameter receives, parsing a run's
``partitions=`` selection (keys and ``"first..last"`` ranges) and the combined
fingerprint an unpartitioned downstream depends on. It reads no file and runs
no asset.

Each partition is stored under the asset's directory, hive-style:
``<root>/<asset>/<column>=<key>/data.<ext>``, where the column is ``date`` for
daily partitions and ``partition`` for static ones (``column=`` overrides).
"""

from __future__ import annotations

import abc
import datetime as dt
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from assetry.errors import AssetGraphError

__all__ = [
    "RANGE_SEPARATOR",
    "DailyPartitions",
    "Partitions",
    "StaticPartitions",
    "combined_fingerprint",
    "partition_fingerprint",
    "selection_items",
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


def selection_items(selection: Any) -> tuple[str, ...]:
    """Normalise ``materialize(partitions=...)`` into strings: keys and ``first..last`` ranges.

    Examples:
        >>> import datetime
        >>> selection_items(["2013-01-01..2013-01-31", datetime.date(2013, 2, 1)])
        ('2013-01-01..2013-01-31', '2013-02-01')
    """
    if isinstance(selection, (str, dt.date)):
        selection = [selection]
    if not isinstance(selection, Iterable):
        raise AssetGraphError(
            f"partitions={selection!r} is not a key, a 'first..last' range or a list of these"
        )
    items = []
    for item in selection:
        if isinstance(item, dt.date):
            item = (item.date() if isinstance(item, dt.datetime) else item).isoformat()
        if not isinstance(item, str) or not item.strip():
            raise AssetGraphError(
                f"partitions= entry {item!r} is not a key or a 'first..last' range"
            )
        items.append(item.strip())
    return tuple(items)


def select_keys(
    sets: Mapping[str, Partitions], selection: Any
) -> dict[str, tuple[str, ...]]:
    """The keys each partitioned asset runs for a selection; every item must name something.

    Examples:
        >>> select_keys({"d": DailyPartitions("2013-01-01", "2013-01-31")}, "2013-01-30..2013-02-02")
        {'d': ('2013-01-30', '2013-01-31')}
    """
    items = selection_items(selection)
    chosen: dict[str, dict[str, None]] = {name: {} for name in sets}
    unmatched = []
    for item in items:
        hit = False
        for name, parts in sets.items():
            keys = parts.match(item)
            if keys:
                hit = True
                chosen[name].update(dict.fromkeys(keys))
        if not hit:
            unmatched.append(item)
    if unmatched:
        known = "; ".join(f"{n}: {p.describe()}" for n, p in sets.items()) or "none selected"
        raise AssetGraphError(
            f"partitions= names {', '.join(map(repr, unmatched))}, which no selected "
            f"partitioned asset has (their partitions: {known})"
        )
    order = {name: {k: i for i, k in enumerate(parts.keys())} for name, parts in sets.items()}
    return {n: tuple(sorted(ks, key=order[n].__getitem__)) for n, ks in chosen.items()}


def combined_fingerprint(pairs: Sequence[tuple[str, str]]) -> str:
    """One fingerprint of a set of partitions: the hash of its sorted (key, data fingerprint) pairs.

    An unpartitioned downstream of a partitioned asset depends on this, so a new
    or changed partition reruns it once, and an unchanged set not at all. It is
    computed from recorded and observed fingerprints, never by reading data.

    Examples:
        >>> a = combined_fingerprint([("2013-01-01", "f1"), ("2013-01-02", "f2")])
        >>> a == combined_fingerprint([("2013-01-02", "f2"), ("2013-01-01", "f1")])
        True
    """
    import xxhash

    h = xxhash.xxh3_128()
    for key, fp in sorted(pairs):
        h.update(f"{len(key)}:{key}:{len(fp)}:{fp};".encode())
    return "partitions:" + h.hexdigest()


def partition_fingerprint(base: str, upstream: Mapping[str, str]) -> str:
    """The fingerprint of one partition: its asset's fingerprint without upstream, plus upstream.

    ``base`` is :func:`assetry.fingerprints.asset_fingerprint` of the asset's
    code, config and IO settings with no upstream, computed once per run; each
    partition then costs one small hash, not a full canonical encoding. The
    partition key is not part of it (each partition has its own record).

    Examples:
        >>> partition_fingerprint("b", {"x": "1", "y": "2"}) == partition_fingerprint("b", {"y": "2", "x": "1"})
        True
    """
    import xxhash

    h = xxhash.xxh3_128(f"{len(base)}:{base};".encode())
    for name, fp in sorted(upstream.items()):
        h.update(f"{len(name)}:{name}:{len(fp)}:{fp};".encode())
    return "partition:" + h.hexdigest()
