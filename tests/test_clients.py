"""Database clients against real DuckDB, SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import pathlib
import sqlite3
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cloudpickle
import duckdb
import polars as pl
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pymysql
import pytest
import sql_fixtures
import sqlalchemy as sa
from polars.testing import assert_frame_equal
from sql_fixtures import (
    PG_DSN,
    Client,
    leftovers,
    make_client,
    mixed_frame,
    mysql_kwargs,
    refused_frame,
)

from assetry.clients import DBAPIClient, DuckDBClient, SQLAlchemyClient
from assetry.clients.dialects import dialect_of_driver
from assetry.errors import ClientError
from assetry.io_managers.relations import write_batches

client = sql_fixtures.client  # fixtures shared with test_io_sql.py
fresh = sql_fixtures.fresh

HOSTILE = ['x"; DROP TABLE y; --', "a``b", "a`b", "per%cent?q", "dot.ted#hash", "Ünï cödé"]


def read(client: Client, name: str) -> pl.DataFrame:
    return pl.from_arrow(client.read_table(None, name))


def test_round_trip_keeps_values_and_dtypes(client: Client, fresh: Callable[[], str]) -> None:
    """Ints, floats, text, booleans, dates, timestamps and nulls come back as they went in."""
    name = fresh()
    frame = mixed_frame()
    assert client.upload(frame, None, name) == frame.height
    assert_frame_equal(read(client, name).sort("id"), frame)


def test_every_mapped_dtype_keeps_its_values(client: Client, fresh: Callable[[], str]) -> None:
    """Each polars type of the map reads back as the same value (types may widen, see docs)."""
    frame = pl.DataFrame({
        "i8": pl.Series([-5, None], dtype=pl.Int8),
        "u64": pl.Series([2**40, None], dtype=pl.UInt64),
        "f32": pl.Series([1.5, None], dtype=pl.Float32),
        "cat": pl.Series(["a", None], dtype=pl.Categorical),
        "tz": [dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))), None],
        "dec": pl.Series([decimal.Decimal("-1.25"), None], dtype=pl.Decimal(10, 2)),
        "t": [dt.time(12, 0, 1, 5), None],
        "bin": [b"\x00\xff,\n\"", None],
        "nul": pl.Series([None, None], dtype=pl.Null),
    })
    name = fresh()
    client.upload(frame, None, name)
    back = read(client, name)

    def plain(value: object) -> object:
        if isinstance(value, dt.timedelta):  # MySQL TIME arrives as an interval
            return (dt.datetime.min + value).time()
        if isinstance(value, dt.datetime) and value.tzinfo is None:  # stored as UTC
            return value.replace(tzinfo=dt.UTC)
        if isinstance(value, str) and ":" in value:  # SQLite TIME is text
            return dt.time.fromisoformat(value)
        return int(value) if isinstance(value, decimal.Decimal) and value == int(value) else value

    assert back.columns == frame.columns
    assert [plain(v) for v in back.row(0)] == [plain(v) for v in frame.row(0)]
    assert back.row(1) == (None,) * frame.width


def test_upload_takes_arrow_and_lazy_frames(client: Client, fresh: Callable[[], str]) -> None:
    """A pyarrow Table and a polars LazyFrame upload like an eager polars frame."""
    frame = mixed_frame()
    arrow_name, lazy_name = fresh(), fresh()
    client.upload(frame.to_arrow(), None, arrow_name)
    client.upload(frame.lazy(), None, lazy_name)
    assert_frame_equal(read(client, arrow_name).sort("id"), frame)
    assert_frame_equal(read(client, lazy_name).sort("id"), frame)


def test_upload_replaces_the_whole_table(client: Client, fresh: Callable[[], str]) -> None:
    """A second upload replaces rows and columns alike, leaving no temporary relation."""
    name = fresh()
    client.upload(mixed_frame(), None, name)
    second = pl.DataFrame({"k": ["only"], "v": [7]})
    client.upload(second, None, name)
    assert_frame_equal(read(client, name), second)
    assert leftovers(client, name) == []


def test_failing_select_leaves_the_previous_relation(
    client: Client, fresh: Callable[[], str]
) -> None:
    """A SELECT that fails raises ClientError with the database's words; the old table stays."""
    name = fresh()
    client.create_relation(None, name, "SELECT 1 AS a")
    with pytest.raises(ClientError, match=r"replacing table .* failed on .*no_such_table_xyz"):
        client.create_relation(None, name, "SELECT a FROM no_such_table_xyz")
    assert read(client, name)["a"].to_list() == [1]
    assert leftovers(client, name) == []


def test_failing_upload_leaves_the_previous_table(
    client: Client, fresh: Callable[[], str]
) -> None:
    """An upload the database refuses mid-way keeps the old table whole and cleans up."""
    name = fresh()
    client.upload(pl.DataFrame({"a": [1, 2]}), None, name)
    with pytest.raises(ClientError, match=r"replacing table .* failed on"):
        client.upload(refused_frame(client.dialect), None, name)
    assert read(client, name)["a"].to_list() == [1, 2]
    assert leftovers(client, name) == []


def test_columns_equal_but_for_case(client: Client, fresh: Callable[[], str]) -> None:
    """PostgreSQL keeps 'a' and 'A' apart; elsewhere the upload is refused before writing."""
    name = fresh()
    frame = pl.DataFrame({"a": [1], "A": [2]})
    if client.dialect == "postgresql":
        client.upload(frame, None, name)
        assert_frame_equal(read(client, name), frame)
    else:
        with pytest.raises(ClientError, match="'a' and 'A' differ only in case"):
            client.upload(frame, None, name)
        assert not client.relation_exists(None, name)


def test_views_replace_views_and_tables(client: Client, fresh: Callable[[], str]) -> None:
    """A view replaces a view with other columns, and a table of the same name."""
    base, name = fresh(), fresh()
    client.upload(pl.DataFrame({"a": [1, 2, 3]}), None, base)
    client.create_relation(None, name, "SELECT 1 AS one")
    source = client.qualified(None, base)
    client.create_relation(None, name, f"SELECT a, a * 2 AS b FROM {source}", kind="view")
    assert client.relation_kind(None, name) == "view"
    client.create_relation(None, name, f"SELECT a FROM {source} WHERE a > 1", kind="view")
    assert sorted(read(client, name)["a"].to_list()) == [2, 3]
    with pytest.raises(ClientError, match="failed on"):
        client.create_relation(None, name, "SELECT nope FROM no_such_table_xyz", kind="view")
    assert sorted(read(client, name)["a"].to_list()) == [2, 3]
    client.create_relation(None, name, f"SELECT a FROM {source}")
    assert client.relation_kind(None, name) == "table"
    assert leftovers(client, name) == []


def test_a_table_under_a_view_is_replaced(client: Client, fresh: Callable[[], str]) -> None:
    """A view over a replaced table shows the new rows; PostgreSQL refuses and keeps both."""
    table, view = fresh(), fresh()
    client.upload(pl.DataFrame({"a": [1]}), None, table)
    client.create_relation(None, view, f"SELECT a FROM {client.qualified(None, table)}", "view")
    if client.dialect == "postgresql":
        with pytest.raises(ClientError, match="other objects depend on it"):
            client.upload(pl.DataFrame({"a": [2]}), None, table)
        assert read(client, view)["a"].to_list() == [1]
    else:
        client.upload(pl.DataFrame({"a": [2]}), None, table)
        assert read(client, view)["a"].to_list() == [2]
    client.execute(f"DROP VIEW {client.qualified(None, view)}")


def test_fingerprint_follows_content(client: Client, fresh: Callable[[], str]) -> None:
    """Equal content gives equal fingerprints; one changed value changes it; dropped is None."""
    name = fresh()
    frame = mixed_frame()
    client.upload(frame, None, name)
    first = client.relation_fingerprint(None, name)
    assert first is not None and client.relation_fingerprint(None, name) == first
    assert read(client, name).height == frame.height  # the connection is free again
    client.upload(frame.reverse(), None, name)
    assert client.relation_fingerprint(None, name) == first
    client.upload(frame.with_columns(pl.col("x").fill_null(0.0)), None, name)
    assert client.relation_fingerprint(None, name) != first
    client.upload(frame.rename({"x": "y"}), None, name)
    assert client.relation_fingerprint(None, name) != first
    client.execute(f"DROP TABLE {client.qualified(None, name)}")
    assert client.relation_fingerprint(None, name) is None


def test_duplicate_rows_do_not_cancel_in_the_fingerprint(
    client: Client, fresh: Callable[[], str]
) -> None:
    """Two copies of one row differ from two copies of another (sums, not XOR)."""
    name = fresh()
    client.upload(pl.DataFrame({"a": [1, 1]}), None, name)
    ones = client.relation_fingerprint(None, name)
    client.upload(pl.DataFrame({"a": [2, 2]}), None, name)
    assert client.relation_fingerprint(None, name) != ones


def test_fingerprint_reads_columns_named_like_aliases(
    client: Client, fresh: Callable[[], str]
) -> None:
    """Columns named t, r, s or h do not confuse the checksum query."""
    name = fresh()
    frame = pl.DataFrame({"t": [1, 2], "r": ["a", "b"], "s": [1.0, 2.0], "h": [True, False]})
    client.upload(frame, None, name)
    first = client.relation_fingerprint(None, name)
    client.upload(frame.with_columns(pl.col("r").str.to_uppercase()), None, name)
    assert client.relation_fingerprint(None, name) != first


def test_dump_streams_batches_into_parquet(
    client: Client, fresh: Callable[[], str], tmp_path: pathlib.Path
) -> None:
    """A dump writes one row group per fetched batch and returns the row count."""
    name = fresh()
    frame = pl.DataFrame({"id": range(10_000), "s": [f"row {i}" for i in range(10_000)]})
    client.upload(frame, None, name)
    query = f"SELECT * FROM {client.qualified(None, name)} ORDER BY id"
    sizes = [b.num_rows for b in client.iter_batches(query, batch_size=1_000)]
    assert sizes == [1_000] * 10
    out = tmp_path / "out" / "dump.parquet"
    assert write_batches(client.iter_batches(query, batch_size=1_000), out) == 10_000
    assert pq.ParquetFile(out).metadata.num_row_groups == 10
    assert_frame_equal(pl.read_parquet(out), frame, check_dtypes=False)
    assert [p.name for p in out.parent.iterdir()] == ["dump.parquet"]


def test_dump_of_an_empty_result_writes_its_schema(
    client: Client, fresh: Callable[[], str], tmp_path: pathlib.Path
) -> None:
    """A query without rows still gives a Parquet file with its columns."""
    name = fresh()
    client.upload(pl.DataFrame({"a": [1]}), None, name)
    out = tmp_path / "empty.parquet"
    query = f"SELECT a FROM {client.qualified(None, name)} WHERE a > 5"
    assert write_batches(client.iter_batches(query), out) == 0
    assert pl.read_parquet(out).columns == ["a"]


def test_failing_dump_leaves_no_file(client: Client, tmp_path: pathlib.Path) -> None:
    """A query error raises ClientError and writes nothing at the target."""
    out = tmp_path / "out" / "never.parquet"
    with pytest.raises(ClientError, match="no_such_table_xyz"):
        write_batches(client.iter_batches("SELECT * FROM no_such_table_xyz"), out)
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_stay_names(client: Client, fresh: Callable[[], str], hostile: str) -> None:
    """Quotes, backticks, %, ?, dots and semicolons in names are quoted, never run."""
    sentinel = fresh("y")
    name = f"{fresh()}{hostile}"
    client.upload(pl.DataFrame({"a": [1]}), None, sentinel)
    frame = pl.DataFrame({hostile: [1, 2], "b": ["x", "y"]})
    client.upload(frame, None, name)
    assert_frame_equal(read(client, name).sort(hostile), frame)
    assert client.relation_fingerprint(None, name) is not None
    view = f"{fresh()}{hostile}v"
    client.create_relation(None, view, f"SELECT * FROM {client.qualified(None, name)}", "view")
    assert read(client, view).height == 2
    assert client.relation_exists(None, sentinel)
    client.execute(f"DROP VIEW {client.qualified(None, view)}")
    client.execute(f"DROP TABLE {client.qualified(None, name)}")


@pytest.mark.parametrize(
    ("dialect", "name", "quoted"),
    [
        ("postgresql", 'x"; DROP TABLE y; --', '"x""; DROP TABLE y; --"'),
        ("duckdb", 'a"b', '"a""b"'),
        ("sqlite", "a`b", '"a`b"'),
        ("mysql", "a``b", "`a````b`"),
        ("mysql", 'x"; DROP TABLE y; --', '`x"; DROP TABLE y; --`'),
    ],
    ids=["postgres", "duckdb", "sqlite", "mysql-backticks", "mysql-quotes"],
)
def test_quote_doubles_the_dialects_quote_mark(dialect: str, name: str, quoted: str) -> None:
    """Double quotes for PostgreSQL, DuckDB and SQLite, backticks for MySQL, doubled inside."""
    from assetry.clients.identifiers import quote

    assert quote(name, dialect) == quoted


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "not a usable SQL name"), ("a\x00b", "NUL"), ("x" * 64, "64 bytes long"),
     ("é" * 32, "64 bytes long"), (None, "not a usable SQL name")],
    ids=["empty", "nul", "long", "long-in-bytes", "none"],
)
def test_unusable_names_are_refused(name: str, message: str) -> None:
    """Empty, NUL-bearing and over-63-byte names raise ClientError saying why."""
    db = DuckDBClient(":memory:")
    with pytest.raises(ClientError, match=message):
        db.quote(name)
    with pytest.raises(ClientError, match=message):
        db.upload(pl.DataFrame({"a": [1]}), "main", name)


def test_bad_column_names_are_refused_before_writing(client: Client) -> None:
    """A frame with an unusable column name fails with ClientError and creates nothing."""
    with pytest.raises(ClientError, match="bytes long"):
        client.upload(pl.DataFrame({"c" * 70: [1]}), None, "never_created")
    assert not client.relation_exists(None, "never_created")


def test_eight_threads_share_one_client(client: Client, fresh: Callable[[], str]) -> None:
    """Eight threads upload, read and fingerprint at once through one client."""
    names = [fresh() for _ in range(8)]
    start = threading.Barrier(8)

    def work(index: int) -> tuple[int, str | None]:
        start.wait()
        frame = pl.DataFrame({"n": list(range(index * 100, index * 100 + 50))})
        client.upload(frame, None, names[index])
        total = client.execute(f"SELECT sum(n) FROM {client.qualified(None, names[index])}")
        return int(total[0][0]), client.relation_fingerprint(None, names[index])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    assert [r[0] for r in results] == [sum(range(i * 100, i * 100 + 50)) for i in range(8)]
    assert len({r[1] for r in results}) == 8


def test_a_pickled_client_reconnects(client: Client, fresh: Callable[[], str]) -> None:
    """A client used, pickled with cloudpickle and loaded works, and so does the original."""
    name = fresh()
    client.upload(pl.DataFrame({"a": [1, 2]}), None, name)
    copy = cloudpickle.loads(cloudpickle.dumps(client))
    try:
        assert copy.identity() == client.identity()
        assert read(copy, name)["a"].to_list() == [1, 2]
        copy.upload(pl.DataFrame({"a": [3]}), None, name)
    finally:
        copy.close()
    assert read(client, name)["a"].to_list() == [3]


def test_a_client_built_from_an_engine(tmp_path: pathlib.Path) -> None:
    """A client over a user's Engine leaves it open on close; its pickled copy owns a new one."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'e.db'}")
    db = SQLAlchemyClient(engine)
    assert db.execute("SELECT 1") == [(1,)]
    copy = cloudpickle.loads(cloudpickle.dumps(db))
    assert copy.execute("SELECT 2") == [(2,)] and copy.engine is not engine
    copy.close()
    db.close()
    with engine.connect() as conn:  # the user's engine still works
        assert conn.exec_driver_sql("SELECT 3").scalar() == 3
    engine.dispose()


def test_close_then_use_reconnects(client: Client) -> None:
    """After close() the next statement opens a new connection."""
    assert client.execute("SELECT 1") == [(1,)]
    client.close()
    assert client.execute("SELECT 2") == [(2,)]


def test_a_connection_killed_by_the_server_is_replaced(tmp_path: pathlib.Path) -> None:
    """After PostgreSQL ends a client's session, one statement fails and the next reconnects."""
    db = make_client("postgres", tmp_path)
    pid = db.execute("SELECT pg_backend_pid()")[0][0]
    with make_client("postgres", tmp_path) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(ClientError, match="failed on postgresql://"):
        db.execute("SELECT 1")
    assert db.execute("SELECT 1") == [(1,)]
    db.close()


def test_execute_returns_rows_and_fetch_arrow_a_table(client: Client) -> None:
    """execute() gives row tuples; fetch_arrow() gives named, typed Arrow columns."""
    assert client.execute("SELECT 1 AS a, 'x' AS b") == [(1, "x")]
    table = client.fetch_arrow("SELECT 1 AS a, 'x' AS b")
    assert table.column_names == ["a", "b"] and table.column("b").to_pylist() == ["x"]
    assert pa.types.is_integer(table.schema.field("a").type)


@pytest.mark.parametrize("backend", ["duckdb", "postgres", "postgres-sqlalchemy"])
def test_a_missing_schema_is_created(backend: str, tmp_path: pathlib.Path) -> None:
    """Uploading into a schema that does not exist creates it (PostgreSQL, DuckDB)."""
    db = make_client(backend, tmp_path)
    schema = f"s_{uuid.uuid4().hex[:8]}"
    try:
        db.upload(pl.DataFrame({"a": [1]}), schema, "t")
        assert db.read_table(schema, "t").num_rows == 1
        assert db.relations(schema) == ["t"]
    finally:
        db.execute(f"DROP SCHEMA IF EXISTS {db.quote(schema)} CASCADE")
        db.close()


def test_identities_name_no_credentials() -> None:
    """Identities name host, port and database, never user or password; nothing connects."""
    url = "postgresql://alice:s3cret@db.example:6543/sales"
    assert SQLAlchemyClient(url).identity() == "postgresql://db.example:6543/sales"
    assert (
        DBAPIClient(psycopg.connect, conninfo=url).identity() == "postgresql://db.example:6543/sales"
    )
    assert (
        DBAPIClient(psycopg.connect, "host=db.example dbname=sales password=s3cret").identity()
        == "postgresql://db.example:5432/sales"
    )
    mysql = DBAPIClient(pymysql.connect, host="h", user="u", password="s3cret", database="d")
    assert mysql.identity() == "mysql://h:3306/d"
    assert "s3cret" not in repr(mysql)


def test_file_databases_are_named_by_absolute_path(tmp_path: pathlib.Path) -> None:
    """DuckDB and SQLite identities hold the absolute path; a relative one is resolved."""
    assert DuckDBClient(tmp_path / "w.duckdb").identity() == f"duckdb:{tmp_path / 'w.duckdb'}"
    assert DuckDBClient("rel.duckdb").identity() == f"duckdb:{pathlib.Path.cwd() / 'rel.duckdb'}"
    db = DBAPIClient(sqlite3.connect, "rel.db")
    assert db.identity() == f"sqlite:{pathlib.Path.cwd() / 'rel.db'}"
    assert SQLAlchemyClient("sqlite:///rel.db").identity() == (
        f"sqlite:{pathlib.Path.cwd() / 'rel.db'}")


@pytest.mark.parametrize(
    ("module", "dialect"),
    [("psycopg.connection", "postgresql"), ("psycopg2", "postgresql"),
     ("pymysql.connections", "mysql"), ("MySQLdb", "mysql"),
     ("mysql.connector.connection", "mysql"), ("mariadb", "mysql"), ("_sqlite3", "sqlite"),
     ("_duckdb", "duckdb"), ("snowflake.connector", None)],
    ids=lambda v: str(v),
)
def test_dialect_comes_from_the_driver_module(module: str, dialect: str | None) -> None:
    """Driver modules map to their dialects; an unknown one maps to None."""
    assert dialect_of_driver(module) == dialect


def test_real_drivers_are_recognised(tmp_path: pathlib.Path) -> None:
    """DBAPIClient tells the dialect from the connect function, or takes dialect=."""
    assert DBAPIClient(psycopg.connect, conninfo=PG_DSN).dialect == "postgresql"
    assert DBAPIClient(pymysql.connect, **mysql_kwargs()).dialect == "mysql"
    assert DBAPIClient(sqlite3.connect, ":memory:").dialect == "sqlite"
    assert DBAPIClient(duckdb.connect, database=":memory:").dialect == "duckdb"
    assert DBAPIClient(sqlite3.connect, ":memory:", dialect="ansi").dialect == "ansi"


def test_an_unknown_driver_asks_for_a_dialect() -> None:
    """A connect function from an unknown module needs dialect=; a non-driver is refused."""
    with pytest.raises(ClientError, match="pass dialect="):
        DBAPIClient(json.loads)
    with pytest.raises(ClientError, match="not a DB-API driver"):
        DBAPIClient(json.loads, dialect="ansi")


@pytest.mark.parametrize(
    ("url", "extra"),
    [("mysql+mysqldb://root@127.0.0.1/test", "mysql"),
     ("postgresql+psycopg2://postgres@127.0.0.1/test", "postgres")],
    ids=["mysqldb", "psycopg2"],
)
def test_a_missing_driver_names_the_extra(url: str, extra: str) -> None:
    """A URL whose driver is not installed raises ClientError naming the pip extra."""
    with pytest.raises(ClientError, match=rf"pip install (-e )?'[^']*\[{extra}\]'"):
        SQLAlchemyClient(url)


def test_an_unreachable_server_is_a_client_error() -> None:
    """Connecting to a closed port raises ClientError naming the database, not the password."""
    db = DBAPIClient(psycopg.connect, conninfo="postgresql://u:s3cret@127.0.0.1:1/none",
                     connect_timeout=2)
    with pytest.raises(ClientError, match=r"cannot connect to postgresql://127\.0\.0\.1:1/none") as info:
        db.execute("SELECT 1")
    assert "s3cret" not in str(info.value)


def test_a_bad_relation_kind_is_refused() -> None:
    """kind= other than table or view raises ClientError."""
    with pytest.raises(ClientError, match="kind='index'"):
        DuckDBClient(":memory:").create_relation("main", "t", "SELECT 1", kind="index")
