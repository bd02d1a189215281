"""The content digest of a relation: row count and order-independent sums of row hashes.

Owns the per-dialect ways of hashing rows (the queries are
:func:`assetry.clients.dialects.fingerprint_sql`'s) and the choice between
schemes: the preferred one where the server and the column types allow it, the
last (assetry 0.x's) otherwise, or when a recorded digest is checked the old
way. Every function works on a cursor it is given: none opens a transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import xxhash

from assetry.clients import dialects as _dialects
from assetry.clients import identifiers as _identifiers

if TYPE_CHECKING:
    from assetry.clients.base import Client

__all__ = ["digest", "staged"]


def digest(client: Client, cur: Any, schema: str, name: str, legacy: bool = False) -> str:
    """The digest of ``schema.name``'s columns, row count and row hashes, read through ``cur``.

    ``legacy``: by the dialect's last scheme only (a digest an earlier assetry recorded).
    """
    relation = client.qualified(schema, name)
    columns = client.query(cur, _dialects.columns_sql(client.dialect), (schema, name))
    quoted = [_identifiers.quote(c, client.dialect, check=False) for c, _ in columns]
    schemes = _dialects.FINGERPRINT_SCHEMES.get(client.dialect, (None,))
    for scheme in () if legacy else schemes[:-1]:
        sql = _dialects.fingerprint_sql(client.dialect, relation, quoted, scheme)
        found = None if sql is None else _try_sum(client, cur, sql)
        if found is not None:  # else a column type it cannot hash, or an older server
            return _hex((scheme, columns, [str(v) for v in found]))
    sql = _dialects.fingerprint_sql(client.dialect, relation, quoted, schemes[-1])
    if sql is None:
        totals: tuple[Any, ...] = _python_checksum(cur, relation)
    else:
        cur.execute(sql)
        totals = tuple(cur.fetchone())
    # The last scheme keeps the text of assetry 0.x, so its digests stay as recorded.
    return _hex((columns, [str(v) for v in totals]))


def staged(client: Client) -> Callable[[Any, str, str], str]:
    """A check for ``relations.replace``: the digest of the staged table, before the swap."""
    return lambda cur, schema, name: digest(client, cur, schema, name)


def _hex(value: object) -> str:
    return xxhash.xxh3_128_hexdigest(repr(value).encode())


def _try_sum(client: Client, cur: Any, sql: str) -> tuple[Any, ...] | None:
    """The row of ``sql``; None when the server lacks a function it names (SQLSTATE 42883)."""
    cur.execute("SAVEPOINT assetry_fingerprint")
    try:
        cur.execute(sql)
        row = tuple(cur.fetchone())
    except client.db_errors as exc:
        if _sqlstate(exc) != "42883":
            raise
        cur.execute("ROLLBACK TO SAVEPOINT assetry_fingerprint")
        return None
    cur.execute("RELEASE SAVEPOINT assetry_fingerprint")
    return row


def _sqlstate(exc: BaseException) -> str | None:
    # psycopg 3 names it sqlstate, psycopg2 pgcode.
    return getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)


def _python_checksum(cur: Any, relation: str) -> tuple[int, int]:
    # For databases without a usable hash aggregate (SQLite): an order-independent sum.
    cur.execute(f"SELECT * FROM {relation}")
    count = total = 0
    while rows := cur.fetchmany(10_000):
        count += len(rows)
        total += sum(xxhash.xxh3_64_intdigest(repr(tuple(row)).encode()) for row in rows)
    return count, total
