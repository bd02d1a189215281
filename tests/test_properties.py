"""Property: after any edit, exactly the assets whose inputs or code changed rerun, then none.

Hypothesis draws a random DAG (each asset's upstream are earlier assets), writes
it as a module where each asset returns ``{"v": (sum of inputs + constant) % m}``
(a small modulus makes identical outputs common, so early cutoff is exercised),
then applies random edits: a constant change (output may or may not change), a
refactor (same output, different code), or a deleted product. A reference model
of the rules in API.md ("Running") predicts the assets that rerun.
"""

from __future__ import annotations

import importlib.util
import itertools
import pathlib
import sys
import tempfile

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetry import materialize

_ids = itertools.count()


@attrs.frozen
class Node:
    """One asset of the drawn graph."""

    parents: tuple[int, ...]
    const: int
    mod: int
    variant: int = 0


@st.composite
def graphs(draw):
    """Up to eight assets; each depends on a subset of the earlier ones."""
    n = draw(st.integers(1, 8))
    nodes = []
    for i in range(n):
        parents = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        nodes.append(Node(tuple(sorted(parents)), draw(st.integers(0, 4)), draw(st.integers(1, 3))))
    return nodes


def edits(n):
    """A constant change, a refactor or a deleted product, on one asset."""
    k = st.integers(0, n - 1)
    return st.one_of(
        st.tuples(st.just("const"), k, st.integers(0, 4)),
        st.tuples(st.just("refactor"), k, st.just(0)),
        st.tuples(st.just("delete"), k, st.just(0)),
    )


def source(nodes):
    """The pipeline module for a graph."""
    lines = ["from assetry import asset", ""]
    for i, node in enumerate(nodes):
        args = ", ".join(f"a{p}: dict" for p in node.parents)
        total = " + ".join(f'a{p}["v"]' for p in node.parents) or "0"
        lines += ["", "@asset", f"def a{i}({args}) -> dict:", f"    s = {total}"]
        if node.variant == 0:
            lines += [f"    v = (s + {node.const}) % {node.mod}"]
        else:  # the same value, computed by different code
            lines += [f"    w = ({node.const} + s) % {node.mod}", "    v = w"]
        lines += ['    return {"v": v}', ""]
    return "\n".join(lines)


def value(nodes, i, values):
    """What asset ``i`` returns given its upstream values."""
    node = nodes[i]
    return (sum(values[p] for p in node.parents) + node.const) % node.mod


def expected_reruns(old, new, seen, stored, deleted):
    """The reference model: which assets rerun, updating what each last saw and stored."""
    rerun = set()
    for i in range(len(new)):
        inputs = tuple(stored[p] for p in new[i].parents)
        code_changed = (old[i].const, old[i].variant) != (new[i].const, new[i].variant)
        if code_changed or i in deleted or seen[i] != inputs:
            rerun.add(f"a{i}")
            seen[i] = inputs
            stored[i] = value(new, i, stored)
    return rerun


class Project:
    """A pipeline module in a temporary directory, reloaded under a stable name after edits."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.path = directory / "pipe.py"
        self.root = directory / "data"
        self.name = f"assetry_prop_{next(_ids)}"

    def run(self, nodes):
        self.path.write_text(source(nodes))
        spec = importlib.util.spec_from_file_location(self.name, self.path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[self.name] = module
        try:
            spec.loader.exec_module(module)
            result = materialize(module, root=self.root, executor="sync")
            # A version put back (restored) stands for a rerun: same fingerprint, same product.
            restored = {n for n, why in result.reasons.items() if why.startswith("restored")}
            return set(result.materialized) | restored
        finally:
            del sys.modules[self.name]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_exactly_the_changed_assets_rerun_then_nothing(data):
    """Each edit reruns exactly the predicted set (early cutoff included); a rerun does nothing."""
    nodes = data.draw(graphs())
    steps = data.draw(st.lists(edits(len(nodes)), min_size=1, max_size=3))
    with tempfile.TemporaryDirectory() as tmp:
        project = Project(pathlib.Path(tmp))
        assert project.run(nodes) == {f"a{i}" for i in range(len(nodes))}
        stored: dict[int, int] = {}
        seen: dict[int, tuple[int, ...]] = {}
        for i in range(len(nodes)):
            seen[i] = tuple(stored[p] for p in nodes[i].parents)
            stored[i] = value(nodes, i, stored)
        for kind, k, const in steps:
            new = list(nodes)
            deleted = set()
            if kind == "const":
                new[k] = attrs.evolve(nodes[k], const=const)
            elif kind == "refactor":
                new[k] = attrs.evolve(nodes[k], variant=1 - nodes[k].variant)
            else:
                (project.root / f"a{k}.json").unlink()
                deleted.add(k)
            expected = expected_reruns(nodes, new, seen, stored, deleted)
            assert project.run(new) == expected, (kind, k, source(new))
            assert project.run(new) == set()
            nodes = new
