"""Module-level bindings: the source that builds each module-level value.

A mutable value that an asset names (a list, dict, set, an object) enters its
code fingerprint by the statements that build it, never by its contents at
planning time: a registry, a memo cache or a call log that the assets append
to would otherwise look like a code change on every run. For each name of a
module, :func:`bindings` keeps the top-level statements that assign or mutate
it (``STEPS = {...}``, ``STEPS["b"] = f``, ``STEPS.append(f)``, with the
``if`` / ``for`` / ``try`` around them), normalized together, and the imports
that bind it (``from helpers import STEPS``). Pure: it reads no file.
"""

from __future__ import annotations

import ast
from typing import Any, NamedTuple

from assetry.fingerprints._normal import DEFS, digest, normalize

__all__ = ["Binding", "bindings"]


class Binding(NamedTuple):
    """How a module-level name gets its value: the statements that build it, or an import."""

    digest: str | None  # of the normalized statements that assign or mutate it; None: imports only
    chains: frozenset[tuple[str, ...]]  # names and chains those statements load
    imports: tuple[tuple[str, str, int], ...]  # ``from module import name``: (module, name, level)


def bindings(tree: ast.Module) -> dict[str, Binding]:
    """Each module-level name: the top-level statements that assign or mutate it, or imports."""
    texts: dict[str, list[str]] = {}
    chains: dict[str, set[tuple[str, ...]]] = {}
    imports: dict[str, list[tuple[str, str, int]]] = {}
    for statement in tree.body:
        if isinstance(statement, (*DEFS, ast.ClassDef)):
            continue
        names: set[str] = set()
        for node in _statement_nodes(statement):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name != "*":
                        found = (node.module or "", alias.name, node.level)
                        imports.setdefault(alias.asname or alias.name, []).append(found)
            else:
                names.update(_bound(node))
        if names:
            text, loads = normalize(statement)
            for name in names:
                texts.setdefault(name, []).append(text)
                chains.setdefault(name, set()).update(loads)
    return {
        name: Binding(
            digest("\x00;\x00".join(texts[name])) if name in texts else None,
            frozenset(chains.get(name, ())),
            tuple(imports.get(name, ())),
        )
        for name in texts.keys() | imports.keys()
    }


def _statement_nodes(node: Any) -> Any:
    """The nodes of a module-level statement, not entering functions, lambdas or classes."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (*DEFS, ast.ClassDef, ast.Lambda)):
            yield from _statement_nodes(child)


def _bound(node: Any) -> list[str]:
    """Module-level names that a node assigns, deletes, or mutates through a method call."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.NamedExpr)):
        targets = [node.target]
    elif isinstance(node, ast.withitem):
        targets = [node.optional_vars] if node.optional_vars is not None else []
    elif isinstance(node, ast.Delete):
        targets = node.targets
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        targets = [node.value.func] if isinstance(node.value.func, ast.Attribute) else []
    else:
        return []
    found = []
    for target in targets:
        found.extend(_roots(target))
    return found


def _roots(target: Any) -> list[str]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _roots(t)]
    while isinstance(target, (ast.Attribute, ast.Subscript, ast.Starred, ast.Call)):
        target = target.func if isinstance(target, ast.Call) else target.value
    return [target.id] if isinstance(target, ast.Name) else []
