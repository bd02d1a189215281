"""The kinds of check behind :mod:`assetry.checks`: results, outcomes and the built-in tests.

Each built-in check is a frozen attrs class (picklable, so a task carrying it
can go to another process) whose ``evaluate`` runs one vectorised polars query
on a DataFrame, LazyFrame, Arrow or pandas frame. Users build them through the
functions of :mod:`assetry.checks`; this module runs nothing on its own.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from assetry._frames import polars_frame

__all__ = [
    "AcceptedValues",
    "Check",
    "CheckOutcome",
    "CheckResult",
    "FunctionCheck",
    "InRange",
    "NotNull",
    "RowCount",
    "SchemaMatches",
    "Unique",
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
    frame = polars_frame(value)
    if frame is None:
        name = type(value).__name__
        raise TypeError(f"checks of frames need a polars or Arrow frame, but the value is {name}")
    return frame.lazy()


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
    """No nulls in any of the columns; see :func:`assetry.checks.not_null`."""

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
    """No two rows share the columns' values (nulls count as values); see :func:`assetry.checks.unique`."""

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
    """The row count lies within ``[min, max]``; see :func:`assetry.checks.row_count`."""

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
    """Every non-null value of the column is one of ``values``; see :func:`assetry.checks.accepted_values`."""

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
    """Every non-null value of the column lies within ``[min, max]``; see :func:`assetry.checks.in_range`."""

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
    """The frame has exactly these columns and types; see :func:`assetry.checks.schema_matches`."""

    schema: Mapping[str, Any]
    blocking: bool = attrs.field(default=True, kw_only=True)

    @property
    def name(self) -> str:
        return f"schema_matches({', '.join(f'{c}: {t}' for c, t in self.schema.items())})"

    def evaluate(self, value: Any) -> CheckResult:
        from assetry.checks.validation import check_schema
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
