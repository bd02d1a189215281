"""SQL assets: a SELECT becomes a table or view (``sql_asset``) or a streamed file (``sql_dump``).

A SQL asset is an ordinary :class:`~assetry.assets.decorator.AssetSpec`: its
function receives where each upstream is stored (parameters annotated
:class:`~assetry.io_managers.relations.Location`), renders the ``{upstream}``
placeholders of the SQL into relations the database can read, and has the
client build the product. Its IO manager records it (``Relation``) or streams
it to a file (``QueryDump``). The engine needs nothing special: fingerprints
see the SQL through ``spec.extra``.

This module owns building the spec, checking its names (``schema=`` and
``table=`` are refused here, before any statement, when the client would refuse
to create them) and the job the worker runs. A SQL asset may name its client
(``client="warehouse"``): it is then declared unbound, and built for the real
client when a run resolves the name (:mod:`assetry.assets.binding`). The SQL
text (placeholders, rendering, normalizing) is :mod:`assetry.assets.sql_text`'s;
how an upstream's data reaches the database is :mod:`assetry.io_managers.staging`'s;
the statements are the client's.

Longer than 400 lines: ``sql_asset``, ``sql_asset.from_file`` and ``sql_dump``
share one build, its checks and the job; apart, each would need the others' privates.
"""

from __future__ import annotations

import inspect
import os
import pathlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from assetry.assets import sql_text
from assetry.assets._caller import caller
from assetry.assets.binding import unbound_spec
from assetry.assets.decorator import Asset, AssetSpec, check_name
from assetry.assets.sql_text import call_template, normalize_sql, render_sql, template_fields
from assetry.clients import Client
from assetry.clients.dialects import bind
from assetry.clients.named import as_ref
from assetry.errors import AssetGraphError, ClientError
from assetry.io_managers import resolve
from assetry.io_managers.relations import KINDS, Dump, Location, QueryDump, Relation, RelationRef
from assetry.io_managers.staging import ObjectRef, Staging, readable_source

__all__ = ["SQLAsset", "sql_asset", "sql_dump"]

# -- the work of one SQL asset, run by the worker ------------------------------------------


@attrs.frozen
class _Job:
    """Render one SQL asset's template with its upstream and build the product."""

    name: str
    client: Client
    schema: str | None
    table: str
    kind: str  # "table", "view" or "dump"
    template: Callable[..., str] | str

    def run(self, kwargs: Mapping[str, Any]) -> RelationRef | Dump:
        upstream = {
            k: v for k, v in kwargs.items()
            if isinstance(v, (pathlib.PurePath, RelationRef, ObjectRef))
        }
        template = self.text(kwargs, upstream)
        _prepare(self.client, self.schema)
        # Only a table is built in this thread's connection, where a remote upstream can be scanned.
        stage = Staging(self.client, self.schema, self.table, scans=self.kind == "table")
        try:
            relations = {
                f: self.source(f, upstream, stage) for f in template_fields(template, self.name)
            }
            sql = render_sql(template, relations)
            if self.kind == "dump":  # the IO manager streams it, then drops the staged tables
                return Dump(self.client, sql, tuple((self.schema, n) for _, n in stage.made))
            rows = _create(self.client, self.schema, self.table, sql, self.kind)
        except BaseException:
            stage.discard()
            raise
        stage.prune(keep=self.kind == "view")
        return RelationRef(
            self.client.identity(), self.schema, self.table, self.kind, rows, client=self.client
        )

    def text(self, kwargs: Mapping[str, Any], upstream: Mapping[str, Any]) -> str:
        if isinstance(self.template, str):
            return self.template
        args = {k: "{" + k + "}" if k in upstream else v for k, v in kwargs.items()}
        return call_template(self.template, args, self.name)

    def source(self, field: str, upstream: Mapping[str, Any], stage: Staging) -> str:
        """What the SQL reads for one upstream: its relation, a file scan, or a staged copy."""
        if field not in upstream:
            known = ", ".join(sorted(upstream)) or "none"
            raise AssetGraphError(
                f"the SQL of asset {self.name!r} uses {{{field}}}, which is not one of its "
                f"upstream assets (they are: {known})"
            )
        return readable_source(self.client, field, upstream[field], stage)


def _prepare(client: Client, schema: str | None) -> None:
    """Make the schema exist, tolerating another asset creating it at the same moment.

    (Two assets building into a new schema at once both try; the loser's error is harmless.)
    """
    if schema is None or client.dialect not in ("postgresql", "duckdb"):
        return
    exists = bind(
        "SELECT 1 FROM information_schema.schemata WHERE schema_name = ?", client.paramstyle
    )
    if client.execute(exists, (schema,)):
        return
    try:
        client.execute(f"CREATE SCHEMA IF NOT EXISTS {client.quote(schema)}")
    except ClientError:
        if not client.execute(exists, (schema,)):
            raise


def _create(client: Client, schema: str | None, table: str, sql: str, kind: str) -> int | None:
    """``client.create_relation``; on PostgreSQL a table that views depend on is refilled."""
    try:
        return client.create_relation(schema, table, sql, kind)
    except ClientError as exc:
        if client.dialect != "postgresql" or kind != "table" or "depend on it" not in str(exc):
            raise
    # PostgreSQL binds a view to the table itself, so the table cannot be swapped under it:
    # empty and refill it in one transaction instead, when its columns stay the same.
    target = client.qualified(schema, table)
    new = client.fetch_arrow(f"SELECT * FROM ({sql}) AS q LIMIT 0").column_names
    old = [name for name, _ in client.columns(schema, table)]
    if new != old:
        raise ClientError(
            f"table {target} has views that depend on it, and its columns change from {old} to "
            f"{new}; PostgreSQL cannot replace a table under its views: drop them (assetry "
            "rebuilds its own) and run again"
        )
    client.execute(f"DELETE FROM {target}; INSERT INTO {target} SELECT * FROM ({sql}) AS q")
    return int(client.execute(f"SELECT count(*) FROM {target}")[0][0])


# -- building the asset --------------------------------------------------------------------


class SQLAsset(Asset):
    """A SQL asset: calling it gives its SQL template, as the decorated function would.

    Examples:
        >>> from assetry.clients import DuckDBClient
        >>> @sql_asset(client=DuckDBClient(":memory:"))
        ... def stats(flights):
        ...     return "SELECT count(*) AS n FROM {flights}"
        >>> stats()
        'SELECT count(*) AS n FROM {flights}'
    """

    def __init__(self, spec: AssetSpec, template: Callable[..., str] | str) -> None:
        super().__init__(spec)
        self.template = template

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self.template, str):
            return self.template
        if not args and not kwargs:
            return self.template(
                **_defaults(list(inspect.signature(self.template).parameters.values()))
            )
        return self.template(*args, **kwargs)


def _runner(
    job: _Job,
    params: list[inspect.Parameter],
    returns: type,
    like: Callable[..., Any] | None,
    module: str,
) -> Callable[..., Any]:
    def run(**kwargs: Any) -> Any:
        return job.run(kwargs)

    # The worker loads each parameter by its annotation: Location asks for where it is stored.
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [p.replace(annotation=Location) for p in params], return_annotation=returns
    )
    run.__annotations__ = {**{p.name: Location for p in params}, "return": returns}
    run.__module__ = like.__module__ if like else module
    run.__name__ = like.__name__ if like else job.name
    run.__qualname__ = like.__qualname__ if like else job.name
    run.__doc__ = like.__doc__ if like else None
    if like is not None:
        run.__wrapped__ = sql_text.fingerprint_stand_in(like, job.client.dialect)  # type: ignore[attr-defined]
        # Messages name the user's function, not this one (see assetry.engine.task.where_of).
        run._assetry_origin = _origin(like)  # type: ignore[attr-defined]
    return run


def _origin(fn: Callable[..., Any]) -> str:
    """``module:function`` of the user's function; a file loaded by path is named by its file."""
    module = fn.__module__ or "?"
    if module.startswith("_assetry_"):  # a file target (assetry.cli.targets names it so)
        module = os.path.basename(fn.__code__.co_filename)
    return f"{module}:{fn.__qualname__}"


_PASSED = ("deps", "description", "tags", "cache", "on_finish", "on_failure", "retries")
_OPTIONS = frozenset(("name", "schema", "table", *_PASSED))


def _check_options(name: Any, options: Mapping[str, Any], what: str) -> None:
    check_name(name)
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise AssetGraphError(
            f"{what} {name!r} got unknown option(s) {', '.join(map(repr, unknown))}; the options "
            f"are {', '.join(sorted(_OPTIONS))}"
        )


def _checked(
    name: Any, client: Any, options: Mapping[str, Any], what: str
) -> tuple[str | None, str]:
    _check_options(name, options, what)
    if not isinstance(client, Client):
        # A string is not echoed: a URL may hold a password.
        shown = "a string that is no client's name" if isinstance(client, str) else repr(client)
        raise AssetGraphError(
            f"{what} {name!r} needs client=DuckDBClient(...), SQLAlchemyClient(...) or "
            f"DBAPIClient(...), or a client's name (client='warehouse'), not {shown}"
        )
    schema, table = options.get("schema"), options.get("table")
    try:
        # Quotes, semicolons, control characters and overlong names fail here, not in SQL.
        for option, value in (("schema", schema), ("table", table)):
            if value is not None:
                client.check_declared_name(value, option)
        client.qualified(schema, table or name)
    except ClientError as exc:
        raise AssetGraphError(f"{what} {name!r}: {exc}") from None
    return schema, table or name


def _build(
    template: Callable[..., str] | str,
    params: list[inspect.Parameter],
    kind: str,
    client: Any,
    like: Callable[..., Any] | None,
    module: str,
    options: dict[str, Any],
    io: Any = None,
) -> SQLAsset:
    name = options.pop("name")
    schema, table = _checked(name, client, options, "sql_dump" if kind == "dump" else "sql asset")
    returns: type = Dump
    if kind in KINDS:
        io, returns = Relation(client, schema, table, kind), RelationRef
    elif kind != "dump":
        raise AssetGraphError(f"sql asset {name!r} has kind={kind!r}; use 'table' or 'view'")
    job = _Job(name, client, schema, table, kind, template)
    text = (
        template if isinstance(template, str) else call_template(template, _defaults(params), name)
    )
    template_fields(text, name)  # a malformed placeholder fails now, not at run time
    extra = {
        "sql": normalize_sql(text, client.dialect),
        "client": client.identity(),
        "kind": kind,
        "relation": table if schema is None else f"{schema}.{table}",
    }
    spec = AssetSpec.from_function(
        _runner(job, params, returns, like, module),
        name=name,
        io=io,
        kind=f"sql {kind}",
        extra=extra,
        **{k: options[k] for k in _PASSED if k in options},
        # Without a function of the user's, the SQL text in ``extra`` is the whole code.
        code_version=None if like else f"assetry-{kind}-sql",
    )
    return SQLAsset(spec, template)


def _declare(
    template: Callable[..., str] | str,
    params: list[inspect.Parameter],
    kind: str,
    client: Any,
    like: Callable[..., Any] | None,
    module: str,
    options: dict[str, Any],
    io: Any = None,
    origin: str | None = None,
) -> SQLAsset:
    """Build the asset now, or, for a client's name, an unbound asset that a run binds."""
    ref = None if isinstance(client, Client) else as_ref(client)

    def build(real: Any) -> SQLAsset:
        built = _build(template, params, kind, real, like, module, dict(options), io)
        if origin is not None:  # messages name the file or line that declared it
            built.spec.fn._assetry_origin = origin  # type: ignore[attr-defined]
        return built

    if ref is None:
        return build(client)
    name = options["name"]
    _check_options(name, {k: v for k, v in options.items() if k != "name"},
                   "sql_dump" if kind == "dump" else "sql asset")
    if kind not in (*KINDS, "dump"):
        raise AssetGraphError(f"sql asset {name!r} has kind={kind!r}; use 'table' or 'view'")
    text = (
        template if isinstance(template, str) else call_template(template, _defaults(params), name)
    )
    template_fields(text, name)  # a malformed placeholder fails now, not at run time
    passed = {k: options[k] for k in _PASSED if k in options}
    spec = unbound_spec(ref, lambda real: build(real).spec, params, like or module, kind, io,
                        {"name": name, **passed})
    return SQLAsset(spec, template)


def _defaults(params: list[inspect.Parameter]) -> dict[str, Any]:
    """Arguments that make the function return its template: placeholders, config defaults."""
    return {p.name: "{" + p.name + "}" if p.default is p.empty else p.default for p in params}


def _fields_as_params(text: str, name: str) -> list[inspect.Parameter]:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return [inspect.Parameter(f, kind) for f in template_fields(text, name)]


class _SQLAssetFactory:
    """``@sql_asset(client=..., kind=...)`` and ``sql_asset.from_file(path, client=...)``."""

    def __call__(
        self,
        fn: Callable[..., str] | None = None,
        /,
        *,
        client: Client | str | None = None,
        kind: str = "table",
        **options: Any,
    ) -> Any:
        """Declare a function returning a SELECT as a table or view; parameters name upstream.

        ``{upstream}`` placeholders in the returned SQL become the relation
        each upstream can be read as (a quoted table name, a Parquet scan, or
        an uploaded copy). A parameter with a default is config, passed as is.

        Args:
            fn: The function (when used bare, which needs ``client`` anyway).
            client: The database client that runs the SQL, or its name
                (``"warehouse"``), resolved when a run starts from the spec's
                ``clients:`` or ``materialize(clients=...)``.
            kind: ``"table"`` or ``"view"``.
            **options: ``name``, ``schema``, ``table`` (default: the name), ``deps``,
                ``description``, ``tags``, ``cache``, ``on_finish``, ``on_failure``, ``retries``.

        Examples:
            >>> from assetry.clients import DuckDBClient
            >>> @sql_asset(client=DuckDBClient(":memory:"), kind="view")
            ... def carrier_stats(flights):
            ...     return "SELECT carrier, avg(dep_delay) AS d FROM {flights} GROUP BY carrier"
            >>> carrier_stats.spec.kind
            'sql view'
        """

        def wrap(f: Callable[..., str]) -> SQLAsset:
            if not inspect.isfunction(f):
                raise AssetGraphError(f"@sql_asset decorates functions that return SQL, not {f!r}")
            params = list(inspect.signature(f).parameters.values())
            named = {**options, "name": options.get("name") or f.__name__}
            return _declare(f, params, kind, client, f, f.__module__, named)

        return wrap if fn is None else wrap(fn)

    def from_file(
        self,
        path: str | os.PathLike[str],
        *,
        client: Client | str | None = None,
        kind: str = "table",
        **options: Any,
    ) -> SQLAsset:
        """A SQL asset from a ``.sql`` file; its upstream are the ``{names}`` it uses.

        A relative path is resolved from the directory of the calling module.
        The file is read now: an edit takes effect when the module is imported
        again (the ``assetry`` command imports its target afresh every time).
        The name defaults to the file's stem; the options are those of ``sql_asset``.

        Examples:
            >>> stats = sql_asset.from_file("sql/carrier_stats.sql", client=warehouse)  # doctest: +SKIP
            >>> stats.name  # doctest: +SKIP
            'carrier_stats'
        """
        call = caller(1)  # the code that called from_file
        module, file = call.module, (call.base / path).resolve()
        name = options.get("name") or file.stem
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AssetGraphError(
                f"cannot read the SQL of asset {name!r} from {str(file)!r}: {exc}"
            ) from None
        if not options.get("name") and not file.stem.isidentifier():
            raise AssetGraphError(
                f"SQL file {str(file)!r} has no usable asset name; pass name='...' (letters, "
                "digits and underscores)"
            )
        named = {**options, "name": name}
        return _declare(text, _fields_as_params(text, name), kind, client, None, module, named,
                        origin=str(file))

    def __repr__(self) -> str:
        return "<sql_asset decorator>"


sql_asset = _SQLAssetFactory()


def sql_dump(
    name: str,
    query: str,
    client: Client | str,
    io: Any = None,
    deps: Iterable[Any] | None = None,
    *,
    batch_size: int = 65536,
    **options: Any,
) -> SQLAsset:
    """An asset that streams a query's result into a file, ``batch_size`` rows at a time.

    ``{upstream}`` placeholders work as in :func:`sql_asset`. ``io`` is a
    ``Parquet(...)`` manager (its compression is used); the product loads like
    any Parquet file, and each batch is one row group. Other options: ``description``, ``tags``,
    ``cache``, ``on_finish``, ``on_failure``, ``retries``.

    Examples:
        >>> from assetry.clients import DuckDBClient
        >>> top = sql_dump("top", "SELECT * FROM {stats} LIMIT 20", DuckDBClient(":memory:"))
        >>> top.spec.io.format, top.spec.io.batch_size
        (Parquet(compression='zstd'), 65536)
    """
    check_name(name)
    if not isinstance(query, str):
        raise AssetGraphError(f"sql_dump {name!r} needs the query as a string, not {query!r}")
    if {"schema", "table"} & set(options):
        raise AssetGraphError(f"sql_dump {name!r} writes a file; it takes no schema= or table=")
    file_io = resolve(io, name)
    dump = QueryDump(file_io, batch_size) if file_io else QueryDump(batch_size=batch_size)
    named = {**options, "name": name, "deps": deps}
    call = caller(1)  # messages name the line that declared it
    origin = f"{os.path.basename(call.file)}:{call.line}"
    return _declare(query, _fields_as_params(query, name), "dump", client, None, call.module,
                    named, io=dump, origin=origin)
