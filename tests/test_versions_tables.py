"""Versions of tables: DuckDB and PostgreSQL keep a replaced table in ``assetry_versions``."""

from __future__ import annotations

import uuid

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sql_fixtures import MYSQL_URL, PG_DSN

from assetry import Catalog, materialize

HELPERS = '''
def bump(expr):
    return expr + {delta}
'''

TABLES = '''
import polars as pl
from assetry import asset, sql_asset
from assetry.clients import DuckDBClient, SQLAlchemyClient
from assetry.io_managers import DuckDBTable, SQLTable
from helpers import bump

CALLS = {calls!r}
KIND = {kind!r}
CLIENT = DuckDBClient({database!r}) if KIND == "duckdb" else SQLAlchemyClient({url!r})
IO = DuckDBTable(database={database!r}) if KIND == "duckdb" else SQLTable(CLIENT, schema={schema!r})

def called(name):
    with open(CALLS, "a") as f:
        f.write(name + "\\n")

@asset(io=IO, name="{p}base")
def base() -> pl.DataFrame:
    called("base")
    return pl.DataFrame({{"n": [1, 2, 3]}}).with_columns(m=bump(pl.col("n")))

@sql_asset(client=CLIENT, name="{p}doubled", schema={schema!r})
def doubled({p}base):  # (a SQL asset's function gives its SQL: it is called to render it)
    return "SELECT n, m * 2 AS m FROM {{{p}base}}"

@asset(io=IO, name="{p}last")
def last({p}doubled: pl.DataFrame) -> pl.DataFrame:
    called("last")
    return {p}doubled.with_columns(total=pl.col("m") + pl.col("n"))
'''


class Warehouse:
    """One test's pipeline on DuckDB or PostgreSQL, with unique asset names."""

    def __init__(self, files, kind: str) -> None:
        self.files, self.kind = files, kind
        self.prefix = f"v{uuid.uuid4().hex[:8]}_"
        self.schema = "main" if kind == "duckdb" else f"assetry_vt_{uuid.uuid4().hex[:8]}"
        self.database = str(files.dir.parent / "warehouse.duckdb")
        self.names = [self.prefix + n for n in ("base", "doubled", "last")]

    def module(self, delta: int):
        self.files.write("helpers.py", HELPERS.format(delta=delta))
        source = TABLES.format(calls=str(self.files.dir.parent / "calls.txt"), kind=self.kind,
                               database=self.database, url=PG_DSN, schema=self.schema,
                               p=self.prefix)
        return self.files.module("tables.py", source)

    def run(self, delta: int, **kw):
        return materialize(self.module(delta), root=self.files.root, **{"executor": "sync", **kw})

    def calls(self) -> list[str]:
        path = self.files.dir.parent / "calls.txt"
        if not path.exists():
            return []
        names = path.read_text().split()
        path.unlink()
        return names

    def query(self, sql: str) -> list[tuple]:
        if self.kind == "duckdb":
            con = duckdb.connect(self.database)
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()
        import psycopg

        with psycopg.connect(PG_DSN) as con:
            cur = con.execute(sql)
            return cur.fetchall() if cur.description else []

    def tables(self) -> dict[str, list[tuple]]:
        return {n: sorted(self.query(f'SELECT * FROM "{self.schema}"."{n}"')) for n in self.names}

    def oid(self, schema: str, name: str) -> int | None:
        if self.kind == "duckdb":
            return None
        return self.query(f"SELECT '\"{schema}\".\"{name}\"'::regclass::oid")[0][0]

    def versions(self) -> list[str]:
        rows = self.query("SELECT table_name FROM information_schema.tables WHERE "
                          f"table_schema = 'assetry_versions' AND table_name LIKE '{self.prefix}%'")
        return sorted(r[0] for r in rows)

    def drop(self) -> None:
        if self.kind == "postgresql":
            self.query(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            for name in self.versions():
                self.query(f'DROP TABLE IF EXISTS assetry_versions."{name}"')


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request, files):
    made = Warehouse(files, request.param)
    yield made
    made.drop()


def statuses(files, run_id) -> dict[str, str]:
    con = duckdb.connect(str(files.catalog), read_only=True)
    try:
        rows = con.execute("SELECT asset, status FROM materializations WHERE run_id = ?",
                           [run_id]).fetchall()
    finally:
        con.close()
    return dict(rows)


def test_reverting_a_helper_edit_restores_tables_without_running_anything(warehouse):
    """Edit, run, revert, run: no function runs, every table is as before, the catalog says restored."""
    w = warehouse
    w.run(1)
    assert sorted(w.calls()) == ["base", "last"]
    before = w.tables()
    oid = w.oid(w.schema, w.names[0])
    edited = w.run(2)
    assert sorted(edited.materialized) == sorted(w.names) and len(w.calls()) == 2
    assert w.tables() != before
    # The replaced tables were moved (or, in DuckDB, copied) into assetry_versions.
    assert len(w.versions()) == 3
    if w.kind == "postgresql":  # renamed, not copied: the very same relation
        kept = [n for n in w.versions() if n.startswith(w.names[0])]
        assert w.oid("assetry_versions", kept[0]) == oid
    back = w.run(1)
    assert w.calls() == [] and back.materialized == [] and back.success
    assert w.tables() == before
    assert set(statuses(w.files, back.run_id).values()) == {"restored"}
    # The edited tables are the versions now; the restored ones left the schema.
    assert len(w.versions()) == 3
    again = w.run(1)
    assert sorted(again.skipped) == sorted(w.names) and w.calls() == []
    forward = w.run(2)
    assert w.calls() == [] and set(statuses(w.files, forward.run_id).values()) == {"restored"}


def test_catalog_loads_an_earlier_table_and_gc_drops_it(warehouse):
    """Catalog.versions lists the kept table; load(version=-1) reads it; gc drops it, never the product."""
    from click.testing import CliRunner

    from assetry.cli import cli

    w = warehouse
    w.run(1)
    first = pl.DataFrame(w.tables()[w.names[0]], schema=["n", "m"], orient="row")
    w.run(2)
    cat = Catalog(w.files.catalog)
    kept = cat.versions(w.names[0])
    assert kept.height == 1 and kept["kept"].to_list() == [True]
    earlier = cat.load(w.names[0], version=-1).sort("n")
    assert_frame_equal(earlier, first, check_dtypes=False)
    target = str(w.files.dir / "tables.py")
    done = CliRunner().invoke(cli, ["gc", target, "--keep", "0", "--root", str(w.files.root)],
                              catch_exceptions=False)
    assert done.output.strip() == "3 version(s) removed"
    assert w.versions() == []
    assert cat.load(w.names[0]).height == 3  # the current product stays


def test_retention_drops_the_oldest_table(warehouse):
    """With versions=1 only the newest earlier table stays in assetry_versions."""
    w = warehouse
    for delta in (1, 2, 3):
        w.run(delta, versions=1)
    assert len(w.versions()) == 3  # one per asset
    rows = Catalog(w.files.catalog).versions(w.names[0])
    assert rows["kept"].to_list() == [True, False]
    back = w.run(1, versions=1)  # the oldest went: runs again
    assert "base" in w.calls() and w.names[0] in back.materialized


def test_cli_restore_swaps_a_table_back(warehouse):
    """`assetry restore` makes the previous table current, in one transaction, recorded 'restored'."""
    from click.testing import CliRunner

    from assetry.cli import cli

    w = warehouse
    w.run(1)
    before = w.tables()[w.names[0]]
    w.run(2)
    w.calls()
    target = str(w.files.dir / "tables.py")
    done = CliRunner().invoke(cli, ["restore", target, w.names[0], "--root", str(w.files.root)],
                              catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert w.tables()[w.names[0]] == before
    assert Catalog(w.files.catalog).history(w.names[0])["status"][0] == "restored"
    # The product it replaced is kept in turn: going forward again is a restore too.
    forward = w.run(2)
    assert w.calls() == [] and forward.materialized == []


NO_VERSIONS = '''
import polars as pl
from assetry import asset, sql_asset
from assetry.clients import SQLAlchemyClient
from assetry.io_managers import SQLTable

CLIENT = SQLAlchemyClient({url!r})

@asset(io=SQLTable(CLIENT, table={table!r}), versions=2)
def stored() -> pl.DataFrame:
    return pl.DataFrame({{"n": [{value}]}})

@sql_asset(client=CLIENT, kind="view", table={view!r})
def shown(stored):
    return "SELECT n + {value} AS n FROM {{stored}}"
'''


@pytest.mark.parametrize("where", ["sqlite", "mysql"])
def test_other_databases_and_views_keep_no_versions(files, where):
    """SQLite, MySQL and views keep no versions: versions=N is accepted, going back runs again."""
    url = f"sqlite:///{files.dir.parent / 'w.db'}" if where == "sqlite" else MYSQL_URL
    suffix = uuid.uuid4().hex[:8]
    table, view = f"stored_{suffix}", f"shown_{suffix}"

    def run(value):
        source = NO_VERSIONS.format(url=url, table=table, view=view, value=value)
        return materialize(files.module("other.py", source), root=files.root, executor="sync",
                           versions=3)

    try:
        run(1)
        run(2)
        back = run(1)
        assert sorted(back.materialized) == ["shown", "stored"]
        assert Catalog(files.catalog).versions("stored").height == 0
    finally:
        if where == "mysql":
            import sqlalchemy as sa

            engine = sa.create_engine(MYSQL_URL.replace("mysql://", "mysql+pymysql://"))
            with engine.begin() as con:
                con.execute(sa.text(f"DROP VIEW IF EXISTS {view}"))
                con.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
            engine.dispose()


VIEWED = '''
from assetry import sql_asset
from assetry.clients import SQLAlchemyClient

CLIENT = SQLAlchemyClient({url!r})

@sql_asset(client=CLIENT, schema={schema!r}, name="{p}numbers")
def numbers():
    return "SELECT {value} AS n"

@sql_asset(client=CLIENT, schema={schema!r}, kind="view", name="{p}shown")
def shown({p}numbers):
    return "SELECT n FROM {{{p}numbers}}"
'''


def test_a_postgresql_table_under_a_view_is_never_moved_from_under_it(files):
    """PostgreSQL binds a view to its table: such a table is refilled, not kept, and the view
    keeps reading the current data."""
    w = Warehouse(files, "postgresql")
    try:
        def run(value):
            source = VIEWED.format(url=PG_DSN, schema=w.schema, p=w.prefix, value=value)
            return materialize(files.module("viewed.py", source), root=files.root,
                               executor="sync")

        run(1)
        run(2)
        assert w.query(f'SELECT n FROM "{w.schema}"."{w.prefix}shown"') == [(2,)]
        assert w.versions() == []
        back = run(1)
        assert w.prefix + "numbers" in back.materialized
        assert w.query(f'SELECT n FROM "{w.schema}"."{w.prefix}shown"') == [(1,)]
    finally:
        w.drop()


def test_a_worker_process_keeps_the_table_it_replaces(files):
    """With the processes executor the swap in the worker keeps the old PostgreSQL table too."""
    w = Warehouse(files, "postgresql")
    try:
        w.run(1)
        before = w.tables()
        w.run(2, executor="processes")
        assert len(w.versions()) == 3
        back = w.run(1, executor="threads")
        assert sorted(back.restored) == sorted(w.names) and w.tables() == before
    finally:
        w.drop()
