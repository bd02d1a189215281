"""The DuckDB catalog file: its tables, opening it, one writer at a time, crash marks.

The tables are data (``TABLES``: table -> ``{column: type}``, the DDL rendered
from it); a file written by an earlier assetry is brought up to date on open by
the ordered ``MIGRATIONS``, which only ever add columns. A new file is created
in DuckDB's storage format of ``STORAGE_VERSION``, which older DuckDB releases read.

This package owns the file and its rows, nothing else: it never imports the
engine, the assets, the IO managers or the clients. Deciding freshness is the
planner's job (:mod:`assetry.engine.planner`); the public face users query is
:class:`assetry.catalog.Catalog`.
"""

from __future__ import annotations

import json

from assetry.records._locks import lock_holders, pid_alive
from assetry.records._migrations import MIGRATIONS, SCHEMA_VERSION, Migration
from assetry.records._open import (
    STORAGE_VERSION,
    connect,
    corrupt_error,
    wait_seconds,
)
from assetry.records._rows import SourceRow, read_records
from assetry.records._schema import TABLES
from assetry.records._writer import CatalogWriter

__all__ = [
    "DEFAULT_CATALOG",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STORAGE_VERSION",
    "TABLES",
    "CatalogWriter",
    "Migration",
    "SourceRow",
    "connect",
    "corrupt_error",
    "dumps_upstream",
    "loads_upstream",
    "lock_holders",
    "pid_alive",
    "read_records",
    "wait_seconds",
]

#: The catalog's file name inside a root when ``materialize(catalog=None)``.
DEFAULT_CATALOG = "catalog.duckdb"


def dumps_upstream(upstream: dict[str, str]) -> str:
    """The canonical JSON text of an upstream map, for the ``assets.upstream`` column.

    Examples:
        >>> dumps_upstream({"b": "2", "a": "1"})
        '{"a": "1", "b": "2"}'
    """
    return json.dumps(upstream, sort_keys=True)


def loads_upstream(text: str | None) -> dict[str, str]:
    """Parse the ``assets.upstream`` column.

    Examples:
        >>> loads_upstream(None)
        {}
    """
    return json.loads(text) if text else {}
