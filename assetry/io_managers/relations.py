"""IO managers of SQL assets: a relation the asset built itself, and a streamed query dump.

:class:`Relation` is the product of :func:`assetry.sql_asset`: the asset's
function has already created the table or view in the database, so ``save``
only records it (no second copy), ``observe`` fingerprints its content and
``load`` reads it as the annotated frame type. :class:`QueryDump` is the
product of :func:`assetry.sql_dump`: ``save`` streams a query's result into a
Parquet file in record batches; reading the file is the Parquet manager's.

The client streams the query (``Client.iter_batches``); writing the batches to
a file atomically is this module's (:func:`write_batches`), as clients know no
files. How an upstream product reaches the database of a SQL asset is
:mod:`assetry.io_managers.staging`'s.

Locations have the one format of :mod:`assetry.io_managers.locations`:
``<client identity>#<schema>.<table>``. Every statement is the client's; this
module never touches the catalog or the graph.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import pathlib
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import xxhash

from assetry._frames import convert_frame, load_kind
from assetry.clients import Client
from assetry.clients import relations as _relations
from assetry.clients.dialects import bind
from assetry.errors import AssetGraphError, AssetTypeError, ClientError, StorageError
from assetry.io_managers.base import IOManager, Observation, Stored, atomic_path
from assetry.io_managers.files import Parquet
from assetry.io_managers.locations import format_location, relation_at
from assetry.storage import is_remote

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "KINDS",
    "Dump",
    "Location",
    "QueryDump",
    "Relation",
    "RelationRef",
    "declared_name",
    "drop_tables",
    "write_batches",
]

KINDS = ("table", "view")

_log = logging.getLogger("assetry")

_VIEW_DEFINITION = {
    "sqlite": "SELECT sql FROM {schema}.sqlite_master WHERE type = 'view' AND name = ?",
    "duckdb": "SELECT view_definition FROM information_schema.views "
    "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
}
_VIEW_DEFINITION_ANSI = (
    "SELECT view_definition FROM information_schema.views WHERE table_schema = ? AND table_name = ?"
)


def declared_name(manager: Any, field: attrs.Attribute[Any], value: str | None) -> None:
    """attrs validator of a manager's ``schema=`` / ``table=``: a name its client may create.

    Runs when the manager is built, so a bad name fails before any statement.
    """
    if value is not None:
        manager.client.check_declared_name(value, field.name)


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
    schema: str | None = attrs.field(default=None, validator=declared_name)
    table: str | None = attrs.field(default=None, validator=declared_name)
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
        """The relation's content fingerprint; None when it is missing or cannot be read.

        A view's content follows its sources, so its change key is its
        definition: while that is unchanged (and the view still reads), the
        recorded observation stands, and the view's query is not run again.
        A table is hashed, its change key naming the digest
        (:func:`assetry.clients.relations.observe_table`: a digest recorded by
        an earlier scheme is checked once the old way, docs/sql.md).
        A relation the database has but cannot read (a view whose source is
        gone, or whose SELECT fails on some row) is a broken product: it counts
        as missing, so its asset is stale and rebuilt, and a warning says why.
        Failing to reach the database at all still raises ClientError.
        """
        schema, table = self.relation(location)
        found = self.client.relation_kind(schema, table)  # raises if the database is unreachable
        if found is None or (self.kind == "view") != (found == "view"):
            return None
        key = None
        try:
            if self.kind == "table":  # keyed by its digest (see clients.relations.observe_table)
                recorded = None if previous is None else (previous.data_fingerprint,
                                                          previous.stat_key)
                resolved = self.client.default_schema() if schema is None else schema
                seen = _relations.observe_table(self.client, resolved, table, recorded)
                return None if seen is None else Observation(seen[0], seen[1])
            key = self._view_key(schema, table)
            if previous is not None and previous.stat_key == key:
                return previous
            digest = self.client.relation_fingerprint(schema, table)
        except ClientError as exc:
            _log.warning("%s; it counts as missing, so its asset runs again", exc)
            return None
        return None if digest is None else Observation(data_fingerprint=digest, stat_key=key)

    def _view_key(self, schema: str | None, table: str) -> str:
        """A digest of the view's stored definition, after checking that it still reads."""
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
        found = relation_at(location, self.client.identity(), "relation")
        return found.schema, found.table

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
        if not isinstance(value, Dump):
            raise AssetTypeError(
                f"QueryDump streams a query that a sql_dump asset returns, but the value is "
                f"{type(value).__name__}; store frames with io=Parquet() instead"
            )
        if is_remote(location):  # an object store: streamed to a local file, uploaded whole
            from assetry.io_managers import remote

            return remote.save_written(self, value, location)  # type: ignore[arg-type]
        rows, columns = self.write(value, pathlib.Path(location))
        return Stored(location, rows, os.path.getsize(location), columns)

    def write(self, value: Any, path: pathlib.Path) -> tuple[int, str]:
        """Stream the query's result into ``path`` atomically; its rows and columns (JSON)."""
        import polars as pl

        try:
            batches = value.client.iter_batches(value.sql, self.batch_size)
            rows = write_batches(batches, path, self.format.compression)
        finally:
            for schema, table in value.staged:
                drop_tables(value.client, schema, [table])
        columns = {k: str(v) for k, v in pl.read_parquet_schema(path).items()}
        return rows, json.dumps(columns)

    def load(self, location: str, annotation: Any = None) -> Any:
        return self.format.load(location, annotation)

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        return self.format.observe(location, previous)

    def settings(self) -> dict[str, Any]:
        return {"format": self.format.describe(), "batch_size": self.batch_size}


def drop_tables(client: Client, schema: str | None, names: Iterable[str]) -> None:
    """Drop the named tables of ``schema`` that exist (staged uploads, once read).

    Examples:
        >>> from assetry.clients import DuckDBClient
        >>> drop_tables(DuckDBClient(":memory:"), "main", ["never_made"])
    """
    for name in names:
        client.execute(f"DROP TABLE IF EXISTS {client.qualified(schema, name)}")


def write_batches(
    batches: Generator[pa.RecordBatch, None, None],
    location: str | os.PathLike[str],
    compression: str = "zstd",
) -> int:
    """Write record batches to a Parquet file at ``location`` atomically; return the rows.

    Each batch is one row group; memory holds one batch. The file is written
    beside ``location`` and renamed into place, and removed if a batch fails.
    The batches must share the first one's schema (``Client.iter_batches`` does).

    Examples:
        >>> import pathlib, tempfile
        >>> from assetry.clients import DuckDBClient
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.parquet"
        >>> write_batches(DuckDBClient(":memory:").iter_batches("SELECT * FROM range(3)"), out)
        3
    """
    import pyarrow.parquet as pq

    rows = 0
    with atomic_path(location) as tmp, contextlib.closing(batches) as it:
        first = next(it, None)
        if first is None:  # a file needs a schema, which only a batch carries
            raise StorageError(
                f"no record batch to write to {str(location)!r}; give at least one, if empty"
            )
        with pq.ParquetWriter(tmp, first.schema, compression=compression) as writer:
            for batch in itertools.chain([first], it):
                writer.write_batch(batch)
                rows += batch.num_rows
    return rows
