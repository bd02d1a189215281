"""Named clients: `client="warehouse"` resolved from the spec or `materialize(clients=...)`."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import uuid

import duckdb
import polars as pl
import psycopg
import pytest
import sqlalchemy as sa

from assetry import Catalog, asset, materialize, sql_asset
from assetry.cli.spec import load_spec
from assetry.clients import DuckDBClient
from assetry.errors import AssetError, AssetGraphError
from assetry.io_managers import SQLTable

PG_DSN = os.environ.get("ASSETRY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

NAMED = """
    import polars as pl
    from assetry import asset, source, sql_asset
    from assetry.io_managers import SQLTable

    stations = source("stations", io=SQLTable(client="local", table="stations"))


    @asset(io=SQLTable(client="local"))
    def numbers() -> pl.DataFrame:
        return pl.DataFrame({"n": [1, 2, 3]})


    @sql_asset(client="local")
    def joined(numbers, stations):
        return "SELECT count(*) AS n FROM {numbers} CROSS JOIN {stations}"
"""


def _write(path: pathlib.Path, source: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


def run(*args: str, cwd: pathlib.Path, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "assetry", *args], check=False, cwd=cwd, capture_output=True,
        text=True, timeout=120, env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def _catalog_text(path: pathlib.Path) -> str:
    """Every value of every catalog table, as text."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return "\n".join(str(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    finally:
        con.close()


def test_the_command_resolves_names_from_the_spec(tmp_path) -> None:
    """SQLTable, sql_asset and a source's io name 'local' from clients:, run from elsewhere."""
    project = tmp_path / "weather"
    _write(project / "pipeline.py", NAMED)
    _write(project / "assetry.yaml", """
        assets: [pipeline.py]
        clients:
          local: {duckdb: wh.duckdb}
          unused: {url: "nosuchdialect://nobody@nowhere/none"}
    """)
    con = duckdb.connect(str(project / "wh.duckdb"))
    con.execute("CREATE TABLE stations AS SELECT * FROM range(2) AS t(id)")
    con.close()
    here = tmp_path / "elsewhere"
    done = run("materialize", "../weather", cwd=here)
    assert done.returncode == 0, done.stderr
    assert "3 materialized" not in done.stderr and "2 materialized" in done.stderr
    con = duckdb.connect(str(project / "wh.duckdb"), read_only=True)
    assert con.execute("SELECT n FROM joined").fetchall() == [(6,)]
    con.close()
    status = run("status", "../weather/pipeline.py", cwd=here)
    assert status.stdout.splitlines()[-1] == "0 will run, 0 may run, 3 fresh", status.stderr
    listed = run("list", "../weather", cwd=here)
    assert f"SQLTable(client='duckdb:{project / 'wh.duckdb'}'" in listed.stdout, listed.stderr


def test_an_unknown_name_on_the_command_line_lists_the_known_ones(tmp_path) -> None:
    """A name missing from clients: is one error line naming the known clients."""
    _write(tmp_path / "p" / "pipeline.py", NAMED.replace('"local"', '"warehouse"'))
    _write(tmp_path / "p" / "assetry.yaml", "assets: [pipeline.py]\nclients:\n"
           "  local: {duckdb: wh.duckdb}\n  other: {duckdb: o.duckdb}\n")
    done = run("status", "../p", cwd=tmp_path / "elsewhere")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert ("asset 'stations' uses client 'warehouse', which is not defined (known clients: "
            "local, other); define it under clients: in assetry.yaml") in done.stderr


def _numbers() -> pl.DataFrame:
    return pl.DataFrame({"n": [1, 2, 3]})


def test_materialize_takes_clients_and_the_fingerprint_is_the_identity(tmp_path) -> None:
    """A named client runs as the client itself would: the same fingerprint, so no rerun."""
    db = tmp_path / "wh.duckdb"
    sql = _write(tmp_path / "doubled.sql", "SELECT n * 2 AS n FROM {numbers}")
    named = [asset(io=SQLTable(client="wh"), name="numbers")(_numbers),
             sql_asset.from_file(sql, client="wh", kind="view")]
    direct = [asset(io=SQLTable(client=DuckDBClient(db)), name="numbers")(_numbers),
              sql_asset.from_file(sql, client=DuckDBClient(db), kind="view")]
    first = materialize(named, root=tmp_path / "data", clients={"wh": DuckDBClient(db)})
    assert first.materialized == ["numbers", "doubled"]
    assert first.load("doubled")["n"].to_list() == [2, 4, 6]
    again = materialize(direct, root=tmp_path / "data")
    assert again.skipped == ["numbers", "doubled"] and again.materialized == []
    catalog = Catalog(tmp_path / "data" / "catalog.duckdb")
    frame = catalog.status(named, clients={"wh": DuckDBClient(db)})
    assert frame["fresh"].to_list() == [True, True]


def test_an_unknown_name_in_python_is_an_error_before_anything_runs(tmp_path) -> None:
    """The error names the asset and the client, lists the known names, and says how to pass it."""
    numbers = asset(io=SQLTable(client="wh"), name="numbers")(_numbers)
    known = {"a": DuckDBClient(":memory:"), "b": DuckDBClient(":memory:")}
    with pytest.raises(AssetGraphError, match=r"asset 'numbers' uses client 'wh', which is not "
                       r"defined \(known clients: a, b\); pass materialize\(\.\.\., clients="):
        materialize([numbers], root=tmp_path / "data", clients=known)
    with pytest.raises(AssetGraphError, match=r"known clients: none"):
        materialize([numbers], root=tmp_path / "data")
    with pytest.raises(AssetGraphError, match="not a client"):
        materialize([numbers], root=tmp_path / "data", clients={"wh": "duckdb:///x"})
    assert not (tmp_path / "data").exists()


def test_a_string_that_is_not_a_name_is_refused_without_echoing_it() -> None:
    """A URL given as client= is not a name: refused where written, its password unshown."""
    def stats() -> str:
        return "SELECT 1 AS n"

    with pytest.raises(AssetGraphError, match="or a client's name") as info:
        sql_asset(client="postgresql://u:s3cret@h/db")(stats)
    assert "s3cret" not in str(info.value)
    with pytest.raises(TypeError, match="or a client's name") as error:
        SQLTable("postgresql://u:s3cret@h/db")
    assert "s3cret" not in str(error.value)


def test_spec_client_names_are_checked_and_built_only_when_named(tmp_path) -> None:
    """A client name must be a plain name; named_clients() builds a client on first lookup."""
    bad = _write(tmp_path / "bad" / "assetry.yaml",
                 "assets: [p]\nclients:\n  'my db': {duckdb: x.duckdb}\n")
    with pytest.raises(AssetError, match=r"clients\.my db: 'my db' is not a client name"):
        load_spec(bad)
    good = _write(tmp_path / "good" / "assetry.yaml", "assets: [p]\nclients:\n"
                  "  local: {duckdb: x.duckdb}\n  ghost: {url: 'nosuchdialect://h/x'}\n")
    clients = load_spec(good).named_clients()
    assert sorted(clients) == ["ghost", "local"]
    assert clients["local"].identity() == f"duckdb:{tmp_path / 'good' / 'x.duckdb'}"


@pytest.fixture
def pg_schema() -> str:
    """A schema of its own in the test PostgreSQL server, dropped afterwards."""
    name = f"named_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG_DSN, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_postgres_client_named_in_the_spec_keeps_no_credentials(tmp_path, pg_schema) -> None:
    """The catalog never holds the password; a new password reruns nothing."""
    url = sa.make_url(PG_DSN)
    spec_url = f"postgresql://{url.username}:${{PGPASS}}@{url.host}:{url.port or 5432}/{url.database}"
    project = tmp_path / "weather"
    _write(project / "pipeline.py", f"""
        import polars as pl
        from assetry import asset, sql_asset
        from assetry.io_managers import SQLTable


        @asset(io=SQLTable(client="warehouse", schema="{pg_schema}"))
        def numbers() -> pl.DataFrame:
            return pl.DataFrame({{"n": [1, 2, 3]}})


        @sql_asset(client="warehouse", schema="{pg_schema}", kind="view")
        def total(numbers):
            return "SELECT sum(n) AS n FROM {{numbers}}"
    """)
    _write(project / "assetry.yaml", f"""
        assets: [pipeline.py]
        clients:
          warehouse: {{url: "{spec_url}"}}
    """)
    here = tmp_path / "elsewhere"
    first = run("materialize", "../weather", cwd=here, env={"PGPASS": "first-s3cret"})
    assert first.returncode == 0, first.stderr
    assert "2 materialized" in first.stderr
    with psycopg.connect(PG_DSN) as con:
        assert con.execute(f'SELECT n FROM "{pg_schema}".total').fetchall() == [(6,)]
    text = _catalog_text(project / "data" / "catalog.duckdb")
    assert "first-s3cret" not in text and f"{url.host}:{url.port or 5432}/{url.database}" in text
    second = run("materialize", "../weather", cwd=here, env={"PGPASS": "second-s3cret"})
    assert second.returncode == 0, second.stderr
    assert "0 materialized, 2 skipped" in second.stderr
