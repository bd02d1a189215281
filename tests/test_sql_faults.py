"""SQL faults: a view failing on a late row, and a server that never answers (issue 12 #3, #8).

On DuckDB, SQLite, PostgreSQL and MariaDB: a view whose SELECT breaks on a late
row (after 7,000 rows) is read under its temporary name before the swap, so the
previous view stays and returns its old rows, the asset is recorded ``failed``,
and a later run with the query fixed succeeds without a manual ``DROP``. A view
broken outside assetry makes its asset stale (``product missing``) instead of
aborting the plan, with or without ``force``.

A server that accepts connections and never answers (a socket on 127.0.0.1)
fails a statement, and a run, within the client's ``connect_timeout`` with a
message naming the database, the timeout and how to change it, for psycopg and
pymysql, through SQLAlchemy or directly; ``statement_timeout`` stops a long
statement on the real servers.
"""

from __future__ import annotations

import logging
import pathlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pymysql
import pytest
from conftest import PipelineFiles
from sql_fixtures import MYSQL_URL, PG_DSN, drop, leftovers, make_client, mysql_kwargs

from assetry import Catalog, materialize, sql_asset
from assetry.clients import Client, DBAPIClient, SQLAlchemyClient
from assetry.errors import ClientError

GOOD = "SELECT 1 AS v UNION ALL SELECT 2 UNION ALL SELECT 3"
FIXED = "SELECT 10 AS v UNION ALL SELECT 20"

#: A SELECT of 10,000 rows that fails on row 7,001 (or 7,000), per dialect.
FAILS_LATE = {
    "duckdb": "SELECT CASE WHEN i > 7000 THEN error('boom') ELSE i END AS v FROM range(10000) t(i)",
    "sqlite": (
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 10000) "
        "SELECT CASE WHEN i > 7000 THEN abs(-9223372036854775807 - 1) ELSE i END AS v FROM r"
    ),
    "postgresql": "SELECT 1 / (i - 7000) AS v FROM generate_series(1, 10000) AS i",
    "mysql": "SELECT IF(seq > 7000, (SELECT 1 UNION SELECT 2), seq) AS v FROM seq_1_to_10000",
}

BACKENDS = ["duckdb", "sqlite", "sqlite-sqlalchemy", "postgres", "postgres-sqlalchemy", "mysql",
            "mysql-sqlalchemy"]


class View:
    """One backend: a client for checks, and pipeline modules declaring view ``v`` on it."""

    def __init__(self, backend: str, directory: pathlib.Path, files: PipelineFiles) -> None:
        self.files = files
        self.client: Client = make_client(backend, directory)
        self.table = f"v_{uuid.uuid4().hex[:10]}"
        self.expr = {
            "duckdb": f"DuckDBClient({str(directory / 'warehouse.duckdb')!r})",
            "sqlite": f"DBAPIClient(sqlite3.connect, database={str(directory / 'warehouse.db')!r})",
            "sqlite-sqlalchemy": f"SQLAlchemyClient({'sqlite:///' + str(directory / 'warehouse.db')!r})",
            "postgres": f"DBAPIClient(psycopg.connect, conninfo={PG_DSN!r})",
            "postgres-sqlalchemy": f"SQLAlchemyClient({PG_DSN!r})",
            "mysql": f"DBAPIClient(pymysql.connect, **{mysql_kwargs()!r})",
            "mysql-sqlalchemy": f"SQLAlchemyClient({MYSQL_URL!r})",
        }[backend]
        self.modules: list[Any] = []

    def module(self, query: str) -> Any:
        """The pipeline with ``v`` returning ``query``, imported afresh."""
        module = self.files.module("views.py", (
            "import sqlite3\nimport psycopg\nimport pymysql\nfrom assetry import sql_asset\n"
            "from assetry.clients import DBAPIClient, DuckDBClient, SQLAlchemyClient\n\n"
            f"warehouse = {self.expr}\n\n"
            f"@sql_asset(client=warehouse, kind='view', table={self.table!r})\n"
            f"def v():\n    return {query!r}\n"
        ))
        self.modules.append(module)
        return module

    @property
    def fails_late(self) -> str:
        return FAILS_LATE[self.client.dialect]

    def rows(self) -> list[Any]:
        """The view's values as the database returns them now, sorted."""
        found = self.client.execute(f"SELECT v FROM {self.client.qualified(None, self.table)}")
        return sorted(int(r[0]) for r in found)

    def history(self) -> list[tuple[str, str | None]]:
        """``(status, error)`` of every materialization of ``v``, oldest first."""
        frame = Catalog(self.files.catalog).sql(
            "SELECT status, error FROM materializations WHERE asset = 'v' ORDER BY started_at"
        )
        return list(frame.iter_rows())

    def break_outside(self) -> None:
        """Replace the view by hand with one that fails on a late row (not through assetry)."""
        drop(self.client, None, self.table)
        target = self.client.qualified(None, self.table)
        self.client.execute(f"CREATE VIEW {target} AS {self.fails_late}")

    def close(self) -> None:
        schema = self.client.default_schema()
        for name in [self.table, *leftovers(self.client, self.table)]:
            drop(self.client, schema, name)
        for module in self.modules:
            module.warehouse.close()
        self.client.close()


@pytest.fixture(params=BACKENDS)
def view(request: pytest.FixtureRequest, tmp_path: pathlib.Path, files: PipelineFiles) -> Iterator[View]:
    """A view asset on one backend, dropped afterwards."""
    made = View(request.param, tmp_path, files)
    yield made
    made.close()


def test_view_failing_on_a_late_row_keeps_the_previous_view(view: View) -> None:
    """The failing view never replaces the good one; the run fails; a fixed query then succeeds."""
    assert materialize(view.module(GOOD), root=view.files.root).materialized == ["v"]
    recorded = Catalog(view.files.catalog).sql("SELECT data_fingerprint FROM assets").item()

    bad = view.module(view.fails_late)
    result = materialize(bad, root=view.files.root, raise_on_error=False)
    assert result.failed == ["v"]
    assert view.rows() == [1, 2, 3]  # the previous view, with its old rows
    assert leftovers(view.client, view.table) == []
    status, error = view.history()[-1]
    assert status == "failed"
    assert "fails when its rows are read" in error and "previous one is kept" in error
    assert Catalog(view.files.catalog).sql("SELECT data_fingerprint FROM assets").item() == recorded

    # Planning is not stuck: status, a second failing run and a forced one all plan normally.
    status = Catalog(view.files.catalog).status(bad)
    assert status["reason"].to_list() == ["code changed: v (SQL)"]
    assert materialize(bad, root=view.files.root, raise_on_error=False, force=True).failed == ["v"]

    fixed = materialize(view.module(FIXED), root=view.files.root)
    assert fixed.materialized == ["v"]
    assert view.rows() == [10, 20]
    assert [s for s, _ in view.history()] == ["materialized", "failed", "failed", "materialized"]


def test_view_broken_outside_assetry_is_stale_and_rebuilt(
    view: View, caplog: pytest.LogCaptureFixture
) -> None:
    """A product that no longer reads makes its asset stale (never a planning error), then rebuilt."""
    module = view.module(GOOD)
    materialize(module, root=view.files.root)
    view.break_outside()
    with caplog.at_level(logging.WARNING, logger="assetry"):
        status = Catalog(view.files.catalog).status(module)
    assert status.select("fresh", "reason").rows() == [(False, "product missing")]
    assert any("counts as missing" in r.getMessage() for r in caplog.records)
    result = materialize(module, root=view.files.root)
    assert result.materialized == ["v"]
    assert view.rows() == [1, 2, 3]
    assert materialize(module, root=view.files.root).skipped == ["v"]


def test_client_refuses_a_view_that_fails_when_read(view: View) -> None:
    """``create_relation(kind='view')`` reads the new view before the swap and keeps the old one."""
    client = view.client
    client.create_relation(None, view.table, GOOD, kind="view")
    with pytest.raises(ClientError, match=r"fails when its rows are read .* previous one is kept"):
        client.create_relation(None, view.table, view.fails_late, kind="view")
    assert view.rows() == [1, 2, 3]
    assert leftovers(client, view.table) == []
    schema = client.default_schema()
    assert client.relation_fingerprint(schema, view.table) is not None


@pytest.mark.parametrize("executor", ["sync", "threads", "processes"])
def test_sqlite_failure_is_recorded_as_failure_in_every_executor(
    files: PipelineFiles, tmp_path: pathlib.Path, executor: str
) -> None:
    """On SQLite, whatever runs the step, the failing view is recorded failed and the old one kept."""
    view = View("sqlite", tmp_path, files)
    try:
        materialize(view.module(GOOD), root=files.root, executor=executor)
        result = materialize(
            view.module(view.fails_late), root=files.root, executor=executor, raise_on_error=False
        )
        assert result.failed == ["v"] and result.materialized == []
        assert [s for s, _ in view.history()] == ["materialized", "failed"]
        run_status = Catalog(files.catalog).sql("SELECT status FROM runs ORDER BY started_at")
        assert run_status["status"].to_list() == ["success", "failed"]
        assert view.rows() == [1, 2, 3]
    finally:
        view.close()


# -- a server that accepts and never answers (issue 12 #8) -------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose server accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.05)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    done.set()
    thread.join(5)
    server.close()
    for conn in held:
        conn.close()


SILENT = {
    "psycopg-sqlalchemy": lambda port: SQLAlchemyClient(
        f"postgresql://u@127.0.0.1:{port}/db", connect_timeout=2
    ),
    "psycopg-dbapi": lambda port: DBAPIClient(
        psycopg.connect, conninfo=f"postgresql://u@127.0.0.1:{port}/db", connect_timeout=2
    ),
    "pymysql-dbapi": lambda port: DBAPIClient(
        pymysql.connect, host="127.0.0.1", port=port, user="u", database="db", connect_timeout=2
    ),
    "pymysql-sqlalchemy": lambda port: SQLAlchemyClient(
        f"mysql://u@127.0.0.1:{port}/db", connect_timeout=2
    ),
}


def _clear(message: str, client: Client) -> None:
    assert client.identity() in message
    assert "connect_timeout=2 s" in message
    assert f"pass a longer connect_timeout= to {type(client).__name__}(...)" in message


@pytest.mark.parametrize("kind", list(SILENT))
def test_silent_server_fails_within_the_connect_timeout(silent_port: int, kind: str) -> None:
    """A statement on a server that never answers fails in seconds, naming the timeout and its fix."""
    client = SILENT[kind](silent_port)
    start = time.monotonic()
    with pytest.raises(ClientError) as caught:
        client.execute("SELECT 1")
    assert time.monotonic() - start < 6
    _clear(str(caught.value), client)
    client.close()


@pytest.mark.parametrize("kind", list(SILENT))
def test_silent_server_fails_the_run_clearly(
    silent_port: int, kind: str, tmp_path: pathlib.Path
) -> None:
    """materialize() through a client of a silent server ends in seconds with that clear error."""
    client = SILENT[kind](silent_port)

    @sql_asset(client=client, name="hung")
    def hung():
        return "SELECT 1 AS x"

    start = time.monotonic()
    try:
        result = materialize([hung], root=tmp_path / "data", raise_on_error=False)
    except ClientError as exc:  # the plan observes the product first, and cannot connect
        message = str(exc)
    else:
        assert result.failed == ["hung"]
        message = Catalog(tmp_path / "data" / "catalog.duckdb").sql(
            "SELECT error FROM materializations WHERE asset = 'hung'"
        ).item()
    assert time.monotonic() - start < 15
    _clear(message, client)
    client.close()


def test_timeouts_have_defaults_and_refuse_nonsense() -> None:
    """Network clients wait 10 s to connect and an hour per statement by default; 0 is refused."""
    client = SQLAlchemyClient(PG_DSN)
    assert (client.connect_timeout, client.statement_timeout) == (10.0, 3600.0)
    assert DBAPIClient(pymysql.connect, **mysql_kwargs(), statement_timeout=None).statement_timeout is None
    with pytest.raises(ClientError, match=r"connect_timeout=0\) is not a timeout"):
        SQLAlchemyClient(PG_DSN, connect_timeout=0)
    client.close()


@pytest.mark.parametrize(
    ("make", "sleep"),
    [
        (lambda: SQLAlchemyClient(PG_DSN, statement_timeout=1), "SELECT pg_sleep(3)"),
        (lambda: DBAPIClient(psycopg.connect, conninfo=PG_DSN, statement_timeout=1),
         "SELECT pg_sleep(3)"),
        (lambda: DBAPIClient(pymysql.connect, **mysql_kwargs(), statement_timeout=1),
         "SELECT SLEEP(3)"),
        (lambda: SQLAlchemyClient(MYSQL_URL, statement_timeout=1), "SELECT SLEEP(3)"),
    ],
    ids=["postgres-sqlalchemy", "postgres", "mysql", "mysql-sqlalchemy"],
)
def test_statement_timeout_stops_a_long_statement(make: Callable[[], Client], sleep: str) -> None:
    """A statement longer than statement_timeout fails naming it; the client keeps working."""
    client = make()
    start = time.monotonic()
    with pytest.raises(ClientError, match=r"longer than statement_timeout=1 s: pass a longer"):
        client.execute(sleep)
    assert time.monotonic() - start < 2.5
    assert client.execute("SELECT 2") == [(2,)]
    client.close()
