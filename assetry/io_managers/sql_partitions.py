"""Partitioned SQL tables: every partition of an asset in one table, keyed by a column.

:class:`PartitionedTable` stores a partitioned asset as a single table with a
partition column (``date`` for daily partitions, ``partition`` for static
ones). Saving a partition replaces that partition's rows and no others, in one
transaction: ``DELETE ... WHERE <column> = <key>`` and ``INSERT ... SELECT``
from a staging table the client uploaded first. A run that fails, or an insert
the database refuses, leaves every partition as it was.

A product's location is ``<client identity>#<schema>.<table>?<column>=<key>``,
in the one format of :mod:`assetry.io_managers.locations`. The manager owns the
statements above; connections, quoting and uploads are the client's
(:mod:`assetry.clients`). It never touches the catalog.
"""

from __future__ import annotations

import datetime as dt
import logging
import pathlib
import re
import threading
import uuid
from typing import Any, ClassVar

import attrs

from assetry._frames import convert_frame, frame_schema, load_kind, to_polars
from assetry.clients import Client
from assetry.errors import AssetTypeError, ClientError, StorageError
from assetry.io_managers.base import IOManager, Observation, PartitionedProduct, Stored
from assetry.io_managers.locations import format_location, relation_at
from assetry.io_managers.relations import declared_name
from assetry.io_managers.sql import table_frame

__all__ = ["PartitionedTable"]

# Keys and columns are spliced into statements as literals and names only after
# matching these (partition sets allow no other characters).
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_log = logging.getLogger("assetry")

_LOCKS: dict[tuple[str, str | None, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _table_lock(key: tuple[str, str | None, str]) -> threading.Lock:
    # One writer per table in this process: concurrent partitions of one asset would
    # otherwise race to create the table and conflict on DuckDB's optimistic writes.
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


@attrs.frozen
class PartitionedTable(IOManager):
    """One table holding every partition of a partitioned asset; any client's database.

    ``schema=None`` is the client's default schema; ``table`` overrides the
    asset's name. The partition column is added to a partition's rows when
    they lack it (a ``DATE`` for ISO-date keys, else text); when they have it,
    every row must carry the partition's key.

    Examples:
        >>> from assetry.clients import DuckDBClient
        >>> io = PartitionedTable(DuckDBClient(":memory:"), table="daily")
        >>> io.default_location(pathlib.Path("data"), "ignored", "date=2013-01-02")
        'duckdb::memory:#daily?date=2013-01-02'
    """

    client: Client = attrs.field(validator=attrs.validators.instance_of(Client))  # type: ignore[type-abstract]
    schema: str | None = attrs.field(default=None, validator=declared_name)
    table: str | None = attrs.field(default=None, validator=declared_name)
    short_name: ClassVar[str] = "partitioned_table"
    stores_frames: ClassVar[bool] = True

    def settings(self) -> dict[str, Any]:
        return {"client": self.client.identity(), "schema": self.schema, "table": self.table}

    def default_location(self, root: pathlib.Path, name: str, partition: str | None = None) -> str:
        if partition is None:
            raise StorageError(
                f"PartitionedTable stores partitioned assets, but {name!r} has no partitions; "
                "use SQLTable for an unpartitioned asset"
            )
        column, _, key = partition.partition("=")
        table = self.table or name
        return format_location(self.client.identity(), self.schema, table, _checked(column, key))

    def save(self, value: Any, location: str) -> Stored:
        schema, table, column, key = self._parse(location)
        frame = _with_key(to_polars(table_frame(value, "PartitionedTable")), column, key, location)
        client = self.client
        staging = f"{table[:32]}__assetry_p{uuid.uuid4().hex[:12]}"
        target = client.qualified(schema, table)
        names = ", ".join(client.quote(c) for c in frame.columns)
        client.upload(frame, schema, staging)
        try:
            with _table_lock((client.identity(), schema, table)):
                self._ensure_table(schema, table, staging)
                action = f"replacing partition {key!r} of {target}"
                with client.transaction(action, write=True) as cur:
                    cur.execute(f"DELETE FROM {target} WHERE {client.quote(column)} = '{key}'")
                    cur.execute(
                        f"INSERT INTO {target} ({names}) SELECT {names} "
                        f"FROM {client.qualified(schema, staging)}"
                    )
        except ClientError as exc:
            raise StorageError(
                f"partition {key!r} of {target} was not replaced, the table is as it was: {exc}; "
                "if the asset's columns changed, drop the table and run again"
            ) from exc
        finally:
            _drop_staging(client, schema, staging)
        return Stored(location=location, rows=frame.height, bytes=None, schema=frame_schema(frame))

    def load(self, location: str, annotation: Any = None) -> Any:
        schema, table, column, key = self._parse(location)
        return self._select(schema, table, column, [key], load_kind(annotation), location)

    def load_partitions(self, partitions: PartitionedProduct, annotation: Any = None) -> Any:
        """Every stored partition in one query (``... WHERE <column> IN (...)``).

        Examples:
            >>> io.load_partitions(partitions, pl.LazyFrame)  # doctest: +SKIP
        """
        kind = load_kind(annotation)
        if kind.startswith("dict:") or kind == "path" or not partitions.keys:
            return IOManager.load_partitions(self, partitions, annotation)
        schema, table, column, _ = self._parse(partitions.locations[0])
        return self._select(schema, table, column, partitions.keys, kind, partitions.asset)

    def observe(self, location: str, previous: Observation | None = None) -> Observation | None:
        """The partition's content digest (order of rows aside); None when it has no rows."""
        import xxhash

        schema, table, column, key = self._parse(location)
        frame = self._rows(schema, table, column, [key])
        if frame is None or frame.height == 0:
            return None
        digest = xxhash.xxh3_128(str(list(frame.schema.items())).encode())
        digest.update(frame.hash_rows(seed=0).sort().to_numpy().tobytes())
        digest.update(str(frame.height).encode())
        return Observation(data_fingerprint=digest.hexdigest(), stat_key=None)

    # -- helpers ---------------------------------------------------------------------------

    def _parse(self, location: str) -> tuple[str | None, str, str, str]:
        found = relation_at(location, self.client.identity(), "partition of a table", True)
        column, _, key = str(found.partition).partition("=")
        _checked(column, key)
        return found.schema, found.table, column, key

    def _ensure_table(self, schema: str | None, table: str, staging: str) -> None:
        client = self.client
        if client.relation_exists(schema, table):
            return
        try:
            client.execute(
                f"CREATE TABLE {client.qualified(schema, table)} AS SELECT * FROM "
                f"{client.qualified(schema, staging)} WHERE 1 = 0"
            )
        except ClientError:
            if not client.relation_exists(schema, table):  # else another process made it
                raise

    def _rows(self, schema: str | None, table: str, column: str, keys: Any) -> Any:
        import polars as pl

        client = self.client
        keys_sql = ", ".join(f"'{k}'" for k in keys)
        sql = (
            f"SELECT * FROM {client.qualified(schema, table)} "
            f"WHERE {client.quote(column)} IN ({keys_sql})"
        )
        try:
            return pl.from_arrow(client.fetch_arrow(sql))
        except ClientError:
            if client.relation_exists(schema, table):
                raise
            return None

    def _select(self, schema: str | None, table: str, column: str, keys: Any, kind: str, what: str) -> Any:
        if kind == "path":
            raise AssetTypeError(
                f"{what!r} is stored in a database table and has no file path; annotate the "
                "parameter pl.DataFrame, pl.LazyFrame, pyarrow.Table or pandas.DataFrame"
            )
        frame = self._rows(schema, table, column, keys)
        if frame is None:
            raise StorageError(f"table {self.client.qualified(schema, table)} does not exist")
        return convert_frame(frame, kind, what)


def _drop_staging(client: Client, schema: str | None, staging: str) -> None:
    try:
        client.execute(f"DROP TABLE {client.qualified(schema, staging)}")
    except ClientError as exc:
        # The partition's outcome stands; the leftover's name marks it as assetry's to remove.
        _log.warning("could not drop staging table %s: %s", staging, exc)


def _checked(column: str, key: str) -> str:
    if not _COLUMN.match(column) or not _KEY.match(key) or ".." in key:
        raise StorageError(
            f"partition {column}={key} cannot name rows of a table; use a plain column name and "
            "keys of letters, digits, _ . -"
        )
    return f"{column}={key}"


def _with_key(frame: Any, column: str, key: str, location: str) -> Any:
    import polars as pl

    if column not in frame.columns:
        try:
            value: Any = dt.date.fromisoformat(key)
        except ValueError:
            value = key
        return frame.with_columns(pl.lit(value).alias(column))
    wrong = frame.filter(pl.col(column).cast(pl.String) != key).height
    if wrong:
        raise StorageError(
            f"{wrong} row(s) of partition {key!r} have another value in column {column!r}; "
            f"a partition's rows must all carry its key (at {location!r})"
        )
    return frame
