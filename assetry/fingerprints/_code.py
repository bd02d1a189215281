"""Code hashing: what one live function or class contributes to a code fingerprint.

This module owns matching live code objects to the definitions that
:mod:`~assetry.fingerprints._scan` finds in their source, and the bytecode
fallback. It writes nothing and imports nothing of the user's;
:mod:`~assetry.fingerprints._reach` decides which definitions a function reaches.

- A code object is found by ``co_qualname`` and ``co_firstlineno`` (the first
  decorator's line). What is learned is kept while the code object lives: a
  reload or an autoreload (a new ``__code__``) is seen at once, and a file edited
  but not reloaded does not change the fingerprint of the code still running.
- Without matching source (``exec``, a lambda built at run time, an edited file
  not reloaded), the bytecode is hashed: ``co_code``, constants, names and
  variable names, nested code recursively. That ignores comments and positions,
  not docstrings, and changes with the Python version.
"""

from __future__ import annotations

import functools
import sys
import types
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from assetry.fingerprints import _scan
from assetry.fingerprints._encoding import encode

__all__ = ["Info", "class_info", "function_info", "methods", "unwrap"]

_SCALARS = frozenset({type(None), bool, int, float, complex, str, bytes})


class Info(NamedTuple):
    """A definition's digest, and the names and chains it loads (to resolve by the caller)."""

    digest: str
    refs: tuple[tuple[str, ...], ...]  # names and ``module.attr`` chains to resolve
    attr_names: frozenset[str] | None = None  # bytecode only: attributes of user modules



def _names(code: types.CodeType, into: set[str]) -> set[str]:
    """The global and attribute names that a code object and its nested ones use."""
    into.update(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _names(const, into)
    return into


def _code_tuple(code: types.CodeType) -> tuple[Any, ...]:
    consts = tuple(_code_tuple(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return (code.co_name, code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
            code.co_flags, code.co_code, code.co_names, code.co_varnames, code.co_freevars,
            code.co_cellvars, consts)


_INFOS: dict[tuple[int, bool], tuple[weakref.ref[Any], Info]] = {}


def _cached(obj: Any, flag: bool, build: Callable[[], Info | None]) -> Info | None:
    """``build()``, kept while ``obj`` (a code object or class) lives; ``None`` is not kept,
    so that a file put back as it was brings the source fingerprint back."""
    key = (id(obj), flag)
    hit = _INFOS.get(key)
    if hit is not None and hit[0]() is obj:
        return hit[1]
    info = build()
    if info is not None:

        def forget(ref: weakref.ref[Any]) -> None:
            if _INFOS.get(key, (None,))[0] is ref:
                _INFOS.pop(key, None)

        _INFOS[key] = (weakref.ref(obj, forget), info)
    return info


def function_info(fn: types.FunctionType, keep_decorators: bool) -> Info:
    """What a function contributes: its normalized source, or its bytecode."""
    info = _cached(fn.__code__, keep_decorators, lambda: _from_source(fn, keep_decorators))
    return info or _from_bytecode([fn.__code__])


def _from_source(fn: types.FunctionType, keep_decorators: bool, fresh: bool = False) -> Info | None:
    code = fn.__code__
    source = _scan.source(code.co_filename, fn.__globals__, fresh)
    found = None if source is None else source.function(code.co_qualname, code.co_firstlineno)
    if source is None or found is None or (source.check and not source.matches(code)):
        retry = source is not None and source.recent and not fresh  # see _scan.source
        return _from_source(fn, keep_decorators, True) if retry else None
    allowed = _names(code, set(code.co_freevars))  # so a local never stands for a global
    if keep_decorators:  # a helper's defaults (``n=LIMIT``) are evaluated where it is defined
        allowed |= found.defaults  # an asset's defaults are its config, fingerprinted as such
    refs = {c for c in found.chains if c[0] in allowed}
    if keep_decorators:  # decorators run in the enclosing scope: not in co_names
        return Info(found.keep, tuple(refs | found.decorators))
    return Info(found.strip, tuple(refs))


def _from_bytecode(codes: list[types.CodeType], extra: tuple[Any, ...] = ()) -> Info:
    names: set[str] = set()
    for code in codes:
        _names(code, names).update(code.co_freevars)
    data = encode((tuple(_code_tuple(c) for c in codes), extra))
    return Info(_scan.digest(data), tuple((n,) for n in names), frozenset(names))


def _functions_of(member: Any) -> list[types.FunctionType]:
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    elif isinstance(member, functools.cached_property):
        member = member.func
    elif isinstance(member, property):
        return [f for m in (member.fget, member.fset, member.fdel) for f in _functions_of(m)]
    fn, _ = unwrap(member)
    return [fn] if isinstance(fn, types.FunctionType) else []


def methods(cls: type) -> list[types.FunctionType]:
    """The functions written in a class's own body (not attrs- or dataclass-generated ones)."""
    prefix = cls.__qualname__ + "."
    members = [f for m in vars(cls).values() for f in _functions_of(m)]
    return [f for f in members if f.__code__.co_qualname.startswith(prefix)]


def class_info(cls: type) -> Info:
    """What a class contributes: its normalized source, or its methods' bytecode."""
    own = methods(cls)
    info = _cached(cls, True, lambda: _class_from_source(cls, own))
    if info is None:
        values = tuple((k, v) for k, v in sorted(vars(cls).items()) if type(v) in _SCALARS)
        info = _from_bytecode([m.__code__ for m in own], (cls.__qualname__, values))
    return info


def _class_from_source(cls: type, own: list[types.FunctionType]) -> Info | None:
    module = sys.modules.get(cls.__module__)
    filename = own[0].__code__.co_filename if own else getattr(module, "__file__", None)
    if not filename:
        return None
    source = _scan.source(filename, own[0].__globals__ if own else vars(module))
    lines = [m.__code__.co_firstlineno for m in own]
    found = None if source is None else source.klass(cls.__qualname__, lines)
    codes = [m.__code__ for m in own if m.__code__.co_filename == filename]
    if source is None or found is None or (source.check and not all(map(source.matches, codes))):
        return None
    allowed = set(found.outside)
    for code in codes:
        _names(code, allowed)
    return Info(found.digest, tuple(c for c in found.chains if c[0] in allowed))


def unwrap(obj: Any) -> tuple[Any, bool]:
    """Follow bound methods and ``__wrapped__`` to a function; say whether an asset was met."""
    asset = False
    for _ in range(64):
        if isinstance(obj, types.MethodType):
            obj = obj.__func__
            continue
        if isinstance(obj, type):
            break
        try:
            wrapped = getattr(obj, "__wrapped__", None)
            asset = asset or (wrapped is not None and hasattr(obj, "spec"))
        except Exception:  # noqa: BLE001 (a proxy whose __getattr__ fails wraps nothing we can follow)
            wrapped = None
        if wrapped is None:
            break
        obj = wrapped
    return obj, asset
