"""IO managers of SQL assets: a relation the asset built itself, and a streamed query dump.

:class:`Relation` is the product of :func:`assetry.sql_asset`: the asset's
function has already created the table or view in the database, so ``save``
only records it (no second copy), ``observe`` fingerprints its content and
``load`` reads it as the annotated frame type. :class:`QueryDump` is the
product of :func:`assetry.sql_dump`: ``save`` streams a query's result into a
Parquet file in record batches; reading the file is the Parquet manager's.

It also owns how an upstream product reaches the database of a SQL asset
(:func:`readable_source`): a relation of the same database by name, a file
scanned in place by DuckDB, or a copy uploaded into a staging table.

Locations have the format of :mod:`assetry.io_managers.sql`:
``<client identity>#<schema>.<table>``. Every statement is the client's; this
module never touches the catalog or the graph.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterable
from typing import Any, ClassVar
from urllib.parse import quote, unquote

import attrs
import xxhash

from assetry._frames import convert_frame, load_kind
from assetry.clients import Client
from assetry.clients.dialects import bind
from assetry.errors import AssetGraphError, AssetTypeError, ClientError, StorageError
from assetry.io_managers.base import IOManager, Observation, Stored
from assetry.io_managers.files import Parquet

__all__ = [
    "Dump",
    "Location",
    "QueryDump",
    "Relation",
    "RelationRef",
    "Staging",
    "format_location",
    "parse_location",
    "readable_source",
    "sql_literal",
]

KINDS = ("table", "view")

_VIEW_DEFINITION = {
    "sqlite": "SELECT sql FROM {schema}.sqlite_master WHERE type = 'view' AND name = ?",
    "duckdb": "SELECT view_definition FROM information_schema.views "
    "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
}
_VIEW_DEFINITION_ANSI = (
    "SELECT view_definition FROM information_schema.views WHERE table_schema = ? AND table_name = ?"
)


class Location(pathlib.PurePosixPath):
    """Annotation that asks for where an upstream is stored instead of its value.

    SQL assets annotate their parameters with it: a file manager then hands
    over the file's path (it is a ``pathlib`` annotation), and :class:`Relation`
    a :class:`RelationRef`. It is never instantiated.
    """


@attrs.frozen
class RelationRef:
    """A table or view in a database: what a SQL asset's function returns.

    Examples:
        >>> RelationRef("duckdb:/tmp/w.duckdb", "main", "stats").location
        'duckdb:/tmp/w.duckdb#main.stats'
    """

    identity: str
    schema: str | None
    table: str
    kind: str = "table"
    rows: int | None = None
    #: The client that reaches it (for copying it into another database); not compared.
    client: Client | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def location(self) -> str:
        """The product location naming this relation."""
        return format_location(self.identity, self.schema, self.table)


@attrs.frozen
class Relation(IOManager):
    """The table or view a SQL asset created; ``save`` records it without copying.

    ``schema=None`` is the client's default schema. A downstream annotated
    ``pl.DataFrame`` (or nothing), ``pl.LazyFrame``, ``pyarrow.Table`` or
    ``pandas.DataFrame`` gets the relation's rows; ``pathlib.Path`` is refused,
    as a relation has no file.

    Examples:
        >>> from assetry.clients import DuckDBClient
        >>> Relation(DuckDBClient(":memory:"), "main", "stats").default_location(
        ...     pathlib.Path("data"), "ignored")
        'duckdb::memory:#main.stats'
    """

    client: Client = attrs.field(validator=attrs.validators.instance_of(Client))  # type: ignore[type-abstract]
    schema: str | None = None
    table: str | None = None
    kind: str = attrs.field(default="table", validator=attrs.validators.in_(KINDS))
    short_name: ClassVar[str] = "relation"
    stores_frames: ClassVar[bool] = True

    def default_location(self, root: pathlib.Path, name: str, partition: str | None = None) -> str:
        table = self.table or name
        if partition is not None:
            table = f"{table}__{partition}"
        return format_location(self.client.identity(), self.schema, table)

    def save(self, value: Any, location: str) -> Stored:
        if not isinstance(value, RelationRef):
            raise AssetTypeError(
                f"Relation records a table or view that a SQL asset created, but the value is "
                f"{type(value).__name__}; to store a frame in a database use io=SQLTable(client)"
            )
        if value.location != location:
            raise StorageError(
                f"the SQL asset built {value.location!r}, but its product belongs at {location!r}"
            )
        schema, table = self.relation(location)
        rows = value.rows
        if rows is None and value.kind == "table":
            rows = int(
                self.client.execute(f"SELECT count(*) FROM {self._qualified(location)}")[0][0]
            )
        columns = dict(self.client.columns(schema, table))
        return Stored(location=location, rows=rows, bytes=None, schema=json.dumps(columns))

    def load(self, location: str, annotation: Any = None) -> Any:
        import polars as pl

        schema, table = self.relation(location)
        if annotation is Location:
            return RelationRef(self.client.identity(), schema, table, self.kind, client=self.client)
        kind = load_kind(annotation)
        if kind == "path":
            raise AssetTypeError(
                f"{location!r} is a database {self.kind} and has no file path; annotate the "
                "parameter pl.DataFrame, pl.LazyFrame, pyarrow.Table or pandas.DataFrame"
            )
        data = self.client.read_table(schema, table)
        return data if kind == "arrow" else convert_frame(pl.from_arrow(data), kind, table)

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        """The relation's content fingerprint; None when it is missing or a view no longer reads.

        A view's content follows its sources, so its change key is its
        definition: while that is unchanged (and the view still reads), the
        recorded observation stands, and the view's query is not run again.
        """
        schema, table = self.relation(location)
        key = None
        if self.kind == "view":
            try:
                key = self._view_key(schema, table)
            except ClientError:
                return None  # its source is gone (a dropped table, a deleted file): rebuild it
            if key is None:
                return None
            if previous is not None and previous.stat_key == key:
                return previous
        found = self.client.relation_fingerprint(schema, table)
        return None if found is None else Observation(data_fingerprint=found, stat_key=key)

    def _view_key(self, schema: str | None, table: str) -> str | None:
        """A digest of the view's stored definition, after checking that it still reads."""
        if self.client.relation_kind(schema, table) != "view":
            return None
        resolved = self.client.default_schema() if schema is None else schema
        self.client.execute(f"SELECT * FROM {self.client.qualified(schema, table)} WHERE 1 = 0")
        template = _VIEW_DEFINITION.get(self.client.dialect, _VIEW_DEFINITION_ANSI)
        params: tuple[str, ...]
        if self.client.dialect == "sqlite":
            template, params = template.format(schema=self.client.quote(resolved)), (table,)
        else:
            params = (resolved, table)
        rows = self.client.execute(bind(template, self.client.paramstyle), params)
        return "view:" + xxhash.xxh3_64_hexdigest(repr(rows).encode())

    def settings(self) -> dict[str, Any]:
        return {
            "client": self.client.identity(),
            "schema": self.schema,
            "table": self.table,
            "kind": self.kind,
        }

    def relation(self, location: str) -> tuple[str | None, str]:
        """The ``(schema, table)`` a location names; StorageError if it is another database's."""
        identity = self.client.identity()
        found = parse_location(location)
        if found is None or found[0] != identity:
            raise StorageError(
                f"location {location!r} is not a relation of {identity}; expected "
                f"'{identity}#<schema>.<table>' (was the product written by another manager?)"
            )
        return found[1], found[2]

    def _qualified(self, location: str) -> str:
        return self.client.qualified(*self.relation(location))


@attrs.frozen
class Dump:
    """A query to stream into a file: what a :func:`~assetry.sql_dump` asset returns.

    ``staged`` names the ``(schema, table)`` relations uploaded for this query
    alone; they are dropped once the dump is written or has failed.
    """

    client: Client
    sql: str
    staged: tuple[tuple[str | None, str], ...] = ()


def _parquet(value: Any) -> Parquet:
    if isinstance(value, str) and value.lower() == "parquet":
        value = Parquet()
    if not isinstance(value, Parquet):
        raise AssetGraphError(f"sql_dump writes Parquet files, not {value!r}; give io=Parquet(...)")
    return value


@attrs.frozen
class QueryDump(IOManager):
    """Streams a query's result into a Parquet file, ``batch_size`` rows at a time.

    The file is written beside its location and renamed into place, so a
    reader never sees half of it; memory holds one batch, and each batch is a
    row group. Loading and observing the file are the Parquet manager's.

    Examples:
        >>> QueryDump(Parquet(), batch_size=1000).default_location(pathlib.Path("data"), "top")
        'data/top.parquet'
    """

    format: Parquet = attrs.field(factory=Parquet, converter=_parquet)
    batch_size: int = attrs.field(default=65536, validator=attrs.validators.gt(0))
    short_name: ClassVar[str] = "query_dump"
    stores_frames: ClassVar[bool] = True

    def default_location(self, root: pathlib.Path, name: str, partition: str | None = None) -> str:
        return self.format.default_location(root, name, partition)

    def save(self, value: Any, location: str) -> Stored:
        import polars as pl

        if not isinstance(value, Dump):
            raise AssetTypeError(
                f"QueryDump streams a query that a sql_dump asset returns, but the value is "
                f"{type(value).__name__}; store frames with io=Parquet() instead"
            )
        try:
            rows = value.client.dump(value.sql, location, self.format.compression, self.batch_size)
        finally:
            for schema, table in value.staged:
                _drop(value.client, schema, [table])
        columns = {k: str(v) for k, v in pl.read_parquet_schema(location).items()}
        return Stored(location, rows, os.path.getsize(location), json.dumps(columns))

    def load(self, location: str, annotation: Any = None) -> Any:
        return self.format.load(location, annotation)

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        return self.format.observe(location, previous)

    def settings(self) -> dict[str, Any]:
        return {"format": self.format.describe(), "batch_size": self.batch_size}


# -- how upstream data reaches the database of a SQL asset ------------------------------


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
        _drop(self.client, self.schema, [name for _, name in self.made])

    def prune(self, keep: bool) -> None:
        """Drop earlier runs' staged tables, and this run's too unless a view still reads them."""
        if not self.made:
            return
        prefixes = tuple({p for p, _ in self.made})
        mine = {name for _, name in self.made} if keep else set()
        names = [n for n in self.client.relations(self.schema) if n.startswith(prefixes)]
        _drop(self.client, self.schema, [n for n in names if n not in mine])


def _stage_prefix(owner: str, upstream: str) -> str:
    base = f"{owner}__{upstream}"
    if len(base.encode()) > 40:  # identifiers end at 63 bytes
        digest = xxhash.xxh3_64_hexdigest(base.encode())[:10]
        base = f"{owner.encode()[:20].decode(errors='ignore')}_{digest}"
    return f"{base}__stage_"


def _drop(client: Client, schema: str | None, names: Iterable[str]) -> None:
    for name in names:
        client.execute(f"DROP TABLE IF EXISTS {client.qualified(schema, name)}")


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


def format_location(identity: str, schema: str | None, table: str) -> str:
    """``<identity>#<schema>.<table>``, with ``.``, ``#`` and ``%`` in names percent-encoded.

    Examples:
        >>> format_location("duckdb::memory:", "main", "a.b")
        'duckdb::memory:#main.a%2Eb'
    """
    relation = _escape(table) if schema is None else f"{_escape(schema)}.{_escape(table)}"
    return f"{identity}#{relation}"


def parse_location(location: str) -> tuple[str, str | None, str] | None:
    """``(identity, schema, table)`` of a relation location, or None if it is not one.

    Examples:
        >>> parse_location("duckdb::memory:#main.a%2Eb")
        ('duckdb::memory:', 'main', 'a.b')
    """
    identity, mark, relation = location.rpartition("#")
    parts = relation.split(".")
    if not mark or len(parts) > 2 or not all(parts):
        return None
    if len(parts) == 1:
        return identity, None, unquote(parts[0])
    return identity, unquote(parts[0]), unquote(parts[1])


def _escape(name: str) -> str:
    return quote(name, safe="").replace(".", "%2E")
