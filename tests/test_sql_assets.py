"""SQL assets: sql_asset (tables and views), from_file and sql_dump on every real backend."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Iterator
from typing import Any, Self

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import PipelineFiles
from polars.testing import assert_frame_equal
from sql_fixtures import PG_DSN, drop, make_client, mysql_kwargs

from assetry import Catalog, materialize, sql_asset, sql_dump
from assetry.assets.sql_text import normalize_sql, template_fields
from assetry.clients import Client, DuckDBClient
from assetry.errors import AssetGraphError, AssetTypeError
from assetry.io_managers.relations import Location, Relation, RelationRef

BACKENDS = ["duckdb", "sqlite-sqlalchemy", "postgres", "postgres-sqlalchemy", "mysql"]

FLIGHTS = """
@asset
def flights() -> pl.DataFrame:
    return pl.DataFrame({
        "carrier": ["AA", "AA", "UA", "UA", "UA", "DL"],
        "dep_delay": [10.0, -2.0, 30.0, 0.0, 5.0, 7.0],
    })
"""


class Warehouse:
    """One backend for a test: the source lines that build its client, and cleanup."""

    def __init__(self, backend: str, directory: pathlib.Path) -> None:
        self.backend = backend
        self.suffix = "_" + uuid.uuid4().hex[:8]
        self.client: Client = make_client(backend, directory)
        self.schema = f"assetry_t{self.suffix}" if backend.startswith("postgres") else None
        self.made: list[Any] = []
        self.expr = {
            "duckdb": f"DuckDBClient({str(directory / 'warehouse.duckdb')!r})",
            "sqlite-sqlalchemy": f"SQLAlchemyClient({'sqlite:///' + str(directory / 'warehouse.db')!r})",
            "postgres": f"DBAPIClient(psycopg.connect, conninfo={PG_DSN!r})",
            "postgres-sqlalchemy": f"SQLAlchemyClient({PG_DSN!r})",
            "mysql": f"DBAPIClient(pymysql.connect, **{mysql_kwargs()!r})",
        }[backend]

    def source(self, body: str) -> str:
        """A pipeline module: imports, ``warehouse``, ``SCHEMA``, ``SUFFIX``, then ``body``."""
        head = (
            "import polars as pl\nimport psycopg\nimport pymysql\n"
            "from assetry import asset, sql_asset, sql_dump\n"
            "from assetry.clients import DBAPIClient, DuckDBClient, SQLAlchemyClient\n\n"
            f"warehouse = {self.expr}\nSCHEMA = {self.schema!r}\nSUFFIX = {self.suffix!r}\n"
        )
        return head + body

    def load(self, files: PipelineFiles, body: str, filename: str = "pipeline.py") -> Any:
        module = files.module(filename, self.source(body))
        self.made.append(module.warehouse)
        return module

    def table(self, name: str) -> str:
        return name + self.suffix

    def read(self, name: str) -> pl.DataFrame:
        return pl.from_arrow(self.client.read_table(self.schema, self.table(name)))

    def stage_tables(self) -> list[str]:
        return [
            n for n in self.client.relations(self.schema) if "__stage_" in n and self.suffix in n
        ]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        for client in self.made:
            client.close()
        if self.schema is not None:
            self.client.execute(f"DROP SCHEMA IF EXISTS {self.client.quote(self.schema)} CASCADE")
        elif self.backend == "mysql":
            mine = [n for n in self.client.relations() if self.suffix in n]
            for name in sorted(mine, key=lambda n: self.client.relation_kind(None, n) != "view"):
                drop(self.client, None, name)
        self.client.close()


@pytest.fixture(params=BACKENDS)
def warehouse(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Warehouse]:
    """A warehouse on each backend, its relations removed afterwards."""
    made = Warehouse(request.param, tmp_path)
    yield made
    made.cleanup()


@pytest.fixture
def duckdb_warehouse(tmp_path: pathlib.Path) -> Iterator[Warehouse]:
    """A DuckDB warehouse in tmp_path."""
    made = Warehouse("duckdb", tmp_path)
    yield made
    made.cleanup()


def by_name(result: Any) -> dict[str, str]:
    return {r.asset: r.reason for r in result.records if r.status == "materialized"}


STATS = (
    FLIGHTS
    + '''
@sql_asset(client=warehouse, schema=SCHEMA, table="stats" + SUFFIX)
def stats(flights):
    return """
        SELECT carrier, count(*) AS n, avg(dep_delay) AS mean_delay  -- per carrier
        FROM {flights} AS f
        GROUP BY carrier
    """
'''
)

PIPELINE = (
    STATS
    + """
@sql_asset(client=warehouse, kind="view", schema=SCHEMA, table="busy" + SUFFIX)
def busy(stats):
    return "SELECT carrier, n FROM {stats} AS s WHERE n >= 2"


@sql_asset(client=warehouse, kind="view", schema=SCHEMA, table="late" + SUFFIX)
def late(flights):
    return "SELECT carrier, dep_delay FROM {flights} AS f WHERE dep_delay > 6"


@asset
def report(stats: pl.DataFrame, busy: pl.LazyFrame) -> pl.DataFrame:
    return stats.join(busy.collect(), on="carrier", how="left", suffix="_busy").sort("carrier")
"""
)


def test_pipeline_runs_skips_and_reruns_on_sql_edit(
    warehouse: Warehouse, files: PipelineFiles
) -> None:
    """Tables and views build from a file upstream, skip when fresh, and rerun with downstream on an edit."""
    module = warehouse.load(files, PIPELINE)
    first = materialize(module, root=files.root)
    assert set(first.materialized) == {"flights", "stats", "busy", "late", "report"}
    report = first.load("report")
    assert report["carrier"].to_list() == ["AA", "DL", "UA"]
    assert report["n"].to_list() == [2, 1, 3]
    assert report["mean_delay"].to_list() == pytest.approx([4.0, 7.0, 35 / 3])
    assert report["n_busy"].to_list() == [2, None, 3]
    assert warehouse.client.relation_kind(warehouse.schema, warehouse.table("busy")) == "view"
    assert sorted(warehouse.read("late")["dep_delay"].to_list()) == [7.0, 10.0, 30.0]

    second = materialize(module, root=files.root)
    assert second.materialized == []
    assert set(second.skipped) == {"flights", "stats", "busy", "late", "report"}

    edited = warehouse.load(
        files,
        PIPELINE.replace("FROM {flights} AS f\n", "FROM {flights} AS f WHERE dep_delay > 0\n"),
    )
    third = materialize(edited, root=files.root)
    assert by_name(third) == {
        "stats": "code changed: stats (SQL)",
        "busy": "upstream changed: stats",
        "report": "upstream changed: busy, stats",
    }
    assert warehouse.read("stats").sort("carrier")["n"].to_list() == [1, 1, 2]

    # A view reading an uploaded copy keeps exactly one staging table, also when rebuilt.
    materialize(edited, root=files.root, force=["late"])
    staged = warehouse.stage_tables()
    if warehouse.backend == "duckdb":  # DuckDB reads the Parquet file in place
        assert staged == []
        found = warehouse.client.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = ?", [warehouse.table("late")]
        )
        assert "read_parquet('" + str(files.root / "flights.parquet") in found[0][0]
    else:
        assert len(staged) == 1 and staged[0].startswith(warehouse.table("late") + "__flights__")
    assert sorted(warehouse.read("late")["dep_delay"].to_list()) == [7.0, 10.0, 30.0]


@pytest.mark.parametrize("backend", ["duckdb", "postgres-sqlalchemy", "sqlite-sqlalchemy"])
def test_table_dropped_by_hand_is_rebuilt(
    backend: str, tmp_path: pathlib.Path, files: PipelineFiles
) -> None:
    """A relation dropped outside assetry is 'product missing' and is built again."""
    with Warehouse(backend, tmp_path) as wh:
        module = wh.load(files, STATS)
        materialize(module, root=files.root)
        drop(wh.client, wh.schema, wh.table("stats"))
        again = materialize(module, root=files.root)
        assert by_name(again) == {"stats": "product missing"}
        assert wh.read("stats").height == 3


@pytest.mark.parametrize("backend", ["duckdb", "mysql", "postgres"])
def test_table_modified_by_hand_is_detected(
    backend: str, tmp_path: pathlib.Path, files: PipelineFiles
) -> None:
    """Rows changed outside assetry make the asset 'product modified outside assetry'."""
    with Warehouse(backend, tmp_path) as wh:
        module = wh.load(files, STATS)
        materialize(module, root=files.root)
        target = wh.client.qualified(wh.schema, wh.table("stats"))
        wh.client.execute(f"INSERT INTO {target} (carrier, n, mean_delay) VALUES ('ZZ', 1, 1.0)")
        again = materialize(module, root=files.root)
        assert by_name(again) == {"stats": "product modified outside assetry"}
        assert "ZZ" not in wh.read("stats")["carrier"].to_list()


@pytest.mark.parametrize("backend", ["duckdb", "postgres", "mysql", "sqlite-sqlalchemy"])
def test_failing_sql_keeps_previous_relation(
    backend: str, tmp_path: pathlib.Path, files: PipelineFiles
) -> None:
    """A failing SELECT leaves the old table readable and records the database's message."""
    with Warehouse(backend, tmp_path) as wh:
        materialize(wh.load(files, STATS), root=files.root)
        before = wh.read("stats").sort("carrier")
        broken = wh.load(files, STATS.replace("count(*) AS n", "count(no_such_column) AS n"))
        result = materialize(broken, root=files.root, raise_on_error=False)
        assert result.failed == ["stats"]
        assert_frame_equal(wh.read("stats").sort("carrier"), before)
        assert [n for n in wh.client.relations(wh.schema) if "__assetry_" in n] == []
        assert wh.stage_tables() == []
        errors = (
            Catalog(files.catalog)
            .sql("SELECT error FROM materializations WHERE asset = 'stats' AND status = 'failed'")[
                "error"
            ]
            .to_list()
        )
        assert len(errors) == 1 and "no_such_column" in errors[0]
        assert "ClientError" in errors[0]


def test_from_file_resolves_relative_path_and_normalizes(
    duckdb_warehouse: Warehouse, files: PipelineFiles
) -> None:
    """from_file reads sql/<name>.sql beside the module; comments do not rerun, a real edit does."""
    sql_file = files.dir / "sql" / "carrier_stats.sql"
    sql_file.parent.mkdir()
    sql_file.write_text(
        "-- delays per carrier\nSELECT carrier, max(dep_delay) AS worst\nFROM {flights} AS f GROUP BY carrier\n"
    )
    body = (
        FLIGHTS + 'carrier_stats = sql_asset.from_file("sql/carrier_stats.sql", client=warehouse)\n'
    )
    module = duckdb_warehouse.load(files, body)
    assert module.carrier_stats.name == "carrier_stats"
    assert [p.name for p in module.carrier_stats.spec.params] == ["flights"]
    first = materialize(module, root=files.root)
    assert first.load("carrier_stats").sort("carrier")["worst"].to_list() == [10.0, 7.0, 30.0]

    sql_file.write_text(
        "/* reformatted */ SELECT carrier,\n    max(dep_delay) AS worst -- same\nFROM {flights} AS f\nGROUP BY carrier;"
    )
    assert materialize(duckdb_warehouse.load(files, body), root=files.root).materialized == []

    sql_file.write_text(
        "SELECT carrier, min(dep_delay) AS worst FROM {flights} AS f GROUP BY carrier"
    )
    rerun = materialize(duckdb_warehouse.load(files, body), root=files.root)
    assert by_name(rerun) == {"carrier_stats": "code changed: carrier_stats (SQL)"}


DUMP = """
numbers = sql_dump(
    "numbers",
    "SELECT n FROM range(10000) AS t(n)" if warehouse.dialect == "duckdb"
    else "SELECT n FROM generate_series(0, 9999) AS t(n)",
    warehouse, batch_size=1000,
)
late_flights = sql_dump("late_flights", "SELECT * FROM {flights} AS f WHERE dep_delay > 6 ORDER BY dep_delay", warehouse)


@asset
def total(numbers: pl.LazyFrame, late_flights: pl.DataFrame) -> dict:
    return {"sum": numbers.select(pl.col("n").sum()).collect().item(), "late": late_flights.height}
"""


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_sql_dump_streams_batches_into_parquet(
    backend: str, tmp_path: pathlib.Path, files: PipelineFiles
) -> None:
    """sql_dump writes a query larger than its batch size batch by batch; the file loads as a frame."""
    with Warehouse(backend, tmp_path) as wh:
        module = wh.load(files, FLIGHTS + DUMP)
        result = materialize(module, root=files.root)
        path = files.root / "numbers.parquet"
        assert pq.ParquetFile(path).metadata.num_row_groups >= 10  # one row group per batch
        numbers = result.load("numbers")
        assert isinstance(numbers, pl.DataFrame) and numbers.height == 10_000
        assert result.load("total") == {"sum": sum(range(10_000)), "late": 3}
        assert result.load("late_flights")["dep_delay"].to_list() == [7.0, 10.0, 30.0]
        assert wh.stage_tables() == [] and not [n for n in wh.client.relations() if "__stage_" in n]
        assert materialize(module, root=files.root).materialized == []


def test_hostile_names_are_rejected_or_quoted(
    duckdb_warehouse: Warehouse, files: PipelineFiles, tmp_path: pathlib.Path
) -> None:
    """Bad asset and table names and placeholders fail at definition; odd names and paths are quoted."""
    client = duckdb_warehouse.client

    def stats(flights: Any) -> str:
        return "SELECT * FROM {flights}"

    with pytest.raises(AssetGraphError, match="'x; drop' .*is not a valid name"):
        sql_asset(client=client, name="x; drop")(stats)
    with pytest.raises(AssetGraphError, match="kind='nope'; use 'table' or 'view'"):
        sql_asset(client=client, kind="nope")(stats)
    with pytest.raises(AssetGraphError, match="needs client="):
        sql_asset(stats)
    with pytest.raises(AssetGraphError, match=r"placeholder \{3\}, which is not an asset name"):
        sql_dump("digits", "SELECT regexp_matches(s, '\\d{3}') FROM {flights}", client)
    with pytest.raises(AssetGraphError, match=r"placeholder \{\"a\": 1\}"):
        sql_dump("json", "SELECT '{\"a\": 1}' AS j", client)
    with pytest.raises(AssetGraphError, match="stray brace"):
        sql_dump("brace", "SELECT '}' AS j", client)
    with pytest.raises(AssetGraphError, match="unknown option"):
        sql_asset(client=client, schedule="daily")(stats)
    with pytest.raises(AssetGraphError, match="contains a double quote"):
        sql_asset(client=client, table='we"ird; DROP TABLE x; --')(stats)

    odd = "we ird.#% -- x"  # quoted, and escaped in the location
    body = (
        FLIGHTS
        + f"""
@sql_asset(client=warehouse, kind="view", table={odd!r})
def odd(flights):
    return "SELECT carrier, dep_delay AS \\"it's\\" FROM {{flights}} AS f WHERE carrier = 'UA'"
"""
    )
    module = duckdb_warehouse.load(files, body)
    root = tmp_path / "it's [here]"
    result = materialize(module, root=root)  # the Parquet path is a SQL string literal
    assert odd in client.relations("main")
    assert result.load("odd")["it's"].to_list() == [30.0, 0.0, 5.0]


def test_python_downstream_gets_annotated_types(
    duckdb_warehouse: Warehouse, tmp_path: pathlib.Path
) -> None:
    """A relation loads as a polars, lazy or Arrow frame; a Path annotation is refused."""
    client = duckdb_warehouse.client
    client.create_relation("main", "t", "SELECT 1 AS a UNION ALL SELECT 2")
    io = Relation(client, "main", "t")
    location = io.default_location(tmp_path, "ignored")
    assert_frame_equal(
        io.load(location).sort("a"), pl.DataFrame({"a": [1, 2]}, schema={"a": pl.Int32})
    )
    assert isinstance(io.load(location, pl.LazyFrame), pl.LazyFrame)
    assert isinstance(io.load(location, pa.Table), pa.Table)
    assert io.load(location, Location) == RelationRef(client.identity(), "main", "t")
    with pytest.raises(AssetTypeError, match="has no file path"):
        io.load(location, pathlib.Path)
    assert io.observe(location) is not None
    missing = Relation(client, "main", "missing")
    assert missing.observe(missing.default_location(tmp_path, "missing")) is None


def test_upstream_in_another_database_is_copied(
    tmp_path: pathlib.Path, files: PipelineFiles
) -> None:
    """A SQL asset reads a relation of another database through a staged copy."""
    body = f"""
import polars as pl
from assetry import sql_asset
from assetry.clients import DuckDBClient, SQLAlchemyClient

lake = DuckDBClient({str(tmp_path / "lake.duckdb")!r})
mart = SQLAlchemyClient({"sqlite:///" + str(tmp_path / "mart.db")!r})


@sql_asset(client=lake)
def source():
    return "SELECT range AS n FROM range(5)"


@sql_asset(client=mart)
def doubled(source):
    return "SELECT n * 2 AS m FROM {{source}} AS s"
"""
    module = files.module("cross.py", body)
    try:
        result = materialize(module, root=files.root)
        assert sorted(result.load("doubled")["m"].to_list()) == [0, 2, 4, 6, 8]
        assert [n for n in module.mart.relations() if "__stage_" in n] == []
    finally:
        module.lake.close()
        module.mart.close()


def test_normalize_sql_ignores_comments_and_whitespace_only() -> None:
    """Comments and whitespace do not change the normalized SQL; literals and names do."""
    a = normalize_sql("SELECT a,  b -- note\nFROM t /* x\ny */ WHERE s = 'x  -- y';")
    assert a == "SELECT a, b FROM t WHERE s = 'x  -- y'"
    assert normalize_sql("SELECT a, b\n\nFROM t WHERE s = 'x  -- y'") == a
    assert normalize_sql("SELECT a, b FROM t WHERE s = 'x -- y'") != a
    assert normalize_sql('SELECT "a  b" FROM t') == 'SELECT "a  b" FROM t'
    assert template_fields("SELECT {{x}} FROM {a} JOIN {b} USING (k) JOIN {a} USING (j)") == [
        "a",
        "b",
    ]


def test_demo_sql_stage(tmp_path: pathlib.Path) -> None:
    """The demo's SQL stage builds a view over flights, a table and a dump of the worst routes."""
    from assetry.demo import pipeline
    from assetry.demo.sql_stage import sql_assets

    root = tmp_path / "demo"
    client = DuckDBClient(root / "warehouse.duckdb")
    try:
        assets = [pipeline, *sql_assets(root, client=client)]
        result = materialize(assets, root=root, select=["+worst_routes", "+carrier_month"])
        assert set(result.materialized) == {
            "flights_raw",
            "flights",
            "route_stats",
            "worst_routes",
            "carrier_month",
        }
        worst = result.load("worst_routes")
        assert worst.height == 20 and worst.columns == [
            "origin",
            "dest",
            "n_flights",
            "mean_arr_delay",
        ]
        assert worst["mean_arr_delay"].is_sorted(descending=True)
        months = result.load("carrier_month")
        assert months["month"].n_unique() == 12 and months["n_flights"].sum() == 327_346
        again = materialize(assets, root=root, select=["+worst_routes", "+carrier_month"])
        assert again.materialized == []
    finally:
        client.close()


def test_relation_ref_location_round_trips() -> None:
    """A RelationRef names the same location the Relation manager gives."""
    ref = RelationRef("postgresql://h:5432/db", "my.schema", "a#b")
    assert ref.location == "postgresql://h:5432/db#my%2Eschema.a%23b"
