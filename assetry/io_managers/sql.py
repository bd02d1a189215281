"""IO managers that keep a frame as a table in a database: DuckDB, or any client.

A product's location names the database and the relation, in the one format
of :mod:`assetry.io_managers.locations` (``duckdb:/abs/db.duckdb#main.flights``,
``postgresql://127.0.0.1:5432/test#public.flights``). ``schema=`` and ``table=``
are checked when a manager is built, so a name assetry would refuse fails before
any statement. The managers own the conversion of values (frame kinds are
:mod:`assetry._frames`'s); every statement is the client's (:mod:`assetry.clients`).
They never touch the catalog.

``save`` fingerprints what it uploads, so the ``observe`` that follows reads
nothing back, and ``observe`` proves a PostgreSQL upload unchanged by its
stamp instead of hashing its rows (:func:`assetry.clients.relations.observe_table`,
docs/sql.md "Fingerprints of uploaded tables").
"""

from __future__ import annotations

import abc
import pathlib
from typing import Any, ClassVar

import attrs

from assetry._frames import convert_frame, frame_schema, load_kind, to_polars
from assetry.clients import Client, DuckDBClient
from assetry.clients import relations as _relations
from assetry.clients.identifiers import check_identifier
from assetry.clients.named import ClientRef, as_ref
from assetry.errors import AssetTypeError
from assetry.io_managers.base import IOManager, Observation, Stored
from assetry.io_managers.locations import format_location, relation_at
from assetry.io_managers.relations import Location, RelationRef, declared_name

__all__ = ["DuckDBTable", "SQLTable", "table_frame"]


class _TableManager(IOManager):
    """Shared behaviour: one product is one table, replaced atomically on save."""

    table: str | None
    schema: str | None

    @property
    @abc.abstractmethod
    def client(self) -> Client:
        """The client that runs this manager's statements."""

    def default_location(self, root: pathlib.Path, name: str, partition: str | None = None) -> str:
        dialect = self.client.dialect
        table = check_identifier(self.table or name, dialect)
        if partition is not None:
            table = check_identifier(f"{table}__{partition}", dialect)
        return format_location(self.client.identity(), self.schema, table)

    def save(self, value: Any, location: str) -> Stored:
        schema, table = self._schema_and_table(location)
        frame = table_frame(value, type(self).__name__)
        # Fingerprinted before the swap, so the observe that follows reads nothing back.
        rows = _relations.upload(self.client, frame, schema, table, fingerprinted=True)
        return Stored(location=location, rows=rows, bytes=None, schema=frame_schema(frame))

    def load(self, location: str, annotation: Any = None) -> Any:
        import polars as pl

        if annotation is Location:  # a SQL asset reads this table in place
            schema, table = self._relation(location)
            return RelationRef(self.client.identity(), schema, table, client=self.client)
        kind = load_kind(annotation)
        if kind == "path":
            raise AssetTypeError(
                f"{location!r} is a database table and has no file path; annotate the "
                "parameter pl.DataFrame, pl.LazyFrame, pyarrow.Table or pandas.DataFrame"
            )
        table = self.client.read_table(*self._relation(location))
        if kind == "arrow":
            return table
        return convert_frame(pl.from_arrow(table), kind)

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        recorded = None if previous is None else (previous.data_fingerprint, previous.stat_key)
        found = _relations.observe_table(self.client, *self._schema_and_table(location), recorded)
        return None if found is None else Observation(data_fingerprint=found[0], stat_key=found[1])

    def _relation(self, location: str) -> tuple[str | None, str]:
        found = relation_at(location, self.client.identity())
        return found.schema, found.table

    def _schema_and_table(self, location: str) -> tuple[str, str]:
        schema, table = self._relation(location)
        return schema if schema is not None else self.client.default_schema(), table


@attrs.frozen
class SQLTable(_TableManager):
    """A table in any database a client reaches; PostgreSQL is written through COPY.

    ``schema=None`` is the client's default schema (PostgreSQL's search path,
    MySQL's database); ``table`` overrides the asset's name. Settings name the
    database by its identity, never its credentials. ``client`` may be a
    client's name (``SQLTable(client="warehouse")``), resolved when a run
    starts from the spec's ``clients:`` or ``materialize(clients=...)``.

    Examples:
        >>> from assetry.clients import DuckDBClient
        >>> SQLTable(DuckDBClient(":memory:"), table="flights").default_location(
        ...     pathlib.Path("data"), "ignored")
        'duckdb::memory:#flights'
    """

    client: Client = attrs.field(
        converter=lambda value: as_ref(value) or value,
        validator=lambda _, __, value: _check_client(value),
    )
    schema: str | None = attrs.field(default=None, validator=declared_name)
    table: str | None = attrs.field(default=None, validator=declared_name)
    short_name: ClassVar[str] = "sql_table"

    def settings(self) -> dict[str, Any]:
        client = self.client
        # A named client is resolved before a run; until then its name stands for it.
        shown = str(client) if isinstance(client, ClientRef) else client.identity()
        return {"client": shown, "schema": self.schema, "table": self.table}


def _check_client(value: object) -> None:
    if not isinstance(value, (Client, ClientRef)):
        raise TypeError(
            "'client' must be a client from assetry.clients (DuckDBClient, SQLAlchemyClient, "
            f"DBAPIClient) or a client's name (client='warehouse'), not {type(value).__name__}; "
            "wrap a URL in SQLAlchemyClient(url)"
        )


def _absolute(path: str | pathlib.Path) -> str:
    text = str(path)
    return text if text == ":memory:" else str(pathlib.Path(text).expanduser().resolve())


@attrs.frozen
class DuckDBTable(_TableManager):
    """A table in a DuckDB file, written from Arrow without a copy through Python.

    A relative ``database`` path is made absolute when the manager is built.

    Examples:
        >>> DuckDBTable(database="/tmp/w.duckdb").default_location(pathlib.Path("data"), "flights")
        'duckdb:/tmp/w.duckdb#main.flights'
    """

    database: str = attrs.field(converter=_absolute)
    schema: str = attrs.field(default="main", validator=declared_name)
    table: str | None = attrs.field(default=None, validator=declared_name)
    _client: DuckDBClient = attrs.field(init=False, eq=False, repr=False)
    short_name: ClassVar[str] = "duckdb_table"

    @_client.default
    def _connect_lazily(self) -> DuckDBClient:
        return DuckDBClient(self.database)  # opens nothing until the first statement

    @property
    def client(self) -> Client:
        """The DuckDB client of ``database`` (connections open on first use)."""
        return self._client

    def settings(self) -> dict[str, Any]:
        return {"database": self.database, "schema": self.schema, "table": self.table}


def table_frame(value: Any, manager: str) -> Any:
    """The frame a table manager stores: Arrow as it is, any other frame as eager polars.

    An Arrow table stays Arrow, so DuckDB scans its buffers without a copy.

    Examples:
        >>> import polars as pl
        >>> table_frame(pl.LazyFrame({"a": [1]}), "SQLTable").height
        1
    """
    kind = load_kind(type(value))
    if kind == "arrow":
        return value
    if kind in ("polars", "lazy", "pandas"):
        return to_polars(value)
    raise AssetTypeError(
        f"{manager} stores data frames, but the value is {type(value).__name__}; "
        "return a polars, Arrow or pandas frame, or choose another io="
    )
