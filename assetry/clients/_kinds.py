"""The three kinds of client: DuckDB, SQLAlchemy, and any PEP 249 driver.

Each client says how to connect and how to name its database without
credentials; everything else (per-thread connections, quoting, queries,
streaming, atomic relation writes, fingerprints) is the shared
:class:`~assetry.clients.base.Client`. Clients pickle without their connections, so
they can be shipped to worker processes. This module runs no SQL of its own.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import re
from collections.abc import Callable
from typing import Any

import attrs

from assetry.clients import dialects as _dialects
from assetry.clients.base import Client
from assetry.errors import ClientError

__all__ = ["DBAPIClient", "DuckDBClient", "SQLAlchemyClient"]


#: Connection keywords that hold secrets; dropped from the copy kept in the catalog.
_SECRET_KEYS = {"password", "passwd", "pwd", "secret", "token"}
_PASSWORD_IN_DSN = re.compile(r"((?:password|passwd)\s*=\s*|://[^:/@]*:)[^\s@&]+", re.IGNORECASE)


class DuckDBClient(Client):
    """A DuckDB database file (or ``":memory:"``); threads get cursors of one database.

    Examples:
        >>> DuckDBClient(":memory:").identity()
        'duckdb::memory:'
    """

    dialect = "duckdb"
    paramstyle = "qmark"

    def __init__(self, path: str | os.PathLike[str] = ":memory:", read_only: bool = False) -> None:
        text = os.fspath(path)
        self.path = text if text == ":memory:" else str(pathlib.Path(text).expanduser().resolve())
        self.read_only = read_only
        super().__init__()

    def identity(self) -> str:
        return f"duckdb:{self.path}"

    @property
    def db_errors(self) -> tuple[type[BaseException], ...]:
        import duckdb

        return (duckdb.Error,)

    def _open(self) -> Any:
        return self.open_cursor(self._connect_file)

    def _connect_file(self) -> Any:
        import duckdb

        if self.path != ":memory:":
            pathlib.Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            return duckdb.connect(self.path, read_only=self.read_only)
        except duckdb.Error as exc:
            raise ClientError(f"cannot open DuckDB database {self.path!r}: {exc}") from exc


class DBAPIClient(Client):
    """Any PEP 249 driver: ``DBAPIClient(pymysql.connect, host=..., database=...)``.

    The dialect comes from the driver's module (psycopg, pymysql, MySQLdb,
    mysql.connector, mariadb, sqlite3, duckdb) unless ``dialect=`` says otherwise.

    Examples:
        >>> import sqlite3
        >>> DBAPIClient(sqlite3.connect, database=":memory:").dialect
        'sqlite'
    """

    def __init__(self, connect: Callable[..., Any], *args: Any, dialect: str | None = None,
                 **kwargs: Any) -> None:
        module = getattr(connect, "__module__", None) or type(connect).__module__
        found = dialect or _dialects.dialect_of_driver(module)
        if found is None:
            raise ClientError(
                f"cannot tell the SQL dialect of driver module {module!r}; pass dialect= "
                "('postgresql', 'mysql', 'sqlite', 'duckdb' or another name)"
            )
        self.connect, self.args, self.kwargs, self.dialect = connect, args, dict(kwargs), found
        self.driver = _driver_module(module)
        self.paramstyle = self.driver.paramstyle
        if found in ("sqlite", "duckdb"):
            self._absolute_database()
        if self.driver.__name__ == "sqlite3":
            # One connection per thread already; close() runs in whichever thread calls it.
            self.kwargs.setdefault("check_same_thread", False)
        super().__init__()

    def __getstate__(self) -> dict[str, Any]:
        # Extension functions (duckdb.connect) do not pickle: ship where to import them from.
        state = super().__getstate__()
        state["connect"] = _FunctionRef.of(self.connect)
        return state

    def _scrub(self, state: dict[str, Any]) -> dict[str, Any]:
        kwargs = {k: v for k, v in state["kwargs"].items() if k.lower() not in _SECRET_KEYS}
        args = tuple(_PASSWORD_IN_DSN.sub(r"\1***", a) if isinstance(a, str) else a for a in state["args"])
        return {**state, "kwargs": kwargs, "args": args}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["connect"], _FunctionRef):
            state["connect"] = state["connect"].resolve()
        super().__setstate__(state)

    def _absolute_database(self) -> None:
        key = "database"
        if self.args:
            self.args, database = self.args[1:], self.args[0]
        else:
            database = self.kwargs.get(key, ":memory:")
        text = os.fspath(database)
        self.kwargs[key] = text if text.startswith(":") else str(pathlib.Path(text).resolve())

    def identity(self) -> str:
        if self.dialect in ("sqlite", "duckdb"):
            return f"{self.dialect}:{self.kwargs['database']}"
        info = {**self.kwargs, **_conninfo(self.args, self.kwargs)}
        database = info.get("dbname") or info.get("database") or info.get("db") or ""
        return _network_identity(self.dialect, info.get("host"), info.get("port"), database)

    @property
    def db_errors(self) -> tuple[type[BaseException], ...]:
        return (self.driver.Error,)

    def _open(self) -> Any:
        if self.driver.__name__ == "duckdb":
            return self.open_cursor(self._connect)
        return self._connect()

    def _connect(self) -> Any:
        try:
            return self.connect(*self.args, **self.kwargs)
        except self.driver.Error as exc:
            raise ClientError(f"cannot connect to {self.identity()}: {exc}") from exc


class SQLAlchemyClient(Client):
    """A database reached through SQLAlchemy: a URL or an existing Engine.

    A bare ``postgresql://`` URL uses psycopg 3 and ``mysql://`` uses pymysql,
    the drivers of the ``postgres`` and ``mysql`` extras.

    Examples:
        >>> SQLAlchemyClient("sqlite:///:memory:").dialect
        'sqlite'
    """

    def __init__(self, url_or_engine: Any, **engine_options: Any) -> None:
        import sqlalchemy as sa

        super().__init__()
        if isinstance(url_or_engine, sa.Engine):
            url, self._engine, self.owns_engine = url_or_engine.url, url_or_engine, False
        else:
            url, self.owns_engine = _with_default_driver(sa.make_url(url_or_engine)), True
        backend = url.get_backend_name()
        self.dialect = {"mariadb": "mysql", "postgres": "postgresql"}.get(backend, backend)
        self.url = url.render_as_string(hide_password=False)
        self.engine_options = engine_options
        self.paramstyle = self.engine.dialect.dbapi.paramstyle  # loads the driver now

    _engine: Any

    def _reset(self) -> None:
        super()._reset()
        self._engine = None

    def _scrub(self, state: dict[str, Any]) -> dict[str, Any]:
        import sqlalchemy as sa

        url = sa.make_url(state["url"])._replace(password=None)
        return {**state, "url": url.render_as_string(hide_password=False)}

    def __getstate__(self) -> dict[str, Any]:
        # The unpickled copy builds its own engine from the URL, so it disposes of it too.
        return {**super().__getstate__(), "owns_engine": True}

    @property
    def engine(self) -> Any:
        """The SQLAlchemy Engine, created on first use (and again after unpickling)."""
        if self._engine is None:
            import sqlalchemy as sa

            try:
                self._engine = sa.create_engine(self.url, **self.engine_options)
            except ModuleNotFoundError as exc:
                extra = _dialects.EXTRAS.get(self.dialect, self.dialect)
                raise ClientError(
                    f"the driver for {self.dialect} ({exc.name!r}) is not installed; "
                    f"install it with: pip install 'assetry[{extra}]'"
                ) from exc
        return self._engine

    def identity(self) -> str:
        import sqlalchemy as sa

        url = sa.make_url(self.url)
        if self.dialect in ("sqlite", "duckdb"):
            return f"{self.dialect}:{url.database or ':memory:'}"
        return _network_identity(self.dialect, url.host, url.port, url.database or "")

    @property
    def db_errors(self) -> tuple[type[BaseException], ...]:
        import sqlalchemy as sa

        return (self.engine.dialect.dbapi.Error, sa.exc.DBAPIError)

    def _open(self) -> Any:
        try:
            return self.engine.raw_connection()
        except self.db_errors as exc:
            raise ClientError(f"cannot connect to {self.identity()}: {exc}") from exc

    def close(self) -> None:
        super().close()
        if self.owns_engine and self._engine is not None:
            self._engine.dispose()
            self._engine = None


@attrs.frozen
class _FunctionRef:
    """A module-level function (or class method) named by its module and qualified name."""

    module: str
    name: str

    @classmethod
    def of(cls, function: Any) -> Any:
        """A reference when importing the name gives ``function`` back, else ``function``."""
        module = getattr(function, "__module__", None)
        name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
        if not module or not name:
            return function
        ref = cls(module, name)
        try:
            same = ref.resolve() == function
        except (ImportError, AttributeError):
            same = False
        return ref if same else function

    def resolve(self) -> Any:
        """Import the module and look the name up."""
        found: Any = importlib.import_module(self.module)
        for part in self.name.split("."):
            found = getattr(found, part)
        return found


def _with_default_driver(url: Any) -> Any:
    drivers = {"postgresql": "psycopg", "postgres": "psycopg", "mysql": "pymysql",
               "mariadb": "pymysql"}
    if url.drivername in drivers:
        url = url.set(drivername=f"{url.drivername}+{drivers[url.drivername]}")
    if url.get_backend_name() in ("sqlite", "duckdb") and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(pathlib.Path(url.database).expanduser().resolve()))
    return url


def _driver_module(module: str) -> Any:
    parts = module.lstrip("_").split(".")
    for end in range(len(parts), 0, -1):
        candidate = importlib.import_module(".".join(parts[:end]))
        if hasattr(candidate, "paramstyle") and hasattr(candidate, "Error"):
            return candidate
    raise ClientError(f"module {module!r} is not a DB-API driver (no paramstyle or Error)")


def _conninfo(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    text = kwargs.get("conninfo") or kwargs.get("dsn") or (args[0] if args else None)
    if not isinstance(text, str):
        return {}
    if "://" in text:
        import sqlalchemy as sa

        url = sa.make_url(text)
        return {"host": url.host, "port": url.port, "dbname": url.database}
    pairs = (item.split("=", 1) for item in text.split() if "=" in item)
    return {key: value.strip("'") for key, value in pairs}


def _network_identity(dialect: str, host: Any, port: Any, database: str) -> str:
    port = port or _dialects.DEFAULT_PORTS.get(dialect, "")
    return f"{dialect}://{host or 'localhost'}:{port}/{database}"
