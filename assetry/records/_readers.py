"""Readers of the catalog: one in-memory DuckDB per process, the file attached per query.

A read-only ``duckdb.connect(path)`` starts a whole DuckDB instance (tens of
milliseconds of CPU) and holds the file's lock for as long. Readers here share
one in-memory instance per process and ``ATTACH ... (READ_ONLY)`` the file
while at least one of them reads it (a millisecond or two), so a page that asks
ten questions, or a reader polling during a run, costs little and keeps the file
from a run's writer only while it really reads. Each reader has its own cursor
with ``USE`` on the attached file, so queries name tables unqualified.

It owns only opening and closing readers; what the file holds is
:mod:`assetry.records._open`'s (versions, migrations) and the caller's.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import threading
from typing import Any

from assetry.errors import CatalogError
from assetry.records._runlock import WRITER_ALIAS, attach, knock, knock_path

__all__ = ["ReaderConnection", "open_reader"]

_LOCK = threading.Lock()
_HUB: Any = None
_FILES: dict[str, _Attached] = {}
_NUMBERS = itertools.count(1)


class _Attached:
    """One catalog file attached to this process's reader instance, and who reads it."""

    def __init__(self) -> None:
        self.alias = f"assetry_catalog_{next(_NUMBERS)}"
        self.lock = threading.Lock()
        self.readers = 0


class ReaderConnection:
    """A read-only cursor on the catalog; :meth:`close` lets the file go when no one reads it.

    Examples:
        >>> con = open_reader(pathlib.Path("data/catalog.duckdb"), 5.0)  # doctest: +SKIP
        >>> con.execute("SELECT count(*) FROM runs").fetchall()  # doctest: +SKIP
        [(3,)]
        >>> con.close()  # doctest: +SKIP
    """

    def __init__(self, cursor: Any, attached: _Attached | None) -> None:
        self._cursor: Any = cursor
        self._attached = attached

    def __getattr__(self, name: str) -> Any:
        if self._cursor is None:
            raise CatalogError("this catalog reader is closed; open a new one")
        return getattr(self._cursor, name)

    def close(self) -> None:
        """Close the cursor; the last reader of the file detaches it."""
        cursor, self._cursor = self._cursor, None
        if cursor is None:
            return
        try:
            cursor.close()
        finally:
            if self._attached is not None:
                _leave(self._attached)


def open_reader(path: pathlib.Path, wait: float) -> ReaderConnection:
    """A read-only connection to the catalog, waiting up to ``wait`` seconds for a writer's batch.

    In a process that holds the file read-write through a plain DuckDB
    connection of its own (a user's ``duckdb.connect(path)``; a run's writer is
    waited for instead), the reader shares that database inside a read-only
    transaction.

    Raises:
        CatalogError: the file stayed held longer than ``wait``.
        duckdb.Error: the file is not a readable DuckDB database.
    """
    key = os.path.realpath(path)
    with _LOCK:
        hub = _hub()
        attached = _FILES.setdefault(key, _Attached())
    with attached.lock:
        ready = attached.readers > 0
        if not ready:
            try:
                attach(hub, path, attached.alias, read_only=True, wait=0)
                ready = True
            except CatalogError as exc:
                # Busy. A plain read-write connection of this very process is shared;
                # a writer's batch (here or in another process) is waited for below.
                shared = _share(path, str(exc.__cause__ or exc))
                if shared is not None:
                    return ReaderConnection(shared, None)
        if ready:
            attached.readers += 1
    if not ready:
        _knock(path)  # a run's writer lets the file go after its batch under way
        with attached.lock:
            if attached.readers == 0:
                attach(hub, path, attached.alias, read_only=True, wait=wait)
            attached.readers += 1
    return _cursor(hub, attached)


def _knock(path: pathlib.Path) -> None:
    """Knock; when a run was already told (its ``<catalog>.readers`` exists), only touch it.

    :func:`knock` first makes sure a run holds the file (it reads ``/proc/locks``,
    milliseconds on a busy machine); the file exists only while a run that was
    knocked at lives (or after one was killed: touching it then tells no one).
    """
    try:
        os.utime(knock_path(path))
    except OSError:
        knock(path)


def _cursor(hub: Any, attached: _Attached) -> ReaderConnection:
    cursor = hub.cursor()
    try:
        cursor.execute(f"USE {attached.alias}")
    except BaseException:
        cursor.close()
        _leave(attached)
        raise
    return ReaderConnection(cursor, attached)


def _share(path: pathlib.Path, message: str) -> Any:
    """This process holds the file read-write by a plain connection: read inside it.

    Only when DuckDB names a database of its own (a ``duckdb.connect(path)`` of
    this process), not a run's released writer (which attaches for a batch at a
    time and is waited for) nor another reader.
    """
    import duckdb

    if "unique file handle" not in message.lower() or WRITER_ALIAS in message:
        return None
    if "assetry_catalog_" in message:
        return None
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error:
        return None
    con.execute("BEGIN TRANSACTION READ ONLY")  # closing the connection ends it
    return con


def _leave(attached: _Attached) -> None:
    with attached.lock:
        attached.readers -= 1
        if attached.readers == 0:
            _hub().execute(f"DETACH {attached.alias}")


def _hub() -> Any:
    global _HUB
    if _HUB is None:
        import duckdb

        _HUB = duckdb.connect(":memory:")
    return _HUB
