"""The client base class: connections, transactions, names and queries.

A client owns its connections (:mod:`assetry.clients.connections`: opened
lazily, one per thread, all closed by ``close()``) and runs the statements of
SQL assets and SQL IO managers. It knows nothing of assets, products, files or
the catalog: a query's result leaves as Arrow (``fetch_arrow``,
``iter_batches``), and what is written where is the caller's. Dialect
differences live in :mod:`assetry.clients.dialects`, names in
:mod:`assetry.clients.identifiers`, row conversions in
:mod:`assetry.clients.transfer`, and the statements that replace a relation in
:mod:`assetry.clients.relations`, which runs through the public
``transaction()`` and ``query()``. The public subclasses are in
:mod:`assetry.clients`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from assetry.clients import dialects as _dialects
from assetry.clients import identifiers as _identifiers
from assetry.clients import relations as _relations
from assetry.clients import transfer as _transfer
from assetry.clients.connections import Connections
from assetry.errors import ClientError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Client"]


class Client(Connections):
    """What every client does; subclasses only say how to connect and name the database.

    Connections and transactions are :class:`~assetry.clients.connections.Connections`'s;
    this class adds names, queries, streaming and relations.

    Examples:
        >>> from assetry.clients import DuckDBClient
        >>> with DuckDBClient(":memory:") as db:
        ...     db.execute("SELECT 42")
        [(42,)]
    """

    paramstyle: str = "qmark"

    def _reset(self) -> None:
        super()._reset()
        self._default_schema: str | None = None
        #: (schema, name) -> (monotonic time, fingerprint) of a view just checked and swapped in.
        self._checked: dict[tuple[str, str], tuple[float, str]] = {}

    def query(
        self, cursor: Any, template: str, params: tuple[Any, ...] = ()
    ) -> list[tuple[Any, ...]]:
        """Run a template with ``?`` markers (and no names) on a cursor; return its rows.

        The markers become the driver's own; ``cursor`` comes from ``transaction()``.

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> db = DuckDBClient(":memory:")
            >>> with db.transaction("counting") as cur:
            ...     db.query(cur, "SELECT count(*) FROM range(?)", (3,))
            [(3,)]
        """
        cursor.execute(_dialects.bind(template, self.paramstyle), params)
        return [tuple(row) for row in cursor.fetchall()]

    # -- names -------------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        """Quote a name for this dialect, refusing empty, NUL-bearing or overlong names.

        Quoting is SQLAlchemy's (the dialect's ``identifier_preparer``); the checks
        are :func:`assetry.clients.identifiers.check_identifier`'s.

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> DuckDBClient(":memory:").quote('x"; DROP TABLE y; --')
            '"x""; DROP TABLE y; --"'
        """
        return _identifiers.quote(identifier, self.dialect)

    def check_declared_name(self, name: object, option: str = "table") -> str:
        """Return a ``schema=`` or ``table=`` name if assetry may create it here, else raise.

        Refuses, besides what ``quote`` refuses, quotes, semicolons and control
        characters (:func:`assetry.clients.identifiers.check_declared_name`).

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> DuckDBClient(":memory:").check_declared_name("raw", "schema")
            'raw'
        """
        return _identifiers.check_declared_name(name, self.dialect, option)

    def qualified(self, schema: str | None, name: str) -> str:
        """``schema.name`` quoted, or just the quoted name when ``schema`` is None.

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> DuckDBClient(":memory:").qualified("main", "flights")
            '"main"."flights"'
        """
        table = self.quote(name)
        return table if schema is None else f"{self.quote(schema)}.{table}"

    def default_schema(self) -> str:
        """The schema that ``schema=None`` means (MySQL: the connection's database).

        Examples:
            >>> from assetry.clients import DuckDBClient
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
            >>> from assetry.clients import DuckDBClient
            >>> DuckDBClient(":memory:").execute("SELECT ? + 1", [41])
            [(42,)]
        """
        with self.transaction(f"statement {_short(sql)!r}") as cur:
            if params is None:
                cur.execute(sql)
            else:
                cur.execute(sql, params)
            return [tuple(row) for row in cur.fetchall()] if cur.description else []

    def fetch_arrow(self, sql: str) -> pa.Table:
        """The whole result of a query as an Arrow table.

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> DuckDBClient(":memory:").fetch_arrow("SELECT 1 AS a").num_rows
            1
        """
        with self.transaction(f"query {_short(sql)!r}") as cur:
            if self.dialect == "duckdb":
                return cur.sql(sql).to_arrow_table()
            import pyarrow as pa

            cur.execute(sql)
            builder = _transfer.BatchBuilder(self.dialect, cur.description or ())
            return pa.Table.from_batches([builder.build(cur.fetchall())])

    def iter_batches(
        self, sql: str, batch_size: int = 65536
    ) -> Generator[pa.RecordBatch, None, None]:
        """Stream a query's result as Arrow record batches, holding one batch at a time.

        Runs on a connection of its own (a PostgreSQL server-side cursor, a MySQL
        unbuffered cursor, DuckDB's Arrow reader), so other statements may run meanwhile.
        Every batch has the first one's schema (an empty result gives one empty
        batch); a column whose type changes midway raises ClientError asking for a
        CAST. Writing the batches anywhere is the caller's (``QueryDump`` writes Parquet).

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> db = DuckDBClient(":memory:")
            >>> [b.num_rows for b in db.iter_batches("SELECT * FROM range(5)", batch_size=2)]
            [2, 2, 1]
        """
        with self.streaming(f"query {_short(sql)!r}") as cur:
            if self.dialect == "duckdb":
                batches = _transfer.reader_batches(cur.sql(sql).to_arrow_reader(batch_size))
            else:
                cur.execute(sql)
                builder = _transfer.BatchBuilder(self.dialect, cur.description or ())
                batches = _transfer.fetch_batches(cur, builder, batch_size)
            yield from _transfer.steady(batches)

    # -- relations ---------------------------------------------------------------------

    def relation_exists(self, schema: str | None, name: str) -> bool:
        """Whether a table or view of that name exists.

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> DuckDBClient(":memory:").relation_exists("main", "nowhere")
            False
        """
        return self.relation_kind(schema, name) is not None

    def relation_kind(self, schema: str | None, name: str) -> str | None:
        """``"table"``, ``"view"``, or None when no relation has that name.

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> db = DuckDBClient(":memory:")
            >>> _ = db.create_relation("main", "v", "SELECT 1 AS a", kind="view")
            >>> db.relation_kind("main", "v")
            'view'
        """
        schema = self._resolve(schema)
        with self.transaction(f"looking up {schema}.{name}") as cur:
            return _relations.kind(self, cur, schema, name)

    def relations(self, schema: str | None = None) -> list[str]:
        """The names of every table and view in ``schema``, sorted.

        Temporary relations a crashed replace left behind contain ``__assetry_``.

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> DuckDBClient(":memory:").relations()
            []
        """
        schema = self._resolve(schema)
        with self.transaction(f"listing the relations of {schema}") as cur:
            rows = self.query(cur, _dialects.relations_sql(self.dialect), (schema,))
        return [row[0] for row in rows]

    def columns(self, schema: str | None, name: str) -> list[tuple[str, str]]:
        """The relation's (column, declared type) pairs in order; empty when it is missing.

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> DuckDBClient(":memory:").columns("main", "nowhere")
            []
        """
        schema = self._resolve(schema)
        with self.transaction(f"listing the columns of {schema}.{name}") as cur:
            return self.query(cur, _dialects.columns_sql(self.dialect), (schema, name))

    def relation_fingerprint(self, schema: str | None, name: str) -> str | None:
        """A digest of the relation's columns, row count and content; None when it is missing.

        Reads every row once (docs/sql.md gives the cost per database).

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> DuckDBClient(":memory:").relation_fingerprint("main", "nowhere") is None
            True
        """
        return _relations.fingerprint(self, self._resolve(schema), name)

    def read_table(self, schema: str | None, name: str) -> pa.Table:
        """A whole relation as Arrow, with declared types the driver loses put back.

        Examples:
            >>> from assetry.clients import DuckDBClient
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
            >>> from assetry.clients import DuckDBClient
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
            >>> from assetry.clients import DuckDBClient
            >>> import polars as pl
            >>> DuckDBClient(":memory:").upload(pl.DataFrame({"a": [1, 2]}), "main", "t")
            2
        """
        return _relations.upload(self, table, self._resolve(schema), name)


def _short(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= 60 else text[:57] + "..."
