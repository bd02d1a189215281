"""A client named by a string: ``client="warehouse"``, resolved when a run starts.

A declaration may name its client instead of holding one
(``@sql_asset(client="warehouse")``, ``SQLTable(client="warehouse")``), so that
credentials live in one place: the ``clients:`` of ``assetry.yaml``, or
``materialize(..., clients={"warehouse": ...})``. The declaration keeps a
:class:`ClientRef`; the engine swaps it for the real client before it plans
anything, so fingerprints and SQL see the real client (its identity, never its
credentials). This module owns the name's rules and the error for an unknown
name; it opens nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from assetry._surface import spelled_for_cli
from assetry.clients.base import Client
from assetry.errors import AssetGraphError

__all__ = ["NAME", "ClientRef", "as_ref", "resolve_client"]

#: What a client's name may be: letters, digits, ``_`` and ``-``, starting with a letter or ``_``.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@attrs.frozen
class ClientRef:
    """The name of a client, kept by a declaration until a run resolves it.

    Checks that need the real client (a schema name its database may create)
    wait until then: :meth:`check_declared_name` accepts any name here.

    Examples:
        >>> ClientRef("warehouse")
        ClientRef(name='warehouse')
    """

    name: str

    def check_declared_name(self, value: str, option: str) -> None:
        """Nothing to check yet: the named client checks ``value`` when it is resolved."""

    def __str__(self) -> str:
        return f"client {self.name!r}"


def as_ref(value: Any) -> ClientRef | None:
    """``ClientRef(value)`` for a client's name (or a ``ClientRef``), else None.

    A string that is not a plain name (a URL, a path) is not a name: None, so
    the caller's "needs a client" error applies, without echoing the string.

    Examples:
        >>> as_ref("warehouse"), as_ref("postgresql://u:pw@h/db")
        (ClientRef(name='warehouse'), None)
    """
    if isinstance(value, ClientRef):
        return value
    if isinstance(value, str) and NAME.fullmatch(value):
        return ClientRef(value)
    return None


def resolve_client(ref: ClientRef, clients: Mapping[str, Any] | None, asset: str) -> Client:
    """The client that ``ref`` names in ``clients``.

    Raises:
        AssetGraphError: The name is unknown (the message lists the known ones
            and where to define it), or names something that is not a client.

    Examples:
        >>> from assetry.clients import DuckDBClient
        >>> resolve_client(ClientRef("wh"), {"wh": DuckDBClient(":memory:")}, "stats").identity()
        'duckdb::memory:'
    """
    known = clients or {}
    if ref.name not in known:
        names = ", ".join(sorted(known)) or "none"
        raise AssetGraphError(
            f"asset {asset!r} uses client {ref.name!r}, which is not defined (known clients: "
            f"{names}); {_where_to_define(ref.name)}"
        )
    client = known[ref.name]
    if not isinstance(client, Client):
        raise AssetGraphError(
            f"client {ref.name!r} is {type(client).__name__}, not a client; give "
            "DuckDBClient(path), SQLAlchemyClient(url) or DBAPIClient(connect, ...)"
        )
    return client


def _where_to_define(name: str) -> str:
    if spelled_for_cli():
        return f"define it under clients: in assetry.yaml ({name}: {{url: ...}} or {{duckdb: ...}})"
    return f"pass materialize(..., clients={{{name!r}: DuckDBClient(...)}})"
