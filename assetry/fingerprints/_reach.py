"""Code reach: the functions, classes and values an asset's code fingerprint covers.

Starting from an asset's function, it follows the user's own code transitively
(never the standard library, installed packages or assetry): the functions,
classes (their whole body) and module-level values that a definition names,
directly or as ``module.name``, or that its closure and default arguments hold;
and inside those values (a dict, list, tuple or set of helpers, a
``functools.partial``, an instance of a user class, a decorated or cached
function) the code they hold. Functions and classes enter by their normalized
source (read by :mod:`assetry.fingerprints._code`); an immutable value by its
value; a mutable value by the statements that build it
(:mod:`assetry.fingerprints._bindings`) and the code found in it
(:mod:`assetry.fingerprints._values`).

One walk yields the whole fingerprint and the digest of each definition in it
(:class:`~assetry.fingerprints._definitions.CodeInfo`), so that a reason can
name what changed.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from assetry.fingerprints import _code as _codehash
from assetry.fingerprints import _scan
from assetry.fingerprints._definitions import CodeInfo, Definition
from assetry.fingerprints._encoding import encode, hash_bytes
from assetry.fingerprints._user import is_user_class, is_user_function, is_user_module
from assetry.fingerprints._values import code_in, is_immutable, is_plain

__all__ = ["code_dependencies", "code_fingerprint", "code_info"]

_MISSING: Any = object()
_LIBRARY: Any = object()  # a value imported from an installed package: not the user's
_FAST = frozenset({type(None), bool, int, float, str})  # defaults that hold no code


class _Todo(NamedTuple):
    """A definition whose names are still to be resolved."""

    info: _codehash.Info
    namespace: dict[str, Any]  # the module globals its names are looked up in
    closure: dict[str, Any]  # free variables first
    home: str  # module name
    owner: str  # the definition's qualname: a closure's factory is found from it


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


def _targets(todo: _Todo) -> Iterator[tuple[Any, str, dict[str, Any], bool]]:
    """Resolve a definition's names and chains to ``(object, name, namespace, from closure)``."""
    info, namespace, closure = todo.info, todo.namespace, todo.closure
    for head, *attrs in info.refs:
        local = head in closure
        obj = closure[head] if local else namespace.get(head, _MISSING)
        name, space = head, namespace
        for attr in attrs:  # through user modules only: ``helpers.f``, not ``json.dumps``
            if not (isinstance(obj, types.ModuleType) and is_user_module(obj)):
                break
            space = vars(obj)
            obj, name, local = space.get(attr, _MISSING), attr, False
        if isinstance(obj, types.ModuleType):
            if info.attr_names and is_user_module(obj):  # bytecode has names, not chains
                found = vars(obj)
                yield from ((found[a], a, found, False) for a in info.attr_names & found.keys())
        elif obj is not _MISSING:
            yield obj, name, space, local


def _imported(namespace: dict[str, Any], module: str, level: int) -> str | None:
    if not level:
        return module
    package = namespace.get("__package__") or ""
    try:
        return importlib.util.resolve_name("." * level + module, package)
    except (ImportError, ValueError):
        return None


def _binding(namespace: dict[str, Any], name: str, value: Any, depth: int = 0) -> Any:
    """``(Binding, namespace)`` of the statements that build a module-level value.

    None when no source says (a notebook's namespace, ``exec``); ``_LIBRARY``
    when it is imported from an installed package.
    """
    file = namespace.get("__file__")
    # fresh: a file rewritten within the clock's resolution is re-read (functions are checked
    # against their code objects instead; a statement has none)
    source = _scan.source(file, namespace, fresh=True) if isinstance(file, str) else None
    found = None if source is None else source.binding(name)
    if found is None:
        return None
    for module, attr, level in found.imports:  # ``from helpers import STEPS``: where it is built
        target = _imported(namespace, module, level)
        origin = sys.modules.get(target) if target else None
        if origin is None or vars(origin).get(attr, _MISSING) is not value:
            continue
        if not is_user_module(origin):
            return _LIBRARY
        inner = _binding(vars(origin), attr, value, depth + 1) if depth < 16 else None
        if inner is not None:
            return inner
    return None if found.digest is None else (found, namespace)


def _class_file(cls: type) -> str:
    methods = _codehash.methods(cls)
    if methods:
        return methods[0].__code__.co_filename
    return getattr(sys.modules.get(cls.__module__), "__file__", None) or ""


def _factory(todo: _Todo) -> Any:
    """The outermost function that a closure's definition was created in, if it can be found."""
    if ".<locals>." not in todo.owner:
        return None
    obj: Any = todo.namespace
    for part in todo.owner.split(".<locals>.")[0].split("."):
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
    return obj


class _Walk:
    """One collection: the user code reachable from a root function."""

    def __init__(self) -> None:
        self.seen: set[Any] = set()
        self.found: list[Definition] = []
        self.todo: list[_Todo] = []

    def run(self, root: types.FunctionType) -> Definition:
        self.seen.add(id(root))
        info = _codehash.function_info(root, keep_decorators=False)
        self.todo.append(_Todo(info, root.__globals__, _closure(root), root.__module__,
                               root.__qualname__))
        self.defaults(root)
        while self.todo:
            todo = self.todo.pop()
            for obj, name, space, local in _targets(todo):
                self.visit(obj, name, space, todo if local else None)
        code = root.__code__
        line = code.co_firstlineno if root.__name__ == "<lambda>" else 0
        return Definition("root", root.__qualname__, info.digest, root.__module__,
                           code.co_filename, line)

    def visit(self, obj: Any, name: str, space: dict[str, Any], closure: _Todo | None) -> None:
        if self.code(obj, name):
            return
        if isinstance(obj, types.ModuleType):
            return
        if closure is not None:
            self.closure_value(obj, name, closure)
        else:
            self.module_value(obj, name, space)

    def code(self, obj: Any, name: str | None = None) -> bool:
        """Follow a function or class (through wrappers); False if ``obj`` is neither."""
        fn, asset = _codehash.unwrap(obj)
        if isinstance(fn, types.FunctionType):
            if id(fn) not in self.seen and is_user_function(fn):
                self.seen.add(id(fn))
                info = _codehash.function_info(fn, keep_decorators=not asset)
                lambda_ = fn.__name__ == "<lambda>"
                qualname = name if lambda_ and name else fn.__qualname__
                code = fn.__code__
                self.add(Definition("function", qualname, info.digest, fn.__module__,
                                     code.co_filename, code.co_firstlineno if lambda_ else 0))
                self.todo.append(_Todo(info, fn.__globals__, _closure(fn), fn.__module__,
                                       fn.__qualname__))
                self.defaults(fn)
            return True
        if isinstance(fn, type):
            if id(fn) not in self.seen and is_user_class(fn):
                self.seen.add(id(fn))
                info = _codehash.class_info(fn)
                self.add(Definition("class", fn.__qualname__, info.digest, fn.__module__,
                                     _class_file(fn)))
                self.todo.append(_Todo(info, *_namespace(fn), fn.__module__, fn.__qualname__))
            return True
        return False

    def defaults(self, fn: types.FunctionType) -> None:
        """The code held by default arguments (``op=scale``; their text is in the source)."""
        for value in (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()):
            if type(value) not in _FAST:
                self.contents(value)

    def contents(self, value: Any) -> None:
        for code in code_in(value, is_user_class):
            self.code(code)

    def module_value(self, obj: Any, name: str, space: dict[str, Any]) -> None:
        owner = space.get("__name__") or "?"
        if (owner, name) in self.seen:
            return
        self.seen.add((owner, name))
        file = space.get("__file__") or ""
        if is_immutable(obj):
            self.add(Definition("constant", name, hash_bytes(encode(obj)), owner, file))
            return
        binding = _binding(space, name, obj)
        if binding is _LIBRARY:
            return
        if binding is not None:
            found, where = binding
            home = where.get("__name__") or owner
            self.add(Definition("source", name, found.digest, home, where.get("__file__") or ""))
            self.todo.append(_Todo(_codehash.Info(found.digest, tuple(found.chains)), where, {},
                                   home, name))
        elif is_plain(obj):  # no source says how it is built: its value is all there is
            self.add(Definition("constant", name, hash_bytes(encode(obj)), owner, file))
        self.contents(obj)

    def closure_value(self, obj: Any, name: str, todo: _Todo) -> None:
        key = (todo.home, todo.owner, name)
        if key in self.seen:
            return
        self.seen.add(key)
        file = todo.namespace.get("__file__") or ""
        if is_immutable(obj):
            self.add(Definition("constant", name, hash_bytes(encode(obj)), todo.home, file))
            return
        factory = _factory(todo)  # a mutable cell is built by the function the closure came from
        if not self.code(factory) and is_plain(obj):
            self.add(Definition("constant", name, hash_bytes(encode(obj)), todo.home, file))
        self.contents(obj)

    def add(self, dependency: Definition) -> None:
        self.found.append(dependency)


def _collect(fn: Any) -> tuple[Definition, list[Definition]]:
    """``fn``'s own normalized code, and the user code it reaches.

    A callable without Python code (a builtin) is identified by its type, module
    and qualname.
    """
    root, _ = _codehash.unwrap(fn)
    if isinstance(root, functools.partial):
        root, _ = _codehash.unwrap(root.func)
    if not isinstance(root, types.FunctionType):
        name = (getattr(root, "__module__", None), getattr(root, "__qualname__", None))
        digest = hash_bytes(encode(("opaque", type(root).__qualname__, name)))
        return Definition("root", str(name[1]), digest, str(name[0]), ""), []
    walk = _Walk()
    return walk.run(root), walk.found


def code_info(fn: Callable[..., Any], code_version: str | None = None) -> CodeInfo:
    """The code fingerprint of a function and its per-definition digests, from one walk.

    See :func:`code_fingerprint` for what is covered. With ``code_version``,
    the version alone is the code, and the one definition is ``code_version``.

    Examples:
        >>> def double(x):
        ...     return 2 * x
        >>> info = code_info(double)
        >>> info.fingerprint == code_fingerprint(double)
        True
        >>> [name.split(" ")[0] for name in info.definitions]
        ['double']
    """
    if code_version is not None:
        digest = hash_bytes(encode(("code_version", code_version)))
        return CodeInfo(digest, definitions={"code_version": digest})
    root, dependencies = _collect(fn)
    # Kinds, qualnames and hex digests never contain NUL or SOH: the join is unambiguous.
    parts = sorted(f"{d.kind}\x01{d.qualname}\x01{d.digest}" for d in dependencies)
    fingerprint = hash_bytes(encode(("code", root.digest, "\x00".join(parts))))
    return CodeInfo(fingerprint, (root, *dependencies))


def code_fingerprint(fn: Callable[..., Any], code_version: str | None = None) -> str:
    """Fingerprint a function's code, or its pinned ``code_version``.

    Without ``code_version``, this hashes the function's normalized source (its
    AST without docstrings, decorators, comments, blank lines or positions)
    together with the user code it reaches, transitively: the functions (their
    source), classes (their whole body, methods included) and module-level
    values that it names directly or as ``module.name``, or that its closure
    and default arguments hold, in the user's own modules; and the functions
    and classes held inside those values (a dict or list of helpers, a
    ``functools.partial``, an instance of a user class). An immutable value
    enters by its value; a mutable one (a list, dict, set, object) by the
    module-level statements that build it. The standard library and installed
    packages are left out, and so is assetry itself. The fingerprint follows
    the live function: after a reload, or an autoreload that swaps
    ``__code__``, it reflects the new code. Where source is missing or no
    longer matches the running code (a file edited but not reloaded), the code
    object's bytecode is hashed instead; see :mod:`assetry.fingerprints._code`.

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
    return code_info(fn, code_version).fingerprint


def code_dependencies(fn: Callable[..., Any]) -> list[str]:
    """List the user functions, classes and values in ``fn``'s code fingerprint.

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
