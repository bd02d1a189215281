"""Source scanning: one version of one file, read, normalized into definitions and compiled.

This module owns reading Python source (files, and ``linecache`` for notebook
cells), scanning each file version once (keyed by size and ``mtime_ns``; across
processes through :mod:`~assetry.fingerprints._scancache`) into normalized
definitions, and compiling it so that its code objects can be compared with
the running ones. It knows nothing of live functions or classes:
:mod:`~assetry.fingerprints._code` matches those to what is found here.

- A definition is normalized by dumping its AST without positions, comments or
  docstrings, and with the names and ``module.attr`` chains it loads.
- A module-level name is bound by the top-level statements that assign or
  mutate it (``STEPS = {...}``, ``STEPS["b"] = f``, ``STEPS.append(f)``, the
  ``if`` or ``for`` around them), normalized together (:class:`Binding`), or by
  an import (``from helpers import STEPS``): that is "the source that builds"
  a mutable module-level value.
- A file modified after this module was imported, or whose module was imported
  before it, may no longer be the source of the running code: it is compiled
  once per version and its code objects compared with the live ones.
"""

from __future__ import annotations
import __future__

import ast
import functools
import gc
import linecache
import operator
import os
import sys
import threading
import time
import tokenize
import types
from typing import Any, NamedTuple

from assetry.fingerprints import _scancache
from assetry.fingerprints._bindings import Binding, bindings
from assetry.fingerprints._normal import DEFS as _DEFS
from assetry.fingerprints._normal import digest
from assetry.fingerprints._normal import normalize as _normalize

__all__ = ["Binding", "Source", "digest", "source"]

_FUTURE_FLAGS = functools.reduce(
    operator.or_, (getattr(__future__, n).compiler_flag for n in __future__.all_feature_names)
)
# A file last modified before this moment (less slack for coarse file-system
# clocks), and not imported before it, is the source of the code loaded from it.
_TRUSTED_BEFORE_NS = time.time_ns() - 2_000_000_000
_PRELOADED = frozenset(
    f for m in list(sys.modules.values()) if isinstance(f := getattr(m, "__file__", None), str)
)
_BLOCKS = ("body", "orelse", "handlers", "finalbody", "cases")
_AMBIGUOUS: Any = object()
_LOCK = threading.Lock()

_Chains = frozenset[tuple[str, ...]]


class _Def(NamedTuple):
    """A function or lambda, normalized: digests without and with decorators, loaded names."""

    strip: str
    keep: str
    chains: _Chains
    decorators: _Chains
    defaults: frozenset[str]  # names loaded by default values: evaluated where it is defined


class _ClassDef(NamedTuple):
    """A class, normalized whole; ``outside``: names loaded by its body outside methods."""

    lines: range
    digest: str
    chains: _Chains
    outside: frozenset[str]



class Source:
    """One version of one source file: its text, normalized definitions, compiled code.

    The AST lives only while the file is scanned, with collections paused: kept
    alive, a large module's tree would cost full garbage collections later.
    """

    def __init__(self, key: Any, text: str | None, check: bool, pin: Any, recent: bool) -> None:
        self.key, self.text, self.check, self.pin, self.recent = key, text, check, pin, recent
        self.codes: dict[int, dict[tuple[str, int], list[types.CodeType]]] = {}
        self.bindings: dict[str, Binding] = {}
        self._scan(deep=False)  # module level and classes; nested definitions on a miss

    def _scan(self, deep: bool) -> None:
        if not deep and self.text is not None:
            cached = _scancache.load(self.text)
            if cached is not None:  # plain tuples, made named tuples as they are asked for
                funcs_, self.classes, self.bindings = cached
                self.funcs = {k: _AMBIGUOUS if v is None else v for k, v in funcs_.items()}
                self.deep = False
                return
        self._parse_and_scan(deep)
        if not deep and self.text is not None:
            _scancache.store(self.text, _plain(self.funcs, self.classes, self.bindings))

    def _parse_and_scan(self, deep: bool) -> None:
        funcs: dict[tuple[str, int], Any] = {}
        classes: dict[str, list[ast.ClassDef]] = {}
        enabled = gc.isenabled()
        gc.disable()
        try:
            tree = _parse(self.text)
            if tree is not None:
                _index(tree, "", funcs, classes, deep)
                if not deep:
                    self.bindings = bindings(tree)
            self.funcs = {k: v if v is _AMBIGUOUS else _def(v) for k, v in funcs.items()}
            self.classes = {k: [_class_def(c) for c in v] for k, v in classes.items()}
            self.deep = deep
            del tree, funcs, classes
        finally:
            if enabled:
                gc.enable()

    def function(self, qualname: str, line: int) -> _Def | None:
        key = (qualname, line)
        found = self.funcs.get(key)
        if found is None and not self.deep:
            self._scan(deep=True)
            found = self.funcs.get(key)
        if found is None or found is _AMBIGUOUS:
            return None
        if type(found) is tuple:  # as loaded from the disk cache
            found = self.funcs[key] = _Def._make(found)
        return found  # type: ignore[no-any-return]

    def binding(self, name: str) -> Binding | None:
        """The statements or import that bind a module-level name, if this file has any."""
        found = self.bindings.get(name)
        if type(found) is tuple:  # as loaded from the disk cache
            found = self.bindings[name] = Binding._make(found)
        return found

    def klass(self, qualname: str, lines: list[int]) -> _ClassDef | None:
        if qualname not in self.classes and not self.deep:
            self._scan(deep=True)
        found = self.classes.get(qualname, [])
        if found and type(found[0]) is not _ClassDef:  # as loaded from the disk cache
            found = self.classes[qualname] = [_ClassDef._make(c) for c in found]
        inside = [c for c in found if any(n in c.lines for n in lines)]
        return (inside or found)[-1] if found else None

    def matches(self, code: types.CodeType) -> bool:
        flags = code.co_flags & _FUTURE_FLAGS
        if flags not in self.codes:
            self.codes[flags] = _compiled(self.text or "", flags)
        candidates = self.codes[flags].get((code.co_qualname, code.co_firstlineno), ())
        return any(c == code for c in candidates)



def _plain(funcs: dict[Any, Any], classes: dict[str, list[_ClassDef]],
           bindings_: dict[str, Binding]) -> tuple[Any, ...]:
    """What the disk cache keeps of a scan: plain tuples, each equal set or chain once.

    Unpickling a named tuple calls its class, and a set of chains per definition
    is an object per definition: a module of a thousand sources and assets loads
    in a third of the time from this form (:meth:`Source.function` and the others
    make each named tuple when it is first asked for).
    """
    shared: dict[Any, Any] = {}

    def one(value: Any) -> Any:
        if isinstance(value, frozenset):
            value = frozenset(one(v) for v in value)
        elif type(value) is tuple:
            value = tuple(one(v) for v in value)
        else:
            return value
        return shared.setdefault(value, value)

    return (
        {k: None if v is _AMBIGUOUS else tuple(one(f) for f in v) for k, v in funcs.items()},
        {k: [tuple(one(f) for f in c) for c in v] for k, v in classes.items()},
        {k: tuple(one(f) for f in b) for k, b in bindings_.items()},
    )


def _index(node: Any, prefix: str, funcs: dict[Any, Any], classes: dict[str, Any],
           deep: bool) -> None:
    """Find definitions under the qualnames Python gives them; shallow: no function bodies."""
    if isinstance(node, (*_DEFS, ast.Lambda)):
        qualname = prefix + getattr(node, "name", "<lambda>")
        decorators = getattr(node, "decorator_list", [])
        key = (qualname, min([node.lineno, *(d.lineno for d in decorators)]))
        funcs[key] = node if funcs.get(key, node) is node else _AMBIGUOUS
        if deep:
            for child in [*decorators, node.args, getattr(node, "returns", None)]:
                if child is not None:
                    _index(child, prefix, funcs, classes, deep)
            for child in node.body if isinstance(node.body, list) else [node.body]:
                _index(child, qualname + ".<locals>.", funcs, classes, deep)
    elif isinstance(node, ast.ClassDef):
        classes.setdefault(prefix + node.name, []).append(node)
        for child in [*node.decorator_list, *node.bases, *node.keywords] if deep else []:
            _index(child, prefix, funcs, classes, deep)
        for child in node.body:
            _index(child, f"{prefix}{node.name}.", funcs, classes, deep)
    else:
        blocks = (getattr(node, f, None) or [] for f in _BLOCKS)
        for child in ast.iter_child_nodes(node) if deep else (s for b in blocks for s in b):
            _index(child, prefix, funcs, classes, deep)


def _def(node: Any) -> _Def:
    text, chains = _normalize(node, skip_decorators=True)
    decorated, decorators = _normalize(getattr(node, "decorator_list", []))
    keep = digest(f"{text}\x00@\x00{decorated}")
    _, defaults = _normalize(_defaults(node))
    return _Def(digest(text), keep, frozenset(chains), frozenset(decorators),
                frozenset(c[0] for c in defaults))


def _defaults(node: Any) -> list[Any]:
    return [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]


def _class_def(node: ast.ClassDef) -> _ClassDef:
    text, chains = _normalize(node)
    defs = [s for s in node.body if isinstance(s, _DEFS)]
    outside = [*node.decorator_list, *node.bases, *(s for s in node.body if s not in defs)]
    _, loads = _normalize([*outside, *(d for s in defs for d in (*s.decorator_list, *_defaults(s)))])
    lines = range(node.lineno, (node.end_lineno or node.lineno) + 1)
    return _ClassDef(lines, digest(text), frozenset(chains), frozenset(c[0] for c in loads))


def _compiled(text: str, flags: int) -> dict[tuple[str, int], list[types.CodeType]]:
    """Compile a module's source as import does; its code objects by (qualname, first line)."""
    stack: list[types.CodeType] = []
    for extra in (0, ast.PyCF_ALLOW_TOP_LEVEL_AWAIT):  # notebook cells may await at top level
        try:
            stack = [compile(text, "<assetry>", "exec", flags=flags | extra, dont_inherit=True)]
            break
        except (SyntaxError, ValueError):
            continue
    found: dict[tuple[str, int], list[types.CodeType]] = {}
    while stack:
        code = stack.pop()
        found.setdefault((code.co_qualname, code.co_firstlineno), []).append(code)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return found


_SOURCES: dict[str, Source] = {}


def source(filename: str, module_globals: dict[str, Any] | None, fresh: bool = False
           ) -> Source | None:
    """The scanned source of a file or notebook cell, re-read only when it changes."""
    try:
        stat = os.stat(filename)
        key, pin = (stat.st_size, stat.st_mtime_ns), None
    except (OSError, ValueError):
        stat, pin = None, linecache.getlines(filename, module_globals)  # cells, zip imports
        if not pin:
            return None
        key = (len(pin), id(pin))  # ``pin`` is kept alive, so its id stays unique
    with _LOCK:
        old = _SOURCES.get(filename)
        if old is not None and old.key == key and not (fresh and old.recent):
            return old
        text = _read(filename) if pin is None else "".join(pin)
        if old is not None and old.key == key and text == old.text:
            return old
        check = stat is None or stat.st_mtime_ns >= _TRUSTED_BEFORE_NS or filename in _PRELOADED
        # Scanned within the clock's resolution of its last write: a rewrite may share the key.
        recent = stat is not None and time.time_ns() - stat.st_mtime_ns < 2_000_000_000
        scanned = _SOURCES[filename] = Source(key, text, check, pin, recent)
        return scanned


def _read(filename: str) -> str | None:
    linecache.checkcache(filename)  # so tracebacks and inspect see this version too
    try:
        with tokenize.open(filename) as file:  # honours a PEP 263 coding line
            return file.read()
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None


def _parse(text: str | None) -> ast.Module | None:
    try:
        return None if text is None else ast.parse(text)
    except (SyntaxError, ValueError):
        return None  # the live code predates the error: its bytecode is hashed instead
