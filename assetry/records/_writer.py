"""The writer a run uses: its records committed from one background thread, on a time bound.

It owns only turning queued rows into transactions on a connection that
:func:`assetry.records.connect` opened, releasing the file between them (so
readers of other processes get in while a run goes), and reporting the first
write that failed. What the rows say, and what a run does when its catalog fails, is the
engine's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from assetry.errors import CatalogError
from assetry.records._batches import insert_batches, insert_columns, rows_of
from assetry.records._runlock import knocked_at

__all__ = ["CatalogWriter"]

#: The queue's marks of a :meth:`CatalogWriter.put_columns` item and a :meth:`CatalogWriter.call`.
_COLUMNS, _CALL = "__columns__", "__call__"

#: How long the first row after a quiet spell waits for company before its commit:
#: a burst of rows (a finished asset's row, its checks, its ``assets`` row) costs one commit.
_LINGER_S = 0.02
#: Under a steady stream of rows (a wide no-op run skipping thousands of assets), commits
#: are at least this far apart: a few transactions a second, not one per row, and no row
#: waits longer than this plus one commit. A killed run loses at most that much.
_INTERVAL_S = 0.1
#: The file is let go (readers of other processes get in) at most this long after it was
#: opened, between two batches or in a quiet spell; a reader waits about this long at most.
#: Letting go after every batch would cost a run more (each reopening replays the log).
_RELEASE_S = 0.2
#: While it holds the file, the writer looks this often whether a reader knocked.
_KNOCK_S = 0.02


class CatalogWriter:
    """Writes a run's records from one background thread, in batched transactions on a time bound.

    ``put`` only appends to a list (cheap enough to call for every skipped
    asset of a wide run); the thread commits whatever is pending as one
    transaction at most :data:`_INTERVAL_S` after the last commit, so every
    row, whatever its kind, is committed within a fraction of a second and a
    killed run loses at most that much.

    The first write that fails stops the writer: :attr:`failed` turns true,
    :attr:`error` holds a :class:`CatalogError` naming the catalog and the
    cause, and every later ``put``, ``sql``, ``flush`` and ``close`` raises it,
    so the run can stop scheduling work it could no longer record.

    Examples:
        >>> writer = CatalogWriter(connect("data/catalog.duckdb"))  # doctest: +SKIP
        >>> writer.put("dependencies", {"asset": "delays", "upstream": "flights"})  # doctest: +SKIP
        >>> writer.close()  # doctest: +SKIP
    """

    def __init__(self, con: Any) -> None:
        self._con = con
        self._lock = threading.Lock()
        self._pending: list[tuple[str, Any]] = []
        self._events: list[threading.Event] = []
        self._stopping = False
        self._fold = False  # fold the log into the file after the next commit (see fold)
        self._stopped = False  # the thread has left its loop (closed, or after a failure)
        self._error: CatalogError | None = None
        #: When the file was last opened for this writer (None: released): it is let go
        #: :data:`_RELEASE_S` later, after the batch then under way.
        self._held_since: float | None = (
            None if getattr(con, "released", False) else time.monotonic())
        self._knock_seen = knocked_at(con.path) if getattr(con, "path", None) else 0
        self._wake = threading.Event()  # something is pending
        self._hurry = threading.Event()  # a flush or close: commit without lingering
        self._thread = threading.Thread(target=self._loop, name="assetry-catalog", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        """Whether a write failed: nothing more is written, and every later call raises."""
        return self._error is not None

    @property
    def error(self) -> CatalogError | None:
        """The first write failure, as the :class:`CatalogError` the writer raises; else None."""
        return self._error

    def put(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row for ``table`` (``assets`` rows replace their (asset, partition)).

        Raises:
            CatalogError: an earlier write failed.
        """
        self._enqueue((table, row))

    def put_columns(self, table: str, columns: dict[str, Any], length: int) -> None:
        """Queue ``length`` rows given by column: a list of ``length`` values, or one value
        for every row. One item for the thousand rows of a no-op run's unchanged sources.

        Raises:
            CatalogError: an earlier write failed, or a list is not ``length`` long.
        """
        wrong = [c for c, v in columns.items() if type(v) is list and len(v) != length]
        if wrong:
            raise CatalogError(f"column {wrong[0]!r} of {table!r} has "
                               f"{len(columns[wrong[0]])} values for {length} rows")
        self._enqueue((_COLUMNS, (table, columns, length)))

    def sql(self, statement: str, params: list[Any] | None = None) -> None:
        """Queue one statement to run in order with the rows.

        Raises:
            CatalogError: an earlier write failed.
        """
        self._enqueue(("__sql__", (statement, params or [])))

    def call(self, fn: Callable[[Any], None]) -> None:
        """Queue ``fn(connection)``, run in order with the rows, inside their transaction:
        a write that depends on what the catalog holds (the graph's edges, where they changed).

        Raises:
            CatalogError: an earlier write failed.
        """
        self._enqueue((_CALL, fn))

    def fold(self) -> None:
        """After the next commit, fold the write-ahead log into the file (a checkpoint), in
        this writer's thread, unless a close is on its way (a close folds it anyway).

        For a large write early in a run (a no-op run's thousand ``observed`` rows): the
        checkpoint then overlaps the run's own work, where the closing one would add it
        to the run's end. The rows to fold are queued, so the commit comes at once, not
        after the rest of :data:`_LINGER_S`. A connection that cannot checkpoint ignores it.
        """
        with self._lock:
            self._fold = True
            if self._pending:
                self._hurry.set()

    def check(self) -> None:
        """Raise the first write failure, if any: a cheap test for a scheduler's loop.

        Raises:
            CatalogError: an earlier write failed.
        """
        if self._error is not None:
            raise self._error

    def flush(self) -> None:
        """Wait until everything queued so far is committed.

        Raises:
            CatalogError: a write failed (this one or an earlier one).
        """
        done = threading.Event()
        with self._lock:
            if not self._stopped:
                self._events.append(done)
                self._hurry.set()
                self._wake.set()
            else:
                done.set()
        done.wait()
        self.check()

    def close(self) -> None:
        """Commit what is pending and stop the thread.

        Raises:
            CatalogError: a write failed (the rows queued after it were not written).
        """
        with self._lock:
            self._stopping = True
            self._hurry.set()
            self._wake.set()
        self._thread.join()
        self.check()

    def salvage(self, statement: str, params: list[Any] | None = None) -> bool:
        """After a failure, try one statement in a transaction of its own; True if committed.

        For the last words of a run whose catalog stopped taking its rows (its
        ``runs`` row marked failed): the catalog may take a small statement
        again (a failed batch, a transient error), or not at all (a full disk).
        Runs on the calling thread once the writer's thread has stopped.

        Raises:
            CatalogError: the writer has not failed (queue the statement with :meth:`sql`).
        """
        if self._error is None:
            raise CatalogError(
                "salvage() is for a writer whose write failed; queue the statement with sql()"
            )
        self._thread.join()  # it stops at its first failure
        import duckdb

        try:
            self._con.execute("BEGIN")
            self._con.execute(statement, params or [])
            self._con.execute("COMMIT")
        except duckdb.Error:
            _rollback(self._con)
            return False  # the catalog takes nothing more: the error already says so
        return True

    def _enqueue(self, item: tuple[str, Any]) -> None:
        if self._error is not None:
            raise self._error
        with self._lock:
            if self._stopping:
                raise CatalogError("the catalog writer is closed; open a new one to write rows")
            self._pending.append(item)
            if len(self._pending) == 1:
                self._wake.set()

    def _loop(self) -> None:
        last_commit = -_INTERVAL_S
        while True:
            if not self._wake.wait(self._poll()):
                if self._should_release():  # quiet, and held long enough, or a reader knocked
                    try:
                        self._release()
                    except BaseException as exc:  # noqa: BLE001 (kept, and raised by every call)
                        self._fail(exc, [])
                        return
                continue
            if not self._hurry.is_set():
                started = time.monotonic()
                self._hurry.wait(max(_LINGER_S, last_commit + _INTERVAL_S - started))
            with self._lock:
                items, self._pending = self._pending, []
                events, self._events = self._events, []
                stop = self._stopping
                self._wake.clear()
                self._hurry.clear()
            last_commit = time.monotonic()
            try:
                if items and self._held_since is None:
                    self._held_since = time.monotonic()  # the write opens the file again
                self._write(items)
                with self._lock:  # a close on its way folds the log itself
                    fold = bool(items) and self._fold and not self._stopping
                    self._fold = self._fold and not items
                if fold:
                    self._checkpoint()
                # Not when a close came in during the batch: the close's own batch follows at
                # once, and letting go now would cost a checkpoint and a reattach for nothing.
                if items and not stop and not self._stopping and self._should_release():
                    self._release()
            except BaseException as exc:  # noqa: BLE001 (kept, and raised to the run by every call)
                self._fail(exc, events)
                return
            for e in events:
                e.set()
            if stop:
                with self._lock:
                    self._stopped = True
                    events, self._events = self._events, []
                for e in events:
                    e.set()
                return

    def _fail(self, exc: BaseException, events: list[threading.Event]) -> None:
        """Keep the first failure, wake every waiter, and stop writing."""
        _rollback(self._con)
        with self._lock:
            self._error = _failure(self._con, exc)
            self._stopped = True
            events += self._events
            self._events = []
        for e in events:
            e.set()

    def _held(self) -> bool:
        return self._held_since is not None and getattr(type(self._con), "release", None) is not None

    def _poll(self) -> float | None:
        """How long the loop may sleep with nothing to write: None while the file is not held,
        else until it is due to be let go, looking every :data:`_KNOCK_S` for a knock."""
        if not self._held():
            return None
        return min(_KNOCK_S, max(0.0, self._held_since + _RELEASE_S - time.monotonic()))  # type: ignore[operator]

    def _should_release(self) -> bool:
        """Held for :data:`_RELEASE_S`, or a reader knocked since the last look
        (records/_runlock.py, ``knock``): then the file goes after the batch under way."""
        if not self._held():
            return False
        return time.monotonic() - self._held_since >= _RELEASE_S or self._knocked()  # type: ignore[operator]

    def _knocked(self) -> bool:
        path = getattr(self._con, "path", None)
        if path is None:
            return False
        at = knocked_at(path)
        if at > self._knock_seen:
            self._knock_seen = at
            return True
        return False

    def _checkpoint(self) -> None:
        checkpoint = getattr(type(self._con), "checkpoint", None)
        if checkpoint is not None:
            checkpoint(self._con)

    def _release(self) -> None:
        # Between batches the catalog file is free for readers in other processes; the
        # run lock keeps other runs out (records/_runlock.py). A plain DuckDB connection
        # (no release) simply stays open.
        release = getattr(type(self._con), "release", None)
        if release is not None:
            release(self._con)
        self._held_since = None

    def _write(self, items: list[tuple[str, Any]]) -> None:
        if not items:
            return
        con = self._con
        con.execute("BEGIN")
        batch: dict[str, list[dict[str, Any]]] = {}
        for table, payload in items:
            if table == "__sql__" or table == _CALL:
                insert_batches(con, batch)
                batch = {}
                if table == _CALL:
                    payload(con)
                else:
                    con.execute(payload[0], payload[1])
            elif table == _COLUMNS:
                name, columns, length = payload
                if not length:
                    continue
                if name == "assets":  # its rows replace their key: in order with the others
                    batch.setdefault(name, []).extend(rows_of(columns, length))
                else:  # append-only: its order among the other rows counts for nothing
                    insert_columns(con, name, columns, length)
            else:
                batch.setdefault(table, []).append(payload)
        insert_batches(con, batch)
        con.execute("COMMIT")


def _failure(con: Any, exc: BaseException) -> CatalogError:
    """The error a failed write becomes: the catalog, the cause, and what to do."""
    if isinstance(exc, CatalogError):
        return exc
    path = getattr(con, "path", None)
    name = repr(str(path)) if path is not None else "file"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    error = CatalogError(
        f"writing the catalog {name} failed ({first}); the rows of this run from then on were "
        "not recorded and its unrecorded assets run again next time: make the catalog's "
        "disk or file writable and run again"
    )
    error.__cause__ = exc
    return error


def _rollback(con: Any) -> None:
    if getattr(con, "released", False):
        return  # closed between batches: no transaction is open, and none is worth a reopen
    try:
        con.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 (no transaction left to roll back: the first error is the one)
        return
