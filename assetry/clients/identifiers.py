"""SQL names: assetry's rules for what a name may be, and quoting it per dialect.

Owns the checks a name passes before it is spliced into a statement (see
docs/sql.md): :func:`check_identifier` for any name a database can hold (columns
of a user's frame included), the stricter :func:`check_declared_name` for a
``schema=`` or ``table=`` a user declares, :func:`quote`, which quotes with
SQLAlchemy's dialect ``identifier_preparer``, and temporary relation names. It
opens no connection and runs no statement; SQLAlchemy is imported on first use.
"""

from __future__ import annotations

import functools
import importlib
import uuid
from typing import TYPE_CHECKING, Any

from assetry.errors import ClientError

if TYPE_CHECKING:
    from sqlalchemy.sql.compiler import IdentifierPreparer

__all__ = [
    "MAX_IDENTIFIER_BYTES",
    "REFUSED_IN_DECLARED",
    "check_columns",
    "check_declared_name",
    "check_identifier",
    "preparer",
    "quote",
    "temp_name",
]

#: PostgreSQL truncates longer names (NAMEDATALEN - 1); MySQL allows 64 characters.
#: assetry holds every database to the shorter, so a pipeline moves between them.
MAX_IDENTIFIER_BYTES = 63

#: Characters a name given as ``schema=`` or ``table=`` may not hold (besides control
#: characters): quoting would make them safe, but in a declared name they are a typo
#: or an injection attempt, never what the user meant.
REFUSED_IN_DECLARED = {'"': "a double quote", "'": "a single quote", "`": "a backtick",
                       ";": "a semicolon"}

#: assetry dialect -> (module, class) of the SQLAlchemy dialect whose preparer quotes
#: its names; DuckDB quotes as ANSI SQL does (SQLAlchemy's default preparer).
_SQLALCHEMY_DIALECTS = {
    "postgresql": ("sqlalchemy.dialects.postgresql.base", "PGDialect"),
    "mysql": ("sqlalchemy.dialects.mysql.base", "MySQLDialect"),
    "sqlite": ("sqlalchemy.dialects.sqlite.base", "SQLiteDialect"),
    "duckdb": ("sqlalchemy.engine.default", "DefaultDialect"),
    "ansi": ("sqlalchemy.engine.default", "DefaultDialect"),
}


def check_identifier(identifier: object, dialect: str = "ansi") -> str:
    """Return ``identifier`` if a database can take it as a quoted name, else raise.

    The rules are assetry's, on top of the quoting: a non-empty string without a
    NUL, at most :data:`MAX_IDENTIFIER_BYTES` bytes and the dialect's own maximum
    length, and (MySQL) no trailing space. Anything else is kept exact by quoting.

    Examples:
        >>> check_identifier("flights")
        'flights'
        >>> check_identifier("x" * 64)
        Traceback (most recent call last):
        ...
        assetry.errors.ClientError: SQL name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' is 64 bytes long, over the limit of 63 (PostgreSQL would truncate it); choose a shorter name
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
    longest = _sqlalchemy_dialect(dialect).max_identifier_length
    if len(identifier) > longest:
        raise ClientError(
            f"SQL name {identifier!r} is {len(identifier)} characters long, over {dialect}'s "
            f"limit of {longest}; choose a shorter name"
        )
    if dialect == "mysql" and identifier.endswith(" "):
        raise ClientError(f"SQL name {identifier!r} ends with a space, which MySQL refuses")
    return identifier


def check_declared_name(identifier: object, dialect: str = "ansi", option: str = "table") -> str:
    """Return a name given as ``schema=`` or ``table=`` if assetry may create it, else raise.

    Stricter than :func:`check_identifier`: quotes, semicolons and control or
    invisible characters are refused too, before any statement runs.

    Examples:
        >>> check_declared_name("carrier stats", "duckdb")
        'carrier stats'
        >>> check_declared_name('evil"; DROP TABLE victim; --', "duckdb")
        Traceback (most recent call last):
        ...
        assetry.errors.ClientError: table='evil"; DROP TABLE victim; --' contains a double quote, which assetry refuses in a name it creates; use letters, digits, spaces, _ . - and the like
    """
    name = check_identifier(identifier, dialect)
    for char in name:
        what = REFUSED_IN_DECLARED.get(char)
        if what is None and not char.isprintable():
            what = f"the control or invisible character {char!r}"
        if what is not None:
            raise ClientError(
                f"{option}={name!r} contains {what}, which assetry refuses in a name it "
                "creates; use letters, digits, spaces, _ . - and the like"
            )
    return name


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
    """Quote a name for ``dialect`` with SQLAlchemy's identifier preparer.

    Always quoted (so exact and case-sensitive), the dialect's quote mark
    doubled inside: backticks for MySQL, double quotes elsewhere. ``check=False``
    skips :func:`check_identifier`, for names read back from the database.

    Examples:
        >>> quote('x"; DROP TABLE y; --', "postgresql")
        '"x""; DROP TABLE y; --"'
        >>> quote("a`b", "mysql")
        '`a``b`'
    """
    if check:
        check_identifier(identifier, dialect)
    return preparer(dialect).quote_identifier(identifier)


def preparer(dialect: str) -> IdentifierPreparer:
    """SQLAlchemy's identifier preparer for an assetry dialect name.

    Examples:
        >>> preparer("mysql").initial_quote
        '`'
    """
    return _sqlalchemy_dialect(dialect).identifier_preparer


@functools.cache
def _sqlalchemy_dialect(dialect: str) -> Any:
    from sqlalchemy.dialects import registry
    from sqlalchemy.exc import NoSuchModuleError

    module, name = _SQLALCHEMY_DIALECTS.get(dialect, ("", ""))
    try:
        cls = getattr(importlib.import_module(module), name) if module else registry.load(dialect)
    except NoSuchModuleError:  # a database SQLAlchemy does not know: ANSI double quotes
        module, name = _SQLALCHEMY_DIALECTS["ansi"]
        cls = getattr(importlib.import_module(module), name)
    # A qmark paramstyle: the preparer then leaves % alone (only a statement the driver
    # %-formats needs it doubled, and transfer.insert_rows does that itself).
    return cls(paramstyle="qmark")


def temp_name(name: str, tag: str = "tmp") -> str:
    """A fresh relation name beside ``name`` for building or retiring it.

    Examples:
        >>> temp_name("flights").startswith("flights__assetry_tmp_")
        True
    """
    return f"{name[:32]}__assetry_{tag}_{uuid.uuid4().hex[:12]}"
