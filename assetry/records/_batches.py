"""Rows turned into INSERTs: one per table and batch, each column one parameter.

The writer (:mod:`assetry.records._writer`) hands its batches here. Rows
come as dicts (``put``) or by column (``put_columns``); either way a column
whose values are all one value is one scalar parameter and a column of NULLs
is left out, since DuckDB converts a list parameter item by item while it
holds the GIL. ``assets`` rows replace the row of their (asset, partition).
It knows the catalog's tables, nothing of what the rows say.
"""

from __future__ import annotations

from typing import Any

from assetry.errors import CatalogError
from assetry.records._schema import TABLES

__all__ = ["insert_batches", "insert_columns", "rows_of"]


def insert_batches(con: Any, batch: dict[str, list[dict[str, Any]]]) -> None:
    """One INSERT per table of a batch of rows (``assets`` rows replacing their key first)."""
    # One INSERT per table, a column a list parameter: quick from the first batch on (no
    # Arrow, whose first table imports pandas, ~0.3 s) and for batches of thousands of rows.
    for table, rows in batch.items():
        if table == "assets":
            rows = list({(r["asset"], r.get("partition")): r for r in rows}.values())
            con.execute(
                "DELETE FROM assets WHERE (asset, coalesce(partition, chr(0))) IN "
                "(SELECT unnest(?::VARCHAR[]), coalesce(unnest(?::VARCHAR[]), chr(0)))",
                [[r["asset"] for r in rows], [r.get("partition") for r in rows]],
            )
        columns = sorted({c for r in rows for c in r})
        insert_columns(con, table, {c: [r.get(c) for r in rows] for c in columns}, len(rows))


def insert_columns(con: Any, table: str, columns: dict[str, Any], length: int) -> None:
    """One INSERT of ``length`` rows given by column: a list of values, or one value for all."""
    types = TABLES.get(table)
    if types is None:
        raise CatalogError(f"the catalog has no table {table!r}; tables: {', '.join(TABLES)}")
    unknown = [c for c in columns if c not in types]
    if unknown:
        raise CatalogError(f"table {table!r} has no column(s) {', '.join(map(repr, unknown))}")
    select, params = _columns(columns, length, types)
    con.execute(f"INSERT INTO {table} BY NAME SELECT {select}", params)


def rows_of(columns: dict[str, Any], length: int) -> list[dict[str, Any]]:
    """The rows that columns (lists, or one value for every row) give."""
    lists = {c: v if type(v) is list else [v] * length for c, v in columns.items()}
    return [dict(zip(lists, values, strict=True)) for values in zip(*lists.values(), strict=True)]


def _columns(columns: dict[str, Any], length: int, types: dict[str, str]) -> tuple[str, list[Any]]:
    """The SELECT list and parameters that give ``length`` rows of these columns.

    A column whose values are all one value (the run's id, a skip's status and
    reason) is one scalar parameter, and a column of NULLs is left out (it takes
    its NULL default): DuckDB converts each list parameter item by item, holding
    the GIL, so a batch of a thousand skips converts a few lists, not seventeen.
    """
    parts: list[str] = []
    params: list[Any] = []
    lists = 0
    for c in sorted(columns):
        values = columns[c]
        if type(values) is not list:
            first = values
        else:
            first = values[0]
            if not (type(first) in _SCALARS and values.count(first) == len(values) and all(
                    type(v) is type(first) for v in values)):
                parts.append(f'unnest(?::{types[c]}[]) AS "{c}"')
                params.append(values)
                lists += 1
                continue
        if first is None:
            continue
        parts.append(f'?::{types[c]} AS "{c}"')
        params.append(first)
    if not lists:  # every column one value (or NULL): one row per row all the same
        parts = parts or ['NULL AS "' + min(columns) + '"']
        return f"{', '.join(parts)} FROM range(?)", [*params, length]
    return ", ".join(parts), params


#: Types whose equal values are interchangeable in a column (no 1 == 1.0 == True mixing:
#: every value of a scalar column has the first one's type).
_SCALARS = frozenset({type(None), str, int, float, bool, bytes})
