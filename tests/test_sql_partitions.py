"""PartitionedTable: one SQL table per partitioned asset, replaced partition by partition."""

from __future__ import annotations

import os
import uuid

import polars as pl
import pytest

from assetry import materialize
from assetry.clients import DuckDBClient, SQLAlchemyClient

PG_DSN = os.environ.get("ASSETRY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

PIPELINE = '''
import datetime
import polars as pl
from assetry import DailyPartitions, asset
from assetry.clients import DuckDBClient, SQLAlchemyClient
from assetry.io_managers.sql_partitions import PartitionedTable

CLIENT = {client}
FAIL_ON = {fail_on!r}
EXTRA = {extra!r}

@asset(partitions=DailyPartitions("2013-01-01", "2013-01-03"),
       io=PartitionedTable(CLIENT, table={table!r}))
def daily(partition: datetime.date) -> pl.DataFrame:
    if partition.isoformat() == FAIL_ON:
        raise RuntimeError("the feed for this day is broken")
    frame = pl.DataFrame({{"n": [partition.day, partition.day * 10], "version": [{version}] * 2}})
    return frame.with_columns(extra=pl.lit("x")) if partition.isoformat() == EXTRA else frame

@asset
def total(daily: pl.LazyFrame) -> pl.DataFrame:
    return daily.group_by("date").agg(pl.col("n").sum()).sort("date").collect()
'''


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request, tmp_path):
    """(client source text, a client to inspect with, table name); the table is dropped after."""
    table = f"daily_{uuid.uuid4().hex[:10]}"
    if request.param == "duckdb":
        path = tmp_path / "warehouse.duckdb"
        source = f"DuckDBClient({str(path)!r})"
        client = DuckDBClient(path)
    else:
        source = f"SQLAlchemyClient({PG_DSN!r})"
        client = SQLAlchemyClient(PG_DSN)
    yield source, client, table
    schema = client.default_schema()
    for name in [table, *(n for n in client.relations(schema) if n.startswith(f"{table}__assetry"))]:
        if client.relation_exists(schema, name):
            client.execute(f"DROP TABLE {client.qualified(schema, name)}")
    client.close()


def pipeline(files, backend, version=1, fail_on=None, extra=None):
    source, _, table = backend
    return files.module("sqlpipe.py", PIPELINE.format(
        client=source, table=table, version=version, fail_on=fail_on, extra=extra,
    ))


def rows(backend):
    _, client, table = backend
    frame = pl.from_arrow(client.fetch_arrow(
        f"SELECT CAST(date AS VARCHAR(10)) AS date, n, version FROM {client.qualified(None, table)} "
        "ORDER BY date, n"
    ))
    return frame.rows()


def test_partitions_share_one_table_keyed_by_date(files, backend):
    """Every partition lands in one table with a date column; an unchanged run skips them."""
    first = materialize(pipeline(files, backend), root=files.root, executor="sync")
    assert sorted(first.materialized) == [
        "daily[2013-01-01]", "daily[2013-01-02]", "daily[2013-01-03]", "total",
    ]
    assert rows(backend) == [
        ("2013-01-01", 1, 1), ("2013-01-01", 10, 1), ("2013-01-02", 2, 1), ("2013-01-02", 20, 1),
        ("2013-01-03", 3, 1), ("2013-01-03", 30, 1),
    ]
    assert first.load("total")["n"].to_list() == [11, 22, 33]
    assert materialize(pipeline(files, backend), root=files.root).materialized == []


def test_failed_partition_leaves_every_partition_intact(files, backend):
    """A partition whose run fails, or whose insert the database refuses, changes no rows."""
    materialize(pipeline(files, backend), root=files.root)
    before = rows(backend)
    result = materialize(
        pipeline(files, backend, version=2, fail_on="2013-01-02", extra="2013-01-03"),
        root=files.root, partitions="2013-01-02..2013-01-03", raise_on_error=False,
    )
    assert sorted(result.failed) == ["daily[2013-01-02]", "daily[2013-01-03]"]
    assert "was not replaced, the table is as it was" in result.errors["daily[2013-01-03]"]
    assert rows(backend) == before


def test_rerun_replaces_only_its_partition(files, backend):
    """A code change replaces each partition's rows; a narrowed run touches only its keys."""
    materialize(pipeline(files, backend), root=files.root)
    result = materialize(
        pipeline(files, backend, version=2), root=files.root, partitions="2013-01-02"
    )
    assert result.materialized == ["daily[2013-01-02]", "total"]
    assert [r[2] for r in rows(backend)] == [1, 1, 2, 2, 1, 1]
    assert len(rows(backend)) == 6


def test_deleted_partition_rows_rerun_that_partition(files, backend):
    """Rows deleted outside assetry make that partition 'product missing'."""
    _, client, table = backend
    materialize(pipeline(files, backend), root=files.root)
    client.execute(f"DELETE FROM {client.qualified(None, table)} WHERE n = 3 OR n = 30")
    result = materialize(pipeline(files, backend), root=files.root)
    assert result.materialized == ["daily[2013-01-03]"]
    assert result.reasons["daily[2013-01-03]"] == "product missing"
    assert len(rows(backend)) == 6
