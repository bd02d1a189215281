"""What differs between SQL dialects, as data and pure functions.

Owns the driver -> dialect map, placeholders, the polars -> SQL type map, the
catalog and fingerprint queries, and the hints that turn driver type codes back
into Arrow types. Names and their quoting are :mod:`assetry.clients.identifiers`'s.
It opens no connection and runs no statement: :mod:`assetry.clients` does that.
pyarrow is imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from assetry.errors import ClientError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "BEGIN",
    "DEFAULT_PORTS",
    "DEFAULT_SCHEMA",
    "DRIVER_DIALECTS",
    "EXTRAS",
    "FINGERPRINT_SCHEMES",
    "SCHEMA_CHECK",
    "arrow_hint",
    "bind",
    "columns_sql",
    "dialect_of_driver",
    "fingerprint_sql",
    "placeholders",
    "relation_kind_sql",
    "relations_sql",
    "restored_type",
    "sql_type",
]

#: Driver module (top-level package, or ``mysql.connector``) -> dialect.
DRIVER_DIALECTS = {
    "psycopg": "postgresql",
    "psycopg2": "postgresql",
    "pymysql": "mysql",
    "MySQLdb": "mysql",
    "mysql.connector": "mysql",
    "mariadb": "mysql",
    "sqlite3": "sqlite",
    "duckdb": "duckdb",
}

#: The optional dependency that brings each dialect's driver.
EXTRAS = {"postgresql": "postgres", "mysql": "mysql"}

#: Statement that opens an explicit write transaction; other drivers open one implicitly.
#: SQLite's IMMEDIATE takes the write lock up front, so two writers wait instead of deadlocking.
BEGIN = {"sqlite": "BEGIN IMMEDIATE", "duckdb": "BEGIN TRANSACTION"}

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}

#: Run first in every transaction. SQLite checks a connection's cached schema only when a
#: statement reads a table: one over constants alone (a view of ``WITH RECURSIVE``) would
#: still see a view that another connection replaced. Reading sqlite_master checks it.
SCHEMA_CHECK = {"sqlite": "SELECT 1 FROM sqlite_master LIMIT 0"}

_RELATION_KIND = {
    "sqlite": "SELECT type FROM pragma_table_list WHERE schema = ? AND name = ?",
    "duckdb": "SELECT table_type FROM information_schema.tables "
    "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
}
_RELATION_KIND_ANSI = (
    "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"
)

_RELATIONS = {
    "sqlite": "SELECT name FROM pragma_table_list WHERE schema = ? ORDER BY name",
    "duckdb": "SELECT table_name FROM information_schema.tables "
    "WHERE table_catalog = current_database() AND table_schema = ? ORDER BY table_name",
}
_RELATIONS_ANSI = (
    "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name"
)

_COLUMNS = {
    "sqlite": "SELECT c.name, c.type FROM pragma_table_list AS t, pragma_table_info(t.name, t.schema) "
    "AS c WHERE t.schema = ? AND t.name = ? ORDER BY c.cid",
    "mysql": "SELECT column_name, column_type FROM information_schema.columns "
    "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
    "duckdb": "SELECT column_name, data_type FROM information_schema.columns "
    "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ? "
    "ORDER BY ordinal_position",
}
_COLUMNS_ANSI = (
    "SELECT column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position"
)

#: How :func:`fingerprint_sql` sums a relation's rows, per dialect, preferred first. The
#: last one is the scheme of assetry 0.x, whose digests the catalog may still hold; a server
#: or a column type that the first cannot hash takes the next (docs/sql.md, "Fingerprints").
FINGERPRINT_SCHEMES: dict[str, tuple[str, ...]] = {"postgresql": ("record_hash", "md5")}

DEFAULT_SCHEMA = {
    "postgresql": "SELECT current_schema()",
    "duckdb": "SELECT current_schema()",
    "mysql": "SELECT DATABASE()",
}

# polars type name -> SQL type, per dialect; "ansi" serves every other database.
_TYPES: dict[str, dict[str, str]] = {
    "ansi": {
        "Int8": "SMALLINT", "Int16": "SMALLINT", "Int32": "INTEGER", "Int64": "BIGINT",
        "UInt8": "SMALLINT", "UInt16": "INTEGER", "UInt32": "BIGINT", "UInt64": "NUMERIC(20)",
        "Float32": "REAL", "Float64": "DOUBLE PRECISION", "String": "TEXT", "Boolean": "BOOLEAN",
        "Date": "DATE", "Datetime": "TIMESTAMP", "DatetimeTZ": "TIMESTAMP WITH TIME ZONE",
        "Time": "TIME", "Decimal": "DECIMAL({p},{s})", "Binary": "BLOB", "Null": "TEXT",
    },
    "postgresql": {"Binary": "BYTEA", "Decimal": "NUMERIC({p},{s})"},
    "mysql": {
        "UInt64": "BIGINT UNSIGNED", "Float32": "FLOAT", "Float64": "DOUBLE",
        "String": "LONGTEXT", "Datetime": "DATETIME(6)", "DatetimeTZ": "DATETIME(6)",
        "Time": "TIME(6)", "Binary": "LONGBLOB", "Null": "LONGTEXT",
    },
    "sqlite": {
        "Int8": "INTEGER", "Int16": "INTEGER", "Int32": "INTEGER", "Int64": "INTEGER",
        "UInt8": "INTEGER", "UInt16": "INTEGER", "UInt32": "INTEGER", "UInt64": "INTEGER",
        "Float32": "REAL", "Float64": "REAL", "DatetimeTZ": "TIMESTAMP",
        "Decimal": "NUMERIC({p},{s})",
    },
}
_ALIASES = {"Categorical": "String", "Enum": "String"}

_DECIMAL = re.compile(r"^(?:decimal|numeric)\((\d+),\s*(\d+)\)", re.IGNORECASE)


@functools.cache
def _arrow_types() -> dict[str, dict[Any, pa.DataType]]:
    """Driver type codes and declared types -> Arrow types (built on first use)."""
    import pyarrow as pa

    return {
        # PostgreSQL type OIDs (numeric is decided by its precision).
        "postgresql": {
            16: pa.bool_(), 17: pa.binary(), 18: pa.string(), 19: pa.string(), 20: pa.int64(),
            21: pa.int16(), 23: pa.int32(), 25: pa.string(), 26: pa.int64(), 700: pa.float32(),
            701: pa.float64(), 1042: pa.string(), 1043: pa.string(), 1082: pa.date32(),
            1083: pa.time64("us"), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
        },
        # MySQL/MariaDB protocol field types (TINY of width 1 is BOOLEAN).
        "mysql": {
            1: pa.int8(), 2: pa.int16(), 3: pa.int32(), 4: pa.float32(), 5: pa.float64(),
            7: pa.timestamp("us"), 8: pa.int64(), 9: pa.int32(), 10: pa.date32(),
            12: pa.timestamp("us"), 13: pa.int16(), 15: pa.string(), 253: pa.string(),
            254: pa.string(),
        },
        # SQLite declared types whose values come back as integers or text.
        "sqlite-restore": {
            "BOOLEAN": pa.bool_(), "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us"),
            "DATETIME": pa.timestamp("us"),
        },
    }


def dialect_of_driver(module: str) -> str | None:
    """The dialect a DB-API driver speaks, from the module its ``connect`` lives in.

    Examples:
        >>> dialect_of_driver("pymysql.connections")
        'mysql'
        >>> dialect_of_driver("_sqlite3")
        'sqlite'
    """
    for prefix, dialect in DRIVER_DIALECTS.items():
        if module.lstrip("_") == prefix or module.lstrip("_").startswith(prefix + "."):
            return dialect
    return None


def placeholders(paramstyle: str, count: int) -> list[str]:
    """The driver's positional parameter markers for ``count`` values.

    Examples:
        >>> placeholders("pyformat", 2)
        ['%s', '%s']
    """
    if paramstyle in ("format", "pyformat"):
        return ["%s"] * count
    if paramstyle in ("numeric", "named"):
        return [f":{i}" for i in range(1, count + 1)]
    return ["?"] * count


def bind(template: str, paramstyle: str) -> str:
    """Turn ``?`` markers of an internal template (no identifiers in it) into the driver's.

    Examples:
        >>> bind("SELECT 1 WHERE a = ? AND b = ?", "numeric")
        'SELECT 1 WHERE a = :1 AND b = :2'
    """
    parts = template.split("?")
    marks = placeholders(paramstyle, len(parts) - 1)
    return "".join(p + m for p, m in zip(parts, marks, strict=False)) + parts[-1]


def relation_kind_sql(dialect: str) -> str:
    """A query, parametrized by (schema, name), whose one value is the relation's type."""
    return _RELATION_KIND.get(dialect, _RELATION_KIND_ANSI)


def relations_sql(dialect: str) -> str:
    """A query, parametrized by (schema,), listing the names of its tables and views."""
    return _RELATIONS.get(dialect, _RELATIONS_ANSI)


def columns_sql(dialect: str) -> str:
    """A query, parametrized by (schema, name), giving (column, declared type) rows in order."""
    return _COLUMNS.get(dialect, _COLUMNS_ANSI)


def fingerprint_sql(
    dialect: str, relation: str, columns: list[str], scheme: str | None = None
) -> str | None:
    """A one-row query of row count and order-independent checksums, or None to hash in Python.

    Sums of per-row hashes (not XOR) so that duplicate rows do not cancel out.
    ``scheme`` is one of :data:`FINGERPRINT_SCHEMES` (default: the dialect's first).
    PostgreSQL's ``record_hash`` sums ``hash_record_extended`` (PostgreSQL 14+, every
    column type hashable): the per-type hashes that hash partitioning uses, 5 to 10 times
    faster than ``md5`` of each row's text. Its seed is 2 because a NULL field hashes
    to 0 under any seed, float zero to the seed and numeric zero to the seed minus 1:
    seed 0 or 1 would not tell a NULL from a zero.

    Examples:
        >>> fingerprint_sql("postgresql", '"t"', ['"a"'])
        'SELECT count(*), coalesce(sum(hash_record_extended(r, 2)::numeric), 0) FROM "t" AS r'
    """
    scheme = scheme or FINGERPRINT_SCHEMES.get(dialect, ("",))[0]
    if dialect == "duckdb":
        return f"SELECT count(*), coalesce(sum(hash({', '.join(columns)})), 0) FROM {relation}"
    if dialect == "postgresql" and scheme == "record_hash":
        return (
            "SELECT count(*), coalesce(sum(hash_record_extended(r, 2)::numeric), 0) "
            f"FROM {relation} AS r"
        )
    if dialect == "postgresql":
        half = "coalesce(sum(('x' || substr(h, {0}, 16))::bit(64)::bigint::numeric), 0)"
        return (
            f"SELECT count(*), {half.format(1)}, {half.format(17)} "
            f"FROM (SELECT md5(ROW(r.*)::text) AS h FROM {relation} AS r) AS s"
        )
    if dialect == "mysql":
        row = ", ".join(f"QUOTE({c})" for c in columns)
        half = "coalesce(sum(cast(conv(substring(h, {0}, 16), 16, 10) AS UNSIGNED)), 0)"
        return (
            f"SELECT count(*), {half.format(1)}, {half.format(17)} "
            f"FROM (SELECT md5(concat_ws(',', {row})) AS h FROM {relation}) AS s"
        )
    return None


def sql_type(dtype: Any, dialect: str, column: str) -> str:
    """The SQL column type for a polars dtype (see docs/sql.md for the table).

    Examples:
        >>> import polars as pl
        >>> sql_type(pl.Int32, "postgresql", "n")
        'INTEGER'
        >>> sql_type(pl.Decimal(10, 2), "mysql", "price")
        'DECIMAL(10,2)'
    """
    name = _ALIASES.get(dtype.base_type().__name__, dtype.base_type().__name__)
    if name == "Datetime" and getattr(dtype, "time_zone", None):
        name = "DatetimeTZ"
    text = _TYPES.get(dialect, {}).get(name) or _TYPES["ansi"].get(name)
    if text is None:
        raise ClientError(
            f"column {column!r} has type {dtype}, which assetry cannot store in {dialect}; "
            "cast it to a plain type (for instance pl.String) first"
        )
    if name == "Decimal":
        return text.format(p=getattr(dtype, "precision", None) or 38, s=dtype.scale or 0)
    return text


def arrow_hint(dialect: str, description: Any) -> pa.DataType | None:
    """The Arrow type of a result column from its DB-API description, when the code is known.

    Examples:
        >>> arrow_hint("postgresql", ("n", 20, None, None, None, None, None))
        DataType(int64)
    """
    import pyarrow as pa

    code, size = description[1], description[3]
    precision, scale = description[4], description[5]
    if dialect == "postgresql":
        if code != 1700:
            return _arrow_types()["postgresql"].get(code)
        # numeric: exact when bounded, otherwise (avg(), sum()) a float
        bounded = precision is not None and 0 < precision <= 38
        return pa.decimal128(precision, scale or 0) if bounded else pa.float64()
    if dialect == "mysql":
        if code == 1 and size == 1:
            return pa.bool_()
        if code in (0, 246):  # the reported precision counts sign and point: an upper bound
            return pa.decimal128(min(precision or 38, 38), scale or 0)
        return _arrow_types()["mysql"].get(code)
    return None


def restored_type(dialect: str, declared: str) -> pa.DataType | None:
    """The Arrow type a stored column really has, where the driver hands back less.

    SQLite keeps booleans as integers and dates as text; MySQL's BOOLEAN is TINYINT(1).

    Examples:
        >>> restored_type("mysql", "tinyint(1)")
        DataType(bool)
    """
    import pyarrow as pa

    text = (declared or "").strip()
    match = _DECIMAL.match(text)
    if match and dialect in ("sqlite", "mysql") and int(match.group(1)) <= 38:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    if dialect == "mysql":
        return pa.bool_() if text.lower() == "tinyint(1)" else None
    if dialect == "sqlite":
        return _arrow_types()["sqlite-restore"].get(text.upper())
    return None
