"""The asset graph: edges by parameter name, validated once.

It owns collecting assets from modules and lists, finding dependencies by
parameter name, and rejecting a graph with a cycle, a duplicate or an unknown
name (every problem at once, one line each). It does no I/O and runs nothing.
"""

from __future__ import annotations

import collections
import types
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from assetry.assets.decorator import PARTITION_PARAM, Asset, AssetSpec
from assetry.assets.source import is_source
from assetry.errors import AssetGraphError

__all__ = ["AssetGraph", "collect"]


def collect(objs: Any) -> list[AssetSpec]:
    """Gather asset specs from an asset, a module, or a (nested) list of these."""
    if type(objs) is list and all(type(o) is AssetSpec for o in objs):
        return list({id(o): o for o in objs}.values())  # already collected (bind_clients)
    found: list[AssetSpec] = []
    seen: set[int] = set()

    def add(spec: AssetSpec) -> None:
        if id(spec) not in seen:
            seen.add(id(spec))
            found.append(spec)

    def walk(obj: Any) -> None:
        if isinstance(obj, Asset):
            add(obj.spec)
        elif isinstance(obj, AssetSpec):
            add(obj)
        elif isinstance(obj, types.ModuleType):
            for value in list(vars(obj).values()):
                if isinstance(value, Asset):
                    add(value.spec)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for item in obj:
                walk(item)
        else:
            raise AssetGraphError(
                f"cannot take assets from {type(obj).__name__} {obj!r}; give an asset, "
                "a module holding assets, or a list of these"
            )

    walk(objs)
    return found


@attrs.frozen
class AssetGraph:
    """A validated graph of assets in topological order.

    Examples:
        >>> from assetry import asset
        >>> @asset
        ... def a() -> list: return [1]
        >>> @asset
        ... def b(a: list) -> list: return a
        >>> AssetGraph.build([a, b]).upstream["b"]
        ('a',)
    """

    specs: Mapping[str, AssetSpec]
    #: upstream names per asset: value-passing parameters first, then ``deps=``.
    upstream: Mapping[str, tuple[str, ...]]
    #: parameter name -> upstream name, for the parameters that receive a value.
    inputs: Mapping[str, tuple[str, ...]]
    #: parameter name -> default, for config parameters.
    config: Mapping[str, Mapping[str, Any]]
    downstream: Mapping[str, tuple[str, ...]]
    order: tuple[str, ...]

    @classmethod
    def build(cls, objs: Any) -> AssetGraph:
        """Collect and validate; raises :class:`AssetGraphError` listing every problem."""
        specs = collect(objs)
        problems: list[str] = []
        by_name: dict[str, AssetSpec] = {}
        for spec in specs:
            other = by_name.get(spec.name)
            if other is not None and other.fn is not spec.fn:
                problems.append(
                    f"asset {spec.name!r} is defined twice: {other.location_hint} and "
                    f"{spec.location_hint}"
                )
                continue
            by_name[spec.name] = spec
        upstream: dict[str, tuple[str, ...]] = {}
        inputs: dict[str, tuple[str, ...]] = {}
        config: dict[str, dict[str, Any]] = {}
        for name, spec in by_name.items():
            if not spec.params and not spec.deps and spec.partitions is None:
                inputs[name] = upstream[name] = ()  # a source, or an asset without inputs
                config[name] = {}
                continue
            ins, conf = [], {}
            for p in spec.params:
                if p.name in by_name and p.name != name:
                    ins.append(p.name)
                elif p.name == PARTITION_PARAM and spec.partitions is not None:
                    continue
                elif p.has_default:
                    conf[p.name] = p.default
                elif p.name == PARTITION_PARAM:
                    problems.append(
                        f"asset {name!r} has parameter {p.name!r} but no partitions; declare "
                        "them with @asset(partitions=DailyPartitions(...)) or StaticPartitions([...])"
                    )
                else:
                    problems.append(_unknown_param(name, p.name, sorted(by_name)))
            for d in spec.deps:
                if d not in by_name:
                    problems.append(
                        f"asset {name!r} has deps entry {d!r}, which names no asset"
                        f"{_suggest(d, sorted(by_name))}"
                    )
            if spec.partitions is not None:
                problems.extend(_partition_problems(spec, by_name))
            inputs[name] = tuple(ins)  # parameter names are unique
            upstream[name] = (tuple(dict.fromkeys([*ins, *(d for d in spec.deps if d in by_name)]))
                              if spec.deps else inputs[name])
            config[name] = conf
        if problems:
            raise AssetGraphError("\n".join(problems))
        order = _toposort(upstream)
        downstream: dict[str, list[str]] = {n: [] for n in order}
        for n in order:
            for u in upstream[n]:
                downstream[u].append(n)
        return cls(
            specs=by_name,
            upstream=upstream,
            inputs=inputs,
            config=config,
            downstream={k: tuple(v) for k, v in downstream.items()},
            order=order,
        )

    def select(self, select: str | Iterable[str] | None) -> list[str]:
        """The names a selection picks, in topological order.

        ``"name"`` is the asset alone, ``"+name"`` adds all its upstream,
        ``"name+"`` all its downstream.
        """
        if select is None:
            return list(self.order)
        exprs = [select] if isinstance(select, str) else list(select)
        chosen: set[str] = set()
        for expr in exprs:
            raw = expr.strip()
            up, down = raw.startswith("+"), raw.endswith("+")
            name = raw.strip("+")
            if name not in self.specs:
                raise AssetGraphError(
                    f"selection {expr!r} names no asset{_suggest(name, sorted(self.specs))}"
                )
            chosen.add(name)
            if up:
                chosen |= self.ancestors(name)
            if down:
                chosen |= self.descendants(name)
        return [n for n in self.order if n in chosen]

    def with_sources(self, names: Iterable[str]) -> list[str]:
        """``names`` and every source one of them reads directly, in topological order.

        A run observes the sources its selected assets read, whether or not the
        selection names them.

        Examples:
            >>> from assetry import asset, source
            >>> raw = source("raw", "/data/raw.csv")
            >>> @asset
            ... def clean(raw: list) -> list: return raw
            >>> AssetGraph.build([raw, clean]).with_sources(["clean"])
            ['raw', 'clean']
        """
        chosen = set(names)
        if len(chosen) == len(self.order):  # the whole graph, sources and all
            return list(self.order)
        for name in list(chosen):
            chosen.update(u for u in self.upstream[name] if is_source(self.specs[u]))
        return [n for n in self.order if n in chosen]

    def sources(self) -> list[str]:
        """The names of the graph's sources, in topological order."""
        return [n for n in self.order if is_source(self.specs[n])]

    def ancestors(self, name: str) -> set[str]:
        """Every asset upstream of ``name`` (transitively)."""
        return _reach(name, self.upstream)

    def descendants(self, name: str) -> set[str]:
        """Every asset downstream of ``name`` (transitively)."""
        return _reach(name, self.downstream)


def _reach(start: str, edges: Mapping[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    stack = list(edges[start])
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(edges[n])
    return seen


def _partition_problems(spec: AssetSpec, by_name: Mapping[str, AssetSpec]) -> list[str]:
    """A partitioned asset maps partition to partition onto partitioned upstream of its kind."""
    mine = spec.partitions
    if mine is None:
        return []
    problems = []
    for upstream in dict.fromkeys([*(p.name for p in spec.params), *spec.deps]):
        up = by_name.get(upstream)
        theirs = up.partitions if up is not None and upstream != spec.name else None
        if theirs is None:
            continue
        if not theirs.compatible(mine):
            problems.append(
                f"asset {spec.name!r} is partitioned by {type(mine).__name__} but its upstream "
                f"{upstream!r} by {type(theirs).__name__}; partition both the same way, or drop "
                f"partitions= from {spec.name!r} to receive every partition at once"
            )
            continue
        known = set(theirs)
        extra = [k for k in mine if k not in known]
        if extra:
            problems.append(
                f"asset {spec.name!r} has partition(s) {', '.join(map(repr, extra[:3]))}"
                f"{' ...' if len(extra) > 3 else ''} that its upstream {upstream!r} lacks "
                f"({theirs.describe()}); narrow {spec.name!r}'s partitions or widen {upstream!r}'s"
            )
    return problems


def _suggest(name: str, names: list[str]) -> str:
    import difflib  # on first use: only a misspelt name needs it

    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"


def _unknown_param(asset: str, param: str, names: list[str]) -> str:
    hint = _suggest(param, names) or (
        "; give it a default to make it config, or define an asset of that name"
    )
    return f"asset {asset!r} has parameter {param!r}, which names no asset{hint}"


def _toposort(upstream: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    # Kahn's algorithm; ties keep definition order, so runs are reproducible.
    indegree = {n: len(us) for n, us in upstream.items()}
    children: dict[str, list[str]] = {n: [] for n in upstream}
    for n, us in upstream.items():
        for u in us:
            children[u].append(n)
    ready = collections.deque(n for n in upstream if indegree[n] == 0)
    order: list[str] = []
    while ready:
        n = ready.popleft()
        order.append(n)
        for c in children[n]:
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    if len(order) < len(upstream):
        raise AssetGraphError(_cycle_message(upstream, set(upstream) - set(order)))
    return tuple(order)


def _cycle_message(upstream: Mapping[str, tuple[str, ...]], stuck: set[str]) -> str:
    # Walk upstream edges inside the stuck set until a name repeats: that loop is a cycle.
    start = min(stuck)
    path = [start]
    while True:
        nxt = min(u for u in upstream[path[-1]] if u in stuck)
        if nxt in path:
            cycle = path[path.index(nxt):] + [nxt]
            break
        path.append(nxt)
    cycle.reverse()  # show the direction data flows: upstream -> downstream
    return "cycle in asset graph: " + " -> ".join(repr(n) for n in cycle)
