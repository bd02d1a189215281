"""No database password reaches the catalog, a log, an error or a repr (issue 12 #4).

Every realistic way of passing a password, on every kind of client: a URL's
userinfo or ``?password=``, SQLAlchemy ``connect_args``, a SQLAlchemy Engine,
``password=`` / ``passwd=`` keywords, a ``conninfo=`` URL, a ``key=value``
conninfo quoted or plain (as a keyword or the first argument), a
``functools.partial``, and ``PGPASSWORD``. Each runs a real materialize (a
``SQLTable`` and a ``sql_asset`` view, then a failing ``sql_asset``) against
the real PostgreSQL (trust authentication: any password is accepted) or
MariaDB (a user created with that password); then the catalog file's bytes,
every column of every catalog table, the clients' reprs, the errors and the
captured log records are searched for the password.
"""

from __future__ import annotations

import functools
import logging
import pathlib
import traceback
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import duckdb
import polars as pl
import psycopg
import pymysql
import pytest
import sqlalchemy as sa
from sql_fixtures import MYSQL_URL, PG_DSN, drop, mysql_kwargs

from assetry import Catalog, asset, materialize, sql_asset
from assetry.clients import Client, DBAPIClient, SQLAlchemyClient
from assetry.errors import ClientError
from assetry.io_managers import SQLTable

#: The distinctive part of every password below: found in any encoding of it.
CORE = uuid.uuid4().hex
#: A password with a space and a quote, as a quoted conninfo value must allow.
SPACED = f"Pw {CORE}'z"
#: A password a plain (unquoted) conninfo value can hold.
PLAIN = f"Pw-{CORE}"

MYSQL_USER = f"assetry_pw_{CORE[:8]}"

_PG = sa.make_url(PG_DSN)
_MY = sa.make_url(MYSQL_URL)


def _pg_url(password: str | None = None, query: str = "") -> str:
    auth = _PG.username + (f":{quote(password, safe='')}" if password else "")
    return f"postgresql://{auth}@{_PG.host}:{_PG.port or 5432}/{_PG.database}{query}"


def _my_url(password: str | None = None, query: str = "") -> str:
    auth = MYSQL_USER + (f":{quote(password, safe='')}" if password else "")
    return f"mysql://{auth}@{_MY.host}:{_MY.port or 3306}/{_MY.database}{query}"


def _conninfo(password: str, quoted: bool) -> str:
    value = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'" if quoted else password
    return (
        f"host={_PG.host} port={_PG.port or 5432} user={_PG.username} dbname={_PG.database} "
        f"password={value}"
    )


def _my_kwargs() -> dict[str, Any]:
    return {k: v for k, v in mysql_kwargs().items() if k not in ("user", "password")} | {
        "user": MYSQL_USER
    }


#: case id -> a function making the client (PostgreSQL or MariaDB), given the monkeypatch.
FORMS: dict[str, Callable[[pytest.MonkeyPatch], Client]] = {
    "pg-sqlalchemy-url-userinfo": lambda mp: SQLAlchemyClient(_pg_url(SPACED)),
    "pg-sqlalchemy-url-query": lambda mp: SQLAlchemyClient(
        _pg_url(None, f"?password={quote(SPACED, safe='')}")
    ),
    "pg-sqlalchemy-connect-args": lambda mp: SQLAlchemyClient(
        _pg_url(), connect_args={"password": SPACED}
    ),
    "pg-sqlalchemy-engine": lambda mp: SQLAlchemyClient(
        sa.create_engine(_pg_url(SPACED).replace("postgresql://", "postgresql+psycopg://"))
    ),
    "pg-dbapi-password-kwarg": lambda mp: DBAPIClient(
        psycopg.connect, conninfo=_pg_url(), password=SPACED
    ),
    "pg-dbapi-conninfo-url": lambda mp: DBAPIClient(psycopg.connect, conninfo=_pg_url(SPACED)),
    "pg-dbapi-conninfo-quoted": lambda mp: DBAPIClient(
        psycopg.connect, conninfo=_conninfo(SPACED, quoted=True)
    ),
    "pg-dbapi-dsn-plain-positional": lambda mp: DBAPIClient(
        psycopg.connect, _conninfo(PLAIN, quoted=False)
    ),
    "pg-dbapi-partial": lambda mp: DBAPIClient(
        functools.partial(psycopg.connect, password=SPACED), conninfo=_pg_url()
    ),
    "pg-dbapi-pgpassword-env": lambda mp: (
        mp.setenv("PGPASSWORD", SPACED), DBAPIClient(psycopg.connect, conninfo=_pg_url())
    )[1],
    "mysql-dbapi-password-kwarg": lambda mp: DBAPIClient(
        pymysql.connect, password=SPACED, **_my_kwargs()
    ),
    "mysql-dbapi-passwd-kwarg": lambda mp: DBAPIClient(
        pymysql.connect, passwd=SPACED, **_my_kwargs()
    ),
    "mysql-sqlalchemy-url-userinfo": lambda mp: SQLAlchemyClient(_my_url(SPACED)),
    "mysql-sqlalchemy-url-query": lambda mp: SQLAlchemyClient(
        _my_url(None, f"?password={quote(SPACED, safe='')}")
    ),
    "mysql-sqlalchemy-connect-args": lambda mp: SQLAlchemyClient(
        _my_url(), connect_args={"password": SPACED}
    ),
}


@pytest.fixture(scope="module", autouse=True)
def mysql_user() -> Iterator[None]:
    """A MariaDB user whose password is ``SPACED``, dropped at the end."""
    root = pymysql.connect(**mysql_kwargs())
    try:
        with root.cursor() as cur:
            cur.execute(f"CREATE OR REPLACE USER '{MYSQL_USER}'@'%%' IDENTIFIED BY %s", (SPACED,))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{_MY.database}`.* TO '{MYSQL_USER}'@'%'")
        yield
        with root.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{MYSQL_USER}'@'%'")
    finally:
        root.close()


def _leaks(text: str | bytes | None) -> bool:
    if text is None:
        return False
    return (CORE.encode() if isinstance(text, bytes) else CORE) in text


def _catalog_leaks(path: pathlib.Path) -> list[str]:
    """Where the password appears in the catalog: its bytes, or a value of any column."""
    found = [p.name for p in (path, path.with_name(path.name + ".wal")) if p.exists()
             and _leaks(p.read_bytes())]
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
        for (table,) in tables:
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                for value in row:
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    if _leaks(raw):
                        found.append(f"{table}: {raw[:80]!r}")
    return found


@pytest.mark.filterwarnings("ignore:.passwd. is deprecated:DeprecationWarning")
@pytest.mark.parametrize("form", list(FORMS))
def test_password_reaches_no_catalog_log_error_or_repr(
    form: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Materialize through a client given a password this way: the password is nowhere."""
    client = FORMS[form](monkeypatch)
    suffix = uuid.uuid4().hex[:8]
    table, view, broken = f"sec_t_{suffix}", f"sec_v_{suffix}", f"sec_b_{suffix}"

    @asset(name="numbers", io=SQLTable(client, table=table))
    def numbers() -> pl.DataFrame:
        return pl.DataFrame({"n": [1, 2, 3]})

    @sql_asset(client=client, kind="view", table=view, name="doubled")
    def doubled(numbers):
        return "SELECT n * 2 AS m FROM {numbers}"

    @sql_asset(client=client, table=broken, name="broken")
    def broken_sql(numbers):
        return "SELECT no_such_column FROM {numbers}"

    root = tmp_path / "data"
    errors: list[BaseException] = []
    try:
        with caplog.at_level(logging.DEBUG):
            result = materialize([numbers, doubled, broken_sql], root=root, raise_on_error=False)
            assert set(result.materialized) == {"numbers", "doubled"}
            assert result.failed == ["broken"]
            again = materialize([numbers, doubled], root=root)
            assert set(again.skipped) == {"numbers", "doubled"}
            with pytest.raises(ClientError) as caught:
                client.execute("SELECT * FROM assetry_no_such_table")
            errors.append(caught.value)
        assert client.without_secrets().identity() == client.identity()
        assert _catalog_leaks(root / "catalog.duckdb") == []
        texts = [repr(client), str(client), repr(client.without_secrets()),
                 repr(numbers.spec.io), repr(doubled.spec.io)]
        texts += ["".join(traceback.format_exception(e)) for e in errors]
        texts += [r.getMessage() for r in caplog.records]
        texts += [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
        assert [t for t in texts if _leaks(t)] == []
        if form.startswith("pg-"):  # trust authentication: the copy in the catalog reconnects
            assert Catalog(root / "catalog.duckdb").load("numbers")["n"].to_list() == [1, 2, 3]
    finally:
        for name in (view, broken, table):
            drop(client, None, name)
        client.close()


@pytest.mark.parametrize(
    ("make", "gone"),
    [
        (lambda: SQLAlchemyClient(_pg_url(SPACED, "?sslmode=disable&sslpassword=x" + CORE),
                                  connect_args={"password": SPACED, "dsn": _conninfo(PLAIN, True)}),
         ("password", "sslpassword")),
        (lambda: DBAPIClient(psycopg.connect, _conninfo(SPACED, True), passwd=PLAIN,
                             options="-c search_path=public"), ("passwd",)),
        (lambda: DBAPIClient(pymysql.connect, host="h", user="u", password=PLAIN,
                             ssl={"key_password": SPACED}), ("password",)),
    ],
    ids=["sqlalchemy-everything", "dbapi-conninfo-and-passwd", "dbapi-nested-dict"],
)
def test_without_secrets_keeps_everything_but_the_passwords(
    make: Callable[[], Client], gone: tuple[str, ...]
) -> None:
    """The catalog's copy keeps host, user, options and database, and no password at all."""
    client = make()
    clean = client.without_secrets()
    state = repr(clean.__getstate__())
    assert not _leaks(state)
    assert clean.identity() == client.identity()
    if isinstance(clean, DBAPIClient):
        assert not set(gone) & set(clean.kwargs)
        assert "options" not in client.kwargs or clean.kwargs["options"] == "-c search_path=public"
    else:
        assert "sslmode=disable" in clean.url
    client.close()


def test_malformed_url_error_hides_the_password() -> None:
    """A URL SQLAlchemy cannot read is named in the error without its password."""
    with pytest.raises(ClientError, match=r"cannot read the URL") as caught:
        SQLAlchemyClient(f"postgresql://u:{PLAIN}@h:notaport/db")
    assert not _leaks(str(caught.value))
    assert not _leaks("".join(traceback.format_exception(caught.value)))


def test_driver_message_quoting_the_password_is_redacted() -> None:
    """A database message that quotes the password shows ``***``, and does not chain to it."""
    client = DBAPIClient(psycopg.connect, _conninfo(PLAIN, quoted=False))
    statement = "SELECT 1 AS a, 2 AS b, 3 AS c, 4 AS d, 5 AS e, 6 AS f, 7 AS g, 8 AS h "
    with pytest.raises(ClientError, match=r'relation "\*\*\*" does not exist') as caught:
        client.execute(statement + f'FROM "{PLAIN}"')  # past the statement's shown start
    assert not _leaks("".join(traceback.format_exception(caught.value)))
    client.close()
