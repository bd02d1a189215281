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
import time
from typing import Any

from assetry._surface import run_hint
from assetry.errors import CatalogError
from assetry.records._locks import Slot, lock_holders, pid_alive
from assetry.records._migrations import SCHEMA_VERSION, migrate
from assetry.records._readers import open_reader
from assetry.records._runlock import RunLock, WriterConnection, busy, holder, writer_cursor
from assetry.records._schema import TABLES, create_table

__all__ = ["STORAGE_VERSION", "connect", "corrupt_error", "wait_seconds"]

#: The DuckDB storage format a new catalog is created in: every DuckDB release
#: from 1.1.0 (September 2024) on reads and writes it, the DuckDB CLI included. DuckDB
#: keeps a file's format when it writes to it later; it never lowers it.
STORAGE_VERSION = "v1.1.0"
#: The wait when ``ASSETRY_CATALOG_WAIT`` is not set.
_DEFAULT_WAIT_S = 120.0

#: DuckDB's words for a file this process has attached elsewhere, naming that database.
_ATTACHED_BY = re.compile(r'already attached by database "([^"]*)"')
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

    One writer at a time: the run lock (an ``flock``) and DuckDB's file lock between
    processes, a lock per file between the threads of one process (released when
    the connection closes). Others wait with a bounded backoff, readers too. A
    writer creates the tables or migrates an older file (so does a reader, when
    no one else holds it) and marks runs left ``running`` by a dead process as
    ``crashed`` (their roots are the connection's ``crashed_roots``, for the
    engine to sweep). A reader in a process whose own plain DuckDB connection
    holds the file read-write shares it inside a read-only transaction.

    Raises:
        CatalogError: the file is corrupt or not a DuckDB database, was written by
            a newer assetry, is open in a DuckDB connection of this process, or
            stays held longer than ``wait``.

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
    if read_only:
        return _connect_reader(path, deadline)
    slot = Slot(path, wait)
    try:
        con = _open_writer(path, slot, deadline, wait)
    except BaseException:
        slot.release()
        raise
    try:  # from here on closing ``con`` lets the slot and the run lock go
        found = _ensure_schema(con, path, created=con.created)
        if not slot.nested and found is not None:  # a nested writer (a hook of a live run)
            con.crashed_roots = _recover_crashed(con)  # recovers nothing; a new file has no runs
    except duckdb.Error as exc:
        con.close()
        raise corrupt_error(path, str(exc)) from exc
    except BaseException:
        con.close()  # a newer schema, a failed migration: nothing of this open stays
        raise
    return con


def _connect_reader(path: pathlib.Path, deadline: float) -> Any:
    """A reader: the file as it is, migrated first if it is older and no one holds it."""
    import duckdb

    con = _open_reader(path, deadline)
    try:
        found = _check_version(con, path)
        if found is not None and found < SCHEMA_VERSION:
            con.close()  # DuckDB opens no writer beside a reader of this process
            _upgrade(path)
            con = _open_reader(path, deadline)
    except duckdb.Error as exc:
        con.close()
        raise corrupt_error(path, str(exc)) from exc
    except CatalogError:
        con.close()
        raise
    return con


def _open_reader(path: pathlib.Path, deadline: float) -> Any:
    import duckdb

    try:
        return open_reader(path, max(0.0, deadline - time.monotonic()))
    except duckdb.Error as exc:
        raise corrupt_error(path, str(exc)) from exc


def _open_writer(path: pathlib.Path, slot: Slot, deadline: float, wait: float) -> WriterConnection:
    """The run lock (unless nested), then the file attached read-write; a new file is created.

    A new file is created by the ``ATTACH`` itself, in the format of :data:`STORAGE_VERSION`
    (DuckDB keeps an existing file's format), and its creator takes the run lock without
    waiting; if another process raced it there, it lets go and waits like any other run.
    """
    cursor, alias = writer_cursor()
    run_lock: RunLock | None = None
    attached = False

    def let_go() -> None:
        nonlocal attached
        attached = False
        cursor.execute(f"DETACH {alias}")

    try:
        if not slot.nested and not path.exists():
            attached = _create(cursor, path, alias)
        if not slot.nested:
            run_lock = RunLock.acquire(path, deadline, wait, before_waiting=let_go if attached else None)
        if not attached:
            _attach(cursor, path, alias, deadline, wait)
        cursor.execute(f"USE {alias}")
    except BaseException:
        try:
            if attached:
                let_go()
        finally:
            cursor.close()
            if run_lock is not None:
                run_lock.release()
        raise
    con = WriterConnection(cursor, alias, slot, path, run_lock=run_lock, wait=wait)
    con.created = attached  # still attached from the ATTACH that made the file
    return con


def _create(cursor: Any, path: pathlib.Path, alias: str) -> bool:
    """Create the catalog file by attaching it in the format of :data:`STORAGE_VERSION`.

    An ``ATTACH`` option, not a config of ``duckdb.connect``: DuckDB refuses two
    connections to one file with different configs in one process. Returns False
    if it could not (another process created the file meanwhile and holds it, or
    gave it a newer format): the ordinary open that follows waits or reports it.
    """
    import duckdb

    try:
        cursor.execute(f"ATTACH {_quoted(path)} AS {alias} (STORAGE_VERSION '{STORAGE_VERSION}')")
    except duckdb.Error:
        return False
    return True


def _quoted(path: pathlib.Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _attach(cursor: Any, path: pathlib.Path, alias: str, deadline: float, wait: float) -> None:
    """Attach the file read-write, waiting (until ``deadline``) while a reader or a batch holds it.

    A DuckDB connection of this process that is not assetry's own (a user's
    ``duckdb.connect(path)``) is reported at once: it does not let go by itself.
    """
    import duckdb

    delay = 0.002
    while True:
        try:
            cursor.execute(f"ATTACH {_quoted(path)} AS {alias}")
            return
        except duckdb.Error as exc:
            msg = str(exc)
            other = _ATTACHED_BY.search(msg)
            if other is not None and not other.group(1).startswith("assetry_catalog_"):
                raise _open_here(path) from exc
            if not busy(msg):  # held by another process, or by this one's readers
                raise corrupt_error(path, msg) from exc
            if time.monotonic() >= deadline:
                raise CatalogError(
                    f"catalog {str(path)!r} is held by {holder(msg)} and did not free within "
                    f"{wait:.0f}s; wait for that run to end or stop it "
                    "(ASSETRY_CATALOG_WAIT sets the wait in seconds)"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _open_here(path: pathlib.Path) -> CatalogError:
    """The error for a catalog a DuckDB connection of this very process has open."""
    import duckdb

    try:  # the same path and settings share that connection's database
        duckdb.connect(str(path)).close()
    except duckdb.Error as exc:
        if _SAME_PROCESS in str(exc):
            return CatalogError(
                f"catalog {str(path)!r} is open read-only in this process (a DuckDB "
                "connection still open); close it and run again"
            )
    return CatalogError(
        f"catalog {str(path)!r} is open in this process (a DuckDB connection, or an ATTACH, "
        "still open); close it and run again"
    )


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


def _ensure_schema(con: Any, path: pathlib.Path, *, created: bool = False) -> int | None:
    """Create the tables of a new file, or migrate an older one, in one transaction.

    The usual open asks one question, the version number in ``meta``, and writes
    nothing. A file this open ``created`` gets its tables whole, without the
    migrations. Returns the version the file had (None for a new file).
    """
    # A file this very open created has no tables to ask (DuckDB's error for the missing
    # ``meta`` would cost a new catalog's first run more than creating them).
    found = None if created else _check_version(con, path)
    if found == SCHEMA_VERSION:
        return found  # the usual open: nothing to write
    import duckdb

    con.execute("BEGIN")
    try:
        for table in TABLES:
            con.execute(create_table(table))
        try:
            if not (created and found is None):  # a new file's tables are already whole
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
    return found


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
        slot = Slot(path, 0)
    except CatalogError:
        return  # another thread of this process writes it, and migrated it on open
    try:
        con = _open_writer(path, slot, time.monotonic(), 0)
    except (CatalogError, duckdb.Error, OSError):
        slot.release()
        return  # held by another process, or not writable: read it as it is
    except BaseException:
        slot.release()
        raise
    try:
        _ensure_schema(con, path)
    except (CatalogError, duckdb.Error, OSError):
        return  # not writable, or a failed migration: read it as it is
    finally:
        con.close()  # lets the run lock and the slot go


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
