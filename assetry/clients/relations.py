"""Writing and fingerprinting relations through a client, atomically.

Owns the order of statements that replace a table or view (build under a
temporary name, check, then swap) and the content fingerprint of a relation.
Every function takes a :class:`~assetry.clients.base.Client` and runs through
its public ``transaction()`` and ``query()``; none opens a connection of its own.

A view is checked before the swap: its rows are read once, as the fingerprint
reads them, under the temporary name (inside the swap's transaction where the
database has transactional DDL). A SELECT that fails only when rows are read
(a division by zero on a late row) then fails the replace, and the previous
view stays as it was. The fingerprint that check computed is kept for a short
while, so that fingerprinting the new view right after costs no second read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import xxhash

from assetry.clients import dialects as _dialects
from assetry.clients import identifiers as _identifiers
from assetry.clients import transfer as _transfer
from assetry.errors import ClientError

if TYPE_CHECKING:
    from assetry.clients.base import Client

__all__ = ["create", "fingerprint", "kind", "replace", "upload"]

_SCHEMA_EXISTS = "SELECT 1 FROM information_schema.schemata WHERE schema_name = ?"

#: Seconds for which the fingerprint read while checking a new view stands in for a read.
_CHECKED_FOR = 60.0

#: A check of the staged relation before the swap: (cursor, schema, staged name) -> fingerprint.
Check = Callable[[Any, str, str], str]


def kind(client: Client, cur: Any, schema: str, name: str) -> str | None:
    """``"table"``, ``"view"`` or None when no relation has that name."""
    rows = client.query(cur, _dialects.relation_kind_sql(client.dialect), (schema, name))
    if not rows:
        return None
    return "view" if "VIEW" in str(rows[0][0]).upper() else "table"


def fingerprint(client: Client, schema: str, name: str) -> str | None:
    """Digest of columns, row count and order-independent content sums; None if missing."""
    checked = client._checked.pop((schema, name), None)
    if checked is not None and time.monotonic() - checked[0] < _CHECKED_FOR:
        return checked[1]  # read moments ago, before the swap (see the module docstring)
    with client.transaction(f"fingerprinting {schema}.{name}") as cur:
        if kind(client, cur, schema, name) is None:
            return None
        return _digest(client, cur, schema, name)


def _digest(client: Client, cur: Any, schema: str, name: str) -> str:
    relation = client.qualified(schema, name)
    columns = client.query(cur, _dialects.columns_sql(client.dialect), (schema, name))
    quoted = [_identifiers.quote(c, client.dialect, check=False) for c, _ in columns]
    sql = _dialects.fingerprint_sql(client.dialect, relation, quoted)
    if sql is None:
        totals: tuple[Any, ...] = _python_checksum(cur, relation)
    else:
        cur.execute(sql)
        totals = tuple(cur.fetchone())
    text = repr((columns, [str(v) for v in totals]))
    return xxhash.xxh3_128_hexdigest(text.encode())


def _view_check(client: Client, name: str) -> Check:
    """Read every row of the staged view ``name`` once; refuse it if that fails."""

    def check(cur: Any, schema: str, staged: str) -> str:
        try:
            return _digest(client, cur, schema, staged)
        except client.db_errors as exc:
            detail = " ".join(str(exc).split())
            raise ClientError(
                f"the new view {schema}.{name} fails when its rows are read on "
                f"{client.identity()} ({detail}), so the previous one is kept; fix its SELECT"
            ) from exc

    return check


def _python_checksum(cur: Any, relation: str) -> tuple[int, int]:
    # For databases without a usable hash aggregate (SQLite): an order-independent sum.
    cur.execute(f"SELECT * FROM {relation}")
    count = total = 0
    while rows := cur.fetchmany(10_000):
        count += len(rows)
        total += sum(xxhash.xxh3_64_intdigest(repr(tuple(row)).encode()) for row in rows)
    return count, total


def create(client: Client, schema: str, name: str, select_sql: str, kind_: str) -> int | None:
    """Replace ``schema.name`` with a table or view built from ``select_sql``."""
    if kind_ not in ("table", "view"):
        raise ClientError(f"kind={kind_!r} is not a relation kind; use 'table' or 'view'")
    select = select_sql.strip().rstrip(";")

    def build(cur: Any, target: str) -> int | None:
        cur.execute(f"CREATE {kind_.upper()} {target} AS {select}")
        if kind_ == "view":
            return None
        if client.dialect == "duckdb":
            return int(cur.fetchone()[0])
        return cur.rowcount if cur.rowcount >= 0 else None

    check = _view_check(client, name) if kind_ == "view" else None
    return replace(client, schema, name, kind_, build, check)


def upload(client: Client, table: Any, schema: str, name: str) -> int:
    """Replace table ``schema.name`` with a frame's rows by the fastest path the driver has."""
    if client.dialect == "duckdb":
        data = _transfer.to_arrow(table)
        _identifiers.check_columns(data.column_names, client.dialect)

        def scan(cur: Any, target: str) -> int:
            view = f"assetry_upload_{uuid.uuid4().hex}"
            cur.register(view, data)  # DuckDB scans the Arrow buffers in place
            try:
                cur.execute(f"CREATE TABLE {target} AS SELECT * FROM {client.quote(view)}")
            finally:
                cur.unregister(view)
            return int(data.num_rows)

        return int(replace(client, schema, name, "table", scan))
    frame = _transfer.to_frame(table)
    _identifiers.check_columns(frame.columns, client.dialect)

    def fill(cur: Any, target: str) -> int:
        cur.execute(_transfer.create_table_sql(frame, target, client.dialect))
        if client.dialect == "postgresql" and hasattr(cur, "copy"):
            return _transfer.copy_csv(cur, frame, target, client.dialect)
        return _transfer.insert_rows(cur, frame, target, client.dialect, client.paramstyle)

    return int(replace(client, schema, name, "table", fill))


def replace(
    client: Client, schema: str, name: str, kind_: str, build: Callable[[Any, str], Any],
    check: Check | None = None,
) -> Any:
    """Run ``build(cursor, staged_name)`` and ``check``, then swap it in for ``schema.name``.

    ``check(cursor, schema, staged_name)`` returns the relation's fingerprint or
    raises; the fingerprint is kept once the swap has committed. With
    transactional DDL (PostgreSQL, DuckDB, SQLite) build, check, drop and rename
    share one transaction, so any failure leaves the old relation untouched.
    """
    client._checked.pop((schema, name), None)
    if client.dialect == "mysql":
        result, digest = _replace_by_rename(client, schema, name, kind_, build, check)
    else:
        with client.transaction(f"replacing {kind_} {schema}.{name}", write=True) as cur:
            result, digest = _replace_in(client, cur, schema, name, kind_, build, check)
    if digest is not None:
        client._checked[(schema, name)] = (time.monotonic(), digest)
    return result


def _replace_in(
    client: Client, cur: Any, schema: str, name: str, kind_: str,
    build: Callable[[Any, str], Any], check: Check | None,
) -> tuple[Any, str | None]:
    # One transaction of a database with transactional DDL.
    target = client.qualified(schema, name)
    temp = _identifiers.temp_name(name)
    staged = client.qualified(schema, temp)
    if client.dialect in ("postgresql", "duckdb") and not client.query(
        cur, _SCHEMA_EXISTS, (schema,)
    ):
        cur.execute(f"CREATE SCHEMA {client.quote(schema)}")
    old = kind(client, cur, schema, name)
    if client.dialect == "sqlite" and kind_ == "view":
        # SQLite cannot rename a view: replace it in place inside the transaction, and
        # read it there, so that a SELECT that fails rolls the drop back.
        if old:
            cur.execute(f"DROP {old.upper()} {target}")
        result = build(cur, target)
        cur.execute(f"SELECT * FROM {target} LIMIT 0")
        return result, None if check is None else check(cur, schema, name)
    result = build(cur, staged)
    digest = None if check is None else check(cur, schema, temp)
    if old:
        cur.execute(f"DROP {old.upper()} {target}")
    rename = f"ALTER {kind_.upper()} {staged} RENAME TO {client.quote(name)}"
    if client.dialect != "sqlite":
        cur.execute(rename)
        return result, digest
    # SQLite's modern RENAME re-checks every view, and a view of the table just
    # dropped fails that check; the legacy rename leaves views to find the new table.
    cur.execute("PRAGMA legacy_alter_table = ON")
    try:
        cur.execute(rename)
    finally:
        cur.execute("PRAGMA legacy_alter_table = OFF")
    return result, digest


def _replace_by_rename(
    client: Client, schema: str, name: str, kind_: str, build: Callable[[Any, str], Any],
    check: Check | None,
) -> tuple[Any, str | None]:
    # MySQL commits around every DDL statement: build under a temporary name, check it,
    # then swap both names in one atomic RENAME TABLE (which renames views too).
    action = f"replacing {kind_} {schema}.{name}"
    target = client.qualified(schema, name)
    temp = _identifiers.temp_name(name)
    staged = client.qualified(schema, temp)
    retired = client.qualified(schema, _identifiers.temp_name(name, "old"))
    digest = None
    try:
        with client.transaction(action, write=True) as cur:
            result = build(cur, staged)
        if check is not None:
            with client.transaction(f"reading the new view {schema}.{name}") as cur:
                digest = check(cur, schema, temp)
        with client.transaction(action, write=True) as cur:
            old = kind(client, cur, schema, name)
            if old is None:
                cur.execute(f"RENAME TABLE {staged} TO {target}")
            else:
                cur.execute(f"RENAME TABLE {target} TO {retired}, {staged} TO {target}")
                cur.execute(f"DROP {old.upper()} {retired}")
    except BaseException as exc:
        try:
            client.execute(f"DROP {kind_.upper()} IF EXISTS {staged}")
        except ClientError as cleanup:
            exc.add_note(f"the temporary relation {staged} is left behind: {cleanup}")
        raise
    return result, digest
