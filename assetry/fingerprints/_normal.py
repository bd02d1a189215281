"""AST normalization: a definition or statement dumped without positions, comments or docstrings.

This module owns the one text that stands for a piece of code, and the names
and ``module.attr`` chains it loads; :mod:`~assetry.fingerprints._scan` and
:mod:`~assetry.fingerprints._bindings` normalize with it. It reads no file.
"""

from __future__ import annotations

import ast
from typing import Any

import xxhash

__all__ = ["DEFS", "digest", "normalize"]

_FIELDS = {c: c._fields for c in vars(ast).values() if isinstance(c, type) and issubclass(c, ast.AST)}
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DOC_OWNERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def digest(data: str | bytes) -> str:
    """The xxh3-128 hex digest of a text (surrogates kept) or bytes."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return xxhash.xxh3_128_hexdigest(raw)


def _chain(node: ast.Attribute) -> tuple[str, ...] | None:
    parts = [node.attr]
    value = node.value
    while isinstance(value, ast.Attribute):
        parts.append(value.attr)
        value = value.value
    return (value.id, *reversed(parts)) if isinstance(value, ast.Name) else None


def _strip_doc(body: list[Any]) -> list[Any]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        return body[1:] if isinstance(first.value.value, str) else body
    return body


def normalize(node: Any, skip_decorators: bool = False) -> tuple[str, set[tuple[str, ...]]]:
    """Dump nodes like ``ast.dump(include_attributes=False)``, without docstrings.

    Each node type has a fixed list of fields, so the dump needs no closing
    marks. Also returns the names it loads and the attribute chains on them.
    """
    out: list[str] = []
    chains: set[tuple[str, ...]] = set()
    add, fields_of = out.append, _FIELDS.get

    def dump(n: Any) -> None:
        kind = type(n)
        fields = fields_of(kind)
        if fields is None:
            if kind is list:
                add("[")
                for item in n:
                    dump(item)
                add("]")
            else:
                add(repr(n))
            return
        add(kind.__name__)
        if kind is ast.Name:
            add(n.id)
            add(type(n.ctx).__name__)
            if type(n.ctx) is ast.Load:
                chains.add((n.id,))
            return
        if kind is ast.Constant:
            add(repr(n.value))
            add(repr(n.kind))
            return
        if kind is ast.Attribute and type(n.ctx) is ast.Load and (chain := _chain(n)):
            chains.add(chain)
        if kind in _DOC_OWNERS:
            for field in fields:
                dump(_strip_doc(n.body) if field == "body" else getattr(n, field))
            return
        for field in fields:
            dump(getattr(n, field))

    if skip_decorators and isinstance(node, DEFS):
        add(type(node).__name__)
        for field in _FIELDS[type(node)]:
            if field != "decorator_list":
                dump(_strip_doc(node.body) if field == "body" else getattr(node, field))
    else:
        dump(node)
    return "\x00".join(out), chains
