"""Comparing two versions of a product: schema, row counts, column statistics, and rows by key.

:func:`diff_frames` compares two frames (lazily: polars plans one aggregate
per side, and with a key one join) and returns a :class:`Diff`, a frozen value
that :meth:`Diff.text` prints for ``assetry diff``. What the two frames are
(a kept version, the current product) is the caller's:
:meth:`assetry.Catalog.diff` loads them. This module reads no file and knows
no catalog; polars is imported when a diff runs, not by ``import assetry``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from assetry.errors import AssetTypeError

__all__ = ["ColumnStats", "Diff", "RowChanges", "diff_frames"]

#: Rows of each kind a keyed diff shows as samples.
SAMPLES = 5


@attrs.frozen
class ColumnStats:
    """One column on both sides: its type, nulls, min, max and mean (None where it has none)."""

    column: str
    dtype: tuple[str | None, str | None]
    nulls: tuple[int | None, int | None]
    min: tuple[Any, Any]
    max: tuple[Any, Any]
    mean: tuple[float | None, float | None]

    @property
    def changed(self) -> bool:
        """Whether anything of the column differs between the two sides."""
        return any(a != b for a, b in (self.dtype, self.nulls, self.min, self.max, self.mean))


@attrs.frozen
class RowChanges:
    """Rows matched by key: how many were added, removed or changed, and a few of each."""

    key: tuple[str, ...]
    added: int
    removed: int
    changed: int
    #: Up to :data:`SAMPLES` rows of each kind (``pl.DataFrame``): new rows, old rows, and
    #: changed rows with each compared column as ``<column>`` (old) and ``<column>_new``.
    added_sample: Any = attrs.field(eq=False, repr=False)
    removed_sample: Any = attrs.field(eq=False, repr=False)
    changed_sample: Any = attrs.field(eq=False, repr=False)


@attrs.frozen
class Diff:
    """How two versions of a product differ (``old`` first, ``new`` second)."""

    old: str
    new: str
    rows: tuple[int, int]
    added_columns: tuple[str, ...]
    removed_columns: tuple[str, ...]
    #: ``(column, old type, new type)`` of each column whose type changed.
    retyped_columns: tuple[tuple[str, str, str], ...]
    columns: tuple[ColumnStats, ...]
    by_key: RowChanges | None = None

    @property
    def same(self) -> bool:
        """Whether nothing the diff measures differs."""
        keyed = self.by_key is None or not (
            self.by_key.added or self.by_key.removed or self.by_key.changed
        )
        return (self.rows[0] == self.rows[1] and not self.added_columns and not self.removed_columns
                and not self.retyped_columns and not any(c.changed for c in self.columns) and keyed)

    def text(self) -> str:
        """The diff as ``assetry diff`` prints it.

        Examples:
            >>> import polars as pl
            >>> print(diff_frames(pl.DataFrame({"a": [1]}), pl.DataFrame({"a": [1, 2]})).text())
            rows: 1 -> 2 (+1)
            columns: no schema change
            column  type   nulls  min  max     mean
            a       Int64  0      1    1 -> 2  1 -> 1.5
        """
        lines = [f"rows: {self.rows[0]} -> {self.rows[1]} ({self.rows[1] - self.rows[0]:+d})"]
        schema = [f"+{c}" for c in self.added_columns] + [f"-{c}" for c in self.removed_columns]
        schema += [f"{c} {a} -> {b}" for c, a, b in self.retyped_columns]
        lines.append("columns: " + (", ".join(schema) if schema else "no schema change"))
        table = [["column", "type", "nulls", "min", "max", "mean"]]
        for c in self.columns:
            table.append([c.column, *(_pair(v) for v in (c.dtype, c.nulls, c.min, c.max, c.mean))])
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in table]
        if self.by_key is not None:
            lines += _keyed_text(self.by_key)
        return "\n".join(lines)


def _pair(values: tuple[Any, Any]) -> str:
    a, b = (_shown(v) for v in values)
    return a if a == b else f"{a} -> {b}"


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e15 else f"{value:.3e}"
    return str(value)


def _keyed_text(changes: RowChanges) -> list[str]:
    counts = f"{changes.added} added, {changes.removed} removed, {changes.changed} changed"
    lines = [f"by key ({', '.join(changes.key)}): {counts}"]
    for title, sample in (("added", changes.added_sample), ("removed", changes.removed_sample),
                          ("changed", changes.changed_sample)):
        if sample is not None and sample.height:
            lines.append(f"{title} (first {sample.height}):")
            lines += ["  " + line for line in _frame_lines(sample)]
    return lines


def _frame_lines(frame: Any) -> list[str]:
    rows = [list(frame.columns)] + [[_shown(v) for v in r] for r in frame.iter_rows()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]


def diff_frames(old: Any, new: Any, *, key: Sequence[str] | str | None = None,
                names: tuple[str, str] = ("old", "new")) -> Diff:
    """Compare two frames (polars, lazy, Arrow or pandas) and return a :class:`Diff`.

    Column statistics are computed lazily, one aggregate per side: nulls for
    every column, min and max where the type orders, mean where it is numeric.
    With ``key``, rows are matched on those columns and counted as added,
    removed or changed (any other shared column differs), with samples.

    Examples:
        >>> import polars as pl
        >>> d = diff_frames(pl.DataFrame({"id": [1, 2], "v": [1, 2]}),
        ...                 pl.DataFrame({"id": [2, 3], "v": ["2", "3"]}), key="id")
        >>> d.retyped_columns, (d.by_key.added, d.by_key.removed, d.by_key.changed)
        ((('v', 'Int64', 'String'),), (1, 1, 0))
    """
    import polars as pl

    left, right = _lazy(old), _lazy(new)
    schema_old, schema_new = left.collect_schema(), right.collect_schema()
    added = tuple(c for c in schema_new.names() if c not in schema_old)
    removed = tuple(c for c in schema_old.names() if c not in schema_new)
    retyped = tuple((c, str(schema_old[c]), str(schema_new[c]))
                    for c in schema_old.names() if c in schema_new and schema_old[c] != schema_new[c])
    stats_old, stats_new = pl.collect_all([_stats(left, schema_old), _stats(right, schema_new)])
    columns = []
    for column in dict.fromkeys([*schema_old.names(), *schema_new.names()]):
        a = _column(stats_old, schema_old, column)
        b = _column(stats_new, schema_new, column)
        columns.append(ColumnStats(column, *(tuple(pair) for pair in zip(a, b))))  # type: ignore[arg-type]
    keys = (key,) if isinstance(key, str) else tuple(key or ())
    by_key = _by_key(left, right, keys, schema_old, schema_new) if keys else None
    return Diff(names[0], names[1], (stats_old["__rows"][0], stats_new["__rows"][0]), added,
                removed, retyped, tuple(columns), by_key)


def _lazy(frame: Any) -> Any:
    import polars as pl

    from assetry._frames import load_kind, to_polars

    if isinstance(frame, pl.LazyFrame):
        return frame
    if load_kind(type(frame)) in ("polars", "arrow", "pandas"):
        return to_polars(frame).lazy()
    raise AssetTypeError(
        f"diff compares data frames, but a version is {type(frame).__name__}; "
        "only frame products (tables, Parquet, CSV...) can be compared"
    )


def _stats(lazy: Any, schema: Any) -> Any:
    import polars as pl

    exprs = [pl.len().alias("__rows")]
    for i, (column, dtype) in enumerate(schema.items()):
        col = pl.col(column)
        exprs.append(col.null_count().alias(f"n{i}"))
        if _orders(dtype):
            exprs += [col.min().cast(pl.String).alias(f"lo{i}"), col.max().cast(pl.String).alias(f"hi{i}")]
        if dtype.is_numeric() or dtype == pl.Boolean:
            exprs.append(col.cast(pl.Float64).mean().alias(f"mean{i}"))
    return lazy.select(exprs)


def _orders(dtype: Any) -> bool:
    import polars as pl

    return bool(dtype.is_numeric() or dtype.is_temporal() or dtype in (pl.String, pl.Boolean))


def _column(stats: Any, schema: Any, column: str) -> tuple[Any, ...]:
    if column not in schema:
        return (None, None, None, None, None)
    i = list(schema.names()).index(column)

    def get(name: str) -> Any:
        return stats[name][0] if name in stats.columns else None

    return (str(schema[column]), get(f"n{i}"), get(f"lo{i}"), get(f"hi{i}"), get(f"mean{i}"))


def _by_key(left: Any, right: Any, key: tuple[str, ...], schema_old: Any,
            schema_new: Any) -> RowChanges:
    import polars as pl

    missing = [k for k in key if k not in schema_old or k not in schema_new]
    if missing:
        raise AssetTypeError(
            f"key column(s) {', '.join(map(repr, missing))} are not in both versions; "
            f"the shared columns are {', '.join(c for c in schema_old.names() if c in schema_new)}"
        )
    # Join on the key as text, so a key whose type changed still matches its rows.
    as_text = [pl.col(k).cast(pl.String).alias(f"__key{i}") for i, k in enumerate(key)]
    keys = [f"__key{i}" for i in range(len(key))]
    old, new = left.with_columns(as_text), right.with_columns(as_text)
    shared = [c for c in schema_old.names() if c in schema_new and c not in key]
    added = new.join(old.select(keys), on=keys, how="anti", nulls_equal=True)
    removed = old.join(new.select(keys), on=keys, how="anti", nulls_equal=True)
    both = old.select(*keys, *key, *shared).join(new.select(*keys, *shared), on=keys, how="inner",
                                          suffix="_new", nulls_equal=True)
    differs = pl.lit(False)
    for c in shared:
        a, b = pl.col(c), pl.col(f"{c}_new")
        if schema_old[c] != schema_new[c]:  # a retyped column compares by value: 20 == 20.0
            common = pl.Float64 if schema_old[c].is_numeric() and schema_new[c].is_numeric() else pl.String
            a, b = a.cast(common), b.cast(common)
        differs = differs | a.ne_missing(b)
    changed = both.filter(differs)
    counts = pl.collect_all([
        added.select(pl.len()), removed.select(pl.len()), changed.select(pl.len()),
        added.drop(keys).head(SAMPLES), removed.drop(keys).head(SAMPLES),
        changed.drop(keys).head(SAMPLES),
    ])
    return RowChanges(key, counts[0].item(), counts[1].item(), counts[2].item(),
                      counts[3], counts[4], counts[5])
