"""The writer a run uses: its records committed from one background thread, in short batches.

It owns only turning queued rows into transactions on a connection that
:func:`assetry.records.connect` opened.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from assetry.errors import CatalogError
from assetry.records._schema import TABLES

__all__ = ["CatalogWriter"]

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
        types = TABLES.get(table)
        if types is None:
            raise CatalogError(f"the catalog has no table {table!r}; tables: {', '.join(TABLES)}")
        columns = sorted({c for r in rows for c in r})
        unknown = [c for c in columns if c not in types]
        if unknown:
            raise CatalogError(f"table {table!r} has no column(s) {', '.join(map(repr, unknown))}")
        select = ", ".join(f'unnest(?::{types[c]}[]) AS "{c}"' for c in columns)
        con.execute(
            f"INSERT INTO {table} BY NAME SELECT {select}", [[r.get(c) for r in rows] for c in columns]
        )
