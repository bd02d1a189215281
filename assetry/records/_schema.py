"""The catalog's tables as data: each an ordered ``{column: type}``, and the DDL rendered from it.

This module owns the current shape of every table and nothing else: how an
older file reaches that shape is :mod:`assetry.records._migrations`, and
opening the file is :mod:`assetry.records._open`. A column is only ever added
(at the end of its table, by a migration), never renamed, retyped or dropped:
users query these tables directly.

Examples:
    >>> TABLES["dependencies"]
    {'asset': 'VARCHAR', 'upstream': 'VARCHAR'}
    >>> create_table("dependencies")
    'CREATE TABLE IF NOT EXISTS "dependencies" ("asset" VARCHAR, "upstream" VARCHAR)'
"""

from __future__ import annotations

__all__ = ["PRIMARY_KEYS", "TABLES", "add_column", "create_table"]

TABLES: dict[str, dict[str, str]] = {
    "meta": {"key": "VARCHAR", "value": "VARCHAR"},
    "runs": {
        "run_id": "VARCHAR",
        "started_at": "TIMESTAMP",
        "finished_at": "TIMESTAMP",
        "status": "VARCHAR",
        "n_materialized": "INTEGER",
        "n_skipped": "INTEGER",
        "n_failed": "INTEGER",
        "n_blocked": "INTEGER",
        "root": "VARCHAR",
        "executor": "VARCHAR",
        "pid": "INTEGER",
    },
    "materializations": {
        "run_id": "VARCHAR",
        "asset": "VARCHAR",
        "partition": "VARCHAR",
        "status": "VARCHAR",
        "reason": "VARCHAR",
        "fingerprint": "VARCHAR",
        "code_fingerprint": "VARCHAR",
        "data_fingerprint": "VARCHAR",
        "started_at": "TIMESTAMP",
        "duration_s": "DOUBLE",
        "rows": "BIGINT",
        "bytes": "BIGINT",
        "location": "VARCHAR",
        "error": "VARCHAR",
        "attempts": "INTEGER",
        "traceback": "VARCHAR",  # schema 2
        "logs": "VARCHAR",  # schema 3: what the asset printed and logged (bounded)
    },
    "assets": {
        "asset": "VARCHAR",
        "partition": "VARCHAR",
        "fingerprint": "VARCHAR",
        "code_fingerprint": "VARCHAR",
        "config_fingerprint": "VARCHAR",
        "io_fingerprint": "VARCHAR",
        "upstream": "VARCHAR",
        "data_fingerprint": "VARCHAR",
        "stat_key": "VARCHAR",
        "io": "VARCHAR",
        # Schema 1 kept every IO manager as a cloudpickle; since schema 2 only those
        # that io_class + io_settings cannot describe.
        "io_pickle": "BLOB",
        "location": "VARCHAR",
        "rows": "BIGINT",
        "bytes": "BIGINT",
        "schema": "VARCHAR",
        "updated_at": "TIMESTAMP",
        "run_id": "VARCHAR",
        "io_class": "VARCHAR",  # schema 2: 'assetry.io_managers:Parquet'
        "io_settings": "VARCHAR",  # schema 2: JSON text of the keyword arguments
        "code_definitions": "VARCHAR",  # schema 3: JSON {definition: digest}, for exact reasons
        "kind": "VARCHAR",  # schema 3: 'asset', or 'source' for data assetry only observes
    },
    "dependencies": {"asset": "VARCHAR", "upstream": "VARCHAR"},
    "checks": {
        "run_id": "VARCHAR",
        "asset": "VARCHAR",
        "partition": "VARCHAR",
        "check": "VARCHAR",
        "passed": "BOOLEAN",
        "blocking": "BOOLEAN",
        "detail": "VARCHAR",
    },
    # schema 4: earlier products kept under <root>/.assetry/versions (docs/versions.md)
    "versions": {
        "asset": "VARCHAR",
        "partition": "VARCHAR",
        "data_fingerprint": "VARCHAR",
        "fingerprint": "VARCHAR",
        "run_id": "VARCHAR",  # the run that made the product
        "created_at": "TIMESTAMP",  # when that run stored it
        "rows": "BIGINT",
        "bytes": "BIGINT",
        "location": "VARCHAR",  # where the version is kept
        "kept": "BOOLEAN",  # false once retention or gc removed it
        "product": "VARCHAR",  # where the product is put back
        "schema": "VARCHAR",
        "kept_at": "TIMESTAMP",  # when it was set aside
    },
}

#: Tables with a primary key (``meta``'s keys are unique, so its rows upsert).
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {"meta": ("key",)}


def create_table(table: str) -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` statement of one table, every name quoted.

    Examples:
        >>> create_table("meta")
        'CREATE TABLE IF NOT EXISTS "meta" ("key" VARCHAR, "value" VARCHAR, PRIMARY KEY ("key"))'
    """
    parts = [f"{_quote(column)} {kind}" for column, kind in TABLES[table].items()]
    if table in PRIMARY_KEYS:
        parts.append(f"PRIMARY KEY ({', '.join(map(_quote, PRIMARY_KEYS[table]))})")
    return f"CREATE TABLE IF NOT EXISTS {_quote(table)} ({', '.join(parts)})"


def add_column(table: str, column: str) -> str:
    """The ``ALTER TABLE ... ADD COLUMN`` statement for one column of :data:`TABLES`.

    Examples:
        >>> add_column("materializations", "traceback")
        'ALTER TABLE "materializations" ADD COLUMN IF NOT EXISTS "traceback" VARCHAR'
    """
    kind = TABLES[table][column]
    return f"ALTER TABLE {_quote(table)} ADD COLUMN IF NOT EXISTS {_quote(column)} {kind}"


def _quote(name: str) -> str:
    # Names come from this module only; quoting lets a column be a keyword ("check").
    return '"' + name.replace('"', '""') + '"'
