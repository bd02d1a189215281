"""The DuckDB catalog: the fingerprint of every product, and the history of every run.

It owns the schema (created and versioned here), opening the file (with a
bounded wait when another process holds it), the batched writer a run uses, and
the public :class:`Catalog` that users query. Deciding freshness is the
planner's job; this module only stores and returns records.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import queue
import re
import threading
import time
from typing import Any

from assetry.errors import CatalogError

__all__ = ["SCHEMA_VERSION", "Catalog", "connect"]

#: Bumped when a table changes; a catalog from a newer version is refused.
SCHEMA_VERSION = 1

_TABLES = {
    "meta": "key VARCHAR PRIMARY KEY, value VARCHAR",
    "runs": (
        "run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR, "
        "n_materialized INTEGER, n_skipped INTEGER, n_failed INTEGER, n_blocked INTEGER, "
        "root VARCHAR, executor VARCHAR, pid INTEGER"
    ),
    "materializations": (
        "run_id VARCHAR, asset VARCHAR, partition VARCHAR, status VARCHAR, reason VARCHAR, "
        "fingerprint VARCHAR, code_fingerprint VARCHAR, data_fingerprint VARCHAR, "
        "started_at TIMESTAMP, duration_s DOUBLE, rows BIGINT, bytes BIGINT, location VARCHAR, "
        "error VARCHAR, attempts INTEGER"
    ),
    "assets": (
        "asset VARCHAR, partition VARCHAR, fingerprint VARCHAR, code_fingerprint VARCHAR, "
        "config_fingerprint VARCHAR, io_fingerprint VARCHAR, upstream VARCHAR, "
        "data_fingerprint VARCHAR, stat_key VARCHAR, io VARCHAR, io_pickle BLOB, "
        "location VARCHAR, rows BIGINT, bytes BIGINT, schema VARCHAR, updated_at TIMESTAMP, "
        "run_id VARCHAR"
    ),
    "dependencies": "asset VARCHAR, upstream VARCHAR",
    "checks": (
        'run_id VARCHAR, asset VARCHAR, partition VARCHAR, "check" VARCHAR, passed BOOLEAN, '
        "blocking BOOLEAN, detail VARCHAR"
    ),
}

_LOCK_PID = re.compile(r"PID (\d+)")
#: DuckDB's words for "another process holds the file" (not "block", which corruption uses).
_LOCK_WORDS = ("could not set lock", "conflicting lock")
#: DuckDB refuses a read-only connection beside a read-write one in the same process.
_SAME_PROCESS = "different configuration"


def wait_seconds() -> float:
    """How long to wait for a held catalog: ``ASSETRY_CATALOG_WAIT`` seconds, default 120."""
    return float(os.environ.get("ASSETRY_CATALOG_WAIT", "120"))


def connect(path: str | os.PathLike[str], *, read_only: bool = False, wait: float | None = None) -> Any:
    """Open the catalog file, waiting up to ``wait`` seconds while another process holds it.

    One writer at a time: DuckDB's file lock between processes, a lock per file
    between the threads of one process (released when the connection closes).
    Others wait with a bounded backoff, readers too. A writer creates the
    schema and marks runs left ``running`` by a dead process as ``crashed``. In
    a process that already holds the catalog read-write, a reader shares that
    database inside a read-only transaction.

    Raises:
        CatalogError: the file is corrupt or not a DuckDB database, was written by
            a newer assetry, or stays held longer than ``wait``.

    Examples:
        >>> con = connect("data/catalog.duckdb", read_only=True)  # doctest: +SKIP
    """
    import duckdb

    path = pathlib.Path(path)
    if read_only and not path.exists():
        raise CatalogError(f"catalog {str(path)!r} does not exist; run materialize() first")
    if path.is_dir():
        raise CatalogError(f"catalog {str(path)!r} is a directory; give the path of a file")
    wait = wait_seconds() if wait is None else wait
    deadline = time.monotonic() + wait
    slot = None if read_only else _Slot(path, wait)
    try:
        con = _open(path, read_only, deadline, wait)
        try:
            if read_only:
                _check_version(con, path)
            else:
                _ensure_schema(con, path)
                if not slot.nested:  # a nested writer (a hook of a live run) recovers nothing
                    _recover_crashed(con)
        except duckdb.Error as exc:
            con.close()
            raise corrupt_error(path, str(exc)) from exc
    except BaseException:
        if slot is not None:
            slot.release()
        raise
    return con if slot is None else _WriterConnection(con, slot)


_SLOTS: dict[str, Any] = {}  # threading.RLock per catalog file
_DEPTH: dict[str, int] = {}
_SLOTS_LOCK = threading.Lock()


class _Slot:
    """This process's one writer slot for a catalog file: threads wait, the holder re-enters."""

    def __init__(self, path: pathlib.Path, wait: float) -> None:
        self.key = os.path.realpath(path)
        with _SLOTS_LOCK:
            self._lock = _SLOTS.setdefault(self.key, threading.RLock())
        if not self._lock.acquire(timeout=max(wait, 0.001)):
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

    delay = 0.01
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            msg = str(exc)
            if _SAME_PROCESS in msg:
                if not read_only:
                    raise CatalogError(
                        f"catalog {str(path)!r} is open read-only in this process (a DuckDB "
                        "connection still open); close it and run again"
                    ) from exc
                con = duckdb.connect(str(path))
                con.execute("BEGIN TRANSACTION READ ONLY")  # closing the connection ends it
                return con
            if not any(w in msg.lower() for w in _LOCK_WORDS):
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


class _WriterConnection:
    """A read-write catalog connection; closing it frees this process's writer slot."""

    def __init__(self, con: Any, slot: _Slot) -> None:
        self._con = con
        self._slot: _Slot | None = slot

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def close(self) -> None:
        """Close the connection and let the next writer of this process in."""
        slot, self._slot = self._slot, None
        try:
            self._con.close()
        finally:
            if slot is not None:
                slot.release()

    def __del__(self) -> None:
        # A caller that forgot close() must not keep every later run of the process waiting.
        if getattr(self, "_slot", None) is not None:
            try:
                self.close()
            except RuntimeError:
                return  # collected in another thread than the one that opened it


def corrupt_error(path: pathlib.Path, detail: str) -> CatalogError:
    """The error for a catalog file DuckDB cannot read, with the way out."""
    return CatalogError(
        f"catalog {str(path)!r} is corrupt or truncated: not a readable DuckDB database "
        f"({_first_line(detail)}); nothing was changed: move it aside and start a new one "
        f"with Catalog({str(path)!r}).rebuild() (or --rebuild-catalog), then run again"
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _check_version(con: Any, path: pathlib.Path) -> None:
    import duckdb

    try:
        rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    except duckdb.CatalogException:
        return  # a new file: no meta table yet
    row = rows[0] if rows else None
    if row is not None and int(row[0]) > SCHEMA_VERSION:
        con.close()
        raise CatalogError(
            f"catalog {str(path)!r} has schema version {row[0]}, newer than this assetry "
            f"understands ({SCHEMA_VERSION}); upgrade assetry"
        )


def _ensure_schema(con: Any, path: pathlib.Path) -> None:
    _check_version(con, path)
    con.execute("BEGIN")
    for table, columns in _TABLES.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
    con.execute(
        "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
        [str(SCHEMA_VERSION)],
    )
    con.execute("COMMIT")


def _recover_crashed(con: Any) -> None:
    """Mark runs left ``running`` by a dead process ``crashed``; sweep their roots.

    Holding the write lock (and this process's writer slot) means no other run
    of this catalog is alive, so their temporary files are leftovers. A row of
    this very process is an earlier run that could not record its end.
    """
    from assetry.assets.roots import pid_alive, remove_temporaries

    rows = con.execute("SELECT run_id, pid, root FROM runs WHERE status = 'running'").fetchall()
    dead = [
        (run_id, root) for run_id, pid, root in rows
        if pid is None or pid == os.getpid() or not pid_alive(pid)
    ]
    if not dead:
        return
    con.execute(
        "UPDATE runs SET status = 'crashed' WHERE list_contains(?, run_id)",
        [[run_id for run_id, _ in dead]],
    )
    for root in sorted({root for _, root in dead if root and os.path.isdir(root)}):
        remove_temporaries(root)


def read_records(con: Any) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Every row of ``assets``, keyed by (asset, partition)."""
    cur = con.execute("SELECT * FROM assets")
    cols = [d[0] for d in cur.description]
    return {(r[0], r[1]): dict(zip(cols, r)) for r in cur.fetchall()}


# -- the writer a run uses -------------------------------------------------------------------

_STOP = object()

#: How long the writer lets rows gather before a commit. Short enough that a killed
#: run loses at most this much, long enough that a burst of rows costs one commit
#: and the writer does not contend with the scheduler for the GIL on every row.
_LINGER_S = 0.02


class CatalogWriter:
    """Writes a run's records from one background thread, in short batched transactions.

    The run puts rows; the thread commits whatever is pending as one transaction,
    so records land within milliseconds (a killed run loses at most the last
    batch) while a run of many tiny assets pays one commit per batch, not per row.
    """

    def __init__(self, con: Any) -> None:
        self._con = con
        self._queue: queue.Queue[Any] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="assetry-catalog", daemon=True)
        self._thread.start()

    def put(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row for ``table`` (``assets`` rows replace their (asset, partition))."""
        self._queue.put((table, row))

    def sql(self, statement: str, params: list[Any] | None = None) -> None:
        """Queue one statement to run in order with the rows."""
        self._queue.put(("__sql__", (statement, params or [])))

    def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        done = threading.Event()
        self._queue.put(("__event__", done))
        done.wait()
        self._raise()

    def close(self) -> None:
        """Commit what is pending and stop the thread; raise if a write failed."""
        self._queue.put(_STOP)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise CatalogError(f"writing the catalog failed: {err}") from err

    def _loop(self) -> None:
        stop = False
        while not stop:
            items = [self._queue.get()]
            if items[0] is not _STOP and items[0][0] != "__event__":
                time.sleep(_LINGER_S)
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in items:
                stop = True
                items = [i for i in items if i is not _STOP]
            events = [i[1] for i in items if i[0] == "__event__"]
            try:
                self._write([i for i in items if i[0] != "__event__"])
            except BaseException as exc:  # noqa: BLE001 (surfaced to the run by flush() / close())
                self._error = exc
                try:
                    self._con.execute("ROLLBACK")
                except Exception:  # noqa: BLE001 (no transaction to roll back: keep the first error)
                    self._error = exc
            for e in events:
                e.set()

    def _write(self, items: list[tuple[str, Any]]) -> None:
        if not items:
            return
        con = self._con
        con.execute("BEGIN")
        batch: dict[str, list[dict[str, Any]]] = {}
        for table, payload in items:
            if table == "__sql__":
                _insert_batches(con, batch)
                batch = {}
                con.execute(payload[0], payload[1])
            else:
                batch.setdefault(table, []).append(payload)
        _insert_batches(con, batch)
        con.execute("COMMIT")


def _insert_batches(con: Any, batch: dict[str, list[dict[str, Any]]]) -> None:
    # One INSERT per table, a column a list parameter: quick from the first batch on (no
    # Arrow, whose first table imports pandas, ~0.3 s) and for batches of thousands of rows.
    for table, rows in batch.items():
        if table == "assets":
            rows = list({(r["asset"], r.get("partition")): r for r in rows}.values())
            con.execute(
                "DELETE FROM assets WHERE (asset, coalesce(partition, chr(0))) IN "
                "(SELECT unnest(?::VARCHAR[]), coalesce(unnest(?::VARCHAR[]), chr(0)))",
                [[r["asset"] for r in rows], [r.get("partition") for r in rows]],
            )
        types = _column_types(table)
        columns = sorted({c for r in rows for c in r})
        unknown = [c for c in columns if c not in types]
        if unknown:
            raise CatalogError(f"table {table!r} has no column(s) {', '.join(map(repr, unknown))}")
        select = ", ".join(f'unnest(?::{types[c]}[]) AS "{c}"' for c in columns)
        con.execute(
            f"INSERT INTO {table} BY NAME SELECT {select}", [[r.get(c) for r in rows] for c in columns]
        )


#: One column definition, at the start of each comma-separated part: name, then type.
_COLUMN = re.compile(r'\s*"?(\w+)"?\s+(\w+(?:\([^)]*\))?)')


@functools.cache
def _column_types(table: str) -> dict[str, str]:
    parts = re.split(r",(?![^(]*\))", _TABLES[table])  # commas outside parentheses
    return dict(m.groups() for m in map(_COLUMN.match, parts) if m is not None)


# -- the public catalog ----------------------------------------------------------------------


class Catalog:
    """The catalog of a project: query it, ask what is stale, load what is stored.

    Examples:
        >>> cat = Catalog("data/catalog.duckdb")  # doctest: +SKIP
        >>> cat.sql("SELECT asset, status FROM materializations")  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str] = "data/catalog.duckdb", *, root: str | os.PathLike[str] | None = None) -> None:
        self.path = pathlib.Path(path)
        self._root = pathlib.Path(root) if root is not None else None

    def __repr__(self) -> str:
        return f"Catalog({str(self.path)!r})"

    @property
    def root(self) -> pathlib.Path:
        """Where file products go: given, else the last run's root, else the catalog's folder."""
        if self._root is not None:
            return self._root
        if self.path.exists():
            try:
                df = self.sql("SELECT root FROM runs WHERE root IS NOT NULL ORDER BY started_at DESC LIMIT 1")
                if df.height:
                    return pathlib.Path(df.item(0, 0))
            except CatalogError:
                pass
        return self.path.parent

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        """Run a read-only query; return a ``pl.DataFrame``.

        Examples:
            >>> Catalog("data/catalog.duckdb").sql("SELECT * FROM runs")  # doctest: +SKIP
        """
        import duckdb

        con = connect(self.path, read_only=True)
        try:
            return con.sql(query, params=params or None).pl()
        except duckdb.Error as exc:
            raise CatalogError(f"query on catalog {str(self.path)!r} failed: {exc}") from exc
        finally:
            con.close()

    def history(self, name: str) -> Any:
        """Every materialization of ``name``, newest first, as a ``pl.DataFrame``."""
        return self.sql(
            "SELECT * FROM materializations WHERE asset = ? ORDER BY started_at DESC", [name]
        )

    def records(self) -> dict[tuple[str, str | None], dict[str, Any]]:
        """The ``assets`` table keyed by (asset, partition); empty for a new catalog."""
        if not self.path.exists():
            return {}
        con = connect(self.path, read_only=True)
        try:
            return read_records(con)
        finally:
            con.close()

    def load(self, name: str, partition: str | None = None, *, as_type: Any = None) -> Any:
        """The latest stored value of an asset, loaded as ``as_type`` (natural type by default).

        Examples:
            >>> Catalog("data/catalog.duckdb").load("delays")  # doctest: +SKIP
        """
        import cloudpickle

        from assetry.errors import StorageError

        record = self.records().get((name, partition))
        if record is None:
            known = sorted({k[0] for k in self.records()})
            raise StorageError(
                f"asset {name!r} has no stored product in catalog {str(self.path)!r}; "
                f"stored assets: {', '.join(known) or 'none'}"
            )
        io = cloudpickle.loads(record["io_pickle"])
        return io.load(record["location"], as_type)

    def status(self, assets: Any, *, select: Any = None, config: dict[str, Any] | None = None, root: str | os.PathLike[str] | None = None) -> Any:
        """The plan before a run: one row per asset with ``asset``, ``fresh`` and ``reason``."""
        from assetry.assets.status import status

        return status(assets, catalog=self, select=select, config=config, root=root)

    def accept(self, assets: Any, *, select: Any = None, config: dict[str, Any] | None = None, root: str | os.PathLike[str] | None = None) -> Any:
        """Record the current fingerprints of existing, unmodified products as fresh."""
        from assetry.assets.status import accept

        return accept(assets, catalog=self, select=select, config=config, root=root)

    def rebuild(self, assets: Any = None, *, select: Any = None, config: dict[str, Any] | None = None, root: str | os.PathLike[str] | None = None) -> pathlib.Path | None:
        """Move the catalog file aside (``<name>.corrupt-<timestamp>``) and start an empty one.

        Nothing is deleted. Without ``assets`` the next run re-fingerprints every
        product and reruns it as ``never materialized``; with ``assets``, the
        existing products are accepted as fresh (see :meth:`accept`), so only
        missing ones rerun. Returns where the old file went (None if there was none).

        Examples:
            >>> Catalog("data/catalog.duckdb").rebuild([flights, delays])  # doctest: +SKIP
            PosixPath('data/catalog.duckdb.corrupt-20240501T120000')
        """
        from assetry.assets.roots import lock_holders

        holders = lock_holders(self.path) or set()
        if holders:
            raise CatalogError(
                f"catalog {str(self.path)!r} is open in process {min(holders)}; "
                "stop it before rebuilding the catalog"
            )
        aside = None
        if self.path.exists():
            stamp = time.strftime("%Y%m%dT%H%M%S")
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
            n = 1
            while aside.exists():
                n += 1
                aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            os.replace(self.path, aside)
            wal = self.path.with_name(self.path.name + ".wal")
            if wal.exists():
                os.replace(wal, aside.with_name(aside.name + ".wal"))
        connect(self.path).close()
        if assets is not None:
            self.accept(assets, select=select, config=config, root=root)
        return aside

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{k[0]}</td><td>{k[1] or ''}</td><td>{v['rows']}</td><td>{v['location']}</td></tr>"
            for k, v in sorted(self.records().items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        )
        return (
            f"<p>assetry catalog <code>{self.path}</code></p><table><tr><th>asset</th>"
            f"<th>partition</th><th>rows</th><th>location</th></tr>{rows}</table>"
        )


def dumps_upstream(upstream: dict[str, str]) -> str:
    """The canonical JSON text of an upstream map, for the ``assets.upstream`` column."""
    return json.dumps(upstream, sort_keys=True)


def loads_upstream(text: str | None) -> dict[str, str]:
    """Parse the ``assets.upstream`` column."""
    return json.loads(text) if text else {}

