"""A client's connections and transactions, whatever the driver.

Owns opening (lazily, one connection per thread), closing (every connection, in
any thread), pickling without live connections, and the transaction a statement
runs in: committed on success, rolled back on error, a driver error turned into
ClientError (passwords redacted, an expired timeout named with its setting).
It runs no statement of its own but ``BEGIN`` and SQLite's schema check: what
to run is :class:`~assetry.clients.base.Client`'s.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Self

from assetry.clients import _secrets, _timeouts
from assetry.clients import dialects as _dialects
from assetry.errors import ClientError

__all__ = ["RUNTIME", "Connections"]

#: Attributes that hold live resources; they are not pickled and are rebuilt lazily.
RUNTIME = ("_lock", "_local", "_conns", "_base", "_engine", "_checked")


class Connections(abc.ABC):
    """A client's connections: one per thread, opened on first use, all closed by ``close()``.

    Subclasses say how to open one (the ``_open`` hook), name the database
    (``identity``) and which exceptions are the driver's (``db_errors``); one that
    holds more live state rebuilds it in an override of the ``_reset`` hook.

    Examples:
        >>> from assetry.clients import DuckDBClient
        >>> with DuckDBClient(":memory:") as db, db.transaction("asking") as cur:
        ...     cur.execute("SELECT 42").fetchall()
        [(42,)]
    """

    dialect: str = "ansi"

    #: Seconds to wait for a connection, and for one statement; None: no limit. Network
    #: clients set them (see :mod:`assetry.clients._timeouts`); DuckDB and SQLite have none.
    connect_timeout: float | None = None
    statement_timeout: float | None = None

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.RLock()
        self._local = threading.local()
        self._conns: list[Any] = []
        self._base: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # Live connections stay behind; the copy reconnects lazily where it lands.
        return {k: v for k, v in self.__dict__.items() if k not in RUNTIME}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def without_secrets(self) -> Self:
        """A copy without passwords, safe to keep in the catalog.

        Every way of passing one is removed (a URL's userinfo and ``?password=``,
        ``password=`` / ``passwd=`` keywords, ``connect_args``, a ``conninfo=`` or
        ``dsn=`` string, quoted or not: :mod:`assetry.clients._secrets`). The copy
        reconnects with whatever the environment supplies (``PGPASSWORD``,
        ``~/.pgpass``, an option file), or fails with the database's message.
        """
        copy = type(self).__new__(type(self))
        copy.__setstate__(self._scrub(self.__getstate__(), []))
        return copy

    def _scrub(self, state: dict[str, Any], found: list[str]) -> dict[str, Any]:
        """``state`` without secrets; each secret removed is appended to ``found``."""
        return state

    def _secrets(self) -> list[str]:
        """The secrets among this client's connection arguments, to keep out of messages."""
        found: list[str] = []
        self._scrub(self.__getstate__(), found)
        return found

    def _error(self, message: str, exc: BaseException, fix: str = "") -> ClientError:
        """ClientError of ``message: <driver's message>[fix]``, secrets redacted, timeouts named.

        When the driver's message held a secret, the error does not chain to it
        (a traceback would print it).
        """
        raw = " ".join(str(exc).split())
        detail = _secrets.redact(raw, self._secrets())
        if not fix and _timeouts.is_timeout(exc) and self.statement_timeout is not None:
            fix = (
                f"; a statement or read took longer than statement_timeout="
                f"{self.statement_timeout:g} s: pass a longer statement_timeout= (None for no "
                f"limit) to {type(self).__name__}(...)"
            )
        error = ClientError(f"{message}: {detail}{fix}")
        error.__cause__ = exc if detail == raw else None  # raise it ``from error.__cause__``
        return error

    def _connect_error(self, exc: BaseException, started: float) -> ClientError:
        """ClientError for a failed connect, naming ``connect_timeout`` when it expired."""
        limit = self.connect_timeout
        waited = time.monotonic() - started
        if limit is None or not (_timeouts.is_timeout(exc) or waited >= 0.9 * limit):
            return self._error(f"cannot connect to {self.identity()}", exc)
        return self._error(
            f"cannot connect to {self.identity()} within connect_timeout={limit:g} s", exc,
            f"; check that the server is up and answering, or pass a longer connect_timeout= "
            f"to {type(self).__name__}(...)",
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity()!r})"

    @abc.abstractmethod
    def identity(self) -> str:
        """The database's name without credentials, e.g. ``postgresql://host:5432/db``."""

    @abc.abstractmethod
    def _open(self) -> Any:
        """A new DB-API connection (raising ClientError when it cannot be had)."""

    @property
    @abc.abstractmethod
    def db_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception classes, turned into ClientError at the boundary."""

    # -- connections and transactions --------------------------------------------------

    def connection(self) -> Any:
        """This thread's connection, opened on first use and kept until ``close()``."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this client opened, in any thread."""
        with self._lock:
            conns, self._conns, self._local = self._conns, [], threading.local()
            if self._base is not None:
                conns.insert(0, self._base)  # closed last, after its cursors
            self._base = None
        for conn in reversed(conns):
            self._close_quietly(conn)

    def open_cursor(self, connect: Callable[[], Any]) -> Any:
        """A new cursor of the client's one shared connection, which ``connect`` makes once.

        For DuckDB clients' ``_open``: each DuckDB cursor is a connection of its own
        to the same database, and threads that each connect to one file at the same
        moment race inside DuckDB 2. ``close()`` closes the shared connection last.
        """
        with self._lock:
            if self._base is None:
                self._base = connect()
            return self._base.cursor()

    def _close_quietly(self, conn: Any) -> None:
        try:
            conn.close()
        except self.db_errors:
            return  # already closed or broken: nothing is left to release

    def transaction(
        self, action: str, *, write: bool = False
    ) -> contextlib.AbstractContextManager[Any]:
        """A cursor of this thread's connection inside one transaction.

        Committed when the block ends, rolled back when it raises; a driver error
        becomes ClientError naming ``action``. ``write=True`` opens the transaction
        explicitly where the driver would not (SQLite takes its write lock at once).

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> db = DuckDBClient(":memory:")
            >>> with db.transaction("counting", write=True) as cur:
            ...     cur.execute("SELECT count(*) FROM range(3)").fetchall()
            [(3,)]
        """
        return self._transaction(action, write)

    @contextlib.contextmanager
    def streaming(self, action: str) -> Iterator[Any]:
        """A cursor that reads rows as they are fetched, on a connection of its own.

        A PostgreSQL server-side cursor, a MySQL unbuffered one; the connection is
        closed when the block ends, so other statements may run meanwhile.

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> with DuckDBClient(":memory:").streaming("reading") as cur:
            ...     cur.execute("SELECT 1").fetchall()
            [(1,)]
        """
        conn = self._open()
        try:
            with self._transaction(action, conn=conn, stream=True) as cur:
                yield cur
        finally:
            self._close_quietly(conn)

    @contextlib.contextmanager
    def _transaction(
        self, action: str, write: bool = False, conn: Any = None, stream: bool = False
    ) -> Iterator[Any]:
        # ``conn``: a connection of the caller's own (then it is not this thread's to
        # discard); ``stream``: a server-side or unbuffered cursor where the driver has one.
        shared = conn is None
        conn = self.connection() if shared else conn
        try:
            cur = self._cursor(conn, stream)
        except self.db_errors as exc:  # closed under us (server restart): reconnect next time
            self._discard(conn, shared)
            error = self._error(f"{action} failed on {self.identity()}", exc)
            raise error from error.__cause__
        begin = _dialects.BEGIN.get(self.dialect) if write else None
        check = _dialects.SCHEMA_CHECK.get(self.dialect)
        try:
            if begin:
                cur.execute(begin)
            if check:
                cur.execute(check)
            yield cur
            self._finish(conn, cur)
            conn.commit()
        except BaseException as exc:
            self._abort(conn, cur, bool(begin) or self.dialect != "duckdb", shared)
            if isinstance(exc, self.db_errors):
                error = self._error(f"{action} failed on {self.identity()}", exc)
                raise error from error.__cause__
            raise

    @staticmethod
    def _finish(conn: Any, cur: Any, abort: bool = False) -> None:
        if cur is not conn:
            cur.close()
        elif hasattr(conn, "complete"):
            # DuckDB 2 keeps a partly read result open across commits and refuses the
            # next query on the connection until it is run to its end (or cancelled).
            if abort:
                conn.abort()
            else:
                conn.complete()

    def _abort(self, conn: Any, cur: Any, rollback: bool, shared: bool) -> None:
        try:
            self._finish(conn, cur, abort=True)
            if rollback:
                conn.rollback()
        except self.db_errors:
            # The connection is broken; the original error is the one to report.
            self._discard(conn, shared)

    def _discard(self, conn: Any, shared: bool) -> None:
        if shared:
            self._local.conn = None  # this thread opens a new one on its next statement
        invalidate = getattr(conn, "invalidate", None)  # SQLAlchemy's pool: never reuse it
        if callable(invalidate):
            with contextlib.suppress(Exception):  # if that fails too, closing is all that is left
                invalidate()
                return
        self._close_quietly(conn)

    def _cursor(self, conn: Any, stream: bool) -> Any:
        driver = getattr(conn, "driver_connection", conn)
        package = type(driver).__module__.split(".")[0].lstrip("_")
        if package == "duckdb":
            return driver  # a DuckDB cursor is a second connection: use this one itself
        if stream and package == "psycopg":
            return driver.cursor(name=f"assetry_{uuid.uuid4().hex[:12]}")  # server-side
        if stream and package in ("pymysql", "MySQLdb"):
            unbuffered = importlib.import_module(f"{package}.cursors").SSCursor
            return conn.cursor(unbuffered)  # rows arrive as they are fetched
        return conn.cursor()
