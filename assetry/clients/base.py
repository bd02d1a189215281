"""The client base class: connections, transactions, names and queries.

A client owns its connections (opened lazily, one per thread, all closed by
``close()``) and runs the statements of SQL assets and SQL IO managers. It knows
nothing of assets, the graph or the catalog. Dialect differences live in
:mod:`assetry.clients.dialects`, row conversions in :mod:`assetry.clients.transfer`, and the
statements that replace a relation in :mod:`assetry.clients.relations`. The public
subclasses are in :mod:`assetry.clients`.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import itertools
import os
import threading
import uuid
from collections.abc import Callable, Generator, Iterator
from typing import Any, Self

import pyarrow as pa

from assetry.clients import dialects as _dialects
from assetry.clients import relations as _relations
from assetry.clients import transfer as _transfer
from assetry.errors import ClientError
from assetry.io_managers.base import atomic_path

__all__ = ["Client"]

#: Attributes that hold live resources; they are not pickled and are rebuilt lazily.
RUNTIME = ("_lock", "_local", "_conns", "_base", "_engine")


class Client(abc.ABC):
    """What every client does; subclasses only say how to connect and name the database.

    Examples:
        >>> with DuckDBClient(":memory:") as db:
        ...     db.execute("SELECT 42")
        [(42,)]
    """

    dialect: str = "ansi"
    paramstyle: str = "qmark"

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.RLock()
        self._local = threading.local()
        self._conns: list[Any] = []
        self._base: Any = None
        self._default_schema: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Live connections stay behind; the copy reconnects lazily where it lands.
        return {k: v for k, v in self.__dict__.items() if k not in RUNTIME}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def without_secrets(self) -> Self:
        """A copy without passwords, safe to keep in the catalog.

        It reconnects with whatever the environment supplies (``PGPASSWORD``,
        ``~/.pgpass``, an option file), or fails with the database's message.
        """
        copy = type(self).__new__(type(self))
        copy.__setstate__(self._scrub(self.__getstate__()))
        return copy

    def _scrub(self, state: dict[str, Any]) -> dict[str, Any]:
        return state

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity()!r})"

    @abc.abstractmethod
    def identity(self) -> str:
        """The database's name without credentials, e.g. ``postgresql://host:5432/db``."""

    @abc.abstractmethod
    def _open(self) -> Any:
        """A new DB-API connection (raising ClientError when it cannot be had)."""

    @property
    @abc.abstractmethod
    def db_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception classes, turned into ClientError at the boundary."""

    # -- connections -------------------------------------------------------------------

    def connection(self) -> Any:
        """This thread's connection, opened on first use and kept until ``close()``."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this client opened, in any thread."""
        with self._lock:
            conns, self._conns, self._local = self._conns, [], threading.local()
            if self._base is not None:
                conns.insert(0, self._base)  # closed last, after its cursors
            self._base = None
        for conn in reversed(conns):
            self._close_quietly(conn)

    def _cursor_of_one(self, connect: Callable[[], Any]) -> Any:
        """A new cursor of the client's single DuckDB connection, made on first use.

        Each DuckDB cursor is a connection of its own to the same database; threads
        that each connect to one file at the same moment race inside DuckDB 2.
        """
        with self._lock:
            if self._base is None:
                self._base = connect()
            return self._base.cursor()

    def _close_quietly(self, conn: Any) -> None:
        try:
            conn.close()
        except self.db_errors:
            return  # already closed or broken: nothing is left to release

    @contextlib.contextmanager
    def _transaction(
        self, action: str, write: bool = False, conn: Any = None, stream: bool = False
    ) -> Iterator[Any]:
        """A cursor inside one transaction: committed on success, rolled back on error."""
        shared = conn is None
        conn = self.connection() if shared else conn
        try:
            cur = self._cursor(conn, stream)
        except self.db_errors as exc:  # closed under us (server restart): reconnect next time
            self._discard(conn, shared)
            raise ClientError(f"{action} failed on {self.identity()}: {exc}") from exc
        begin = _dialects.BEGIN.get(self.dialect) if write else None
        try:
            if begin:
                cur.execute(begin)
            yield cur
            self._finish(conn, cur)
            conn.commit()
        except BaseException as exc:
            self._abort(conn, cur, bool(begin) or self.dialect != "duckdb", shared)
            if isinstance(exc, self.db_errors):
                detail = " ".join(str(exc).split())
                raise ClientError(f"{action} failed on {self.identity()}: {detail}") from exc
            raise

    @staticmethod
    def _finish(conn: Any, cur: Any, abort: bool = False) -> None:
        if cur is not conn:
            cur.close()
        elif hasattr(conn, "complete"):
            # DuckDB 2 keeps a partly read result open across commits and refuses the
            # next query on the connection until it is run to its end (or cancelled).
            if abort:
                conn.abort()
            else:
                conn.complete()

    def _abort(self, conn: Any, cur: Any, rollback: bool, shared: bool) -> None:
        try:
            self._finish(conn, cur, abort=True)
            if rollback:
                conn.rollback()
        except self.db_errors:
            # The connection is broken; the original error is the one to report.
            self._discard(conn, shared)

    def _discard(self, conn: Any, shared: bool) -> None:
        if shared:
            self._local.conn = None  # this thread opens a new one on its next statement
        self._close_quietly(conn)

    def _cursor(self, conn: Any, stream: bool) -> Any:
        driver = getattr(conn, "driver_connection", conn)
        package = type(driver).__module__.split(".")[0].lstrip("_")
        if package == "duckdb":
            return driver  # a DuckDB cursor is a second connection: use this one itself
        if stream and package == "psycopg":
            return driver.cursor(name=f"assetry_{uuid.uuid4().hex[:12]}")  # server-side
        if stream and package in ("pymysql", "MySQLdb"):
            unbuffered = importlib.import_module(f"{package}.cursors").SSCursor
            return conn.cursor(unbuffered)  # rows arrive as they are fetched
        return conn.cursor()

    def _query(self, cur: Any, template: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        cur.execute(_dialects.bind(template, self.paramstyle), params)
        return [tuple(row) for row in cur.fetchall()]

    # -- names -------------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        """Quote a name for this dialect, refusing empty, NUL-bearing or overlong names.

        Examples:
            >>> DuckDBClient(":memory:").quote('x"; DROP TABLE y; --')
            '"x""; DROP TABLE y; --"'
        """
        return _dialects.quote(identifier, self.dialect)

    def qualified(self, schema: str | None, name: str) -> str:
        """``schema.name`` quoted, or just the quoted name when ``schema`` is None.

        Examples:
            >>> DuckDBClient(":memory:").qualified("main", "flights")
            '"main"."flights"'
        """
        table = self.quote(name)
        return table if schema is None else f"{self.quote(schema)}.{table}"

    def default_schema(self) -> str:
        """The schema that ``schema=None`` means (MySQL: the connection's database).

        Examples:
            >>> DuckDBClient(":memory:").default_schema()
            'main'
        """
        if self._default_schema is None:
            sql = _dialects.DEFAULT_SCHEMA.get(self.dialect)
            found = "main" if sql is None else self.execute(sql)[0][0]
            if found is None:
                raise ClientError(
                    f"{self.identity()} has no current schema; connect with a database or "
                    "pass schema="
                )
            self._default_schema = found
        return self._default_schema

    def _resolve(self, schema: str | None) -> str:
        return self.default_schema() if schema is None else schema

    # -- queries -----------------------------------------------------------------------

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement in its own transaction; return its rows (``[]`` if none).

        ``params`` use the driver's own placeholder style.

        Examples:
            >>> DuckDBClient(":memory:").execute("SELECT ? + 1", [41])
            [(42,)]
        """
        with self._transaction(f"statement {_short(sql)!r}") as cur:
            if params is None:
                cur.execute(sql)
            else:
                cur.execute(sql, params)
            return [tuple(row) for row in cur.fetchall()] if cur.description else []

    def fetch_arrow(self, sql: str) -> pa.Table:
        """The whole result of a query as an Arrow table.

        Examples:
            >>> DuckDBClient(":memory:").fetch_arrow("SELECT 1 AS a").num_rows
            1
        """
        with self._transaction(f"query {_short(sql)!r}") as cur:
            if self.dialect == "duckdb":
                return cur.sql(sql).to_arrow_table()
            cur.execute(sql)
            builder = _transfer.BatchBuilder(self.dialect, cur.description or ())
            return pa.Table.from_batches([builder.build(cur.fetchall())])

    def iter_batches(
        self, sql: str, batch_size: int = 65536
    ) -> Generator[pa.RecordBatch, None, None]:
        """Stream a query's result as Arrow record batches, holding one batch at a time.

        Runs on a connection of its own (a PostgreSQL server-side cursor, a MySQL
        unbuffered cursor, DuckDB's Arrow reader), so other statements may run meanwhile.

        Examples:
            >>> db = DuckDBClient(":memory:")
            >>> [b.num_rows for b in db.iter_batches("SELECT * FROM range(5)", batch_size=2)]
            [2, 2, 1]
        """
        conn = self._open()
        try:
            with self._transaction(f"query {_short(sql)!r}", conn=conn, stream=True) as cur:
                if self.dialect == "duckdb":
                    yield from _transfer.reader_batches(cur.sql(sql).to_arrow_reader(batch_size))
                else:
                    cur.execute(sql)
                    builder = _transfer.BatchBuilder(self.dialect, cur.description or ())
                    yield from _transfer.fetch_batches(cur, builder, batch_size)
        finally:
            self._close_quietly(conn)

    def dump(
        self, sql: str, path: str | os.PathLike[str], compression: str = "zstd",
        batch_size: int = 65536,
    ) -> int:
        """Write a query's result to a Parquet file batch by batch, atomically; return rows.

        Examples:
            >>> import tempfile, pathlib
            >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.parquet"
            >>> DuckDBClient(":memory:").dump("SELECT * FROM range(3)", out)
            3
        """
        import pyarrow.parquet as pq

        rows = 0
        with atomic_path(path) as tmp, contextlib.closing(self.iter_batches(sql, batch_size)) as it:
            first = next(it)
            with pq.ParquetWriter(tmp, first.schema, compression=compression) as writer:
                for batch in itertools.chain([first], it):
                    if batch.schema != writer.schema:
                        batch = _transfer.conform(batch, writer.schema)
                    writer.write_batch(batch)
                    rows += batch.num_rows
        return rows

    # -- relations ---------------------------------------------------------------------

    def relation_exists(self, schema: str | None, name: str) -> bool:
        """Whether a table or view of that name exists.

        Examples:
            >>> DuckDBClient(":memory:").relation_exists("main", "nowhere")
            False
        """
        return self.relation_kind(schema, name) is not None

    def relation_kind(self, schema: str | None, name: str) -> str | None:
        """``"table"``, ``"view"``, or None when no relation has that name.

        Examples:
            >>> db = DuckDBClient(":memory:")
            >>> _ = db.create_relation("main", "v", "SELECT 1 AS a", kind="view")
            >>> db.relation_kind("main", "v")
            'view'
        """
        schema = self._resolve(schema)
        with self._transaction(f"looking up {schema}.{name}") as cur:
            return _relations.kind(self, cur, schema, name)

    def relations(self, schema: str | None = None) -> list[str]:
        """The names of every table and view in ``schema``, sorted.

        Temporary relations a crashed replace left behind contain ``__assetry_``.

        Examples:
            >>> DuckDBClient(":memory:").relations()
            []
        """
        schema = self._resolve(schema)
        with self._transaction(f"listing the relations of {schema}") as cur:
            rows = self._query(cur, _dialects.relations_sql(self.dialect), (schema,))
        return [row[0] for row in rows]

    def columns(self, schema: str | None, name: str) -> list[tuple[str, str]]:
        """The relation's (column, declared type) pairs in order; empty when it is missing.

        Examples:
            >>> DuckDBClient(":memory:").columns("main", "nowhere")
            []
        """
        schema = self._resolve(schema)
        with self._transaction(f"listing the columns of {schema}.{name}") as cur:
            return self._query(cur, _dialects.columns_sql(self.dialect), (schema, name))

    def relation_fingerprint(self, schema: str | None, name: str) -> str | None:
        """A digest of the relation's columns, row count and content; None when it is missing.

        Reads every row once (docs/sql.md gives the cost per database).

        Examples:
            >>> DuckDBClient(":memory:").relation_fingerprint("main", "nowhere") is None
            True
        """
        return _relations.fingerprint(self, self._resolve(schema), name)

    def read_table(self, schema: str | None, name: str) -> pa.Table:
        """A whole relation as Arrow, with declared types the driver loses put back.

        Examples:
            >>> db = DuckDBClient(":memory:")
            >>> _ = db.create_relation("main", "t", "SELECT 1 AS a")
            >>> db.read_table("main", "t").to_pylist()
            [{'a': 1}]
        """
        schema = self._resolve(schema)
        table = self.fetch_arrow(f"SELECT * FROM {self.qualified(schema, name)}")
        if self.dialect in ("sqlite", "mysql"):
            table = _transfer.restore(table, self.columns(schema, name), self.dialect)
        return table

    def create_relation(
        self, schema: str | None, name: str, select_sql: str, kind: str = "table"
    ) -> int | None:
        """Build ``schema.name`` (a table or view) from a SELECT and swap it in atomically.

        A failing SELECT leaves the previous relation as it was and raises
        ClientError with the database's message. Returns a table's row count when
        the driver reports it, else None. A missing PostgreSQL or DuckDB schema is
        created.

        Examples:
            >>> DuckDBClient(":memory:").create_relation("main", "t", "SELECT 1 AS a")
            1
        """
        return _relations.create(self, self._resolve(schema), name, select_sql, kind)

    def upload(self, table: Any, schema: str | None, name: str) -> int:
        """Replace table ``schema.name`` with a frame's rows atomically; return the row count.

        ``table`` is a polars DataFrame or LazyFrame, a pyarrow Table or a pandas
        DataFrame. DuckDB scans the Arrow data in place; PostgreSQL through
        psycopg 3 gets COPY; other databases get batched ``executemany`` with the
        type map of docs/sql.md.

        Examples:
            >>> import polars as pl
            >>> DuckDBClient(":memory:").upload(pl.DataFrame({"a": [1, 2]}), "main", "t")
            2
        """
        return _relations.upload(self, table, self._resolve(schema), name)


def _short(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= 60 else text[:57] + "..."
