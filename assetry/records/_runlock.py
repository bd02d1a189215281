"""A run's hold on its catalog between batches: the run lock, and opening the file again.

A run writes its rows in short batches (:mod:`assetry.records._writer`) and
releases DuckDB's file lock between them, so that readers in other processes
(``Catalog.sql``, ``assetry status``, ``assetry ui``) get in while it goes.
What keeps a second run out meanwhile is the run lock: an ``flock`` on the
catalog file itself, held from the run's open to its close. ``flock`` locks
are separate from the POSIX locks DuckDB takes, so neither disturbs the other;
the kernel drops it when the holder dies, even by SIGKILL, and
``/proc/locks`` lists it, so :func:`~assetry.records.lock_holders` still names
a live run while its DuckDB connection is released. :class:`WriterConnection`
is the connection a writer gets: it releases between batches and attaches the
file again at the next statement, into this process's one DuckDB instance for
writers (:func:`writer_cursor`). A reader that finds the file held touches
``<catalog>.readers`` (:func:`knock`); the writer, which looks at that file's
time between batches, then lets go after the batch under way. It knows
nothing of rows.

Longer than 400 lines: the run lock, the writers' DuckDB instance and the
connection that releases and attaches the file are one protocol of holding
the file; apart, each would reach into the others' state.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pathlib
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from assetry.errors import CatalogError
from assetry.records._locks import lock_holders

__all__ = [
    "WRITER_ALIAS", "RunLock", "WriterConnection", "attach", "busy", "holder", "knock",
    "knock_path", "knocked_at", "wal_bytes", "writer_cursor",
]

_LOCK_PID = re.compile(r"PID (\d+)")
#: DuckDB's words for "another process holds the file", and for "this process holds it
#: with other settings" (a read-only connection of this process, still open).
_BUSY_WORDS = (
    "could not set lock", "conflicting lock", "different configuration", "unique file handle",
)
#: A released writer leaves its write-ahead log for the next open to replay (cheaper than a
#: checkpoint per batch); past this size it checkpoints, so an open never replays much.
_CHECKPOINT_WAL_BYTES = 256 << 10


class RunLock:
    """An exclusive ``flock`` on the catalog file for the whole of a run (or ``accept``).

    Examples:
        >>> lock = RunLock.acquire(path, time.monotonic() + 5, 5)  # doctest: +SKIP
        >>> lock.release()  # doctest: +SKIP
    """

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: pathlib.Path, deadline: float, wait: float, *,
                before_waiting: Callable[[], None] | None = None) -> RunLock | None:
        """Wait (until ``deadline``) for every other run of this catalog to end, then hold it.

        Returns None where ``flock`` does not exist (not POSIX): DuckDB's lock alone
        then keeps runs apart, and a run does not release it between batches.
        ``before_waiting`` is called once if the lock is not free at the first try
        (a new file's creator lets the file go then, so the holder can finish).

        Raises:
            CatalogError: another process still holds the run lock at ``deadline``.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return cls(fd)
            except BlockingIOError:
                pass
            if before_waiting is not None:
                # Before any descriptor of the file is closed: closing one drops every
                # POSIX lock this process holds on it, DuckDB's included.
                call, before_waiting = before_waiting, None
                try:
                    call()
                except BaseException:
                    os.close(fd)
                    raise
            if time.monotonic() >= deadline:
                os.close(fd)
                holders = sorted((lock_holders(path) or set()) - {os.getpid()})
                holder = f"process {holders[0]}" if holders else "another process"
                raise CatalogError(
                    f"catalog {str(path)!r} is held by {holder} and did not free within "
                    f"{wait:.0f}s; wait for that run to end or stop it "
                    "(ASSETRY_CATALOG_WAIT sets the wait in seconds)"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def release(self) -> None:
        """Let the next run in. Call it after this process's DuckDB connection is closed:
        closing the descriptor drops every POSIX lock the process holds on the file."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # the flock goes with its last descriptor


def attach(con: Any, path: pathlib.Path, alias: str, *, read_only: bool, wait: float) -> None:
    """``ATTACH`` the catalog file to ``con`` as ``alias``, waiting up to ``wait`` seconds.

    An ``ATTACH`` into a DuckDB instance that is already running costs a
    millisecond or two (and the replay of the write-ahead log); a new instance
    costs tens. Another process's lock, or this process's own use of the file
    (DuckDB attaches a file once per process), is waited out with short sleeps:
    a writer's batch, or a reader's query, takes milliseconds.

    Raises:
        CatalogError: the file stayed held longer than ``wait``.
        duckdb.Error: anything else (a damaged file): the caller says what it means.
    """
    import duckdb

    quoted = "'" + str(path).replace("'", "''") + "'"
    mode = " (READ_ONLY)" if read_only else ""
    deadline = time.monotonic() + wait
    delay = 0.002
    while True:
        try:
            con.execute(f"ATTACH {quoted} AS {alias}{mode}")
            return
        except duckdb.Error as exc:
            msg = str(exc)
            if not busy(msg):
                raise
            if time.monotonic() >= deadline:
                raise CatalogError(
                    f"catalog {str(path)!r} is held by {holder(msg)} and did not free within "
                    f"{wait:.0f}s; wait for that run to end or stop it, and close other "
                    "connections to the catalog (ASSETRY_CATALOG_WAIT sets the wait in seconds)"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.02)


def busy(message: str) -> bool:
    """Whether a DuckDB error means "someone holds the file now", not "the file is bad"."""
    return any(w in message.lower() for w in _BUSY_WORDS)


def holder(message: str) -> str:
    """Who holds the file, as far as DuckDB's message tells."""
    pid = _LOCK_PID.search(message)
    if pid:
        return f"process {pid.group(1)}"
    if "unique file handle" in message.lower():
        return "a connection of this process"
    return "another process"


def knock_path(path: str | os.PathLike[str]) -> str:
    """The file a reader touches when a run holds the catalog: ``<catalog>.readers``.

    Its modification time is the only message: "a reader waits". The run's
    writer looks at it between batches (one ``stat``) and, when it changed,
    lets the file go after the batch under way instead of up to
    ``_RELEASE_S`` later. It holds no data and no lock; the writer removes it
    when the run ends.
    """
    return f"{path}.readers"


def knock(path: str | os.PathLike[str]) -> None:
    """Tell a run holding the catalog that a reader waits (best effort: a read-only
    directory only makes the reader wait for the run's regular release).

    Only a run is told (a process holding the run lock): another tool holding the
    file (the DuckDB CLI) reads no knock, and would leave the file behind.
    """
    if not _run_holds(path):
        return
    try:
        with open(knock_path(path), "a"):
            pass
        os.utime(knock_path(path))
    except OSError:
        return


def _run_holds(path: str | os.PathLike[str]) -> bool:
    """Whether some process holds an ``flock`` (the run lock) on ``path``; True if unknown."""
    try:
        st = os.stat(path)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return True  # no /proc (macOS): knock anyway
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    # "1: FLOCK  ADVISORY  WRITE 321 fe:00:2146964 0 EOF" ("->" marks a blocked waiter).
    return any(
        len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == wanted and "->" not in parts
        for parts in (line.split() for line in lines)
    )


def knocked_at(path: str | os.PathLike[str]) -> int:
    """When a reader last knocked (nanoseconds; 0 if never)."""
    try:
        return os.stat(knock_path(path)).st_mtime_ns
    except OSError:
        return 0


def wal_bytes(path: pathlib.Path) -> int:
    """The size of the catalog's write-ahead log (0 when there is none).

    Examples:
        >>> wal_bytes(pathlib.Path("/no/such/catalog.duckdb"))
        0
    """
    try:
        return os.path.getsize(f"{path}.wal")
    except OSError:
        return 0


#: The name a writer attaches the catalog under (and a number per connection).
WRITER_ALIAS = "assetry_catalog_writer"

_HUB_LOCK = threading.Lock()
_HUB: Any = None
_HUB_PID = 0
_ALIASES = itertools.count(1)
_INHERITED: list[Any] = []


def writer_cursor() -> tuple[Any, str]:
    """A new cursor on this process's in-memory DuckDB instance for writers, and an alias for it.

    The instance is made once per process (a new one costs 13 to 40 ms: it
    registers every built-in function) and kept, with nothing attached between
    runs: a second run of a notebook pays only the ``ATTACH`` (a millisecond).
    Each writer has a cursor of its own (its own ``USE`` and transactions) and
    attaches the catalog under its own alias, so runs of different catalogs in
    threads of one process do not mix. Detaching never checkpoints (the writer
    decides when, :meth:`WriterConnection.release`). A forked child makes its own.
    """
    global _HUB, _HUB_PID
    with _HUB_LOCK:
        if _HUB is None or _HUB_PID != os.getpid():
            if _HUB is not None:  # a forked child's copy: closing it would wait for the
                _INHERITED.append(_HUB)  # parent's threads, so it is only kept
            import duckdb

            hub = duckdb.connect(":memory:", config={"threads": 1})
            try:
                hub.execute("SET GLOBAL checkpoint_on_detach = 'DISABLED'")
            except duckdb.Error:
                pass  # an older DuckDB checkpoints on every detach: slower, just as correct
            try:
                # FSST's training was two thirds of each checkpoint's CPU (the run's closing one:
                # 13 ms of its 1,000 rows, against 4 without it); strings keep the other methods.
                hub.execute("SET GLOBAL disabled_compression_methods = 'fsst'")
            except duckdb.Error:
                pass  # a DuckDB without the setting compresses as it always did
            _HUB, _HUB_PID = hub, os.getpid()
        return _HUB.cursor(), f"{WRITER_ALIAS}_{next(_ALIASES)}"


def _drop_hub() -> None:
    """Make the next writer start a new instance (this one failed to detach a file).

    Not closed here (that would close every cursor of it): it goes with its last
    cursor, and the files attached to it with it."""
    global _HUB
    with _HUB_LOCK:
        _HUB = None


class WriterConnection:
    """A read-write catalog connection; closing it frees this process's writer slot.

    It is a cursor of this process's instance for writers (:func:`writer_cursor`)
    with the catalog attached (``connect`` attaches it). Between batches the run's writer calls
    :meth:`release`: the file is detached (DuckDB's lock goes with it) while the
    run lock stays held, and the next statement attaches it again (a
    millisecond or two). Readers in other processes read meanwhile. Statements
    see the catalog's tables unqualified either way (``USE``).
    """

    def __init__(self, cursor: Any, alias: str, slot: Any, path: pathlib.Path,
                 crashed_roots: tuple[str, ...] = (), *, run_lock: RunLock | None = None,
                 wait: float = 120.0) -> None:
        self._cursor: Any = cursor  # None once closed
        self._alias = alias
        self._attached = True
        self._slot: Any = slot
        self._run_lock = run_lock
        self._wait = wait
        #: The catalog file, for messages about it.
        self.path = path
        #: Roots of the runs this connection marked ``crashed``: their temporaries are leftovers.
        self.crashed_roots = crashed_roots
        self.created = False  #: whether this open created the file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._live(), name)

    @property
    def released(self) -> bool:
        """Whether the file is released until the next statement."""
        return not self._attached

    def _live(self) -> Any:
        cursor = self._cursor
        if cursor is None or self._slot is None:
            raise CatalogError(f"the connection to catalog {str(self.path)!r} is closed")
        if not self._attached:
            attach(cursor, self.path, self._alias, read_only=False, wait=self._wait)
            self._attached = True
            cursor.execute(f"USE {self._alias}")
        return cursor

    def release(self) -> None:
        """Let readers of other processes in until the next statement; keep the run lock.

        Only the outermost writer of a process releases (it alone holds the run
        lock); a nested one (a hook's ``accept``) keeps its connection. The
        write-ahead log is left for the next attach to replay (cheaper than a
        checkpoint per batch) until it grows past :data:`_CHECKPOINT_WAL_BYTES`.
        """
        if self._run_lock is None or not self._attached or self._cursor is None:
            return
        try:
            if wal_bytes(self.path) >= _CHECKPOINT_WAL_BYTES:
                self._cursor.execute(f"CHECKPOINT {self._alias}")
        finally:
            self._detach()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file now, if attached; a refusal leaves the
        log for a later checkpoint (the close's) or the next open to fold."""
        import duckdb

        if self._cursor is not None and self._attached:
            with contextlib.suppress(duckdb.Error):
                self._cursor.execute(f"CHECKPOINT {self._alias}")

    def close(self) -> None:
        """Fold the write-ahead log into the file, detach it, and let the next writer in.

        A finished run leaves no log behind: a file moved, copied or converted
        without its ``.wal`` (docs/catalog.md's recipe) would lose the rows, or
        fail to open ("WAL does not match database file"). The writer's last batch
        left the file attached; a released writer attaches it again for the
        checkpoint, unless a reader holds it (then the next open replays the log).
        """
        import duckdb

        slot, self._slot = self._slot, None
        cursor = self._cursor
        try:
            if cursor is not None and wal_bytes(self.path):
                if not self._attached:
                    try:  # fold the log of the released batches into the file
                        attach(cursor, self.path, self._alias, read_only=False, wait=1.0)
                        self._attached = True
                    except (CatalogError, duckdb.Error):
                        pass  # a reader holds it: the next open replays the log
                self.checkpoint()  # refused: the log stays for the next open
            if cursor is not None and self._attached:
                self._detach()
        finally:
            self._cursor = None
            if cursor is not None:
                cursor.close()
            if self._run_lock is not None:
                with contextlib.suppress(OSError):
                    os.unlink(knock_path(self.path))
                self._run_lock.release()  # after DuckDB let go: closing drops POSIX locks
            if slot is not None:
                slot.release()

    def _detach(self) -> None:
        """Detach the file; if DuckDB refuses (a failed write), the instance is left to go
        with this connection's cursor, and the file with it."""
        import duckdb

        self._attached = False
        try:
            self._cursor.execute("USE memory")
            self._cursor.execute(f"DETACH {self._alias}")
        except duckdb.Error:
            _drop_hub()
            cursor, self._cursor = self._cursor, None
            cursor.close()
            if self._slot is not None:  # the next statement attaches in a new instance
                self._cursor, self._alias = writer_cursor()

    def __del__(self) -> None:
        # A caller that forgot close() must not keep every later run of the process waiting.
        if getattr(self, "_slot", None) is not None:
            try:
                self.close()
            except RuntimeError:
                return  # collected in another thread than the one that opened it
