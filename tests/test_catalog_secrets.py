"""The catalog never keeps a database password, and still loads SQL products."""

from __future__ import annotations

import os
import uuid

import psycopg
import sqlalchemy as sa

from assetry import Catalog, materialize
from assetry.clients import DBAPIClient, SQLAlchemyClient

PG = os.environ.get("ASSETRY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _with_password(url: str, password: str) -> str:
    return sa.make_url(url).set(password=password).render_as_string(hide_password=False)


def test_sqlalchemy_password_stays_out_of_the_catalog(files):
    """A password in a client's URL is not written to the catalog file; load still works."""
    table = f"secret_{uuid.uuid4().hex[:8]}"
    url = _with_password(PG, "sekrit-sauce")  # trust auth: any password is accepted
    mod = files.module("sec.py", f"""
        import polars as pl
        from assetry import asset
        from assetry.clients import SQLAlchemyClient
        from assetry.io_managers import SQLTable

        @asset(io=SQLTable(SQLAlchemyClient({url!r}), table={table!r}))
        def numbers() -> pl.DataFrame:
            return pl.DataFrame({{"n": [1, 2, 3]}})
    """)
    try:
        materialize(mod, root=files.root)
        assert b"sekrit-sauce" not in files.catalog.read_bytes()
        wal = files.catalog.with_name(files.catalog.name + ".wal")
        assert not wal.exists() or b"sekrit-sauce" not in wal.read_bytes()
        assert Catalog(files.catalog).load("numbers")["n"].to_list() == [1, 2, 3]
    finally:
        SQLAlchemyClient(PG).execute(f'DROP TABLE IF EXISTS "{table}"')


def test_without_secrets_drops_passwords():
    """without_secrets() removes the password from a URL, keywords and a DSN string."""
    sa_client = SQLAlchemyClient(_with_password(PG, "pw1")).without_secrets()
    assert "pw1" not in sa_client.url
    dbapi = DBAPIClient(psycopg.connect, "host=127.0.0.1 password=pw2 dbname=test", password="pw3")
    clean = dbapi.without_secrets()
    assert "pw2" not in repr(clean.args) and "password" not in clean.kwargs
    assert dbapi.kwargs["password"] == "pw3"  # the original keeps it
