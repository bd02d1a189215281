"""SQL IO managers: DuckDBTable and SQLTable over every real backend."""

from __future__ import annotations

import json
import pathlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import cloudpickle
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal
from sql_fixtures import BACKENDS, drop, leftovers, make_client, mixed_frame, refused_frame

from assetry.clients import DuckDBClient, SQLAlchemyClient
from assetry.errors import AssetTypeError, ClientError, StorageError
from assetry.io_managers.base import IOManager, Observation, Stored
from assetry.io_managers.sql import DuckDBTable, SQLTable

MANAGERS = ["duckdb_table", *(f"sql_table-{b}" for b in BACKENDS)]


@pytest.fixture(params=MANAGERS)
def manager(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Any]:
    """A DuckDBTable, or an SQLTable on one backend; its connections closed afterwards."""
    if request.param == "duckdb_table":
        made: Any = DuckDBTable(database=str(tmp_path / "warehouse.duckdb"))
    else:
        made = SQLTable(make_client(request.param.removeprefix("sql_table-"), tmp_path))
    yield made
    made.client.close()


@pytest.fixture
def place(manager: Any, tmp_path: pathlib.Path) -> Iterator[Callable[[], str]]:
    """A factory of fresh product locations; their tables are dropped afterwards."""
    names: list[str] = []

    def new() -> str:
        names.append(f"p_{uuid.uuid4().hex[:10]}")
        return manager.default_location(tmp_path, names[-1])

    yield new
    for name in names:
        drop(manager.client, manager.schema, name)


def as_polars(value: Any) -> pl.DataFrame:
    if isinstance(value, pl.LazyFrame):
        return value.collect()
    if isinstance(value, pd.DataFrame):
        return pl.from_pandas(value)
    return pl.from_arrow(value) if isinstance(value, pa.Table) else value


@pytest.mark.parametrize(
    ("annotation", "kind"),
    [(None, pl.DataFrame), (pl.DataFrame, pl.DataFrame), (pl.LazyFrame, pl.LazyFrame),
     (pa.Table, pa.Table), (pd.DataFrame, pd.DataFrame)],
    ids=["natural", "polars", "lazy", "arrow", "pandas"],
)
def test_round_trip_by_annotation(
    manager: Any, place: Callable[[], str], annotation: Any, kind: type
) -> None:
    """A saved frame loads back as the annotated type with equal values and dtypes."""
    location = place()
    frame = mixed_frame()
    manager.save(frame, location)
    loaded = manager.load(location, annotation)
    assert isinstance(loaded, kind)
    if kind is pd.DataFrame:  # pandas has no null booleans or dates of its own
        assert loaded["id"].tolist() == frame["id"].to_list()
        return
    assert_frame_equal(as_polars(loaded).sort("id"), frame)


def test_save_reports_location_rows_and_schema(manager: Any, place: Callable[[], str]) -> None:
    """save() returns the location, row count and column types; a table has no byte size."""
    location = place()
    frame = mixed_frame()
    stored = manager.save(frame, location)
    assert stored == Stored(location=location, rows=4, bytes=None, schema=stored.schema)
    assert json.loads(stored.schema) == {k: str(v) for k, v in frame.schema.items()}


@pytest.mark.parametrize(
    "convert",
    [lambda f: f.lazy(), lambda f: f.to_arrow(), lambda f: f.select("id", "x", "s").to_pandas()],
    ids=["lazy", "arrow", "pandas"],
)
def test_save_takes_lazy_arrow_and_pandas(
    manager: Any, place: Callable[[], str], convert: Callable[[pl.DataFrame], Any]
) -> None:
    """LazyFrame, Arrow and pandas values are stored like a polars frame."""
    location = place()
    value = convert(mixed_frame())
    assert manager.save(value, location).rows == 4
    assert_frame_equal(manager.load(location).sort("id"), as_polars(value))


def test_save_overwrites(manager: Any, place: Callable[[], str]) -> None:
    """A second save replaces the table's rows and columns."""
    location = place()
    manager.save(mixed_frame(), location)
    second = pl.DataFrame({"only": ["one"]})
    manager.save(second, location)
    assert_frame_equal(manager.load(location), second)


def test_failed_save_keeps_the_previous_product(manager: Any, place: Callable[[], str]) -> None:
    """A save the database refuses leaves the previous table readable and unchanged."""
    location = place()
    manager.save(pl.DataFrame({"a": [1, 2]}), location)
    before = manager.observe(location)
    with pytest.raises(ClientError, match="failed on"):
        manager.save(refused_frame(manager.client.dialect), location)
    assert manager.load(location)["a"].to_list() == [1, 2]
    assert manager.observe(location) == before
    assert leftovers(manager.client, location.rsplit("#", 1)[1].rsplit(".", 1)[-1]) == []


def test_observe_tracks_the_table(manager: Any, place: Callable[[], str]) -> None:
    """observe() is None before a save, stable for equal data, different after a change.

    Its change key is PostgreSQL's stamp of the upload, elsewhere the table's digest.
    """
    location = place()
    assert manager.observe(location) is None
    manager.save(mixed_frame(), location)
    first = manager.observe(location)
    assert isinstance(first, Observation)
    if manager.client.dialect == "postgresql":
        assert first.stat_key.startswith("rows:")
    else:
        assert first.stat_key == f"table:{first.data_fingerprint}"
    assert manager.observe(location, first) == first
    manager.save(mixed_frame().with_columns(pl.col("id") * 10), location)
    assert manager.observe(location).data_fingerprint != first.data_fingerprint


def test_a_value_that_is_not_a_frame_is_refused(manager: Any, place: Callable[[], str]) -> None:
    """Saving a dict raises AssetTypeError naming the manager and the type; nothing is written."""
    location = place()
    with pytest.raises(AssetTypeError, match=r"stores data frames, but the value is dict"):
        manager.save({"a": [1]}, location)
    assert manager.observe(location) is None


def test_a_path_annotation_is_refused(manager: Any, place: Callable[[], str]) -> None:
    """A table has no file path: loading as pathlib.Path raises AssetTypeError."""
    location = place()
    manager.save(pl.DataFrame({"a": [1]}), location)
    with pytest.raises(AssetTypeError, match="has no file path"):
        manager.load(location, pathlib.Path)


def test_managers_pickle_with_their_client(manager: Any, place: Callable[[], str]) -> None:
    """A manager used, pickled and loaded saves and loads through its own new connections."""
    location = place()
    manager.save(pl.DataFrame({"a": [1]}), location)
    copy = cloudpickle.loads(cloudpickle.dumps(manager))
    try:
        assert copy.settings() == manager.settings()
        copy.save(pl.DataFrame({"a": [2]}), location)
        assert copy.load(location)["a"].to_list() == [2]
    finally:
        copy.client.close()
    assert manager.load(location)["a"].to_list() == [2]


def test_duckdb_locations_name_file_schema_and_table(tmp_path: pathlib.Path) -> None:
    """A DuckDB location is duckdb:<absolute path>#<schema>.<table>; table= overrides the name."""
    database = tmp_path / "w.duckdb"
    manager = DuckDBTable(database=str(database))
    assert manager.default_location(tmp_path, "flights") == f"duckdb:{database}#main.flights"
    other = DuckDBTable(database=str(database), schema="raw", table="f")
    assert other.default_location(tmp_path, "flights") == f"duckdb:{database}#raw.f"
    partitioned = manager.default_location(tmp_path, "flights", partition="2024-01")
    assert partitioned == f"duckdb:{database}#main.flights__2024-01"
    assert DuckDBTable(database="rel.duckdb").database == str(pathlib.Path.cwd() / "rel.duckdb")
    assert not database.exists()  # building a manager opens nothing


def test_sql_locations_name_server_and_table(tmp_path: pathlib.Path) -> None:
    """An SQLTable location names the server and database, never the user or password."""
    client = SQLAlchemyClient("postgresql://alice:s3cret@db.example:6543/sales")
    manager = SQLTable(client)
    assert manager.default_location(tmp_path, "f") == "postgresql://db.example:6543/sales#f"
    assert SQLTable(client, schema="mart").default_location(tmp_path, "f").endswith("#mart.f")
    assert "s3cret" not in manager.describe()
    assert manager.settings() == {"client": client.identity(), "schema": None, "table": None}


def test_odd_names_survive_the_location(tmp_path: pathlib.Path) -> None:
    """Dots, hashes and percents in names are escaped in the location and read back exactly."""
    manager = DuckDBTable(database=str(tmp_path / "w.duckdb"), schema="s.1#")
    location = manager.default_location(tmp_path, "a.b#c%d")
    assert location.endswith("#s%2E1%23.a%2Eb%23c%25d")
    manager.save(pl.DataFrame({"x": [1]}), location)
    assert manager.client.relations("s.1#") == ["a.b#c%d"]
    assert manager.load(location)["x"].to_list() == [1]


def test_a_location_of_another_database_is_refused(tmp_path: pathlib.Path) -> None:
    """Loading a location written for another database raises StorageError."""
    manager = DuckDBTable(database=str(tmp_path / "a.duckdb"))
    elsewhere = DuckDBTable(database=str(tmp_path / "b.duckdb"))
    with pytest.raises(StorageError, match="is not a table of duckdb:"):
        manager.load(elsewhere.default_location(tmp_path, "t"))
    with pytest.raises(StorageError, match="is not a table of"):
        manager.observe(str(tmp_path / "t.parquet"))


def test_unusable_table_names_are_refused(tmp_path: pathlib.Path) -> None:
    """A table or partition name over 63 bytes fails when the location is made."""
    manager = DuckDBTable(database=str(tmp_path / "w.duckdb"))
    with pytest.raises(ClientError, match="bytes long"):
        manager.default_location(tmp_path, "n" * 64)
    with pytest.raises(ClientError, match="bytes long"):
        manager.default_location(tmp_path, "n" * 60, partition="2024-01-01")


def test_managers_are_frozen_values(tmp_path: pathlib.Path) -> None:
    """Equal settings make equal, hashable managers with their short names."""
    database = str(tmp_path / "w.duckdb")
    assert DuckDBTable(database=database) == DuckDBTable(database=database)
    assert hash(DuckDBTable(database=database)) == hash(DuckDBTable(database=database))
    assert isinstance(DuckDBTable(database=database), IOManager)
    assert (DuckDBTable.short_name, SQLTable.short_name) == ("duckdb_table", "sql_table")
    assert DuckDBTable(database=database).settings() == {
        "database": database, "schema": "main", "table": None}


def test_sqltable_needs_a_client() -> None:
    """SQLTable given a URL instead of a client raises TypeError, without echoing the URL."""
    with pytest.raises(TypeError, match=r"'client' must be a client .* not str") as info:
        SQLTable("postgresql://u:s3cret@h/db")
    assert "s3cret" not in str(info.value)


def test_duckdbtable_and_its_client_share_the_file(tmp_path: pathlib.Path) -> None:
    """A table saved by DuckDBTable is visible to a DuckDBClient of the same file."""
    database = tmp_path / "w.duckdb"
    manager = DuckDBTable(database=str(database))
    manager.save(pl.DataFrame({"a": [1, 2]}), manager.default_location(tmp_path, "t"))
    client = DuckDBClient(database)
    assert client.execute('SELECT sum(a) FROM "main"."t"') == [(3,)]
    client.close()
