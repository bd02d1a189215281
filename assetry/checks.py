"""Asset checks: tests on an asset's value that run after its function and before it is stored.

Built-in checks are vectorised polars expressions that work on a
``pl.DataFrame``, a ``pl.LazyFrame`` or a ``pyarrow.Table``; each is named by
its call (``not_null(carrier)``, ``row_count(min=1)``), and that name is what
the catalog's ``checks`` table records. A custom check is any function
``value -> bool | CheckResult``, named by the function's name. A failing check
fails its asset unless wrapped in :func:`warn`.

This module owns the checks and :func:`run_checks`; failing the asset and
recording outcomes are the runner's business.

Examples:
    >>> import polars as pl
    >>> frame = pl.DataFrame({"carrier": ["AA", None]})
    >>> [(o.check, o.passed) for o in run_checks("t", frame, [not_null("carrier"), row_count(min=1)])]
    [('not_null(carrier)', False), ('row_count(min=1)', True)]
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

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

_EXAMPLES = 3


@attrs.frozen
class CheckResult:
    """What a check finds: passed or not, and a detail a person reads.

    Examples:
        >>> CheckResult(False, "3 negative delays")
        CheckResult(passed=False, detail='3 negative delays')
    """

    passed: bool
    detail: str | None = None


@attrs.frozen
class CheckOutcome:
    """One check's outcome on one value: a row of the catalog's ``checks`` table."""

    check: str
    passed: bool
    blocking: bool
    detail: str | None = None


class Check(abc.ABC):
    """A named test of a value; ``blocking`` checks fail their asset when they fail."""

    blocking: bool

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The name the catalog records."""

    @abc.abstractmethod
    def evaluate(self, value: Any) -> CheckResult:
        """Test the value; may raise (a raising check counts as failed)."""


# -- frames ----------------------------------------------------------------------------------


def _lazy(value: Any) -> Any:
    import polars as pl

    if isinstance(value, pl.LazyFrame):
        return value
    if isinstance(value, pl.DataFrame):
        return value.lazy()
    module, name = type(value).__module__, type(value).__name__
    if module.startswith("pyarrow") and name == "Table":
        return pl.from_arrow(value).lazy()  # type: ignore[union-attr]
    if module.startswith("pandas") and name == "DataFrame":
        return pl.from_pandas(value).lazy()
    raise TypeError(f"checks of frames need a polars or Arrow frame, but the value is {name}")


def _columns(frame: Any, wanted: Iterable[str]) -> CheckResult | None:
    names = frame.collect_schema().names()
    missing = [c for c in wanted if c not in names]
    if not missing:
        return None
    return CheckResult(
        False, f"no column {', '.join(map(repr, missing))} (columns: {', '.join(names)})"
    )


def _show(values: Iterable[Any]) -> str:
    return ", ".join(repr(v) for v in values)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _argument_text(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else value


# -- built-in checks -------------------------------------------------------------------------


@attrs.frozen
class NotNull(Check):
    """No nulls in any of the columns; see :func:`not_null`."""

    columns: tuple[str, ...]
    blocking: bool = attrs.field(default=True, kw_only=True)

    @property
    def name(self) -> str:
        return f"not_null({', '.join(self.columns)})"

    def evaluate(self, value: Any) -> CheckResult:
        import polars as pl

        frame = _lazy(value)
        if (bad := _columns(frame, self.columns)) is not None:
            return bad
        counts = frame.select(pl.col(c).null_count() for c in self.columns).collect().row(0)
        nulls = [f"{c} has {_plural(n, 'null')}" for c, n in zip(self.columns, counts) if n]
        if nulls:
            return CheckResult(False, "; ".join(nulls))
        return CheckResult(True, f"no nulls in {', '.join(self.columns)}")


@attrs.frozen
class Unique(Check):
    """No two rows share the columns' values (nulls count as values); see :func:`unique`."""

    columns: tuple[str, ...]
    blocking: bool = attrs.field(default=True, kw_only=True)

    @property
    def name(self) -> str:
        return f"unique({', '.join(self.columns)})"

    def evaluate(self, value: Any) -> CheckResult:
        import polars as pl

        frame = _lazy(value)
        if (bad := _columns(frame, self.columns)) is not None:
            return bad
        key = pl.struct(*self.columns) if len(self.columns) > 1 else pl.col(self.columns[0])
        rows, distinct = frame.select(pl.len(), key.n_unique()).collect().row(0)
        if rows == distinct:
            return CheckResult(True, f"{_plural(rows, 'row')}, all distinct")
        examples = (
            frame.filter(key.is_duplicated()).select(self.columns).unique(maintain_order=True)
            .head(_EXAMPLES).collect().rows()
        )
        shown = _show(e[0] if len(e) == 1 else e for e in examples)
        return CheckResult(
            False, f"{_plural(rows - distinct, 'duplicate row')} of {', '.join(self.columns)}, "
            f"for example {shown}",
        )


@attrs.frozen
class RowCount(Check):
    """The row count lies within ``[min, max]``; see :func:`row_count`."""

    min: int | None = None
    max: int | None = None
    blocking: bool = attrs.field(default=True, kw_only=True)

    @property
    def name(self) -> str:
        bounds = [f"{k}={v}" for k, v in (("min", self.min), ("max", self.max)) if v is not None]
        return f"row_count({', '.join(bounds)})"

    def evaluate(self, value: Any) -> CheckResult:
        import polars as pl

        if isinstance(value, (pl.DataFrame,)):
            rows = value.height
        else:
            rows = _lazy(value).select(pl.len()).collect().item()
        if self.min is not None and rows < self.min:
            return CheckResult(False, f"{_plural(rows, 'row')}, fewer than {self.min:,}")
        if self.max is not None and rows > self.max:
            return CheckResult(False, f"{_plural(rows, 'row')}, more than {self.max:,}")
        return CheckResult(True, _plural(rows, "row"))


@attrs.frozen
class AcceptedValues(Check):
    """Every non-null value of the column is one of ``values``; see :func:`accepted_values`."""

    column: str
    values: tuple[Any, ...]
    blocking: bool = attrs.field(default=True, kw_only=True)

    @property
    def name(self) -> str:
        return f"accepted_values({self.column}, {list(self.values)!r})"

    def evaluate(self, value: Any) -> CheckResult:
        import polars as pl

        frame = _lazy(value)
        if (bad := _columns(frame, [self.column])) is not None:
            return bad
        col = pl.col(self.column)
        outside = col.is_not_null() & ~col.is_in(list(self.values))
        n = frame.select(outside.sum()).collect().item()
        if not n:
            return CheckResult(True, f"every value of {self.column} is accepted")
        examples = (
            frame.filter(outside).select(col).unique(maintain_order=True).head(_EXAMPLES)
            .collect().to_series().to_list()
        )
        return CheckResult(
            False, f"{_plural(n, 'value')} of {self.column} not accepted, for example "
            f"{_show(examples)}",
        )


@attrs.frozen
class InRange(Check):
    """Every non-null value of the column lies within ``[min, max]``; see :func:`in_range`."""

    column: str
    min: Any = None
    max: Any = None
    blocking: bool = attrs.field(default=True, kw_only=True)

    @property
    def name(self) -> str:
        bounds = [f"{k}={v!r}" for k, v in (("min", self.min), ("max", self.max)) if v is not None]
        return f"in_range({', '.join([self.column, *bounds])})"

    def evaluate(self, value: Any) -> CheckResult:
        import polars as pl

        frame = _lazy(value)
        if (bad := _columns(frame, [self.column])) is not None:
            return bad
        col = pl.col(self.column)
        outside = pl.lit(False)
        if self.min is not None:
            outside = outside | (col < self.min)
        if self.max is not None:
            outside = outside | (col > self.max)
        n, low, high = frame.select(
            outside.sum().alias("n"), col.min().alias("low"), col.max().alias("high")
        ).collect().row(0)
        if self.min is None:
            bounds = f"at most {_argument_text(self.max)}"
        elif self.max is None:
            bounds = f"at least {_argument_text(self.min)}"
        else:
            bounds = f"within [{_argument_text(self.min)}, {_argument_text(self.max)}]"
        seen = f"(min {_argument_text(low)}, max {_argument_text(high)})"
        if n:
            return CheckResult(
                False, f"{_plural(n, 'value')} of {self.column} not {bounds} {seen}"
            )
        return CheckResult(True, f"every value of {self.column} {bounds} {seen}")


@attrs.frozen(eq=False)
class SchemaMatches(Check):
    """The frame has exactly these columns and types; see :func:`schema_matches`."""

    schema: Mapping[str, Any]
    blocking: bool = attrs.field(default=True, kw_only=True)

    @property
    def name(self) -> str:
        return f"schema_matches({', '.join(f'{c}: {t}' for c, t in self.schema.items())})"

    def evaluate(self, value: Any) -> CheckResult:
        from assetry.assets.checking import check_schema
        from assetry.errors import SchemaError

        try:
            check_schema("value", value, self.schema)
        except SchemaError as exc:
            return CheckResult(False, str(exc).split(": ", 1)[-1])
        return CheckResult(True, f"{len(self.schema)} columns as declared")


@attrs.frozen
class FunctionCheck(Check):
    """A user's function ``value -> bool | CheckResult``, named by the function's name."""

    fn: Callable[[Any], Any]
    blocking: bool = attrs.field(default=True, kw_only=True)

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", type(self.fn).__name__)

    def evaluate(self, value: Any) -> CheckResult:
        result = self.fn(value)
        if isinstance(result, CheckResult):
            return result
        if isinstance(result, bool) or type(result).__name__ == "bool_":
            return CheckResult(bool(result), None if result else "returned False")
        return CheckResult(
            False, f"returned {type(result).__name__}; a check returns a bool or a CheckResult"
        )


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
    return attrs.evolve(as_check(check), blocking=False)


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
