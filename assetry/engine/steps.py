"""Steps: a run's units of work, one per unpartitioned asset and one per partition.

A step is ``(asset, partition key)``, with ``None`` for an unpartitioned
asset. This module owns expanding a selection into steps (narrowed by
``materialize(partitions=...)``), wiring steps to their upstream steps, and
combining the states of upstream steps (:class:`~assetry.engine.state.StepState`)
into what the planner needs of them (:class:`~assetry.engine.planner.UpstreamState`).
It is pure: no file, no catalog.

The wiring follows the partitions of both ends of an edge:

- unpartitioned -> anything: the one upstream step;
- partitioned -> partitioned (same kind of partitions): partition to partition;
- partitioned -> unpartitioned: every partition of the upstream's set, combined
  into one fingerprint (:func:`assetry.partitions.combined_fingerprint`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from assetry._surface import option_hint
from assetry.assets.graph import AssetGraph
from assetry.engine.planner import BLOCKED, FAILED, UpstreamState
from assetry.engine.state import STALE, UNKNOWN, StepState
from assetry.errors import AssetGraphError
from assetry.fingerprints import combined_fingerprint
from assetry.partitions import Partitions

__all__ = ["StepKey", "Steps", "expand", "forced_names", "label", "run_keys", "upstream_state", "upstream_steps"]

#: ``(asset, partition key)``; the key is None for an unpartitioned asset.
StepKey = tuple[str, str | None]

_BAD = (FAILED, BLOCKED)


def label(step: StepKey) -> str:
    """``asset`` or ``asset[key]``, as results and reporters name a step.

    Examples:
        >>> label(("daily", "2013-01-01")), label(("summary", None))
        ('daily[2013-01-01]', 'summary')
    """
    name, key = step
    return name if key is None else f"{name}[{key}]"


def run_keys(graph: AssetGraph, selected: Iterable[str], partitions: Any = None) -> dict[str, tuple[str, ...] | None]:
    """The partition keys each selected asset runs: all of them, or the ``partitions=`` selection.

    The sources the selected assets read are added: a run observes them.
    Unpartitioned assets map to None.
    """
    chosen = graph.with_sources(selected)
    specs = graph.specs
    sets = {n: p for n in chosen if (p := specs[n].partitions) is not None}
    narrowed = select_keys(sets, partitions) if partitions is not None else {}  # type: ignore[arg-type]
    out: dict[str, tuple[str, ...] | None] = dict.fromkeys(chosen)
    for name, parts in sets.items():
        out[name] = narrowed.get(name, parts.keys())
    return out


def upstream_steps(graph: AssetGraph, step: StepKey) -> list[StepKey]:
    """Every upstream step that ``step`` waits for, whether or not it is in the run."""
    name, key = step
    mine = graph.specs[name].partitions
    out: list[StepKey] = []
    for up in graph.upstream[name]:
        theirs = graph.specs[up].partitions
        if theirs is None:
            out.append((up, None))
        elif mine is not None:
            out.append((up, key))
        else:
            out.extend((up, k) for k in theirs)
    return out


@attrs.define
class Steps:
    """A run's steps in dependency order, with what each waits for."""

    order: list[StepKey]
    waiting: dict[StepKey, int]
    children: dict[StepKey, list[StepKey]]
    #: Upstream steps outside the run: their products are observed, not made.
    external: list[StepKey]


def expand(graph: AssetGraph, keys: Mapping[str, tuple[str, ...] | None]) -> Steps:
    """Expand the selected assets (``keys`` from :func:`run_keys`) into wired steps."""
    order: list[StepKey] = []
    for name in graph.order:
        if name in keys:
            run = keys[name]
            order.extend([(name, None)] if run is None else [(name, k) for k in run])
    in_run = set(order)
    waiting = dict.fromkeys(order, 0)
    children: dict[StepKey, list[StepKey]] = {s: [] for s in order}
    external: dict[StepKey, None] = {}
    upstream_of: Callable[[StepKey], list[StepKey]] = functools.partial(upstream_steps, graph)
    if all(spec.partitions is None for spec in graph.specs.values()):
        # No partitions anywhere: a step waits for its upstream names' one step each.
        names = graph.upstream
        upstream_of = lambda step: [(n, None) for n in names[step[0]]]
    for step in order:
        for up in upstream_of(step):
            if up in in_run:
                waiting[step] += 1
                children[up].append(step)
            else:
                external[up] = None
    return Steps(order, waiting, children, list(external))


def upstream_state(
    graph: AssetGraph, step: StepKey, states: Mapping[StepKey, StepState]
) -> UpstreamState:
    """Combine the states of a step's upstream steps into what the planner needs.

    An unpartitioned step fed by a partitioned asset gets every stored
    partition of that asset's set (missing ones are left out; none stored is
    ``missing``), and depends on their combined fingerprint.
    """
    name, key = step
    mine = graph.specs[name].partitions
    bad: list[str] = []
    stale: list[str] = []
    missing: list[StepKey] = []
    fps: dict[str, str] = {}
    parts: dict[str, tuple[str, ...]] = {}
    for up in graph.upstream[name]:
        theirs = graph.specs[up].partitions
        if theirs is None or mine is not None:
            one: StepKey = (up, None if theirs is None else key)
            state = states.get(one, UNKNOWN)
            if state.status in _BAD:
                bad.append(up)
                continue
            if state.status == STALE:
                stale.append(up)
            if state.data_fingerprint is None:
                missing.append(one)
            else:
                fps[up] = state.data_fingerprint
            continue
        every = [(k, states.get((up, k), UNKNOWN)) for k in theirs]
        if any(s.status in _BAD for _, s in every):
            bad.append(up)
            continue
        if any(s.status == STALE for _, s in every):
            stale.append(up)
        present = [(k, s.data_fingerprint) for k, s in every if s.data_fingerprint is not None]
        if present:
            fps[up] = combined_fingerprint(present)  # type: ignore[arg-type]
            parts[up] = tuple(k for k, _ in present)
        else:
            missing.append((up, None))
    if not (bad or missing or stale):  # the usual case, kept cheap for wide no-op runs
        return UpstreamState(fps, partitions=parts)
    return UpstreamState(fps, tuple(bad), tuple(s[0] for s in missing), tuple(missing),
                         tuple(stale), parts)


def selection_items(selection: Any) -> tuple[str, ...]:
    """Normalise ``materialize(partitions=...)`` into strings: keys and ``first..last`` ranges.

    Examples:
        >>> import datetime
        >>> selection_items(["2013-01-01..2013-01-31", datetime.date(2013, 2, 1)])
        ('2013-01-01..2013-01-31', '2013-02-01')
    """
    if isinstance(selection, (str, dt.date)):
        selection = [selection]
    if not isinstance(selection, Iterable):
        raise AssetGraphError(
            f"{option_hint('partitions')} {selection!r} is not a key, a 'first..last' range or a list of these"
        )
    items = []
    for item in selection:
        if isinstance(item, dt.date):
            item = (item.date() if isinstance(item, dt.datetime) else item).isoformat()
        if not isinstance(item, str) or not item.strip():
            raise AssetGraphError(
                f"{option_hint('partitions')} entry {item!r} is not a key or a 'first..last' range"
            )
        items.append(item.strip())
    return tuple(items)


def select_keys(
    sets: Mapping[str, Partitions], selection: Any
) -> dict[str, tuple[str, ...]]:
    """The keys each partitioned asset runs for a selection; every item must name something.

    Examples:
        >>> from assetry.partitions import DailyPartitions
        >>> select_keys({"d": DailyPartitions("2013-01-01", "2013-01-31")}, "2013-01-30..2013-02-02")
        {'d': ('2013-01-30', '2013-01-31')}
    """
    items = selection_items(selection)
    chosen: dict[str, dict[str, None]] = {name: {} for name in sets}
    unmatched = []
    for item in items:
        hit = False
        for name, parts in sets.items():
            keys = parts.match(item)
            if keys:
                hit = True
                chosen[name].update(dict.fromkeys(keys))
        if not hit:
            unmatched.append(item)
    if unmatched:
        known = "; ".join(f"{n}: {p.describe()}" for n, p in sets.items()) or "none selected"
        raise AssetGraphError(
            f"{option_hint('partitions')} names {', '.join(map(repr, unmatched))}, which no selected "
            f"partitioned asset has (their partitions: {known})"
        )
    order = {name: {k: i for i, k in enumerate(parts.keys())} for name, parts in sets.items()}
    return {n: tuple(sorted(ks, key=order[n].__getitem__)) for n, ks in chosen.items()}


def forced_names(force: bool | str | Iterable[str], graph: AssetGraph) -> set[str]:
    """The names ``force`` (True, a name or names) makes run; the runner and the plan read it alike."""
    if force is True:
        return set(graph.specs)
    if not force:
        return set()
    names = {force} if isinstance(force, str) else set(force)
    unknown = sorted(names - set(graph.specs))
    if unknown:
        raise AssetGraphError(f"force names unknown asset(s): {', '.join(map(repr, unknown))}")
    return names
