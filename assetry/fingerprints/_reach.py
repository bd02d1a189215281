"""Code reach: the functions, classes and constants an asset's code fingerprint covers.

Starting from an asset's function, it follows the user's own helpers, classes
(their methods) and module constants transitively, never the standard library
or installed packages, and hashes their normalized source (read by
:mod:`assetry.fingerprints._code`).
"""

from __future__ import annotations

import datetime
import decimal
import enum
import functools
import os
import pathlib
import re
import site
import sys
import sysconfig
import types
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from assetry.fingerprints import _code as _codehash
from assetry.fingerprints._encoding import encode, hash_bytes

__all__ = ["code_dependencies", "code_fingerprint"]

_SCALARS = frozenset({type(None), bool, int, float, complex, str, bytes})
_RICH = (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal, enum.Enum,
         pathlib.PurePath, re.Pattern)
_MISSING: Any = object()


class _Dependency(NamedTuple):
    """A user function, class or constant that enters a code fingerprint."""

    kind: str
    qualname: str
    digest: str
    name: str


def _is_simple(value: Any, depth: int = 0) -> bool:
    """Whether a module-level value is a plain constant, to enter the fingerprint by value."""
    kind = type(value)
    if kind in _SCALARS or isinstance(value, _RICH):
        return True
    if kind in (tuple, list, set, frozenset):
        return depth < 32 and all(_is_simple(v, depth + 1) for v in value)
    if kind is dict:
        items = value.items()
        return depth < 32 and all(_is_simple(i, depth + 1) for kv in items for i in kv)
    return (getattr(kind, "__module__", "") or "").startswith(("polars.datatypes", "polars.schema"))


@functools.cache
def _excluded() -> tuple[str, ...]:
    """Directories of the standard library, installed packages and assetry itself."""
    paths = {os.path.dirname(os.path.abspath(__file__)), site.getusersitepackages()}
    paths.update(getattr(site, "getsitepackages", list)())
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        bases = dict.fromkeys(("base", "platbase", "installed_base", "installed_platbase"), prefix)
        paths.update(sysconfig.get_path(k, vars=bases) for k in ("stdlib", "platstdlib", "purelib"))
    return tuple(os.path.join(os.path.normcase(os.path.realpath(p)), "") for p in paths if p)


@functools.lru_cache(maxsize=4096)
def _is_user_path(path: str) -> bool:
    real = os.path.normcase(os.path.realpath(path))
    parts = set(real.split(os.sep))
    return not real.startswith(_excluded()) and not parts & {"site-packages", "dist-packages"}


_USER_MODULES: dict[int, tuple[types.ModuleType, bool]] = {}


def _is_user_module(module: types.ModuleType) -> bool:
    hit = _USER_MODULES.get(id(module))
    if hit is not None and hit[0] is module:
        return hit[1]
    file = getattr(module, "__file__", None)
    paths = [file] if file else list(getattr(module, "__path__", None) or ())  # namespace pkg
    user = getattr(module, "__name__", None) == "__main__" or (
        bool(paths) and all(_is_user_path(p) for p in paths)
    )
    _USER_MODULES[id(module)] = (module, user)  # modules live as long as the process
    return user


def _is_user_function(fn: types.FunctionType) -> bool:
    filename = fn.__code__.co_filename
    if fn.__module__ == "__main__":
        return True
    if not filename.startswith("<"):
        return _is_user_path(filename)
    module = sys.modules.get(fn.__module__ or "")  # exec'd code: judged by its module
    return module is not None and _is_user_module(module)


def _is_user_class(cls: type) -> bool:
    module = sys.modules.get(cls.__module__)
    if module is not None:
        return _is_user_module(module)
    return any(_is_user_function(m) for m in _codehash.methods(cls))


def _closure(fn: types.FunctionType) -> dict[str, Any]:
    found = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
        try:
            found[name] = cell.cell_contents
        except ValueError:  # an empty cell: the enclosing variable is not bound yet
            continue
    return found


def _namespace(cls: type) -> tuple[dict[str, Any], dict[str, Any]]:
    methods = _codehash.methods(cls)
    module = sys.modules.get(cls.__module__)
    namespace = methods[0].__globals__ if methods else vars(module) if module else {}
    return namespace, {k: v for m in methods for k, v in _closure(m).items()}


def _targets(
    info: _codehash.Info, namespace: dict[str, Any], closure: dict[str, Any], home: str
) -> Iterator[tuple[Any, str, str]]:
    """Resolve a definition's names and chains to ``(object, name, module name)``."""
    for head, *attrs in info.refs:
        obj = closure[head] if head in closure else namespace.get(head, _MISSING)
        name, owner = head, home
        for attr in attrs:  # through user modules only: ``helpers.f``, not ``json.dumps``
            if not (isinstance(obj, types.ModuleType) and _is_user_module(obj)):
                break
            obj, name, owner = vars(obj).get(attr, _MISSING), attr, obj.__name__
        if isinstance(obj, types.ModuleType):
            if info.attr_names and _is_user_module(obj):  # bytecode has names, not chains
                found = vars(obj)
                yield from ((found[a], a, obj.__name__) for a in info.attr_names & found.keys())
        elif obj is not _MISSING:
            yield obj, name, owner


class _Walk:
    """One collection: the user code reachable from a root function."""

    def __init__(self) -> None:
        self.seen: set[Any] = set()
        self.found: list[_Dependency] = []
        self.todo: list[tuple[_codehash.Info, dict[str, Any], dict[str, Any], str]] = []

    def run(self, root: types.FunctionType) -> str:
        self.seen.add(id(root))
        info = _codehash.function_info(root, keep_decorators=False)
        self.todo.append((info, root.__globals__, _closure(root), root.__module__))
        while self.todo:
            for obj, name, owner in _targets(*self.todo.pop()):
                self.visit(obj, name, owner)
        return info.digest

    def visit(self, obj: Any, name: str, owner: str) -> None:
        fn, asset = _codehash.unwrap(obj)
        if isinstance(fn, types.FunctionType):
            if id(fn) not in self.seen and _is_user_function(fn):
                self.seen.add(id(fn))
                info = _codehash.function_info(fn, keep_decorators=not asset)
                qualname = name if fn.__name__ == "<lambda>" else fn.__qualname__
                self.add("function", qualname, info, fn.__module__)
                self.todo.append((info, fn.__globals__, _closure(fn), fn.__module__))
        elif isinstance(fn, type):
            if id(fn) not in self.seen and _is_user_class(fn):
                self.seen.add(id(fn))
                info = _codehash.class_info(fn)
                self.add("class", fn.__qualname__, info, fn.__module__)
                self.todo.append((info, *_namespace(fn), fn.__module__))
        elif (owner, name) not in self.seen and _is_simple(obj):
            self.seen.add((owner, name))
            self.add("constant", name, _codehash.Info(hash_bytes(encode(obj)), ()), owner)

    def add(self, kind: str, qualname: str, info: _codehash.Info, module: str) -> None:
        self.found.append(_Dependency(kind, qualname, info.digest, f"{module}:{qualname}"))


def _collect(fn: Any) -> tuple[str, list[_Dependency]]:
    """The digest of ``fn``'s own normalized code, and the user code it reaches.

    A callable without Python code (a builtin) is identified by its type, module
    and qualname.
    """
    root, _ = _codehash.unwrap(fn)
    if isinstance(root, functools.partial):
        root, _ = _codehash.unwrap(root.func)
    if not isinstance(root, types.FunctionType):
        name = (getattr(root, "__module__", None), getattr(root, "__qualname__", None))
        return hash_bytes(encode(("opaque", type(root).__qualname__, name))), []
    walk = _Walk()
    return walk.run(root), walk.found


# --- Public functions ------------------------------------------------------------------


def code_fingerprint(fn: Callable[..., Any], code_version: str | None = None) -> str:
    """Fingerprint a function's code, or its pinned ``code_version``.

    Without ``code_version``, this hashes the function's normalized source (its
    AST without docstrings, decorators, comments, blank lines or positions)
    together with the user code it reaches, transitively: the functions (their
    source), classes (their whole body, methods included) and module constants
    of plain values that it names directly or as ``module.name``, in the user's
    own modules. The standard library and installed packages are left out, and
    so is assetry itself. The fingerprint follows the live function: after a
    reload, or an autoreload that swaps ``__code__``, it reflects the new code.
    Where source is missing or no longer matches the running code (a file
    edited but not reloaded), the code object's bytecode is hashed instead; see
    :mod:`assetry.fingerprints._code`.

    Args:
        fn: The function, or an asset wrapping it (``__wrapped__`` is followed).
        code_version: A version string; when given, it alone is the code.

    Examples:
        >>> def double(x):
        ...     return 2 * x
        >>> code_fingerprint(double) == code_fingerprint(double)
        True
        >>> code_fingerprint(double, "v1") == code_fingerprint(len, "v1")
        True
    """
    if code_version is not None:
        return hash_bytes(encode(("code_version", code_version)))
    root, dependencies = _collect(fn)
    # Kinds, qualnames and hex digests never contain NUL or SOH: the join is unambiguous.
    parts = sorted(f"{d.kind}\x01{d.qualname}\x01{d.digest}" for d in dependencies)
    return hash_bytes(encode(("code", root, "\x00".join(parts))))


def code_dependencies(fn: Callable[..., Any]) -> list[str]:
    """List the user functions, classes and constants in ``fn``'s code fingerprint.

    Names are ``module:qualname``, sorted; ``fn`` itself is not listed. Meant for
    debugging why an asset is, or is not, stale.

    Examples:
        >>> import json
        >>> def dump(x):
        ...     return json.dumps(x)
        >>> code_dependencies(dump)
        []
    """
    _, dependencies = _collect(fn)
    return sorted(d.name for d in dependencies)
