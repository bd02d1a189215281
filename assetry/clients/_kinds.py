"""The three kinds of client: DuckDB, SQLAlchemy, and any PEP 249 driver.

Each client says how to connect (with its connect and statement timeouts, in
the driver's terms: ``_timeouts``), how to name its database without
credentials, and which of its arguments are secret (``_scrub``, with
``_secrets``); everything else (per-thread connections, quoting, queries,
streaming, atomic relation writes, fingerprints) is the shared
:class:`~assetry.clients.base.Client`. Clients pickle without their connections, so
they can be shipped to worker processes. This module runs no SQL of its own.
"""

from __future__ import annotations

import functools
import importlib
import os
import pathlib
import time
from collections.abc import Callable
from typing import Any

import attrs

from assetry._surface import install_hint
from assetry.clients import _secrets, _timeouts
from assetry.clients import dialects as _dialects
from assetry.clients.base import Client
from assetry.errors import ClientError

__all__ = ["DBAPIClient", "DuckDBClient", "SQLAlchemyClient"]

#: Keys of a connection string whose value is itself a URL or ``key=value`` string.
_DSN_KEYS = ("conninfo", "dsn")


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
    ``connect_timeout`` and ``statement_timeout`` (seconds, None for no limit) are
    handed to the driver in its own terms (docs/sql.md); a keyword given to the
    driver itself wins. A ``functools.partial`` of ``connect`` is unpacked into
    ``connect``, ``args`` and ``kwargs``.

    Examples:
        >>> import sqlite3
        >>> DBAPIClient(sqlite3.connect, database=":memory:").dialect
        'sqlite'
    """

    def __init__(self, connect: Callable[..., Any], *args: Any, dialect: str | None = None,
                 connect_timeout: float | None = _timeouts.CONNECT_TIMEOUT,
                 statement_timeout: float | None = _timeouts.STATEMENT_TIMEOUT,
                 **kwargs: Any) -> None:
        while isinstance(connect, functools.partial):  # its arguments are scrubbed like ours
            args, kwargs = (*connect.args, *args), {**connect.keywords, **kwargs}
            connect = connect.func
        self.connect_timeout, self.statement_timeout = _timeouts.checked(
            connect_timeout, statement_timeout, "DBAPIClient"
        )
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

    def _scrub(self, state: dict[str, Any], found: list[str]) -> dict[str, Any]:
        kwargs = _secrets.scrub(state["kwargs"], found)
        args = _secrets.scrub(state["args"], found)
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
        package = self.driver.__name__.split(".")[0]
        given = {**_conninfo(self.args, self.kwargs), **self.kwargs}
        limits = _timeouts.connect_kwargs(package, self.connect_timeout, self.statement_timeout)
        started = time.monotonic()
        try:
            conn = self.connect(*self.args, **{k: v for k, v in limits.items() if k not in given},
                                **self.kwargs)
        except self.driver.Error as exc:
            error = self._connect_error(exc, started)
            raise error from error.__cause__
        try:
            _timeouts.after_connect(conn, package, self.dialect, self.statement_timeout, given)
        except self.driver.Error as exc:
            self._close_quietly(conn)
            error = self._error(f"cannot set statement_timeout on {self.identity()}", exc,
                                "; pass statement_timeout=None to DBAPIClient(...) to leave it")
            raise error from error.__cause__
        return conn


class SQLAlchemyClient(Client):
    """A database reached through SQLAlchemy: a URL or an existing Engine.

    A bare ``postgresql://`` URL uses psycopg 3 and ``mysql://`` uses pymysql,
    the drivers of the ``postgres`` and ``mysql`` extras.

    Examples:
        >>> SQLAlchemyClient("sqlite:///:memory:").dialect
        'sqlite'
    """

    def __init__(self, url_or_engine: Any, *,
                 connect_timeout: float | None = _timeouts.CONNECT_TIMEOUT,
                 statement_timeout: float | None = _timeouts.STATEMENT_TIMEOUT,
                 **engine_options: Any) -> None:
        import sqlalchemy as sa

        super().__init__()
        self.connect_timeout, self.statement_timeout = _timeouts.checked(
            connect_timeout, statement_timeout, "SQLAlchemyClient"
        )
        if isinstance(url_or_engine, sa.Engine):
            url, self._engine, self.owns_engine = url_or_engine.url, url_or_engine, False
        else:
            url, self.owns_engine = _with_default_driver(_parsed_url(url_or_engine)), True
        backend = url.get_backend_name()
        self.dialect = {"mariadb": "mysql", "postgres": "postgresql"}.get(backend, backend)
        self.url = url.render_as_string(hide_password=False)
        self.engine_options = engine_options
        self.paramstyle = self.engine.dialect.dbapi.paramstyle  # loads the driver now

    _engine: Any

    def _reset(self) -> None:
        super()._reset()
        self._engine = None

    def _scrub(self, state: dict[str, Any], found: list[str]) -> dict[str, Any]:
        import sqlalchemy as sa

        url = sa.make_url(state["url"])
        if url.password:
            found.append(str(url.password))
        secret = [k for k in url.query if _secrets.is_secret_key(k)]
        for key in secret:
            value = url.query[key]
            found.extend([value] if isinstance(value, str) else value)
        url = url._replace(password=None).difference_update_query(secret)
        url = url.update_query_dict(
            {k: _secrets.scrub(v, found) for k, v in url.query.items() if k in _DSN_KEYS}
        )
        options = _secrets.scrub(state["engine_options"], found)
        url_text = url.render_as_string(hide_password=False)
        return {**state, "url": url_text, "engine_options": options}

    def __getstate__(self) -> dict[str, Any]:
        # The unpickled copy builds its own engine from the URL, so it disposes of it too.
        return {**super().__getstate__(), "owns_engine": True}

    @property
    def engine(self) -> Any:
        """The SQLAlchemy Engine, created on first use (and again after unpickling).

        Its connect arguments get the driver's timeouts, unless the URL or
        ``connect_args`` sets them; an Engine given to the client keeps its own.
        """
        if self._engine is None:
            import sqlalchemy as sa

            url = sa.make_url(self.url)
            options = dict(self.engine_options)
            given = {**url.query, **options.get("connect_args", {})}
            limits = _timeouts.connect_kwargs(
                _url_package(url), self.connect_timeout, self.statement_timeout
            )
            options["connect_args"] = {
                **{k: v for k, v in limits.items() if k not in given},
                **options.get("connect_args", {}),
            }
            try:
                self._engine = sa.create_engine(url, **options)
            except ModuleNotFoundError as exc:
                extra = _dialects.EXTRAS.get(self.dialect, self.dialect)
                raise ClientError(
                    f"the driver for {self.dialect} ({exc.name!r}) is not installed; "
                    f"install it with: {install_hint(extra)}"
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
        engine, started = self.engine, time.monotonic()
        try:
            conn = engine.raw_connection()
        except self.db_errors as exc:
            error = self._connect_error(getattr(exc, "orig", None) or exc, started)
            raise error from error.__cause__
        given = {**engine.url.query, **self.engine_options.get("connect_args", {})}
        try:
            _timeouts.after_connect(conn, _url_package(engine.url), self.dialect,
                                    self.statement_timeout, given)
        except self.db_errors as exc:
            self._close_quietly(conn)
            fix = "; pass statement_timeout=None to SQLAlchemyClient(...) to leave it"
            error = self._error(f"cannot set statement_timeout on {self.identity()}", exc, fix)
            raise error from error.__cause__
        return conn

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
    """The keys of a ``conninfo=`` / ``dsn=`` / first-argument connection string."""
    text = kwargs.get("conninfo") or kwargs.get("dsn") or (args[0] if args else None)
    if not isinstance(text, str):
        return {}
    if "://" in text:
        from urllib.parse import parse_qsl, urlsplit

        try:
            parts = urlsplit(text)
            host, port = parts.hostname, parts.port
        except ValueError:  # several hosts, or a port that is not a number
            return {}
        query = dict(parse_qsl(parts.query))
        return {**query, "host": host, "port": port, "dbname": parts.path.lstrip("/") or None}
    return dict(_secrets.conninfo_pairs(text) or ())


def _parsed_url(text: Any) -> Any:
    import sqlalchemy as sa

    try:
        return sa.make_url(text)
    except (sa.exc.ArgumentError, ValueError) as exc:
        shown = _secrets.scrub(text, []) if isinstance(text, str) else type(text).__name__
        raise ClientError(
            f"SQLAlchemyClient cannot read the URL {shown!r} ({exc}); give a URL such as "
            "'postgresql://user@host:5432/db' or an Engine"
        ) from None


def _url_package(url: Any) -> str:
    """The top-level package of a SQLAlchemy URL's driver (``psycopg``, ``pymysql``, ...)."""
    try:
        return str(url.get_dialect().import_dbapi().__name__).split(".")[0]
    except Exception:  # noqa: BLE001 (no driver: create_engine says so clearly)
        return ""


def _network_identity(dialect: str, host: Any, port: Any, database: str) -> str:
    port = port or _dialects.DEFAULT_PORTS.get(dialect, "")
    return f"{dialect}://{host or 'localhost'}:{port}/{database}"
