"""SQL assets whose upstream is on the object store: DuckDB scans it there, PostgreSQL gets it uploaded.

DuckDB reads a remote Parquet product through a ``pyarrow.dataset`` over the
store (no httpfs extension, no local copy): reading one of five columns fetches
a fraction of the product's bytes, counted at the moto server.
"""

from __future__ import annotations

import datetime
import pathlib
import uuid
from collections.abc import Iterator

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from s3_server import SECRET_KEY
from sql_fixtures import PG_DSN

from assetry import materialize
from assetry.clients import SQLAlchemyClient

ROWS = 200_000

UPSTREAM = """
import numpy as np
import polars as pl
from assetry import asset

@asset
def wide(seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({f"c{i}": rng.random(ROWS) for i in range(5)}).with_columns(
        k=(pl.int_range(pl.len()) % 4).cast(pl.String))

@asset
def by_k(wide: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {k: wide.filter(pl.col("k") == k).head(10) for k in ["0", "1", "2"]}
""".replace("ROWS", str(ROWS))

DUCKDB_SQL = """
from assetry import sql_asset, sql_dump
from assetry.clients import DuckDBClient

warehouse = DuckDBClient({database!r})

head = sql_dump("head", "SELECT k, c0 FROM {{wide}} ORDER BY c0 LIMIT 5", warehouse)

@sql_asset(client=warehouse)
def total(wide):
    return "SELECT round(sum(c0), 6) AS s, count(*) AS n FROM {{wide}}"

@sql_asset(client=warehouse)
def per_key(by_k):
    return "SELECT k, count(*) AS n FROM {{by_k}} GROUP BY k ORDER BY k"

@sql_asset(client=warehouse, kind="view")
def keys(wide):
    return "SELECT DISTINCT k FROM {{wide}} ORDER BY k"
"""

POSTGRES_SQL = """
from assetry import sql_asset
from assetry.clients import SQLAlchemyClient

warehouse = SQLAlchemyClient({dsn!r})

@sql_asset(client=warehouse, schema={schema!r})
def pg_total(wide):
    return "SELECT round(sum(c0)::numeric, 6)::float8 AS s, count(*) AS n FROM {{wide}}"
"""


@pytest.fixture
def remote_upstream(files, s3, tmp_path, monkeypatch):
    """The upstream assets stored on the bucket; local copies would go to ``tmp_path/cache``."""
    monkeypatch.setenv("ASSETRY_CACHE_DIR", str(tmp_path / "cache"))
    files.write("upstream.py", UPSTREAM)
    catalog = tmp_path / "catalog.duckdb"
    first = materialize(files.load("upstream.py"), root=s3.root,
                        storage_options=s3.storage_options, catalog=catalog)
    assert sorted(first.materialized) == ["by_k", "wide"]
    return catalog


def _expected_total(seed: int = 1) -> pl.DataFrame:
    import numpy as np

    c0 = np.random.default_rng(seed).random(ROWS)
    return pl.DataFrame({"s": [round(float(c0.sum()), 6)], "n": [ROWS]})


def _run(files, s3, catalog, *modules: str, **kw):
    loaded = [files.load(m) for m in modules]
    return materialize(loaded, root=s3.root, storage_options=s3.storage_options,
                       catalog=catalog, **kw)


def _local_copies(folder: pathlib.Path) -> list[pathlib.Path]:
    return [p for p in folder.rglob("*") if p.suffix in (".parquet", ".csv")]


def test_duckdb_scans_a_remote_parquet_upstream_in_place(files, s3, remote_upstream, tmp_path):
    """A DuckDB table reads one column of a remote Parquet upstream: a fraction of its bytes
    crosses the wire, nothing is copied to disk, and the next run is a no-op."""
    files.write("sql.py", DUCKDB_SQL.format(database=str(tmp_path / "warehouse.duckdb")))
    size = s3.fs.size(f"{s3.name}/data/wide.parquet")
    s3.reset()
    result = _run(files, s3, remote_upstream, "upstream.py", "sql.py", select="total")
    assert result.materialized == ["total"]
    sent = s3.counts()["sent"]
    assert_frame_equal(result.load("total"), _expected_total(), check_dtypes=False)
    assert sent < 0.4 * size, (sent, size)  # one column of five, and the footer
    assert _local_copies(tmp_path) == []

    again = _run(files, s3, remote_upstream, "upstream.py", "sql.py", select="total")
    assert again.materialized == [] and again.skipped == ["total"]

    changed = _run(files, s3, remote_upstream, "upstream.py", "sql.py", select="+total",
                   config={"wide": {"seed": 2}})
    assert changed.materialized == ["wide", "total"]
    reasons = {r.asset: r.reason for r in changed.records}
    assert reasons["total"] == "upstream changed: wide"
    assert_frame_equal(changed.load("total"), _expected_total(2), check_dtypes=False)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:  # no scan left registered
        names = {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
    assert not any(n.startswith("assetry_scan_") for n in names), names


def test_duckdb_reads_a_remote_directory_and_keeps_a_view(files, s3, remote_upstream, tmp_path):
    """A directory product is read through its manifest; a view over a remote upstream reads a
    staged table, so it still works from another connection after the run."""
    database = tmp_path / "warehouse.duckdb"
    files.write("sql.py", DUCKDB_SQL.format(database=str(database)))
    result = _run(files, s3, remote_upstream, "upstream.py", "sql.py",
                  select=["per_key", "keys"])
    assert sorted(result.materialized) == ["keys", "per_key"]
    assert_frame_equal(result.load("per_key"),
                       pl.DataFrame({"k": ["0", "1", "2"], "n": [10, 10, 10]}), check_dtypes=False)
    with duckdb.connect(str(database)) as con:  # a connection of its own: no scan of the run
        assert con.sql("SELECT k FROM main.keys ORDER BY k").fetchall() == [
            ("0",), ("1",), ("2",), ("3",)]
    assert _local_copies(tmp_path) == []
    again = _run(files, s3, remote_upstream, "upstream.py", "sql.py", select=["per_key", "keys"])
    assert again.materialized == []


def test_a_query_dump_of_a_remote_upstream_is_stored_on_the_store(files, s3, remote_upstream,
                                                                  tmp_path):
    """sql_dump reads a remote upstream (uploaded: its query streams on a connection of its own)
    and stores its Parquet file on the store, whole; the next run is a no-op."""
    files.write("sql.py", DUCKDB_SQL.format(database=str(tmp_path / "warehouse.duckdb")))
    result = _run(files, s3, remote_upstream, "upstream.py", "sql.py", select="head")
    assert result.materialized == ["head"]
    assert s3.fs.exists(f"{s3.name}/data/head.parquet")
    head = result.load("head")
    assert head.columns == ["k", "c0"] and head.height == 5
    assert head["c0"].is_sorted()
    assert _local_copies(tmp_path) == []
    again = _run(files, s3, remote_upstream, "upstream.py", "sql.py", select="head")
    assert again.materialized == [] and again.skipped == ["head"]


def test_a_failing_sql_asset_names_its_remote_upstream(files, s3, remote_upstream, tmp_path):
    """A SQL error over a remote upstream names the asset and where the upstream is stored."""
    files.write("bad.py", f"""
from assetry import sql_asset
from assetry.clients import DuckDBClient

@sql_asset(client=DuckDBClient({str(tmp_path / "warehouse.duckdb")!r}))
def broken(wide):
    return "SELECT no_such_column FROM {{wide}}"
""")
    result = _run(files, s3, remote_upstream, "upstream.py", "bad.py", select="broken",
                  raise_on_error=False)
    assert result.failed == ["broken"]
    error = result.errors["broken"]
    assert "no_such_column" in error
    assert f"wide=s3://{s3.name}/data/wide.parquet" in error and "ObjectRef" not in error


PARTITIONED = """
import datetime
import polars as pl
from assetry import DailyPartitions, asset, sql_asset
from assetry.clients import DuckDBClient

warehouse = DuckDBClient({database!r})

@asset(partitions=DailyPartitions(start="2024-01-01", end="2024-01-03"))
def daily(partition: datetime.date) -> pl.DataFrame:
    return pl.DataFrame({{"n": [partition.day] * partition.day}})

@sql_asset(client=warehouse)
def per_day(daily):
    return "SELECT date, count(*) AS rows, sum(n) AS total FROM {{daily}} GROUP BY date ORDER BY date"
"""


def test_duckdb_reads_every_partition_of_a_remote_upstream(files, s3, tmp_path, monkeypatch):
    """A SQL asset over a partitioned upstream on the store gets every partition, with the
    partition column typed as on local disk, and no local copy."""
    monkeypatch.setenv("ASSETRY_CACHE_DIR", str(tmp_path / "cache"))
    files.write("parts.py", PARTITIONED.format(database=str(tmp_path / "warehouse.duckdb")))
    result = _run(files, s3, tmp_path / "catalog.duckdb", "parts.py")
    assert sorted(result.materialized) == [
        "daily[2024-01-01]", "daily[2024-01-02]", "daily[2024-01-03]", "per_day"]
    expected = pl.DataFrame({
        "date": [datetime.date(2024, 1, d) for d in (1, 2, 3)], "rows": [1, 2, 3],
        "total": [1, 4, 9],
    })
    loaded = result.load("per_day")
    assert loaded["date"].dtype == pl.Date
    assert_frame_equal(loaded, expected, check_dtypes=False)
    assert _local_copies(tmp_path) == []


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema (ASSETRY_TEST_PG), dropped afterwards."""
    schema = f"s15_{uuid.uuid4().hex[:10]}"
    yield schema
    client = SQLAlchemyClient(PG_DSN)
    try:
        client.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        client.close()


def test_postgres_gets_a_remote_upstream_uploaded(files, s3, remote_upstream, pg_schema):
    """PostgreSQL cannot read the store: the upstream's rows are uploaded, the table is right, the
    next run is a no-op, and no credential of the store reaches the database or the catalog."""
    files.write("pg.py", POSTGRES_SQL.format(dsn=PG_DSN, schema=pg_schema))
    result = _run(files, s3, remote_upstream, "upstream.py", "pg.py")
    assert result.materialized == ["pg_total"]
    assert_frame_equal(result.load("pg_total"), _expected_total(), check_dtypes=False)
    client = SQLAlchemyClient(PG_DSN)
    try:
        staged = client.relations(pg_schema)
    finally:
        client.close()
    assert staged == ["pg_total"]  # the staging table is gone once the table is built
    again = _run(files, s3, remote_upstream, "upstream.py", "pg.py")
    assert again.materialized == [] and "pg_total" in again.skipped
    assert SECRET_KEY.encode() not in pathlib.Path(remote_upstream).read_bytes()
