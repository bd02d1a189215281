"""What differs between SQL dialects, as data and pure functions.

Owns identifier validation and quoting, temporary relation names, the polars
-> SQL type map, the catalog and fingerprint queries, and the hints that turn
driver type codes back into Arrow types. It opens no connection and runs no
statement: :mod:`assetry.clients` does that.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pyarrow as pa

from assetry.errors import ClientError

#: PostgreSQL truncates longer names (NAMEDATALEN - 1); MySQL allows 64 characters.
MAX_IDENTIFIER_BYTES = 63

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

# PostgreSQL type OIDs -> Arrow types (numeric is decided by its precision).
_PG_OIDS = {
    16: pa.bool_(), 17: pa.binary(), 18: pa.string(), 19: pa.string(), 20: pa.int64(),
    21: pa.int16(), 23: pa.int32(), 25: pa.string(), 26: pa.int64(), 700: pa.float32(),
    701: pa.float64(), 1042: pa.string(), 1043: pa.string(), 1082: pa.date32(),
    1083: pa.time64("us"), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
}
# MySQL/MariaDB protocol field types -> Arrow types (TINY of width 1 is BOOLEAN).
_MYSQL_FIELDS = {
    1: pa.int8(), 2: pa.int16(), 3: pa.int32(), 4: pa.float32(), 5: pa.float64(),
    7: pa.timestamp("us"), 8: pa.int64(), 9: pa.int32(), 10: pa.date32(),
    12: pa.timestamp("us"), 13: pa.int16(), 15: pa.string(), 253: pa.string(), 254: pa.string(),
}
_DECIMAL = re.compile(r"^(?:decimal|numeric)\((\d+),\s*(\d+)\)", re.IGNORECASE)
_SQLITE_RESTORE = {
    "BOOLEAN": pa.bool_(), "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us"),
    "DATETIME": pa.timestamp("us"),
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


def check_identifier(identifier: object, dialect: str = "ansi") -> str:
    """Return ``identifier`` if a database can take it as a quoted name, else raise.

    Examples:
        >>> check_identifier("flights")
        'flights'
    """
    if not isinstance(identifier, str) or not identifier:
        raise ClientError(f"{identifier!r} is not a usable SQL name; give a non-empty string")
    if "\x00" in identifier:
        raise ClientError(f"SQL name {identifier!r} contains a NUL character; remove it")
    size = len(identifier.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        raise ClientError(
            f"SQL name {identifier!r} is {size} bytes long, over the limit of "
            f"{MAX_IDENTIFIER_BYTES} (PostgreSQL would truncate it); choose a shorter name"
        )
    if dialect == "mysql" and identifier.endswith(" "):
        raise ClientError(f"SQL name {identifier!r} ends with a space, which MySQL refuses")
    return identifier


def check_columns(names: list[str], dialect: str) -> None:
    """Refuse column names that are unusable, or equal but for case where case is ignored.

    Only PostgreSQL keeps quoted names apart by case; DuckDB would silently rename
    the second one, MySQL and SQLite refuse it.

    Examples:
        >>> check_columns(["a", "A"], "postgresql")
    """
    seen: dict[str, str] = {}
    for name in names:
        check_identifier(name, dialect)
        key = name if dialect == "postgresql" else name.lower()
        if key in seen:
            raise ClientError(
                f"columns {seen[key]!r} and {name!r} differ only in case, which {dialect} "
                "takes as one name; rename one of them"
            )
        seen[key] = name


def quote(identifier: str, dialect: str, check: bool = True) -> str:
    """Quote a name for ``dialect``: backticks for MySQL, double quotes elsewhere.

    ``check=False`` skips validation for names read back from the database.

    Examples:
        >>> quote('x"; DROP TABLE y; --', "postgresql")
        '"x""; DROP TABLE y; --"'
        >>> quote("a`b", "mysql")
        '`a``b`'
    """
    if check:
        check_identifier(identifier, dialect)
    mark = "`" if dialect == "mysql" else '"'
    return mark + identifier.replace(mark, mark * 2) + mark


def temp_name(name: str, tag: str = "tmp") -> str:
    """A fresh relation name beside ``name`` for building or retiring it.

    Examples:
        >>> temp_name("flights").startswith("flights__assetry_tmp_")
        True
    """
    return f"{name[:32]}__assetry_{tag}_{uuid.uuid4().hex[:12]}"


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


def fingerprint_sql(dialect: str, relation: str, columns: list[str]) -> str | None:
    """A one-row query of row count and order-independent checksums, or None to hash in Python.

    Sums of per-row hashes (not XOR) so that duplicate rows do not cancel out.
    """
    if dialect == "duckdb":
        return f"SELECT count(*), coalesce(sum(hash({', '.join(columns)})), 0) FROM {relation}"
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
    code, size = description[1], description[3]
    precision, scale = description[4], description[5]
    if dialect == "postgresql":
        if code != 1700:
            return _PG_OIDS.get(code)
        # numeric: exact when bounded, otherwise (avg(), sum()) a float
        bounded = precision is not None and 0 < precision <= 38
        return pa.decimal128(precision, scale or 0) if bounded else pa.float64()
    if dialect == "mysql":
        if code == 1 and size == 1:
            return pa.bool_()
        if code in (0, 246):  # the reported precision counts sign and point: an upper bound
            return pa.decimal128(min(precision or 38, 38), scale or 0)
        return _MYSQL_FIELDS.get(code)
    return None


def restored_type(dialect: str, declared: str) -> pa.DataType | None:
    """The Arrow type a stored column really has, where the driver hands back less.

    SQLite keeps booleans as integers and dates as text; MySQL's BOOLEAN is TINYINT(1).

    Examples:
        >>> restored_type("mysql", "tinyint(1)")
        DataType(bool)
    """
    text = (declared or "").strip()
    match = _DECIMAL.match(text)
    if match and dialect in ("sqlite", "mysql") and int(match.group(1)) <= 38:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    if dialect == "mysql":
        return pa.bool_() if text.lower() == "tinyint(1)" else None
    if dialect == "sqlite":
        return _SQLITE_RESTORE.get(text.upper())
    return None
