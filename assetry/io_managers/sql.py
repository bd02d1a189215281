"""IO managers that keep a frame as a table in a database: DuckDB, or any client.

A product's location names the database and the relation:
``<client identity>#<schema>.<table>`` (``duckdb:/abs/db.duckdb#main.flights``,
``postgresql://127.0.0.1:5432/test#public.flights``); a ``.``, ``#`` or ``%``
inside a name is percent-encoded, and without a schema the part after ``#`` is
the table alone. The managers own that format and the conversion of values;
every statement is the client's (:mod:`assetry.clients`). They never touch the
catalog.
"""

from __future__ import annotations

import abc
import pathlib
from typing import Any, ClassVar
from urllib.parse import quote, unquote

import attrs

from assetry._frames import convert_frame, frame_schema, load_kind, to_polars
from assetry.clients import Client, DuckDBClient
from assetry.clients.dialects import check_identifier
from assetry.errors import AssetTypeError, StorageError
from assetry.io_managers.base import IOManager, Observation, Stored

__all__ = ["DuckDBTable", "SQLTable"]


class _TableManager(IOManager):
    """Shared behaviour: one product is one table, replaced atomically on save."""

    table: str | None
    schema: str | None

    @property
    @abc.abstractmethod
    def client(self) -> Client:
        """The client that runs this manager's statements."""

    def default_location(self, root: pathlib.Path, name: str, partition: str | None = None) -> str:
        table = check_identifier(self.table or name)
        if partition is not None:
            table = check_identifier(f"{table}__{partition}")
        return _format_location(self.client.identity(), self.schema, table)

    def save(self, value: Any, location: str) -> Stored:
        schema, table = self._relation(location)
        frame = _frame(value, type(self).__name__)
        rows = self.client.upload(frame, schema, table)
        return Stored(location=location, rows=rows, bytes=None, schema=frame_schema(frame))

    def load(self, location: str, annotation: Any = None) -> Any:
        import polars as pl

        from assetry.io_managers.relations import Location, RelationRef

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
        found = self.client.relation_fingerprint(*self._relation(location))
        return None if found is None else Observation(data_fingerprint=found, stat_key=None)

    def _relation(self, location: str) -> tuple[str | None, str]:
        identity = self.client.identity()
        base, mark, relation = location.rpartition("#")
        parts = relation.split(".")
        if not mark or base != identity or len(parts) > 2:
            raise StorageError(
                f"location {location!r} is not a table of {identity}; expected "
                f"'{identity}#<schema>.<table>' (was the product written by another manager?)"
            )
        if len(parts) == 1:
            return None, unquote(parts[0])
        return unquote(parts[0]), unquote(parts[1])


@attrs.frozen
class SQLTable(_TableManager):
    """A table in any database a client reaches; PostgreSQL is written through COPY.

    ``schema=None`` is the client's default schema (PostgreSQL's search path,
    MySQL's database); ``table`` overrides the asset's name. Settings name the
    database by its identity, never its credentials.

    Examples:
        >>> from assetry.clients import DuckDBClient
        >>> SQLTable(DuckDBClient(":memory:"), table="flights").default_location(
        ...     pathlib.Path("data"), "ignored")
        'duckdb::memory:#flights'
    """

    client: Client = attrs.field(validator=lambda _, __, value: _check_client(value))
    schema: str | None = None
    table: str | None = None
    short_name: ClassVar[str] = "sql_table"

    def settings(self) -> dict[str, Any]:
        return {"client": self.client.identity(), "schema": self.schema, "table": self.table}


def _check_client(value: object) -> None:
    if not isinstance(value, Client):
        raise TypeError(
            "'client' must be a client from assetry.clients (DuckDBClient, SQLAlchemyClient, "
            f"DBAPIClient), not {type(value).__name__}; wrap a URL in SQLAlchemyClient(url)"
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
    schema: str = "main"
    table: str | None = None
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


def _format_location(identity: str, schema: str | None, table: str) -> str:
    relation = _escape(table) if schema is None else f"{_escape(schema)}.{_escape(table)}"
    return f"{identity}#{relation}"


def _escape(name: str) -> str:
    return quote(name, safe="").replace(".", "%2E")


def _frame(value: Any, manager: str) -> Any:
    import polars as pl

    if isinstance(value, pl.LazyFrame):
        return value.collect()
    if isinstance(value, pl.DataFrame):
        return value
    module, name = type(value).__module__, type(value).__name__
    if module.startswith("pyarrow") and name == "Table":
        return value
    if module.startswith("pandas") and name == "DataFrame":
        return to_polars(value)
    raise AssetTypeError(
        f"{manager} stores data frames, but the value is {name}; "
        "return a polars, Arrow or pandas frame, or choose another io="
    )
