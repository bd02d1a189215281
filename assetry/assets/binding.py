"""Named clients: swapping each client's name in the declarations for the client itself.

A SQL asset or an IO manager may name its client (``client="warehouse"``);
:func:`bind_clients` resolves every such name from a mapping (the spec's
``clients:``, ``materialize(clients=...)``) and returns specs built as if the
client had been given. The engine calls it before it builds the graph, so that
fingerprints, locations and SQL all see the real client; the command line
calls it once per command. It opens no connection.

A SQL asset that names its client cannot be built yet (its relation, dialect
and fingerprint are its client's), so :mod:`assetry.assets.sql` declares it
unbound (:func:`unbound_spec`): a spec with the same name, parameters and
options, whose function refuses to run and knows how to build the real one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from assetry.assets.decorator import AssetSpec
from assetry.assets.graph import collect
from assetry.clients.named import ClientRef, resolve_client
from assetry.errors import AssetError, AssetGraphError
from assetry.io_managers.relations import Location

__all__ = ["bind_clients", "named_client", "unbound_spec", "uses_named_clients"]


def uses_named_clients(assets: Any) -> bool:
    """Whether any asset in ``assets`` names its client instead of holding one.

    Examples:
        >>> from assetry import sql_dump
        >>> uses_named_clients([sql_dump("top", "SELECT 1 AS n", "warehouse")])
        True
    """
    return any(_ref(spec) is not None for spec in collect(assets))


def bind_clients(assets: Any, clients: Mapping[str, Any] | None) -> Any:
    """``assets`` with every client's name resolved from ``clients``.

    Returns ``assets`` itself when nothing names a client (``clients`` is then
    not read, so no client is built), else a list of specs, the named ones
    rebuilt with their client.

    Raises:
        AssetGraphError: A name is not in ``clients`` (listing the known ones),
            or the client refuses what the declaration asks of it; every problem at once.

    Examples:
        >>> from assetry import sql_dump
        >>> from assetry.clients import DuckDBClient
        >>> bound = bind_clients([sql_dump("top", "SELECT 1 AS n", "wh")], {"wh": DuckDBClient(":memory:")})
        >>> bound[0].extra["client"]
        'duckdb::memory:'
    """
    specs = collect(assets)
    if all(_ref(spec) is None for spec in specs):
        return assets
    problems: list[str] = []
    bound: list[AssetSpec] = []
    for spec in specs:
        try:
            bound.append(_bind(spec, clients))
        except AssetGraphError as exc:
            problems.append(str(exc))
    if problems:
        raise AssetGraphError("\n".join(dict.fromkeys(problems)))
    return bound


def unbound_spec(
    ref: ClientRef, build: Callable[[Any], AssetSpec], params: list[inspect.Parameter],
    like: Callable[..., Any] | str, kind: str, io: Any, options: Mapping[str, Any],
) -> AssetSpec:
    """The spec of a SQL asset waiting for the client ``ref`` names; ``build(client)`` makes it.

    ``like`` is the user's function (or, for SQL text, the declaring module's
    name); ``options`` are the asset's ``name`` and its options for ``AssetSpec``.

    Examples:
        >>> import inspect
        >>> spec = unbound_spec(ClientRef("wh"), print, [], "pipeline", "table", None, {"name": "t"})
        >>> named_client(spec), spec.kind
        (ClientRef(name='wh'), 'sql table')
    """
    name = options["name"]

    def run(**kwargs: Any) -> Any:
        raise AssetGraphError(
            f"sql asset {name!r} uses {ref}, which was not resolved; run it through "
            f"materialize(..., clients={{{ref.name!r}: ...}}) or the assetry command"
        )

    # The graph reads the parameters; messages read the names.
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [p.replace(annotation=Location) for p in params]
    )
    run.__module__ = like if isinstance(like, str) else like.__module__
    run.__name__ = run.__qualname__ = name if isinstance(like, str) else like.__qualname__
    run._assetry_client = ref  # type: ignore[attr-defined]
    run._assetry_bind = build  # type: ignore[attr-defined]
    return AssetSpec.from_function(
        run, io=io, kind=f"sql {kind}", extra={"client": str(ref), "kind": kind}, **options,
    )


def named_client(spec: AssetSpec) -> ClientRef | None:
    """The client's name an unbound SQL asset waits for; None for any other spec.

    Examples:
        >>> from assetry import sql_dump
        >>> named_client(sql_dump("top", "SELECT 1 AS n", "warehouse").spec)
        ClientRef(name='warehouse')
    """
    return getattr(spec.fn, "_assetry_client", None)


def _ref(spec: AssetSpec) -> ClientRef | None:
    found = named_client(spec)
    if found is not None:
        return found
    io = spec.io
    client = getattr(io, "client", None) if io is not None else None
    return client if isinstance(client, ClientRef) else None


def _bind(spec: AssetSpec, clients: Mapping[str, Any] | None) -> AssetSpec:
    ref = _ref(spec)
    if ref is None:
        return spec
    client = resolve_client(ref, clients, spec.name)
    if named_client(spec) is not None:
        return spec.fn._assetry_bind(client)  # type: ignore[attr-defined, no-any-return]
    try:
        io = attrs.evolve(spec.io, client=client)  # type: ignore[misc]
    except (AssetError, TypeError, ValueError) as exc:  # its validators check names against the client
        raise AssetGraphError(f"asset {spec.name!r}: {exc}") from exc
    return attrs.evolve(spec, io=io)
