"""Real database backends for the SQL client and IO manager tests.

PostgreSQL and MariaDB come from ``ASSETRY_TEST_PG`` and ``ASSETRY_TEST_MYSQL``;
an unreachable server fails the tests (it never skips them). DuckDB and SQLite
live in ``tmp_path``. Every relation a test names through ``fresh`` is dropped
afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator

import duckdb
import numpy as np
import polars as pl
import psycopg
import pyarrow as pa
import pymysql
import pytest
import sqlalchemy as sa

from assetry.clients import Client, DBAPIClient, DuckDBClient, SQLAlchemyClient

PG_DSN = os.environ.get("ASSETRY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("ASSETRY_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")

BACKENDS = [
    "duckdb",
    "duckdb-dbapi",
    "sqlite",
    "sqlite-sqlalchemy",
    "postgres",
    "postgres-sqlalchemy",
    "mysql",
    "mysql-sqlalchemy",
]


def mysql_kwargs() -> dict[str, object]:
    """pymysql.connect keywords for ``MYSQL_URL``."""
    url = sa.make_url(MYSQL_URL)
    kwargs: dict[str, object] = {"host": url.host, "port": url.port or 3306, "user": url.username,
                                 "database": url.database}
    if url.password:
        kwargs["password"] = url.password
    return kwargs


def make_client(backend: str, directory: pathlib.Path) -> Client:
    """A fresh client for one of ``BACKENDS``."""
    if backend == "duckdb":
        return DuckDBClient(directory / "warehouse.duckdb")
    if backend == "duckdb-dbapi":
        return DBAPIClient(duckdb.connect, database=str(directory / "warehouse.duckdb"))
    if backend == "sqlite":
        return DBAPIClient(sqlite3.connect, database=str(directory / "warehouse.db"))
    if backend == "sqlite-sqlalchemy":
        return SQLAlchemyClient(f"sqlite:///{directory / 'warehouse.db'}")
    if backend == "postgres":
        return DBAPIClient(psycopg.connect, conninfo=PG_DSN)
    if backend == "postgres-sqlalchemy":
        return SQLAlchemyClient(PG_DSN)
    if backend == "mysql":
        return DBAPIClient(pymysql.connect, **mysql_kwargs())
    if backend == "mysql-sqlalchemy":
        return SQLAlchemyClient(MYSQL_URL)
    raise ValueError(backend)


@pytest.fixture(params=BACKENDS)
def client(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Client]:
    """One client per backend, closed after the test."""
    made = make_client(request.param, tmp_path)
    yield made
    made.close()


@pytest.fixture
def fresh(client: Client) -> Iterator[Callable[[], str]]:
    """A factory of unique relation names in the client's default schema, dropped afterwards."""
    names: list[str] = []

    def new(prefix: str = "t") -> str:
        names.append(f"{prefix}_{uuid.uuid4().hex[:10]}")
        return names[-1]

    yield new
    schema = client.default_schema()
    for name in names + [n for n in client.relations(schema) if n.startswith(tuple(names))]:
        drop(client, schema, name)


def drop(client: Client, schema: str | None, name: str) -> None:
    """Drop a table or view if it exists."""
    kind = client.relation_kind(schema, name)
    if kind is not None:
        client.execute(f"DROP {kind.upper()} {client.qualified(schema, name)}")


def leftovers(client: Client, name: str) -> list[str]:
    """Temporary relations a replace of ``name`` left behind."""
    prefix = f"{name[:32]}__assetry_"
    return [n for n in client.relations() if n.startswith(prefix)]


def mixed_frame() -> pl.DataFrame:
    """Ints, floats, text, booleans, dates and timestamps, each with a null."""
    return pl.DataFrame(
        {
            "id": pl.Series([1, 2, 3, 4], dtype=pl.Int64),
            "x": [1.5, None, -2.25, 1e300],
            "s": ["a", None, "", "quote \" comma , newline \n done"],
            "b": [True, False, None, True],
            "d": [dt.date(2024, 1, 1), None, dt.date(1999, 12, 31), dt.date(1970, 1, 1)],
            "ts": [dt.datetime(2024, 1, 1, 12, 30, 0, 123456), None, dt.datetime(2000, 2, 29),
                   dt.datetime(1969, 7, 20, 20, 17, 40)],
        }
    )


def refused_frame(dialect: str) -> pl.DataFrame | pa.Table:
    """A frame each database refuses only once the upload has begun."""
    if dialect == "postgresql":  # COPY stops at the NUL, after CREATE TABLE
        return pl.DataFrame({"a": [3], "s": ["NUL \x00 is not text in PostgreSQL"]})
    if dialect == "mysql":  # INSERT fails on NaN, after CREATE TABLE has committed
        return pl.DataFrame({"a": [3.0, float("nan")]})
    if dialect == "duckdb":  # the Arrow scan inside CREATE TABLE AS cannot read half floats
        return pa.table({"a": pa.array(np.array([3.0], dtype=np.float16))})
    return pl.DataFrame({f"c{i}": [i] for i in range(2_001)})  # over SQLite's column limit
