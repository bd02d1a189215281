"""The ``assets`` rows as a run reads them: every row, keyed by (asset, partition).

It owns only reading them, whole or (for sources, which a no-op run observes
by the thousand) narrow; what a row means is the engine's. Opening the file is
:mod:`assetry.records._open`'s.
"""

from __future__ import annotations

from typing import Any

from assetry.records._schema import TABLES

__all__ = ["SourceRow", "read_records"]


class SourceRow(dict):  # type: ignore[type-arg]
    """An ``assets`` row of a source read with only what observing it needs (see
    :func:`read_records`): the other columns read as None here (``row[column]`` and
    ``row.get(column)`` alike), not in the catalog, so the row is never written back whole.

    Examples:
        >>> row = SourceRow(asset="raw", kind="source")
        >>> row["io_class"], row.get("schema"), row["kind"]
        (None, None, 'source')
    """

    __slots__ = ()

    def __missing__(self, key: str) -> None:
        if key not in TABLES["assets"]:
            raise KeyError(key)


#: What a run reads of a source's ``assets`` row: enough to tell it unchanged and to
#: record its observation (DuckDB hands each value to Python one by one, so a no-op run
#: of a thousand sources reads a third of their columns).
_SOURCE_COLUMNS = ("asset", "partition", "fingerprint", "data_fingerprint", "stat_key", "location",
                   "rows", "bytes")


def read_records(con: Any, *, narrow_sources: bool = False) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Every row of ``assets``, keyed by (asset, partition).

    With ``narrow_sources``, each source's row is a :class:`SourceRow` holding only
    the columns a run observes it by (the others None).

    A run's connection keeps the file: the run reads its kept versions next and
    starts its writer, which lets the file go while the run prepares itself
    (:mod:`assetry.records._writer`: after ``_RELEASE_S``, or at once when a
    reader knocks). Letting go here would cost an ``ATTACH`` a moment later.
    """
    if not narrow_sources:
        cur = con.execute("SELECT * FROM assets")
        cols = [d[0] for d in cur.description]
        return {(r[0], r[1]): dict(zip(cols, r)) for r in cur.fetchall()}
    cur = con.execute("SELECT * FROM assets WHERE kind IS DISTINCT FROM 'source'")
    cols = [d[0] for d in cur.description]
    found = {(r[0], r[1]): dict(zip(cols, r)) for r in cur.fetchall()}
    narrow = ", ".join(f'"{c}"' for c in _SOURCE_COLUMNS)
    for r in con.execute(f"SELECT {narrow} FROM assets WHERE kind = 'source'").fetchall():
        row = SourceRow(zip(_SOURCE_COLUMNS, r))
        row["kind"] = "source"
        found[r[0], r[1]] = row
    return found
