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
An upload with ``fingerprinted=True`` is fingerprinted on its way in, so the
``observe`` after a save reads nothing back: into PostgreSQL, a digest of the
frame made while the rows travel and a stamp that later proves the table
unchanged (:mod:`assetry.clients._stamps`); elsewhere, the staged table's digest.

A table's observation (:func:`observe_table`) pairs its data fingerprint with a
change key: the stamp, or ``table:<digest under the current scheme>``. A digest
recorded by an earlier scheme (PostgreSQL's ``md5`` of each row's text, before
``hash_record_extended``) is checked once the old way: the table keeps its
recorded fingerprint and gains the key, so an upgrade reruns nothing.

Versions (DuckDB and PostgreSQL): inside :func:`keeping_replaced`, the replace
keeps the table it replaces in the ``assetry_versions`` schema, in the swap's
own transaction (PostgreSQL renames it; DuckDB, which cannot move a table to
another schema, copies it); :func:`put_version_back` swaps one back, also in
one transaction. Which tables to keep, and their names, is the caller's.

Longer than 400 lines: the swap and the version moves share one transaction
and its helpers (schema checks, the keep request), so they stay in one module.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from assetry.clients import _digests, _stamps
from assetry.clients import dialects as _dialects
from assetry.clients import identifiers as _identifiers
from assetry.clients import transfer as _transfer
from assetry.errors import ClientError

if TYPE_CHECKING:
    from assetry.clients.base import Client

__all__ = [
    "TABLE_KEY", "VERSIONED_DIALECTS", "VERSIONS_SCHEMA", "create", "drop_version",
    "fingerprint", "keeping_replaced", "kind", "observe_table", "put_version_back", "replace",
    "upload",
]

_SCHEMA_EXISTS = "SELECT 1 FROM information_schema.schemata WHERE schema_name = ?"

#: Seconds for which the fingerprint read while checking a new view stands in for a read.
_CHECKED_FOR = 60.0

#: A check of the staged relation before the swap: (cursor, schema, staged name) -> fingerprint.
Check = Callable[[Any, str, str], str]

#: How a table's change key starts: ``table:<digest under the current scheme>``.
TABLE_KEY = "table:"


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
        return _digests.digest(client, cur, schema, name)


def observe_table(
    client: Client, schema: str, name: str, previous: tuple[str, str | None] | None = None
) -> tuple[str, str] | None:
    """``(data fingerprint, change key)`` of table ``schema.name``; None if it is missing.

    A table that a PostgreSQL upload stamped, and whose stamp holds, is not read
    (:mod:`assetry.clients._stamps`); any other is hashed, so a modified table never
    passes for the recorded one. ``previous`` is the recorded ``(data fingerprint,
    change key)``: the key names the digest of the current scheme that stands for
    the recorded fingerprint, so one recorded by an earlier scheme is checked the
    old way only once (see the module docstring).
    """
    if client.dialect == "postgresql":
        stamped = _stamps.unchanged(client, schema, name)
        if stamped is not None:
            return stamped
    digest = fingerprint(client, schema, name)
    if digest is None:
        return None
    key = TABLE_KEY + digest
    if previous is None or previous[0] == digest:
        return digest, key
    recorded, recorded_key = previous
    if recorded_key == key:
        return recorded, key  # recorded by the earlier scheme, checked once since
    if recorded_key is None and len(_dialects.FINGERPRINT_SCHEMES.get(client.dialect, ())) > 1:
        with client.transaction(f"fingerprinting {schema}.{name} the earlier way") as cur:
            if _digests.digest(client, cur, schema, name, legacy=True) == recorded:
                return recorded, key
    return digest, key


def _view_check(client: Client, name: str) -> Check:
    """Read every row of the staged view ``name`` once; refuse it if that fails."""

    def check(cur: Any, schema: str, staged: str) -> str:
        try:
            return _digests.digest(client, cur, schema, staged)
        except client.db_errors as exc:
            detail = " ".join(str(exc).split())
            raise ClientError(
                f"the new view {schema}.{name} fails when its rows are read on "
                f"{client.identity()} ({detail}), so the previous one is kept; fix its SELECT"
            ) from exc

    return check


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


def upload(
    client: Client, table: Any, schema: str, name: str, *, fingerprinted: bool = False
) -> int:
    """Replace table ``schema.name`` with a frame's rows by the fastest path the driver has.

    ``fingerprinted``: also fingerprint what is uploaded, so that :func:`observe_table`
    right after reads nothing back (an IO manager's save; not a staging upload that is
    read once). PostgreSQL: a digest of the frame, made while its rows are sent, and
    the table's stamp (:mod:`assetry.clients._stamps`); other databases: the staged
    table's digest, inside the swap's transaction where the database allows.
    """
    stamped = fingerprinted and client.dialect == "postgresql"
    check = _digests.staged(client) if fingerprinted and not stamped else None
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

        return int(replace(client, schema, name, "table", scan, check))
    frame = _transfer.to_frame(table)
    _identifiers.check_columns(frame.columns, client.dialect)

    done: list[str] = []

    def fill(cur: Any, target: str) -> int:
        cur.execute(_transfer.create_table_sql(frame, target, client.dialect))
        digest = _stamps.digest_meanwhile(frame) if stamped else None
        if client.dialect == "postgresql" and hasattr(cur, "copy"):
            rows = _transfer.copy_rows(cur, frame, target, client.dialect)
        else:
            rows = _transfer.insert_rows(cur, frame, target, client.dialect, client.paramstyle)
        if digest is not None:
            done.append(digest())
            done.append(_stamps.stamp(client, cur, target, rows, done[0]))
        return rows

    rows = int(replace(client, schema, name, "table", fill, check))
    if done:  # committed: the observe that follows may take it
        _stamps.remember(client, schema, name, *done)
    return rows


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
    if _keeps(client, schema, name):
        _ensure_versions_schema(client)
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
    if old and not (old == "table" and _keep_replaced(client, cur, schema, name)):
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


# -- versions: a replaced table kept in the assetry_versions schema (docs/versions.md) ------

#: The schema that holds the earlier tables kept as versions.
VERSIONS_SCHEMA = "assetry_versions"
#: The databases whose replaced tables are kept: schemas and DDL inside a transaction.
VERSIONED_DIALECTS = ("duckdb", "postgresql")

_KEEP: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "assetry_keep_replaced", default=None
)

# PostgreSQL binds a view to its table: a table with views is never moved from under them.
_PG_DEPENDENT_VIEWS = (
    "SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON d.objid = r.oid "
    "WHERE d.refobjid = to_regclass(?) AND r.ev_class <> d.refobjid LIMIT 1"
)


@contextlib.contextmanager
def keeping_replaced(identity: str, schema: str, name: str, version: str) -> Iterator[dict[str, Any]]:
    """Inside this block, the first replace of table ``schema.name`` on ``identity`` keeps the
    table it replaces as ``assetry_versions.<version>`` (in the swap's transaction) instead of
    dropping it. The yielded dict's ``kept`` says whether it did."""
    request = {"identity": identity, "schema": schema, "name": name, "version": version,
               "kept": False}
    token = _KEEP.set(request)
    try:
        yield request
    finally:
        _KEEP.reset(token)


def _keeps(client: Client, schema: str, name: str) -> bool:
    # Whether a replace of table schema.name on this client is to keep the old table.
    request = _KEEP.get()
    return not (request is None or request["kept"] or client.dialect not in VERSIONED_DIALECTS
                or (request["identity"], request["schema"], request["name"])
                != (client.identity(), schema, name))


def _ensure_versions_schema(client: Client) -> None:
    """Create the versions schema in a transaction of its own, before the swap's.

    Two swaps that run at once (two SQL assets on one DuckDB file) would both
    create it inside their own transactions, and the second would fail with a
    write-write conflict; here a conflict means the other one created it.
    """
    for attempt in range(3):
        try:
            with client.transaction(f"creating schema {VERSIONS_SCHEMA}", write=True) as cur:
                if not client.query(cur, _SCHEMA_EXISTS, (VERSIONS_SCHEMA,)):
                    cur.execute(f"CREATE SCHEMA {client.quote(VERSIONS_SCHEMA)}")
            return
        except ClientError:
            if attempt == 2:
                raise
            time.sleep(0.05 * (attempt + 1))


def _keep_replaced(client: Client, cur: Any, schema: str, name: str) -> bool:
    if not _keeps(client, schema, name):
        return False
    request = _KEEP.get()
    assert request is not None
    request["kept"] = _move_to_versions(client, cur, schema, name, request["version"])
    return bool(request["kept"])


def _move_to_versions(client: Client, cur: Any, schema: str, name: str, version: str) -> bool:
    """Move table ``schema.name`` to ``assetry_versions.<version>``; False if it cannot be."""
    target = client.qualified(schema, name)
    if client.dialect == "postgresql" and client.query(cur, _PG_DEPENDENT_VIEWS, (target,)):
        return False
    if not client.query(cur, _SCHEMA_EXISTS, (VERSIONS_SCHEMA,)):
        cur.execute(f"CREATE SCHEMA {client.quote(VERSIONS_SCHEMA)}")
    if kind(client, cur, VERSIONS_SCHEMA, version) is not None:
        cur.execute(f"DROP TABLE {target}")  # the same data is kept already
    elif client.dialect == "postgresql":  # a rename: nothing is copied
        cur.execute(f"ALTER TABLE {target} RENAME TO {client.quote(version)}")
        cur.execute(f"ALTER TABLE {client.qualified(schema, version)} SET SCHEMA "
                    f"{client.quote(VERSIONS_SCHEMA)}")
    else:  # DuckDB cannot move a table to another schema: copied, in the same transaction
        cur.execute(f"CREATE TABLE {client.qualified(VERSIONS_SCHEMA, version)} AS "
                    f"SELECT * FROM {target}")
        cur.execute(f"DROP TABLE {target}")
    return True


def put_version_back(client: Client, schema: str, name: str, version: str,
                     keep_as: str | None = None) -> bool:
    """Make ``assetry_versions.<version>`` the table ``schema.name`` again, in one transaction.

    The table there now is kept as ``keep_as`` (or dropped without it). Returns
    whether it was kept. Any failure rolls back: the product is as it was.
    """
    if client.dialect not in VERSIONED_DIALECTS:
        raise ClientError(f"{client.identity()} keeps no versions of tables")
    kept = False
    _ensure_versions_schema(client)
    with client.transaction(f"restoring table {schema}.{name}", write=True) as cur:
        if kind(client, cur, VERSIONS_SCHEMA, version) != "table":
            raise ClientError(f"version {VERSIONS_SCHEMA}.{version} is gone on {client.identity()}")
        target = client.qualified(schema, name)
        old = kind(client, cur, schema, name)
        if old == "table" and keep_as is not None:
            kept = _move_to_versions(client, cur, schema, name, keep_as)
        if old and not kept:
            cur.execute(f"DROP {old.upper()} {target}")
        source = client.qualified(VERSIONS_SCHEMA, version)
        if client.dialect == "postgresql":
            cur.execute(f"ALTER TABLE {source} SET SCHEMA {client.quote(schema)}")
            if version != name:
                cur.execute(f"ALTER TABLE {client.qualified(schema, version)} RENAME TO "
                            f"{client.quote(name)}")
        else:
            cur.execute(f"CREATE TABLE {target} AS SELECT * FROM {source}")
            cur.execute(f"DROP TABLE {source}")
    return kept


def drop_version(client: Client, version: str) -> None:
    """Drop ``assetry_versions.<version>`` if it is there."""
    client.execute(f"DROP TABLE IF EXISTS {client.qualified(VERSIONS_SCHEMA, version)}")
