"""How an upstream product reaches the database of a SQL asset.

A SQL asset's ``{upstream}`` placeholder becomes SQL that reads the upstream
in the asset's database (:func:`readable_source`): a relation of the same
database by its quoted name, a Parquet or CSV file (or a directory of Parquet
files) scanned in place by DuckDB, or else a copy uploaded into a staging
table (:class:`Staging`) that belongs to the asset alone. Every statement is
the client's; this module never touches the catalog or the graph.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import attrs
import xxhash

from assetry.clients import Client
from assetry.errors import AssetTypeError, ClientError
from assetry.io_managers.relations import RelationRef, drop_tables

__all__ = ["Staging", "readable_source", "sql_literal"]


def readable_source(client: Client, upstream: str, value: Any, staging: Staging) -> str:
    """SQL that reads an upstream product in ``client``'s database, given where it is stored.

    A relation of the same database is its quoted name; DuckDB scans a Parquet
    or CSV file (or a directory of Parquet files) in place; anything else is
    uploaded into a staging table first (``staging``), and that table is named.

    Examples:
        >>> from assetry.clients import DuckDBClient
        >>> db = DuckDBClient(":memory:")
        >>> readable_source(db, "t", pathlib.Path("/d/t.parquet"), Staging(db, None, "x"))
        "read_parquet('/d/t.parquet')"
    """
    if isinstance(value, RelationRef):
        if value.identity == client.identity():
            return client.qualified(value.schema, value.table)
        if value.client is None:
            raise ClientError(
                f"upstream {upstream!r} lives in {value.identity}, which is unreachable"
            )
        return staging.upload(upstream, value.client.read_table(value.schema, value.table))
    path = pathlib.Path(value)
    if client.dialect == "duckdb":
        return _duckdb_scan(path, upstream)
    return staging.upload(upstream, _read_file(path, upstream))


def sql_literal(text: str) -> str:
    """A SQL string literal (single quotes doubled).

    Examples:
        >>> sql_literal("/data/o'brien.parquet")
        "'/data/o''brien.parquet'"
    """
    return "'" + text.replace("'", "''") + "'"


@attrs.define
class Staging:
    """Tables uploaded so that the database can read upstream data it does not hold."""

    client: Client
    schema: str | None
    owner: str
    made: list[tuple[str, str]] = attrs.field(factory=list)  # (prefix, name)

    def upload(self, upstream: str, data: Any) -> str:
        prefix = _stage_prefix(self.owner, upstream)
        name = f"{prefix}{os.urandom(4).hex()}"
        self.made.append((prefix, name))
        self.client.upload(data, self.schema, name)
        return self.client.qualified(self.schema, name)

    def discard(self) -> None:
        """Drop what this run uploaded (the previous product keeps its own tables)."""
        drop_tables(self.client, self.schema, [name for _, name in self.made])

    def prune(self, keep: bool) -> None:
        """Drop earlier runs' staged tables, and this run's too unless a view still reads them."""
        if not self.made:
            return
        prefixes = tuple({p for p, _ in self.made})
        mine = {name for _, name in self.made} if keep else set()
        names = [n for n in self.client.relations(self.schema) if n.startswith(prefixes)]
        drop_tables(self.client, self.schema, [n for n in names if n not in mine])


def _stage_prefix(owner: str, upstream: str) -> str:
    base = f"{owner}__{upstream}"
    if len(base.encode()) > 40:  # identifiers end at 63 bytes
        digest = xxhash.xxh3_64_hexdigest(base.encode())[:10]
        base = f"{owner.encode()[:20].decode(errors='ignore')}_{digest}"
    return f"{base}__stage_"


def _file_kind(path: pathlib.Path, field: str) -> str:
    if path.is_dir():
        return "directory"
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".csv"):
        return suffix[1:]
    raise AssetTypeError(
        f"upstream {field!r} is stored as {path.name!r}, which SQL cannot read; store it as "
        "Parquet (io='parquet') or CSV"
    )


def _duckdb_scan(path: pathlib.Path, field: str) -> str:
    kind = _file_kind(path, field)
    if kind == "directory":  # a Directory product or every partition of an asset
        glob = sql_literal(str(path.resolve() / "**" / "*.parquet"))
        return f"read_parquet({glob}, hive_partitioning = true, union_by_name = true)"
    reader = "read_parquet" if kind == "parquet" else "read_csv"
    return f"{reader}({sql_literal(str(path.resolve()))})"


def _read_file(path: pathlib.Path, field: str) -> Any:
    import polars as pl

    kind = _file_kind(path, field)
    if kind == "directory":
        return pl.scan_parquet(path / "**" / "*.parquet", hive_partitioning=True).collect()
    return pl.read_parquet(path) if kind == "parquet" else pl.read_csv(path)
