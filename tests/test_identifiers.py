"""Names given as table= or schema= are refused before any SQL runs, on real databases."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pytest
from sql_fixtures import PG_DSN

from assetry import sql_asset
from assetry.clients import Client, DuckDBClient, SQLAlchemyClient
from assetry.clients.identifiers import check_declared_name, quote
from assetry.errors import AssetGraphError, ClientError
from assetry.io_managers import DuckDBTable, SQLTable

#: name -> (a name that is not a valid identifier, what the error says about it)
BAD_NAMES = {
    "quote-semicolon-comment": ('evil"; DROP TABLE victim; --', "contains a double quote"),
    "backtick": ("evil`; DROP TABLE victim", "contains a backtick"),
    "single-quote": ("o'brien", "contains a single quote"),
    "semicolon": ("a; DROP TABLE victim", "contains a semicolon"),
    "newline": ("two\nlines", r"control or invisible character '\\n'"),
    "tab": ("a\tb", r"control or invisible character '\\t'"),
    "nul": ("nul\x00byte", "contains a NUL character"),
    "right-to-left-override": ("evil\u202etxt", "control or invisible character"),
    "over-63-bytes": ("n" * 64, "is 64 bytes long, over the limit of 63"),
    "over-63-bytes-utf8": ("é" * 32, "is 64 bytes long, over the limit of 63"),
    "empty": ("", "is not a usable SQL name"),
}


def _template() -> str:
    return "SELECT 1 AS a"


def _sql_asset(client: Client, database: pathlib.Path, names: dict[str, str]) -> Any:
    return sql_asset(client=client, **names)(_template)


def _sql_table(client: Client, database: pathlib.Path, names: dict[str, str]) -> Any:
    return SQLTable(client, **names)


def _duckdb_table(client: Client, database: pathlib.Path, names: dict[str, str]) -> Any:
    return DuckDBTable(database=str(database), **names)


#: entry point -> (how it is called, the error it raises, the backends it serves)
ENTRY_POINTS: dict[str, tuple[Callable[..., Any], type[Exception], tuple[str, ...]]] = {
    "sql_asset": (_sql_asset, AssetGraphError, ("duckdb", "postgres")),
    "SQLTable": (_sql_table, ClientError, ("duckdb", "postgres")),
    "DuckDBTable": (_duckdb_table, ClientError, ("duckdb",)),
}

CASES = [
    pytest.param(entry, backend, option, *BAD_NAMES[bad], id=f"{entry}-{backend}-{option}-{bad}")
    for entry, (_, _, backends) in ENTRY_POINTS.items()
    for backend in backends
    for option in ("table", "schema")
    for bad in BAD_NAMES
]


class Database:
    """A real database holding one schema with a ``victim`` table of three rows."""

    def __init__(self, backend: str, directory: pathlib.Path) -> None:
        self.file = directory / "warehouse.duckdb"
        if backend == "duckdb":
            self.client: Client = DuckDBClient(self.file)
            self.schema = "main"
        else:
            self.client = SQLAlchemyClient(PG_DSN)
            self.schema = f"ident_{uuid.uuid4().hex[:10]}"
            self.client.execute(f"CREATE SCHEMA {quote(self.schema, 'postgresql')}")
        self.client.upload(pl.DataFrame({"a": [1, 2, 3]}), self.schema, "victim")
        self.schemas = self.schema_names()

    def schema_names(self) -> set[str]:
        rows = self.client.execute("SELECT schema_name FROM information_schema.schemata")
        return {row[0] for row in rows}

    def close(self) -> None:
        if self.schema != "main":
            self.client.execute(f"DROP SCHEMA {self.client.quote(self.schema)} CASCADE")
        self.client.close()


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Database]:
    """The backend named by the test's ``backend`` parameter, dropped afterwards."""
    made = Database(request.getfixturevalue("backend"), tmp_path)
    yield made
    made.close()


@pytest.mark.parametrize(("entry", "backend", "option", "bad", "message"), CASES)
def test_bad_names_are_refused_at_declaration(
    database: Database, entry: str, backend: str, option: str, bad: str, message: str
) -> None:
    """A bad table= or schema= raises when declared; no relation is made, the victim stays."""
    declare, error, _ = ENTRY_POINTS[entry]
    names = {option: bad} if option == "schema" else {"schema": database.schema, option: bad}
    with pytest.raises(error, match=message):
        declare(database.client, database.file, names)
    assert database.client.relations(database.schema) == ["victim"]
    assert database.schema_names() == database.schemas
    assert database.client.execute(
        f"SELECT sum(a) FROM {database.client.qualified(database.schema, 'victim')}"
    ) == [(6,)]


@pytest.mark.parametrize("entry", ["sql_asset", "SQLTable"])
def test_bad_names_are_refused_without_connecting(entry: str, tmp_path: pathlib.Path) -> None:
    """The check runs no statement: a server nobody listens on is never asked."""
    declare, error, _ = ENTRY_POINTS[entry]
    nowhere = SQLAlchemyClient("postgresql://nobody@127.0.0.1:9/nowhere")
    with pytest.raises(error, match="contains a double quote"):
        declare(nowhere, tmp_path, {"table": 'evil"; DROP TABLE victim; --'})


@pytest.mark.parametrize(
    ("dialect", "name", "message"),
    [
        ("postgresql", "p" * 64, "64 bytes long"),
        ("mysql", "m" * 64, "64 bytes long"),
        ("sqlite", "s;", "contains a semicolon"),
        ("duckdb", "d\x7f", "control or invisible character"),
    ],
    ids=["postgres-length", "mysql-length", "sqlite-semicolon", "duckdb-delete-char"],
)
def test_every_dialect_refuses_bad_declared_names(dialect: str, name: str, message: str) -> None:
    """The declared-name check holds for each dialect, with the option named in the error."""
    with pytest.raises(ClientError, match=message):
        check_declared_name(name, dialect, "table")


@pytest.mark.parametrize(
    "name", ["carrier stats", "dot.ted#hash", "per%cent?q", "Ünï cödé", "dash-and_under"],
    ids=["space", "dot-hash", "percent-question", "unicode", "dash-underscore"],
)
def test_odd_but_valid_names_are_stored(tmp_path: pathlib.Path, name: str) -> None:
    """Spaces, dots, hashes, percents and non-ASCII letters stay usable as table names."""
    manager = DuckDBTable(database=str(tmp_path / "w.duckdb"), table=name)
    location = manager.default_location(tmp_path, "ignored")
    manager.save(pl.DataFrame({"a": [1]}), location)
    assert manager.client.relations("main") == [name]
    assert manager.load(location)["a"].to_list() == [1]
    manager.client.close()
