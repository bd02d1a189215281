"""The catalog file: tables declared as data, migrations on open, IO managers kept by class path."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sqlite3

import cloudpickle
import duckdb
import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from assetry import Catalog, CatalogError, StorageError, materialize
from assetry.clients import DBAPIClient, DuckDBClient, SQLAlchemyClient
from assetry.io_managers import CSV, JSON, Directory, DuckDBTable, Parquet, Pickle, SQLTable
from assetry.io_managers.catalog_form import CatalogForm
from assetry.io_managers.relations import QueryDump, Relation
from assetry.io_managers.sql_partitions import PartitionedTable
from assetry.records import (
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLES,
    _migrations,
    _open,
    connect,
    read_records,
)

PG = os.environ.get("ASSETRY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

#: The tables exactly as schema version 1 wrote them (assetry/_catalog_files.py before issue 9).
SCHEMA_1 = {
    "meta": "key VARCHAR PRIMARY KEY, value VARCHAR",
    "runs": (
        "run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR, "
        "n_materialized INTEGER, n_skipped INTEGER, n_failed INTEGER, n_blocked INTEGER, "
        "root VARCHAR, executor VARCHAR, pid INTEGER"
    ),
    "materializations": (
        "run_id VARCHAR, asset VARCHAR, partition VARCHAR, status VARCHAR, reason VARCHAR, "
        "fingerprint VARCHAR, code_fingerprint VARCHAR, data_fingerprint VARCHAR, "
        "started_at TIMESTAMP, duration_s DOUBLE, rows BIGINT, bytes BIGINT, location VARCHAR, "
        "error VARCHAR, attempts INTEGER"
    ),
    "assets": (
        "asset VARCHAR, partition VARCHAR, fingerprint VARCHAR, code_fingerprint VARCHAR, "
        "config_fingerprint VARCHAR, io_fingerprint VARCHAR, upstream VARCHAR, "
        "data_fingerprint VARCHAR, stat_key VARCHAR, io VARCHAR, io_pickle BLOB, "
        "location VARCHAR, rows BIGINT, bytes BIGINT, schema VARCHAR, updated_at TIMESTAMP, "
        "run_id VARCHAR"
    ),
    "dependencies": "asset VARCHAR, upstream VARCHAR",
    "checks": (
        'run_id VARCHAR, asset VARCHAR, partition VARCHAR, "check" VARCHAR, passed BOOLEAN, '
        "blocking BOOLEAN, detail VARCHAR"
    ),
}

FRAME = pl.DataFrame({"n": [1, 2, 3]})
WHEN = dt.datetime(2024, 5, 1, 12, 0, 0)


def _schema_1_catalog(tmp_path, io_pickle=None):
    """A catalog file as assetry wrote it at schema 1, with one run that stored ``numbers``."""
    path = tmp_path / "catalog.duckdb"
    product = tmp_path / "numbers.parquet"
    FRAME.write_parquet(product)
    con = duckdb.connect(str(path))
    for table, columns in SCHEMA_1.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute(
        "INSERT INTO runs VALUES ('r1', ?, ?, 'success', 1, 0, 0, 0, ?, 'threads', 4242)",
        [WHEN, WHEN, str(tmp_path)],
    )
    con.execute(
        "INSERT INTO materializations VALUES ('r1', 'numbers', NULL, 'materialized', "
        "'never materialized', 'fp', 'code', 'data', ?, 0.5, 3, ?, ?, NULL, 1)",
        [WHEN, product.stat().st_size, str(product)],
    )
    con.execute(
        "INSERT INTO assets VALUES ('numbers', NULL, 'fp', 'code', 'config', 'iofp', '{}', "
        "'data', NULL, ?, ?, ?, 3, ?, 'n: Int64', ?, 'r1')",
        ["Parquet(compression='zstd')", io_pickle or cloudpickle.dumps(Parquet()), str(product),
         product.stat().st_size, WHEN],
    )
    con.execute("INSERT INTO dependencies VALUES ('total', 'numbers')")
    con.execute("INSERT INTO checks VALUES ('r1', 'numbers', NULL, 'row_count(min=1)', true, true, NULL)")
    con.close()
    return path


def _columns(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            table: [(name, kind) for name, kind, *_ in con.execute(f'DESCRIBE "{table}"').fetchall()]
            for table in TABLES
        }
    finally:
        con.close()


def _rows(path, table):
    con = duckdb.connect(str(path), read_only=True)
    try:
        cur = con.execute(f'SELECT * FROM "{table}"')
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()


def _set_io(path, asset, **columns):
    con = duckdb.connect(str(path))
    sets = ", ".join(f"{name} = ?" for name in columns)
    con.execute(f"UPDATE assets SET {sets} WHERE asset = ?", [*columns.values(), asset])
    con.close()


# -- tables as data, migrations ----------------------------------------------------------------


def test_new_catalog_has_the_declared_tables(tmp_path):
    """A new catalog's tables have exactly the declared columns, types and order."""
    connect(tmp_path / "catalog.duckdb").close()
    columns = _columns(tmp_path / "catalog.duckdb")
    assert columns == {table: list(cols.items()) for table, cols in TABLES.items()}
    assert _rows(tmp_path / "catalog.duckdb", "meta") == [
        {"key": "schema_version", "value": str(SCHEMA_VERSION)}
    ]


def test_migrations_are_consecutive_and_add_declared_columns():
    """Migrations run from version 2 up without gaps, and each adds columns TABLES declares."""
    assert [m.version for m in MIGRATIONS] == list(range(2, SCHEMA_VERSION + 1))
    for migration in MIGRATIONS:
        for table, columns in migration.adds.items():
            assert set(columns) <= set(TABLES[table]), (migration.version, table)


def test_schema_1_catalog_opens_gains_the_new_columns_and_keeps_its_rows(tmp_path):
    """A catalog written at schema 1 is migrated on open: new columns, old rows intact, loads."""
    path = _schema_1_catalog(tmp_path)
    before = {table: _rows(path, table) for table in SCHEMA_1 if table != "meta"}

    connect(path).close()

    fresh = tmp_path / "fresh" / "catalog.duckdb"
    fresh.parent.mkdir()
    connect(fresh).close()
    assert _columns(path) == _columns(fresh)  # migrated == created new, column order included
    assert _rows(path, "meta") == [{"key": "schema_version", "value": str(SCHEMA_VERSION)}]
    for table, rows in before.items():
        after = _rows(path, table)
        assert [{k: r[k] for k in rows[0]} for r in after] == rows, table
    (asset,) = _rows(path, "assets")
    assert asset["io_class"] is None and asset["io_settings"] is None
    (done,) = _rows(path, "materializations")
    assert done["traceback"] is None
    assert_frame_equal(Catalog(path).load("numbers"), FRAME)


def test_reader_migrates_a_schema_1_catalog_no_one_holds(tmp_path):
    """Catalog.sql on a schema 1 file migrates it first, so the documented columns exist."""
    path = _schema_1_catalog(tmp_path)
    df = Catalog(path).sql("SELECT asset, traceback FROM materializations")
    assert df.rows() == [("numbers", None)]
    assert _rows(path, "meta")[0]["value"] == str(SCHEMA_VERSION)


def test_failed_migration_changes_nothing(tmp_path, monkeypatch):
    """A migration that fails leaves the file at its old version, without the new columns."""
    path = _schema_1_catalog(tmp_path)
    before = _columns_of_schema_1(path)
    broken = _migrations.Migration(version=SCHEMA_VERSION + 1, adds={}, why="test",
                                   statements=("SELECT no_such_column FROM runs",))
    monkeypatch.setattr(_migrations, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(_open, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(CatalogError, match=rf"could not be migrated from schema version 1 to {SCHEMA_VERSION + 1} .*nothing was changed"):
        connect(path).close()
    assert _columns_of_schema_1(path) == before
    assert _rows(path, "meta")[0]["value"] == "1"


def _columns_of_schema_1(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f'DESCRIBE "{t}"').fetchall() for t in SCHEMA_1}
    finally:
        con.close()


@pytest.mark.parametrize("read_only", [False, True], ids=["writer", "reader"])
def test_catalog_from_a_newer_version_is_refused_untouched(tmp_path, read_only):
    """A catalog of a newer schema version is a CatalogError naming both versions; never migrated."""
    path = tmp_path / "catalog.duckdb"
    connect(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    before = path.read_bytes()
    newer = rf"schema version {SCHEMA_VERSION + 1}, newer than this assetry understands \({SCHEMA_VERSION}\); upgrade assetry"
    with pytest.raises(CatalogError, match=newer):
        connect(path, read_only=read_only)
    assert path.read_bytes() == before


# -- IO managers kept by class path ------------------------------------------------------------


def _managers(tmp_path):
    duck = DuckDBClient(tmp_path / "w.duckdb")
    return {
        "parquet": Parquet(compression="snappy"),
        "csv": CSV(separator=";"),
        "json": JSON(indent=2),
        "pickle": Pickle(),
        "directory-of-csv": Directory(format=CSV(separator="|")),
        "duckdb-table": DuckDBTable(database=str(tmp_path / "w.duckdb"), table="t"),
        "sql-table-duckdb": SQLTable(duck, schema="main", table="t"),
        "sql-table-postgres": SQLTable(SQLAlchemyClient(PG), table="t"),
        "sql-table-sqlite-dbapi": SQLTable(DBAPIClient(sqlite3.connect, database=str(tmp_path / "s.db"))),
        "relation": Relation(duck, "main", "stats", kind="view"),
        "partitioned-table": PartitionedTable(duck, table="daily"),
        "query-dump": QueryDump(Parquet(compression="lz4"), batch_size=1000),
    }


MANAGERS = [
    "parquet", "csv", "json", "pickle", "directory-of-csv", "duckdb-table", "sql-table-duckdb",
    "sql-table-postgres", "sql-table-sqlite-dbapi", "relation", "partitioned-table", "query-dump",
]


@pytest.mark.parametrize("name", MANAGERS)
def test_every_manager_is_kept_by_class_path_and_rebuilt(tmp_path, name):
    """Each of assetry's managers is kept as class path + JSON settings and rebuilds equal."""
    manager = _managers(tmp_path)[name]
    form = CatalogForm.of(manager)
    assert form.io_pickle is None
    assert form.io_class is not None and form.io_class.startswith("assetry.io_managers")
    json.loads(form.io_settings)
    rebuilt = form.rebuild()
    assert type(rebuilt) is type(manager)
    assert rebuilt.settings() == manager.settings()  # what enters the fingerprint
    assert CatalogForm.of(rebuilt) == form


def test_client_settings_in_the_catalog_have_no_password(tmp_path):
    """A client's password stays out of io_settings; the rebuilt client names the same database."""
    url = sa.make_url(PG).set(password="sekrit-1").render_as_string(hide_password=False)
    dbapi = DBAPIClient(sqlite3.connect, database=str(tmp_path / "s.db"), password="sekrit-2")
    for manager in (SQLTable(SQLAlchemyClient(url)), SQLTable(dbapi)):
        form = CatalogForm.of(manager)
        assert "sekrit" not in form.io_settings
        assert form.rebuild().client.identity() == manager.client.identity()


def test_row_naming_the_class_where_its_package_exports_it_loads(tmp_path):
    """A row whose io_class names a module that no longer holds the class loads via its package."""
    path = _schema_1_catalog(tmp_path)
    connect(path).close()
    _set_io(path, "numbers", io_pickle=None, io_class="assetry.io_managers.moved_away:Parquet",
            io_settings='{"compression": "zstd"}')
    assert_frame_equal(Catalog(path).load("numbers"), FRAME)


def test_moved_user_class_loads_from_its_new_module(files):
    """A user's manager recorded by class path still loads after it moved to another module."""
    (files.dir / "stores").mkdir()
    files.write("stores/__init__.py", "from stores.impl import Upper\n")
    files.write("stores/impl.py", UPPER)
    mod = files.module("pipe.py", """
        import polars as pl
        from assetry import asset
        from stores import Upper

        @asset(io=Upper(suffix="!"))
        def words() -> pl.DataFrame:
            return pl.DataFrame({"w": ["a", "b"]})
    """)
    materialize(mod, root=files.root)
    (row,) = _rows(files.catalog, "assets")
    assert (row["io_class"], row["io_settings"], row["io_pickle"]) == (
        "stores:Upper", '{"suffix": "!"}', None
    )
    # The class moves to stores/v2.py; a catalog naming the old module still finds it.
    (files.dir / "stores" / "impl.py").unlink()
    files.write("stores/v2.py", UPPER)
    files.write("stores/__init__.py", "from stores.v2 import Upper\n")
    files.forget()
    _set_io(files.catalog, "words", io_class="stores.impl:Upper")
    assert Catalog(files.catalog).load("words")["w"].to_list() == ["A!", "B!"]


UPPER = '''
import pathlib

import attrs
import polars as pl

from assetry.io_managers.base import FileIOManager


@attrs.frozen
class Upper(FileIOManager):
    """CSV whose strings are stored upper-cased, with a suffix."""

    suffix: str = ""
    extension = "csv"

    def write(self, value, path: pathlib.Path):
        value.with_columns(pl.col(pl.String).str.to_uppercase() + self.suffix).write_csv(path)
        return value.height, None

    def load(self, location, annotation=None):
        return pl.read_csv(location)
'''


def test_user_manager_round_trips_and_stays_fresh(files):
    """A user's manager subclass is kept by class path + settings, loads, and is fresh next run."""
    mod = files.module("pipe.py", UPPER + '''
from assetry import asset


@asset(io=Upper(suffix="?"))
def words() -> pl.DataFrame:
    return pl.DataFrame({"w": ["x"]})


@asset
def unannotated(words):
    return words
''')
    materialize(mod, root=files.root)
    rows = {r["asset"]: r for r in _rows(files.catalog, "assets")}
    assert rows["words"]["io_class"].endswith(":Upper") and rows["words"]["io_pickle"] is None
    assert Catalog(files.catalog).load("words")["w"].to_list() == ["X?"]
    again = materialize(mod, root=files.root)
    assert again.materialized == [] and sorted(again.skipped) == ["unannotated", "words"]


def test_manager_with_an_arbitrary_object_is_kept_as_a_pickle(files):
    """A manager whose setting JSON cannot describe falls back to io_pickle, and still loads."""
    mod = files.module("pipe.py", UPPER + '''
from assetry import asset


class Codec:
    def __eq__(self, other):
        return isinstance(other, Codec)

    def __hash__(self):
        return 1


import assetry.fingerprints
assetry.fingerprints.register(Codec, lambda codec: "codec")


@attrs.frozen
class WithCodec(Upper):
    codec: Codec = attrs.field(factory=Codec)


@asset(io=WithCodec(suffix="~"))
def words() -> pl.DataFrame:
    return pl.DataFrame({"w": ["q"]})
''')
    materialize(mod, root=files.root)
    (row,) = _rows(files.catalog, "assets")
    assert row["io_class"] is None and row["io_settings"] is None and row["io_pickle"]
    assert Catalog(files.catalog).load("words")["w"].to_list() == ["Q~"]


def test_reading_records_decodes_no_manager(tmp_path):
    """Rows are read as stored: a row whose class is gone fails only when it is loaded."""
    path = _schema_1_catalog(tmp_path)
    connect(path).close()
    _set_io(path, "numbers", io_pickle=None, io_class="nowhere.at.all:Gone", io_settings="{}")
    (row,) = Catalog(path).records().values()
    assert row["io_class"] == "nowhere.at.all:Gone"
    with pytest.raises(StorageError, match=r"IO manager of 'numbers' in the catalog, 'nowhere.at.all:Gone'.*cannot be rebuilt.*force=True"):
        Catalog(path).load("numbers")


def test_schema_1_pickle_of_a_moved_private_class_loads():
    """A schema 1 pickle naming a private class that moved in issue 9 finds it at its new place."""
    from assetry.io_managers import catalog_form

    unpickler = catalog_form._Unpickler(io.BytesIO(b""))
    found = unpickler.find_class("assetry.clients", "_FunctionRef")
    assert found.__module__ == "assetry.clients._kinds"


def test_read_records_keys_rows_by_asset_and_partition(tmp_path):
    """read_records gives every assets row keyed by (asset, partition), with the io columns raw."""
    path = _schema_1_catalog(tmp_path)
    con = connect(path)
    try:
        records = read_records(con)
    finally:
        con.close()
    assert list(records) == [("numbers", None)]
    assert isinstance(records[("numbers", None)]["io_pickle"], bytes)


@pytest.mark.parametrize("make", [
    lambda: SQLAlchemyClient("postgresql://ana@127.0.0.1:5432/test", connect_timeout=3,
                             statement_timeout=7),
    lambda: DBAPIClient(sqlite3.connect, ":memory:", connect_timeout=3, statement_timeout=7),
], ids=["sqlalchemy", "dbapi"])
def test_client_timeouts_survive_the_catalog(make):
    """A client rebuilt from the catalog keeps the connect and statement timeouts it was given."""
    manager = SQLTable(make(), table="t")
    rebuilt = CatalogForm.of(manager).rebuild("t")
    assert (rebuilt.client.connect_timeout, rebuilt.client.statement_timeout) == (3, 7)
