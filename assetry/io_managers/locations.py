"""Where a product in a database is: the one location format of every SQL manager.

``<client identity>#<schema>.<table>`` names a table or view
(``duckdb:/abs/w.duckdb#main.flights``,
``postgresql://127.0.0.1:5432/test#public.flights``); without a schema the part
after ``#`` is the table alone. One partition of a table adds
``?<column>=<key>`` (``...#main.daily?date=2013-01-02``). A ``.``, ``#``, ``%``
or ``?`` inside a name is percent-encoded, so any name the database can hold
reads back exactly.

This module owns formatting and parsing that text; :class:`~assetry.io_managers.sql.SQLTable`,
:class:`~assetry.io_managers.relations.Relation` and
:class:`~assetry.io_managers.sql_partitions.PartitionedTable` all go through it.
It runs no statement and checks no name (the client does both).
"""

from __future__ import annotations

from urllib.parse import quote, unquote

import attrs

from assetry.errors import StorageError

__all__ = ["RelationLocation", "format_location", "parse_location", "relation_at"]


@attrs.frozen
class RelationLocation:
    """The parts of a relation location; ``partition`` is ``"<column>=<key>"`` or None.

    Examples:
        >>> str(RelationLocation("duckdb::memory:", "main", "a.b"))
        'duckdb::memory:#main.a%2Eb'
    """

    identity: str
    schema: str | None
    table: str
    partition: str | None = None

    def __str__(self) -> str:
        return format_location(self.identity, self.schema, self.table, self.partition)


def format_location(
    identity: str, schema: str | None, table: str, partition: str | None = None
) -> str:
    """``<identity>#<schema>.<table>[?<column>=<key>]`` with odd characters in names encoded.

    ``partition`` is written as given: its column and key are checked by the
    manager that stores partitions (letters, digits, ``_ . -``).

    Examples:
        >>> format_location("duckdb::memory:", "main", "a.b")
        'duckdb::memory:#main.a%2Eb'
        >>> format_location("duckdb::memory:", None, "daily", "date=2013-01-02")
        'duckdb::memory:#daily?date=2013-01-02'
    """
    relation = _escape(table) if schema is None else f"{_escape(schema)}.{_escape(table)}"
    where = "" if partition is None else f"?{partition}"
    return f"{identity}#{relation}{where}"


def parse_location(location: str) -> RelationLocation | None:
    """The parts of a relation location, or None if the text is not one.

    Examples:
        >>> parse_location("duckdb::memory:#main.a%2Eb")
        RelationLocation(identity='duckdb::memory:', schema='main', table='a.b', partition=None)
        >>> parse_location("data/flights.parquet") is None
        True
    """
    identity, mark, rest = location.rpartition("#")
    relation, qmark, partition = rest.partition("?")
    parts = relation.split(".")
    if not mark or len(parts) > 2 or not all(parts) or (qmark and not partition):
        return None
    schema = unquote(parts[0]) if len(parts) == 2 else None
    return RelationLocation(identity, schema, unquote(parts[-1]), partition if qmark else None)


def relation_at(
    location: str, identity: str, what: str = "table", partitioned: bool = False
) -> RelationLocation:
    """The parts of ``location`` if it names a relation (or partition) of ``identity``.

    Raises StorageError otherwise, naming the format expected: the product was
    most likely written by another manager or for another database.

    Examples:
        >>> relation_at("duckdb::memory:#main.t", "duckdb::memory:").table
        't'
        >>> relation_at("duckdb:/a.duckdb#main.t", "duckdb::memory:")
        Traceback (most recent call last):
        ...
        assetry.errors.StorageError: location 'duckdb:/a.duckdb#main.t' is not a table of duckdb::memory:; expected 'duckdb::memory:#<schema>.<table>' (was the product written by another manager?)
    """
    found = parse_location(location)
    if (
        found is None
        or found.identity != identity
        or (found.partition is not None) != partitioned
    ):
        where = "?<column>=<key>" if partitioned else ""
        raise StorageError(
            f"location {location!r} is not a {what} of {identity}; expected "
            f"'{identity}#<schema>.<table>{where}' (was the product written by another manager?)"
        )
    return found


def _escape(name: str) -> str:
    return quote(name, safe="").replace(".", "%2E")
