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
file again at the next statement. A reader that finds the file held touches
``<catalog>.readers`` (:func:`knock`); the writer, which looks at that file's
time between batches, then lets go after the batch under way. It knows
nothing of rows.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import time
from typing import Any

from assetry.errors import CatalogError
from assetry.records._locks import lock_holders

__all__ = [
    "WRITER_ALIAS", "RunLock", "WriterConnection", "attach", "busy", "holder", "knock",
    "knock_path", "knocked_at", "wal_bytes",
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
    def acquire(cls, path: pathlib.Path, deadline: float, wait: float) -> RunLock | None:
        """Wait (until ``deadline``) for every other run of this catalog to end, then hold it.

        Returns None where ``flock`` does not exist (not POSIX): DuckDB's lock alone
        then keeps runs apart, and a run does not release it between batches.

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


#: The name a released writer attaches the catalog under, in its own in-memory instance.
WRITER_ALIAS = "assetry_catalog_writer"


class WriterConnection:
    """A read-write catalog connection; closing it frees this process's writer slot.

    Between batches the run's writer calls :meth:`release`: the file is
    detached (DuckDB's lock goes with it) while the run lock stays held, and
    the next statement attaches it again, into an in-memory DuckDB instance
    this connection keeps for the purpose (attaching costs a millisecond or
    two; a new connection tens). Readers in other processes read meanwhile.
    Statements see the catalog's tables unqualified either way (``USE``).
    """

    def __init__(self, con: Any, slot: Any, path: pathlib.Path,
                 crashed_roots: tuple[str, ...] = (), *, run_lock: RunLock | None = None,
                 wait: float = 120.0) -> None:
        self._con: Any = con  # the first connection, then the hub while attached, else None
        self._hub: Any = None
        self._slot: Any = slot
        self._run_lock = run_lock
        self._wait = wait
        #: The catalog file, for messages about it.
        self.path = path
        #: Roots of the runs this connection marked ``crashed``: their temporaries are leftovers.
        self.crashed_roots = crashed_roots

    def __getattr__(self, name: str) -> Any:
        return getattr(self._live(), name)

    @property
    def released(self) -> bool:
        """Whether the file is released until the next statement."""
        return self._con is None

    def _live(self) -> Any:
        if self._con is None:
            if self._slot is None:
                raise CatalogError(f"the connection to catalog {str(self.path)!r} is closed")
            if self._hub is None:
                self._hub = _hub()
            attach(self._hub, self.path, WRITER_ALIAS, read_only=False, wait=self._wait)
            self._hub.execute(f"USE {WRITER_ALIAS}")
            self._con = self._hub
        return self._con

    def release(self) -> None:
        """Let readers of other processes in until the next statement; keep the run lock.

        Only the outermost writer of a process releases (it alone holds the run
        lock); a nested one (a hook's ``accept``) keeps its connection. The
        write-ahead log is left for the next attach to replay (cheaper than a
        checkpoint per batch) until it grows past :data:`_CHECKPOINT_WAL_BYTES`.
        """
        if self._run_lock is None or self._con is None:
            return
        con, self._con = self._con, None
        fold = wal_bytes(self.path) >= _CHECKPOINT_WAL_BYTES
        if con is not self._hub:  # the first connection, from connect()
            try:
                if not fold:
                    con.execute("PRAGMA disable_checkpoint_on_shutdown")
            finally:
                con.close()
            return
        try:
            if fold:
                con.execute(f"CHECKPOINT {WRITER_ALIAS}")
        finally:
            self._detach()

    def close(self) -> None:
        """Close the connection and let the next writer of this process (and others) in."""
        import duckdb

        slot, self._slot = self._slot, None
        con, self._con = self._con, None
        try:
            if con is None and self._hub is not None and wal_bytes(self.path):
                try:  # fold the log of the released batches into the file
                    attach(self._hub, self.path, WRITER_ALIAS, read_only=False, wait=1.0)
                    con = self._hub
                except (CatalogError, duckdb.Error):
                    con = None  # a reader holds it: the next open replays the log
            if con is not None and con is self._hub:
                try:
                    con.execute(f"CHECKPOINT {WRITER_ALIAS}")
                except duckdb.Error:
                    pass  # the log stays beside the file; the next open replays it
                finally:
                    self._detach()
            elif con is not None:
                con.close()
        finally:
            if self._hub is not None:
                self._hub.close()
                self._hub = None
            if self._run_lock is not None:
                with contextlib.suppress(OSError):
                    os.unlink(knock_path(self.path))
                self._run_lock.release()  # after DuckDB let go: closing drops POSIX locks
            if slot is not None:
                slot.release()

    def _detach(self) -> None:
        """Detach the file from the hub; a hub DuckDB invalidated (a failed write) is dropped."""
        import duckdb

        try:
            self._hub.execute("USE memory")
            self._hub.execute(f"DETACH {WRITER_ALIAS}")
        except duckdb.Error:
            hub, self._hub = self._hub, None
            hub.close()  # closing the instance lets the file go all the same

    def __del__(self) -> None:
        # A caller that forgot close() must not keep every later run of the process waiting.
        if getattr(self, "_slot", None) is not None:
            try:
                self.close()
            except RuntimeError:
                return  # collected in another thread than the one that opened it


def _hub() -> Any:
    """An in-memory DuckDB instance to attach the catalog to; detaching does not checkpoint."""
    import duckdb

    hub = duckdb.connect(":memory:")
    try:
        hub.execute("SET checkpoint_on_detach = 'DISABLED'")
    except duckdb.Error:
        pass  # an older DuckDB checkpoints on every detach: slower, just as correct
    return hub


