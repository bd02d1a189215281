"""Opening the catalog file: its schema and version, one writer at a time, crash recovery.

It owns creating and migrating the tables on open (their shape is
:mod:`assetry.records._schema`, the steps :mod:`assetry.records._migrations`),
the bounded wait while another process or thread holds the file, telling a
held file from a damaged one, and marking runs of dead processes ``crashed``.
A run holds the file for its whole duration by an ``flock`` (the run lock), but
DuckDB's own lock only while it writes a batch: between batches its connection
is released, so readers in other processes get in (docs/catalog.md, "Reading
during a run").
A new file is created in the storage format of :data:`STORAGE_VERSION`, so
that older DuckDB releases (a user's DuckDB CLI) can open it.
It knows nothing of runs' contents, of products or of freshness.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
import threading
import time
from typing import Any

from assetry._surface import run_hint
from assetry.errors import CatalogError
from assetry.records._locks import lock_holders, pid_alive
from assetry.records._migrations import SCHEMA_VERSION, migrate
from assetry.records._readers import open_reader
from assetry.records._runlock import RunLock, WriterConnection, busy
from assetry.records._schema import TABLES, create_table

__all__ = ["STORAGE_VERSION", "connect", "corrupt_error", "read_records", "wait_seconds"]

#: The DuckDB storage format a new catalog is created in: every DuckDB release
#: from 1.1.0 (September 2024) on reads and writes it, the DuckDB CLI included. DuckDB
#: keeps a file's format when it writes to it later; it never lowers it.
STORAGE_VERSION = "v1.1.0"
#: The wait when ``ASSETRY_CATALOG_WAIT`` is not set.
_DEFAULT_WAIT_S = 120.0

_LOCK_PID = re.compile(r"PID (\d+)")
#: DuckDB refuses a read-only connection beside a read-write one in the same process.
_SAME_PROCESS = "different configuration"


def wait_seconds() -> float:
    """How long to wait for a held catalog: ``ASSETRY_CATALOG_WAIT`` seconds, default 120.

    Raises:
        CatalogError: the variable is not a finite number of seconds >= 0.

    Examples:
        >>> wait_seconds()  # ASSETRY_CATALOG_WAIT=2.5  # doctest: +SKIP
        2.5
    """
    raw = os.environ.get("ASSETRY_CATALOG_WAIT")
    if raw is None or not raw.strip():
        return _DEFAULT_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise CatalogError(
            f"environment variable ASSETRY_CATALOG_WAIT is {raw!r}, not a number of seconds; "
            f"set it to a finite number >= 0 (such as {_DEFAULT_WAIT_S:.0f}, the default) or unset it"
        )
    return value


def connect(path: str | os.PathLike[str], *, read_only: bool = False, wait: float | None = None) -> Any:
    """Open the catalog file, waiting up to ``wait`` seconds while another process holds it.

    One writer at a time: DuckDB's file lock between processes, a lock per file
    between the threads of one process (released when the connection closes).
    Others wait with a bounded backoff, readers too. A writer creates the
    tables or migrates an older file (so does a reader, when no one else holds
    it) and marks runs left ``running`` by a dead process as ``crashed``
    (their roots are the connection's ``crashed_roots``, for the engine to sweep). In
    a process that already holds the catalog read-write, a reader shares that
    database inside a read-only transaction.

    Raises:
        CatalogError: the file is corrupt or not a DuckDB database, was written by
            a newer assetry, or stays held longer than ``wait``.

    Examples:
        >>> con = connect("data/catalog.duckdb", read_only=True)  # doctest: +SKIP
    """
    import duckdb

    wait = wait_seconds() if wait is None else wait  # a bad setting fails every command alike
    path = pathlib.Path(path)
    if read_only and not path.exists():
        raise CatalogError(f"catalog {str(path)!r} does not exist; {run_hint()}")
    if path.is_dir():
        raise CatalogError(f"catalog {str(path)!r} is a directory; give the path of a file")
    if not read_only:
        try:  # a spec's catalog: meta/catalog.duckdb may name a folder no run made yet
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogError(
                f"cannot create the folder of catalog {str(path)!r} ({exc.strerror or exc}); "
                "choose a catalog path in a writable folder"
            ) from exc
    deadline = time.monotonic() + wait
    slot = None if read_only else _Slot(path, wait)
    crashed_roots: tuple[str, ...] = ()
    run_lock: RunLock | None = None
    try:
        if slot is not None and not path.exists():
            _create(path)
        if slot is not None and not slot.nested:
            run_lock = RunLock.acquire(path, deadline, wait)
        con = _open(path, read_only, deadline, wait)
        try:
            if slot is None:
                found = _check_version(con, path)
                if found is not None and found < SCHEMA_VERSION:
                    con.close()  # DuckDB opens no writer beside a reader of this process
                    _upgrade(path)
                    con = _open(path, read_only, deadline, wait)
            else:
                _ensure_schema(con, path)
                if not slot.nested:  # a nested writer (a hook of a live run) recovers nothing
                    crashed_roots = _recover_crashed(con)
        except duckdb.Error as exc:
            con.close()
            raise corrupt_error(path, str(exc)) from exc
        except CatalogError:
            con.close()  # a newer schema, a failed migration: nothing of this open stays
            raise
    except BaseException:
        if run_lock is not None:
            run_lock.release()
        if slot is not None:
            slot.release()
        raise
    if slot is None:
        return con
    return WriterConnection(con, slot, path, crashed_roots, run_lock=run_lock, wait=wait)


def _create(path: pathlib.Path) -> None:
    """Create an empty catalog file in the storage format of :data:`STORAGE_VERSION`.

    Only a new file can be given a format: DuckDB writes an existing file in the
    format it already has. The format is set by an ``ATTACH`` from a separate
    in-memory database, not by a config option of ``duckdb.connect``, because
    DuckDB refuses two connections to one file with different configs in one
    process (a user's plain ``duckdb.connect(path)`` beside a run).
    """
    import duckdb

    quoted = "'" + str(path).replace("'", "''") + "'"
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {quoted} AS new_catalog (STORAGE_VERSION '{STORAGE_VERSION}')")
        con.execute("DETACH new_catalog")
    except duckdb.Error:
        # Another process created the file meanwhile (it holds it, or gave it a newer
        # format), or the directory is missing: the open that follows waits or reports it.
        return
    finally:
        con.close()


_SLOTS: dict[str, Any] = {}  # threading.RLock per catalog file
_DEPTH: dict[str, int] = {}
_SLOTS_LOCK = threading.Lock()


class _Slot:
    """This process's one writer slot for a catalog file: threads wait, the holder re-enters."""

    def __init__(self, path: pathlib.Path, wait: float) -> None:
        self.key = os.path.realpath(path)
        with _SLOTS_LOCK:
            self._lock = _SLOTS.setdefault(self.key, threading.RLock())
        if not self._lock.acquire(timeout=min(max(wait, 0.001), threading.TIMEOUT_MAX)):
            raise CatalogError(
                f"catalog {str(path)!r} is held by another run in this process and did not "
                f"free within {wait:.0f}s; wait for that run to end"
            )
        with _SLOTS_LOCK:
            _DEPTH[self.key] = _DEPTH.get(self.key, 0) + 1
            self.nested = _DEPTH[self.key] > 1

    def release(self) -> None:
        self._lock.release()  # raises in a thread that does not hold it: nothing changes
        with _SLOTS_LOCK:
            _DEPTH[self.key] -= 1


def _open(path: pathlib.Path, read_only: bool, deadline: float, wait: float) -> Any:
    import duckdb

    if read_only:
        try:
            return open_reader(path, max(0.0, deadline - time.monotonic()))
        except duckdb.Error as exc:
            raise corrupt_error(path, str(exc)) from exc
    delay = 0.01
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.Error as exc:
            msg = str(exc)
            if _SAME_PROCESS in msg:
                raise CatalogError(
                    f"catalog {str(path)!r} is open read-only in this process (a DuckDB "
                    "connection still open); close it and run again"
                ) from exc
            if not busy(msg):  # held by another process, or by this one's readers
                raise corrupt_error(path, msg) from exc
            if time.monotonic() >= deadline:
                pid = _LOCK_PID.search(msg)
                holder = f"process {pid.group(1)}" if pid else "another process"
                raise CatalogError(
                    f"catalog {str(path)!r} is held by {holder} and did not free within "
                    f"{wait:.0f}s; wait for that run to end or stop it "
                    "(ASSETRY_CATALOG_WAIT sets the wait in seconds)"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


def corrupt_error(path: pathlib.Path, detail: str) -> CatalogError:
    """The error for a catalog file DuckDB cannot read, with the way out."""
    return CatalogError(
        f"catalog {str(path)!r} is corrupt or truncated: not a readable DuckDB database "
        f"({_first_line(detail)}); nothing was changed: move it aside and start a new one "
        f"with Catalog({str(path)!r}).rebuild() (or --rebuild-catalog), then run again"
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _check_version(con: Any, path: pathlib.Path) -> int | None:
    """The file's schema version (None for a new file); refuse one from a newer assetry."""
    import duckdb

    try:
        rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    except duckdb.CatalogException:
        return None  # a new file: no meta table yet
    if not rows:
        return None
    found = int(rows[0][0])
    if found > SCHEMA_VERSION:
        con.close()
        raise CatalogError(
            f"catalog {str(path)!r} has schema version {found}, newer than this assetry "
            f"understands ({SCHEMA_VERSION}); upgrade assetry"
        )
    return found


def _ensure_schema(con: Any, path: pathlib.Path) -> None:
    """Create the tables of a new file, or migrate an older one, in one transaction."""
    found = _check_version(con, path)
    if found == SCHEMA_VERSION:
        return  # the usual open: nothing to write
    import duckdb

    con.execute("BEGIN")
    try:
        for table in TABLES:
            con.execute(create_table(table))
        try:
            # A new file's tables are already whole: its migrations only add what exists.
            migrate(con, found or 1)
        except duckdb.Error as exc:
            raise CatalogError(
                f"catalog {str(path)!r} could not be migrated from schema version {found} to "
                f"{SCHEMA_VERSION} ({_first_line(str(exc))}); nothing was changed: report it, "
                f"or move it aside with Catalog({str(path)!r}).rebuild()"
            ) from exc
        con.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [str(SCHEMA_VERSION)],
        )
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _upgrade(path: pathlib.Path) -> None:
    """Migrate an older file for a reader, if no one holds it and it may be written.

    A reader cannot migrate through its read-only connection. A writer that
    holds the file migrates it on its own open, and a file the user may not
    write is read in its older shape (every reader copes with missing columns).
    """
    import duckdb

    if lock_holders(path):
        return  # a run (between its batches) or another reader has it: read it as it is
    try:
        slot = _Slot(path, 0)
    except CatalogError:
        return  # another thread of this process writes it, and migrated it on open
    run_lock = None
    try:
        run_lock = RunLock.acquire(path, time.monotonic(), 0)
        con = _open(path, False, time.monotonic(), 0)
        try:
            _ensure_schema(con, path)
        finally:
            con.close()
    except (CatalogError, duckdb.Error, OSError):
        return  # held by another process, or not writable: read it as it is
    finally:
        if run_lock is not None:
            run_lock.release()
        slot.release()


def _recover_crashed(con: Any) -> tuple[str, ...]:
    """Mark runs left ``running`` by a dead process ``crashed``; return their roots.

    Holding the write lock (and this process's writer slot) means no other run
    of this catalog is alive, so their temporary files are leftovers: the
    engine sweeps the roots returned here (the catalog never touches products).
    A row of this very process is an earlier run that could not record its end.
    """
    rows = con.execute("SELECT run_id, pid, root FROM runs WHERE status = 'running'").fetchall()
    dead = [
        (run_id, root) for run_id, pid, root in rows
        if pid is None or pid == os.getpid() or not pid_alive(pid)
    ]
    if not dead:
        return ()
    con.execute(
        "UPDATE runs SET status = 'crashed' WHERE list_contains(?, run_id)",
        [[run_id for run_id, _ in dead]],
    )
    return tuple(sorted({root for _, root in dead if root and os.path.isdir(root)}))


def read_records(con: Any) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Every row of ``assets``, keyed by (asset, partition).

    A run's connection lets the file go once they are read: the run prepares
    itself before its first batch, and readers need not wait for that.
    """
    cur = con.execute("SELECT * FROM assets")
    cols = [d[0] for d in cur.description]
    records = {(r[0], r[1]): dict(zip(cols, r)) for r in cur.fetchall()}
    release = getattr(type(con), "release", None)
    if release is not None:
        release(con)
    return records
