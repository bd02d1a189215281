"""Connect and statement timeouts, per driver: a server that never answers fails, never hangs.

Every network client has a ``connect_timeout`` (default 10 s) and a
``statement_timeout`` (default 1 hour; None for no limit). How each driver is
told differs:

- psycopg (PostgreSQL): ``connect_timeout`` is libpq's (whole seconds, at least
  2); the statement timeout is the server's ``statement_timeout``, set on each
  new connection.
- pymysql (MySQL, MariaDB): the socket's connect, read and write timeouts are
  ``connect_timeout`` until the handshake is done, then ``statement_timeout``
  (a read that waits longer for the server fails).
- MySQLdb and the mariadb connector: ``connect_timeout``, ``read_timeout`` and
  ``write_timeout``; mysql.connector: ``connection_timeout``.
- DuckDB and SQLite run in this process: no timeout applies.

A keyword the user gave the driver (``connect_args``, a URL query, a conninfo
key) wins over these. This module also recognises a timeout in a driver error,
to name the setting in the message. It runs no statement but the ``SET`` above.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from assetry.errors import ClientError

__all__ = [
    "CONNECT_TIMEOUT",
    "STATEMENT_TIMEOUT",
    "after_connect",
    "checked",
    "connect_kwargs",
    "is_timeout",
]

#: Seconds to wait for a server to accept a connection and finish the handshake.
CONNECT_TIMEOUT = 10.0

#: Seconds one statement may run (or a read wait for the server) before it fails.
STATEMENT_TIMEOUT = 3600.0

_MYSQL_PACKAGES = ("pymysql", "MySQLdb", "mariadb")


def checked(connect: object, statement: object, owner: str) -> tuple[float | None, float | None]:
    """``(connect_timeout, statement_timeout)`` in seconds (None: no limit), else ClientError.

    Examples:
        >>> checked(5, None, "SQLAlchemyClient")
        (5.0, None)
    """
    found = []
    for name, value in (("connect_timeout", connect), ("statement_timeout", statement)):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is not None and not (number and 0 < value < math.inf):  # type: ignore[operator]
            raise ClientError(
                f"{owner}({name}={value!r}) is not a timeout; give a number of seconds above 0, "
                "or None for no limit"
            )
        found.append(None if value is None else float(value))  # type: ignore[arg-type]
    return found[0], found[1]


def connect_kwargs(
    package: str, connect_timeout: float | None, statement_timeout: float | None
) -> dict[str, Any]:
    """The driver's connect keywords that set the timeouts, for a driver's top-level package.

    Examples:
        >>> connect_kwargs("psycopg", 10.0, 3600.0)
        {'connect_timeout': 10}
        >>> connect_kwargs("sqlite3", 10.0, 3600.0)
        {}
    """
    whole = None if connect_timeout is None else max(1, math.ceil(connect_timeout))
    if package in ("psycopg", "psycopg2"):
        return {} if whole is None else {"connect_timeout": whole}
    if package == "pymysql":  # reads and writes of the handshake too; see after_connect
        return {"connect_timeout": connect_timeout, "read_timeout": connect_timeout,
                "write_timeout": connect_timeout}
    if package in _MYSQL_PACKAGES:
        statement = None if statement_timeout is None else math.ceil(statement_timeout)
        found = {"connect_timeout": whole, "read_timeout": statement, "write_timeout": statement}
        return {k: v for k, v in found.items() if v is not None}
    if package == "mysql" and whole is not None:  # mysql.connector
        return {"connection_timeout": whole}
    return {}


def after_connect(
    conn: Any, package: str, dialect: str, statement_timeout: float | None,
    given: Mapping[str, Any],
) -> None:
    """Set the statement timeout on a new connection (a DB-API one, or SQLAlchemy's proxy).

    ``given``: the connect keywords the user gave the driver; a timeout among them stays.
    """
    driver = getattr(conn, "driver_connection", conn)
    if package == "pymysql":
        # The handshake is done: from now on a read may wait as long as a statement runs.
        for key in ("read_timeout", "write_timeout"):
            if key not in given:
                setattr(driver, f"_{key}", statement_timeout)
        return
    if package in ("psycopg", "psycopg2") and "statement_timeout" not in str(given.get("options")):
        millis = 0 if statement_timeout is None else max(1, round(statement_timeout * 1000))
        cur = conn.cursor()
        try:
            cur.execute(f"SET statement_timeout = {int(millis)}")
        finally:
            cur.close()
        conn.commit()  # a SET rolled back is undone


def is_timeout(exc: BaseException) -> bool:
    """Whether a driver error says that a timeout expired (connecting, reading, a statement).

    Examples:
        >>> is_timeout(OSError("connection timeout expired"))
        True
    """
    text = " ".join(str(a) for a in getattr(exc, "args", ())) or str(exc)
    text = text.lower()
    code = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)
    return (code == "57014" and "timeout" in text) or any(
        marker in text for marker in ("timeout expired", "timed out", "statement timeout")
    )
