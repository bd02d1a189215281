"""Asset checks: tests on an asset's value that run after its function and before it is stored.

Built-in checks are vectorised polars expressions that work on a
``pl.DataFrame``, a ``pl.LazyFrame`` or a ``pyarrow.Table``; each is named by
its call (``not_null(carrier)``, ``row_count(min=1)``), and that name is what
the catalog's ``checks`` table records. A custom check is any function
``value -> bool | CheckResult``, named by the function's name. A failing check
fails its asset unless wrapped in :func:`warn`.

This module owns declaring checks and :func:`run_checks`; the check classes
live in :mod:`assetry.checks._kinds`; failing the asset and recording
outcomes are the runner's business.

Examples:
    >>> import polars as pl
    >>> frame = pl.DataFrame({"carrier": ["AA", None]})
    >>> [(o.check, o.passed) for o in run_checks("t", frame, [not_null("carrier"), row_count(min=1)])]
    [('not_null(carrier)', False), ('row_count(min=1)', True)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from assetry.checks._kinds import (
    AcceptedValues,
    Check,
    CheckOutcome,
    CheckResult,
    FunctionCheck,
    InRange,
    NotNull,
    RowCount,
    SchemaMatches,
    Unique,
)
from assetry.errors import AssetGraphError

__all__ = [
    "Check",
    "CheckOutcome",
    "CheckResult",
    "accepted_values",
    "as_check",
    "in_range",
    "not_null",
    "row_count",
    "run_checks",
    "schema_matches",
    "unique",
    "warn",
]


# -- constructors ----------------------------------------------------------------------------


def _names(kind: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    if not columns or not all(isinstance(c, str) and c for c in columns):
        raise AssetGraphError(f"{kind}() takes one or more column names, got {columns!r}")
    return columns


def not_null(*columns: str) -> Check:
    """No nulls in any of ``columns``.

    Examples:
        >>> not_null("carrier", "origin").name
        'not_null(carrier, origin)'
    """
    return NotNull(_names("not_null", columns))


def unique(*columns: str) -> Check:
    """No duplicate rows over ``columns`` taken together (a null is a value like any other).

    Examples:
        >>> unique("carrier").name
        'unique(carrier)'
    """
    return Unique(_names("unique", columns))


def row_count(min: int | None = None, max: int | None = None) -> Check:
    """The number of rows is at least ``min`` and at most ``max`` (either may be left out).

    Examples:
        >>> row_count(min=1).name
        'row_count(min=1)'
    """
    if min is None and max is None:
        raise AssetGraphError("row_count() needs min=, max= or both")
    return RowCount(min, max)


def accepted_values(column: str, values: Iterable[Any]) -> Check:
    """Every non-null value of ``column`` is one of ``values`` (add :func:`not_null` for nulls).

    Examples:
        >>> accepted_values("origin", ["JFK", "LGA", "EWR"]).name
        "accepted_values(origin, ['JFK', 'LGA', 'EWR'])"
    """
    if isinstance(values, str):
        raise AssetGraphError(
            f"accepted_values() takes a list of values, but got the string {values!r}"
        )
    return AcceptedValues(_names("accepted_values", (column,))[0], tuple(values))


def in_range(column: str, min: Any = None, max: Any = None) -> Check:
    """Every non-null value of ``column`` lies within ``[min, max]``, bounds included.

    Examples:
        >>> in_range("dep_delay", min=-60, max=1440).name
        'in_range(dep_delay, min=-60, max=1440)'
    """
    if min is None and max is None:
        raise AssetGraphError("in_range() needs min=, max= or both")
    return InRange(_names("in_range", (column,))[0], min, max)


def schema_matches(schema: Mapping[str, Any]) -> Check:
    """The frame has exactly these columns with these types (a dict or a ``pl.Schema``).

    Examples:
        >>> import polars as pl
        >>> schema_matches({"carrier": pl.String}).name
        'schema_matches(carrier: String)'
    """
    return SchemaMatches(dict(schema))


def as_check(check: Any) -> Check:
    """A :class:`Check` from a check or a plain function; anything else is an error.

    Examples:
        >>> def positive(value) -> bool:
        ...     return True
        >>> as_check(positive).name
        'positive'
    """
    if isinstance(check, Check):
        return check
    if callable(check):
        return FunctionCheck(check)
    raise AssetGraphError(
        f"checks= entry {check!r} is neither a check nor a function; use assetry.checks "
        "or a function value -> bool"
    )


def warn(check: Any) -> Check:
    """Make a check non-blocking: a failure is recorded, the value is still stored.

    Examples:
        >>> warn(row_count(min=1)).blocking
        False
    """
    return attrs.evolve(as_check(check), blocking=False)  # type: ignore[misc]


def run_checks(asset: str, value: Any, checks: Iterable[Any]) -> list[CheckOutcome]:
    """Run every check on the value; a check that raises counts as failed, with the exception.

    Args:
        asset: The asset's name (for messages; the outcomes do not repeat it).
        value: The value the asset's function returned.
        checks: Checks or plain functions.

    Examples:
        >>> import polars as pl
        >>> run_checks("t", pl.DataFrame({"a": [1, 1]}), [unique("a")])[0].detail
        '1 duplicate row of a, for example 1'
    """
    outcomes = []
    for item in checks:
        check = as_check(item)
        try:
            result = check.evaluate(value)
        except Exception as exc:  # noqa: BLE001 - a raising check is a failed check, by contract
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            result = CheckResult(False, f"raised {type(exc).__name__}: {first}")
        outcomes.append(CheckOutcome(check.name, bool(result.passed), check.blocking, result.detail))
    return outcomes
