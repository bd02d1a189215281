"""The ``@asset`` decorator: a plain function becomes an :class:`Asset` holding a frozen spec.

It owns only the description of one asset (:class:`AssetSpec`); edges between
assets are the graph's business (:mod:`assetry.assets.graph`), and running it
the runner's.
"""

from __future__ import annotations

import functools
import inspect
import keyword
import os
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Never, TypeAlias, overload

import attrs

from assetry.checks import Check, as_check
from assetry.errors import AssetGraphError
from assetry.io_managers import IOManager, resolve
from assetry.partitions import Partitions

__all__ = ["PARTITION_PARAM", "Asset", "AssetSpec", "CheckLike", "Param", "asset", "check_name"]

#: A parameter with this name receives the partition key (see partitions).
PARTITION_PARAM = "partition"

#: What ``checks=`` takes: a check, or a function ``value -> bool | CheckResult``.
CheckLike: TypeAlias = Check | Callable[[Any], Any]


@attrs.frozen
class Param:
    """One parameter of an asset function."""

    name: str
    has_default: bool
    default: Any = None


@attrs.frozen(eq=False)
class AssetSpec:
    """Everything ``@asset`` knows about one asset, before the graph is built."""

    name: str
    fn: Callable[..., Any]
    params: tuple[Param, ...]
    deps: tuple[str, ...] = ()
    io: IOManager | None = None
    schema: Any = None
    code_version: str | None = None
    cache: bool = True
    on_finish: Callable[..., Any] | None = None
    on_failure: Callable[..., Any] | None = None
    checks: tuple[Any, ...] = ()
    retries: int = 0
    description: str | None = None
    tags: Mapping[str, str] = attrs.field(factory=dict)
    partitions: Partitions | None = None
    kind: str = "python"
    #: Extra fingerprint material for non-Python assets (the rendered SQL, the client).
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    #: Earlier versions of the product kept (docs/versions.md); None: the run's setting.
    versions: int | None = None

    @classmethod
    def from_function(cls, fn: Callable[..., Any], **options: Any) -> AssetSpec:
        """Build a spec from a function and the options of ``@asset``."""
        if isinstance(fn, Asset):
            fn = fn.spec.fn
        if not inspect.isfunction(fn):
            raise AssetGraphError(
                f"@asset decorates functions, but got {type(fn).__name__} {fn!r}; "
                "wrap the work in a def"
            )
        name = options.pop("name", None) or fn.__name__
        check_name(name, where=f"{fn.__module__}:{fn.__qualname__}")
        params = _plain_params(fn)
        if params is None:
            params = []
            for p in inspect.signature(fn).parameters.values():
                if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    raise AssetGraphError(
                        f"asset {name!r} has *{p.name} or **{p.name}; name each upstream asset "
                        "as its own parameter"
                    )
                has_default = p.default is not p.empty
                params.append(Param(p.name, has_default, p.default if has_default else None))
        deps = tuple(_dep_name(d, name) for d in (options.pop("deps", None) or ()))
        io = resolve(options.pop("io", None), name)
        checks = _checks(options.pop("checks", None), name)
        partitions = options.pop("partitions", None)
        if partitions is not None and not isinstance(partitions, Partitions):
            raise AssetGraphError(
                f"asset {name!r} has partitions={partitions!r}; give DailyPartitions(...) or "
                "StaticPartitions([...])"
            )
        retries = options.pop("retries", 0) or 0
        if not isinstance(retries, int) or retries < 0:
            raise AssetGraphError(f"asset {name!r} has retries={retries!r}; give a whole number >= 0")
        tags = dict(options.pop("tags", None) or {})
        versions = options.get("versions")
        if versions is not None and (not isinstance(versions, int) or versions < 0):
            raise AssetGraphError(f"asset {name!r} has versions={versions!r}; give a whole number >= 0")
        return cls(
            name=name, fn=fn, params=tuple(params), deps=deps, io=io, checks=checks,
            retries=retries, tags=tags, partitions=partitions, **options,
        )

    @property
    def location_hint(self) -> str:
        """``file:line`` of the function (of the call, for a source), for error messages."""
        declared = getattr(self.fn, "__assetry_declared__", None)  # a source's (source.py)
        if declared is not None:
            return f"{declared.file}:{declared.line}"
        code = self.fn.__code__
        return f"{code.co_filename}:{code.co_firstlineno}"

    @property
    def qualname(self) -> str:
        """``module:function`` of the asset's function (``file.py:function`` for a file target)."""
        module = self.fn.__module__ or "?"  # None for code exec'd without __name__
        if module.startswith("_assetry_"):  # a file loaded by path (assetry.cli.targets names it so)
            module = os.path.basename(self.fn.__code__.co_filename)
        return f"{module}:{self.fn.__qualname__}"

    def hints(self) -> dict[str, Any]:
        """The resolved annotations of the function (strings where they cannot resolve)."""
        return _hints(self.fn)


_VARIADIC = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def _plain_params(fn: Any) -> list[Param] | None:
    """The parameters of a plain function, read from its code object as ``inspect.signature``
    reads them (a fifth of its cost, which a module of a thousand assets pays at import);
    None for one that signature() alone reads right (wrapped, given a ``__signature__``,
    or with ``*args``/``**kwargs``, which get their error there).

    Examples:
        >>> def f(a, b=2, *, c, d=4): ...
        >>> [(p.name, p.has_default, p.default) for p in _plain_params(f)]
        [('a', False, None), ('b', True, 2), ('c', False, None), ('d', True, 4)]
    """
    code = fn.__code__
    if code.co_flags & _VARIADIC or "__wrapped__" in fn.__dict__ or "__signature__" in fn.__dict__:
        return None
    positional = code.co_argcount
    names = code.co_varnames[:positional + code.co_kwonlyargcount]
    defaults = fn.__defaults__ or ()
    kwdefaults = fn.__kwdefaults__ or {}
    first_default = positional - len(defaults)
    params = []
    for i, name in enumerate(names):
        if i < positional:
            has = i >= first_default
            params.append(Param(name, has, defaults[i - first_default] if has else None))
        else:
            has = name in kwdefaults
            params.append(Param(name, has, kwdefaults[name] if has else None))
    return params


@functools.cache
def _hints_cached(fn: Callable[..., Any]) -> tuple[tuple[str, Any], ...]:
    raw = getattr(fn, "__annotations__", None) or {}
    if all(type(v) is type for v in raw.values()):
        # Plain classes only (``pl.DataFrame``, ``dict``): what get_type_hints would return,
        # at a tenth of its cost, which a fresh process pays once per asset.
        return tuple(raw.items())
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - any failure to resolve leaves the raw annotations
        # An annotation naming something not importable here: keep the raw text.
        hints = dict(getattr(fn, "__annotations__", {}))
    return tuple(hints.items())


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    return dict(_hints_cached(fn))


def check_name(name: Any, where: str = "") -> None:
    """Reject an asset name that is not a plain identifier (no path separators, no '..')."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        at = f" (at {where})" if where else ""
        raise AssetGraphError(
            f"asset name {name!r}{at} is not a valid name; use letters, digits and "
            "underscores, not starting with a digit (it names files and parameters)"
        )


def _checks(checks: Any, owner: str) -> tuple[Check, ...]:
    if checks is None:
        return ()
    if not isinstance(checks, (list, tuple)):
        checks = [checks]
    try:
        return tuple(as_check(c) for c in checks)
    except AssetGraphError as exc:
        raise AssetGraphError(f"asset {owner!r}: {exc}") from None


def _dep_name(dep: Any, owner: str) -> str:
    if isinstance(dep, Asset):
        return dep.spec.name
    if isinstance(dep, str):
        return dep
    raise AssetGraphError(
        f"asset {owner!r} has deps entry {dep!r}; give assets or asset names"
    )


class Asset:
    """A decorated function: callable as before, with its :class:`AssetSpec` in ``.spec``.

    Examples:
        >>> @asset
        ... def numbers() -> list:
        ...     return [1, 2, 3]
        >>> numbers()
        [1, 2, 3]
        >>> numbers.name
        'numbers'
    """

    def __init__(self, spec: AssetSpec) -> None:
        self.spec = spec
        functools.update_wrapper(self, spec.fn)

    @property
    def name(self) -> str:
        return self.spec.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.spec.fn(*args, **kwargs)

    def with_checks(self, *checks: Any) -> Asset:
        """A copy of this asset with more checks, for checks declared apart from the asset.

        Examples:
            >>> from assetry import checks
            >>> @asset
            ... def numbers() -> list:
            ...     return [1, 2, 3]
            >>> numbers = numbers.with_checks(lambda value: len(value) > 0)
            >>> [c.name for c in numbers.spec.checks]
            ['<lambda>']
        """
        more = _checks(list(checks), self.spec.name)
        return Asset(attrs.evolve(self.spec, checks=(*self.spec.checks, *more)))

    def __repr__(self) -> str:
        return f"<asset {self.spec.name!r} ({self.spec.qualname})>"


@overload
def asset(fn: Callable[..., Any], /) -> Asset: ...


@overload
def asset(
    *,
    name: str | None = None,
    io: IOManager | str | None = None,
    deps: Iterable[Asset | str] | None = None,
    schema: Mapping[str, Any] | None = None,
    code_version: str | None = None,
    cache: bool = True,
    on_finish: Callable[..., Any] | None = None,
    on_failure: Callable[..., Any] | None = None,
    checks: CheckLike | Sequence[CheckLike] | None = None,
    retries: int = 0,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    partitions: Partitions | None = None,
    versions: int | None = None,
) -> Callable[[Callable[..., Any]], Asset]: ...


def asset(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    io: IOManager | str | None = None,
    deps: Iterable[Asset | str] | None = None,
    schema: Mapping[str, Any] | None = None,
    code_version: str | None = None,
    cache: bool = True,
    on_finish: Callable[..., Any] | None = None,
    on_failure: Callable[..., Any] | None = None,
    checks: CheckLike | Sequence[CheckLike] | None = None,
    retries: int = 0,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    partitions: Partitions | None = None,
    versions: int | None = None,
    # Accepts nothing (a type checker rejects any name through the overloads); it is
    # here so that a misspelt option gets an error listing the options, not a TypeError.
    **unknown: Never,
) -> Asset | Callable[[Callable[..., Any]], Asset]:
    """Declare a function as an asset; its parameters name its upstream assets.

    Works bare (``@asset``) and with options (``@asset(io="csv", deps=[raw])``).

    Args:
        fn: The function (bare form only).
        name: The asset's name; the function's name by default.
        io: An IO manager, or a short name (``"parquet"``, ``"csv"``, ``"json"``,
            ``"pickle"``, ``"directory"``); by default chosen from the return
            annotation, else from the value.
        deps: Assets or asset names this one depends on without taking their value.
        schema: ``{column: dtype}`` (or a ``pl.Schema``) checked before the value is stored.
        code_version: A version string that stands for the code in the fingerprint.
        cache: False runs the asset on every run, as if it were never fresh.
        on_finish: Called with an ``AssetContext`` (asset, status, location, rows...)
            once the asset is materialized.
        on_failure: Called with an ``AssetContext`` when the asset fails.
        checks: Checks (:mod:`assetry.checks`) or functions ``value -> bool``, run on
            the value before it is stored.
        retries: How many more attempts a failure gets (a type, schema or check
            failure gets none).
        description: A sentence shown by the catalog and the UI.
        tags: Free-form ``{key: value}`` labels.
        partitions: ``DailyPartitions(...)`` or ``StaticPartitions([...])``.
        versions: How many earlier versions of the product to keep (default: the run's
            ``versions=``, 3); 0 keeps none. See docs/versions.md.

    Examples:
        >>> import polars as pl
        >>> @asset(code_version="1")
        ... def carriers() -> pl.DataFrame:
        ...     return pl.DataFrame({"carrier": ["AA", "UA"]})
        >>> carriers.spec.code_version
        '1'
    """
    if unknown:
        raise AssetGraphError(
            f"@asset got unknown option(s) {', '.join(map(repr, sorted(unknown)))}; "
            f"the options are {', '.join(sorted(_OPTIONS))}"
        )

    def build(f: Callable[..., Any]) -> Asset:
        return Asset(AssetSpec.from_function(
            f, name=name, io=io, deps=deps, schema=schema, code_version=code_version,
            cache=cache, on_finish=on_finish, on_failure=on_failure, checks=checks,
            retries=retries, description=description, tags=tags, partitions=partitions,
            versions=versions,
        ))

    return build if fn is None else build(fn)


_OPTIONS = tuple(
    p.name for p in inspect.signature(asset).parameters.values() if p.kind is p.KEYWORD_ONLY
)
