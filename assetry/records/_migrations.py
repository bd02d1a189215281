"""The ordered migrations that bring a catalog file written by an earlier assetry up to date.

A catalog written by one version opens in every later one: on open, each
migration newer than the file's ``meta.schema_version`` runs, in order and in
one transaction with the new version number, so a file is either wholly
migrated or untouched. The contract allows only added columns, so a migration
is data: which columns of :data:`assetry.records._schema.TABLES` it adds (their
types are written there once), plus statements that fill them when an old row
has something to give. It never touches products.

To change a table: append the column at the end of its table in ``_schema.py``,
then append a :class:`Migration` here with the next version.

Examples:
    >>> SCHEMA_VERSION
    4
    >>> [m.version for m in MIGRATIONS]
    [2, 3, 4]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assetry.records._schema import add_column, create_table

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "migrate"]


class Migration:
    """One step of the schema: the version it reaches and the columns it adds, per table.

    A plain class (not attrs: it is made at ``import assetry``, where each attrs class
    costs about half a millisecond); a value all the same: equal by its fields, read-only.
    """

    __slots__ = ("adds", "statements", "version", "why")

    version: int
    adds: Mapping[str, tuple[str, ...]]
    why: str
    #: Statements run after the columns are added (to fill them from older columns).
    statements: tuple[str, ...]

    def __init__(self, version: int, adds: Mapping[str, tuple[str, ...]], why: str,
                 statements: tuple[str, ...] = ()) -> None:
        for name, value in (("version", version), ("adds", adds), ("why", why),
                            ("statements", statements)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Migration is read-only; cannot set {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not Migration:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # adds is a mapping, as with attrs

    def __repr__(self) -> str:
        return (f"Migration(version={self.version!r}, adds={self.adds!r}, why={self.why!r}, "
                f"statements={self.statements!r})")

    def statements_to_run(self) -> list[str]:
        """Every statement of this step, in order.

        Examples:
            >>> MIGRATIONS[0].statements_to_run()[0]
            'ALTER TABLE "materializations" ADD COLUMN IF NOT EXISTS "traceback" VARCHAR'
        """
        adds = [add_column(table, column) for table, columns in self.adds.items() for column in columns]
        return [*adds, *self.statements]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=2,
        adds={"materializations": ("traceback",), "assets": ("io_class", "io_settings")},
        why=(
            "a failed asset keeps its whole traceback (API.md); the IO manager is kept as "
            "class path + settings instead of a pickle, which breaks when a class moves"
        ),
    ),
    Migration(
        version=3,
        adds={"materializations": ("logs",), "assets": ("code_definitions", "kind")},
        why=(
            "what an asset printed and logged is kept per materialization; each definition's "
            "code digest lets a reason name what changed; sources are assets assetry only observes"
        ),
    ),
    Migration(
        version=4,
        adds={},
        why="earlier products are kept as versions and restored on a matching fingerprint",
        statements=(create_table("versions"),),
    ),
)

#: The version of the tables this assetry writes; a catalog from a newer one is refused.
SCHEMA_VERSION = MIGRATIONS[-1].version


def migrate(con: Any, found: int) -> list[int]:
    """Run every migration newer than ``found`` on ``con``; return the versions applied.

    The caller holds the transaction and records the new version in ``meta``.
    """
    applied = []
    for migration in MIGRATIONS:
        if migration.version > found:
            for statement in migration.statements_to_run():
                con.execute(statement)
            applied.append(migration.version)
    return applied
