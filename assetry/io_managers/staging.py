"""How an upstream product reaches the database of a SQL asset.

A SQL asset's ``{upstream}`` placeholder becomes SQL that reads the upstream
in the asset's database (:func:`readable_source`): a relation of the same
database by its quoted name, a Parquet or CSV file (or a directory of Parquet
files) scanned in place by DuckDB, or else a copy uploaded into a staging
table (:class:`Staging`) that belongs to the asset alone. Every statement is
the client's; this module never touches the catalog or the graph.

An upstream on an object store reaches the SQL asset as an :class:`ObjectRef`
(never a download; see :func:`remote_ref`). DuckDB building a table scans it
through a ``pyarrow.dataset`` over the store's file system, registered on the
connection for the one statement (projection and filters pushed down to
ranged reads; DuckDB's httpfs extension is not needed). A view, a dump or
another database gets the rows uploaded into a staging table, as for any
upstream it cannot read in place.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import attrs
import xxhash

from assetry.clients import Client
from assetry.errors import AssetTypeError, ClientError, StorageError
from assetry.io_managers.relations import Location, RelationRef, drop_tables

__all__ = ["ObjectRef", "Staging", "readable_source", "remote_ref", "sql_literal"]


@attrs.frozen
class ObjectRef:
    """Where a file or directory product is stored on an object store, handed to a SQL asset.

    A parameter annotated :class:`~assetry.io_managers.relations.Location` gets
    this instead of a local copy; :func:`readable_source` decides how the
    database reads it.

    Examples:
        >>> ObjectRef("s3://bucket/data/flights.parquet", "parquet").urls()
        ['s3://bucket/data/flights.parquet']
    """

    location: str
    format: str  # the file extension of the product, or of a directory's files
    directory: bool = False
    #: Every stored partition of a partitioned upstream (a PartitionedProduct), read as one.
    partitions: Any = None

    def urls(self) -> list[str]:
        """The objects that hold the data: the file, the current generation's files of a
        directory, or every partition's file."""
        if self.partitions is not None:
            return list(self.partitions.locations)
        if not self.directory:
            return [self.location]
        from assetry import storage
        from assetry.io_managers.remote import MANIFEST

        try:
            manifest = json.loads(storage.read_bytes(f"{self.location}/{MANIFEST}"))
            generation, files = str(manifest["generation"]), sorted(manifest["files"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(
                f"the manifest of directory product {self.location!r} is not assetry's; run "
                "its asset again (force=...) to store it anew"
            ) from exc
        return [f"{self.location}/{generation}/{rel}" for rel in files]

    def dataset(self) -> Any:
        """A ``pyarrow.dataset`` over the objects: a scan reads only the byte ranges it needs."""
        import pyarrow as pa
        import pyarrow.dataset as ds

        from assetry import storage

        urls = self.urls()
        if not urls:  # a directory of no files: nothing to read, and no schema either
            return ds.dataset(pa.table({}))
        fs, _ = storage.arrow_filesystem(urls[0])
        paths = [storage.arrow_filesystem(url)[1] for url in urls]
        found = ds.dataset(paths, filesystem=fs, format=self.format)
        if len(paths) == 1 and self.partitions is None:
            return found
        schemas = [fragment.physical_schema for fragment in found.get_fragments()]
        schema = pa.unify_schemas(schemas)  # the files may differ in columns: take them all
        hive = self._hive(schema, paths[0])
        if hive is not None:  # the partition column, from each file's path, as locally
            hive_schema, base = hive
            schema = pa.unify_schemas([schema, hive_schema])
            return ds.dataset(paths, filesystem=fs, format=self.format, schema=schema,
                              partitioning=ds.partitioning(hive_schema, flavor="hive"),
                              partition_base_dir=base)
        return ds.dataset(paths, filesystem=fs, format=self.format, schema=schema)

    def _hive(self, schema: Any, first: str) -> tuple[Any, str] | None:
        """The partition column's schema and the asset's directory, when the files lack it."""
        import datetime

        import pyarrow as pa

        found = self.partitions
        if found is None or found.column in schema.names:
            return None
        dtype = pa.date32() if isinstance(found.values[0], datetime.date) else pa.string()
        # <asset>/<column>=<key>/data.parquet: the directory above the partition's
        return pa.schema([(found.column, dtype)]), first.rsplit("/", 2)[0]


def remote_ref(location: str, annotation: Any, fmt: str, *, directory: bool = False,
               partitions: Any = None) -> ObjectRef | None:
    """The :class:`ObjectRef` a SQL asset's parameter gets for a remote product, else None.

    File IO managers call it for a location on an object store before loading
    anything: for any annotation but ``Location`` it answers None.

    Examples:
        >>> remote_ref("s3://b/t.parquet", Location, "parquet")
        ObjectRef(location='s3://b/t.parquet', format='parquet', directory=False, partitions=None)
        >>> remote_ref("s3://b/t.parquet", None, "parquet") is None
        True
    """
    return ObjectRef(location, fmt, directory, partitions) if annotation is Location else None


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
    if isinstance(value, ObjectRef):
        return _remote_source(client, upstream, value, staging)
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
    """Tables uploaded so that the database can read upstream data it does not hold.

    ``scans``: whether remote upstream may be scanned in place (a DuckDB table
    built in this thread's connection); a view, which outlives the connection,
    or a dump, streamed on another connection, needs them uploaded.
    """

    client: Client
    schema: str | None
    owner: str
    scans: bool = False
    made: list[tuple[str, str]] = attrs.field(factory=list)  # (prefix, name)
    registered: list[str] = attrs.field(factory=list)  # scans of remote upstream

    def register(self, dataset: Any) -> str | None:
        """Register a pyarrow dataset on this thread's DuckDB connection; its quoted name.

        None when the connection cannot (not a DuckDB connection of its own).
        """
        conn = self.client.connection()
        if not hasattr(conn, "register"):
            return None
        name = f"assetry_scan_{os.urandom(6).hex()}"
        conn.register(name, dataset)
        self.registered.append(name)
        return self.client.quote(name)

    def unregister(self) -> None:
        """Drop this statement's scans of remote upstream from the connection."""
        if not self.registered:
            return
        conn = self.client.connection()
        while self.registered:
            conn.unregister(self.registered.pop())

    def upload(self, upstream: str, data: Any) -> str:
        prefix = _stage_prefix(self.owner, upstream)
        name = f"{prefix}{os.urandom(4).hex()}"
        self.made.append((prefix, name))
        self.client.upload(data, self.schema, name)
        return self.client.qualified(self.schema, name)

    def discard(self) -> None:
        """Drop what this run uploaded (the previous product keeps its own tables)."""
        self.unregister()
        drop_tables(self.client, self.schema, [name for _, name in self.made])

    def prune(self, keep: bool) -> None:
        """Drop earlier runs' staged tables, and this run's too unless a view still reads them."""
        self.unregister()
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


def _remote_source(client: Client, upstream: str, ref: ObjectRef, staging: Staging) -> str:
    """SQL that reads a product on an object store: a registered scan, or a staged upload."""
    if ref.format not in ("parquet", "csv"):
        name = ref.location.rsplit("/", 1)[-1]
        raise AssetTypeError(
            f"upstream {upstream!r} is stored as {name!r}, which SQL cannot read; store it as "
            "Parquet (io='parquet') or CSV"
        )
    dataset = ref.dataset()
    if client.dialect == "duckdb" and staging.scans:
        scanned = staging.register(dataset)
        if scanned is not None:
            return scanned
    return staging.upload(upstream, dataset.to_table())


def _read_file(path: pathlib.Path, field: str) -> Any:
    import polars as pl

    kind = _file_kind(path, field)
    if kind == "directory":
        return pl.scan_parquet(path / "**" / "*.parquet", hive_partitioning=True).collect()
    return pl.read_parquet(path) if kind == "parquet" else pl.read_csv(path)
