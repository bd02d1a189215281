"""What the page shows about the graph: every asset's state, read from the catalog, live.

A :class:`Board` answers for one catalog (and, when ``assetry ui`` was given a
TARGET, its assets): the names and edges to draw, and for every asset its
state (``fresh``, ``stale``, ``running``, ``failed``, ``blocked``, ``never
materialized``), the reason in the words of ``assetry status``, and its
partitions counted by state.

Where the state comes from:

- the plan (TARGET given): :meth:`Catalog.status <assetry.catalog.Catalog.status>`,
  per partition; it observes every product, so it is recomputed when the
  catalog changed (not while a run goes: the run's own rows say more) and at
  least every :data:`PLAN_TTL_S` seconds, in case a product changed outside assetry;
- the catalog's last attempt at each step: ``failed`` and ``blocked`` stay
  until a later attempt succeeds; without a TARGET it is all there is;
- the run going on now (a ``runs`` row ``running`` whose process is alive):
  a step it recorded is what it recorded; a step it has not recorded yet,
  whose upstream assets it has all recorded, is ``running`` (ready or at work).

It reads only, through :class:`~assetry.catalog.Catalog`; it renders nothing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import attrs

from assetry.catalog import Catalog
from assetry.records import pid_alive

__all__ = ["OK_STATUSES", "PLAN_TTL_S", "STATES", "Board", "Source"]

#: The states a node is shown in, in the legend's order.
STATES = ("fresh", "stale", "running", "failed", "blocked", "never materialized")
#: Statuses of a ``materializations`` row after which the step's product is current.
OK_STATUSES = ("materialized", "skipped", "accepted", "restored", "observed")
#: The plan is recomputed at least this often (products may change outside assetry).
PLAN_TTL_S = 10.0
#: ... and at most this often while the catalog keeps changing.
PLAN_MIN_S = 1.0

_LAST_ATTEMPT = """
SELECT asset, partition, arg_max(status, started_at) AS status, arg_max(reason, started_at) AS reason,
       arg_max(error, started_at) AS error
FROM materializations GROUP BY asset, partition
"""
_FIGURES = """
WITH done AS (SELECT asset, run_id, duration_s, started_at FROM materializations
              WHERE status = 'materialized'),
latest AS (SELECT asset, arg_max(run_id, started_at) AS run_id FROM done GROUP BY asset),
took AS (SELECT asset, sum(duration_s) AS seconds FROM done JOIN latest USING (asset, run_id)
         GROUP BY asset),
held AS (SELECT asset, sum(rows) AS n FROM assets GROUP BY asset)
SELECT coalesce(took.asset, held.asset) AS asset, took.seconds, held.n
FROM took FULL JOIN held ON took.asset = held.asset
"""
_VERSION = """
SELECT (SELECT count(*) FROM materializations), (SELECT max(started_at) FROM materializations),
       (SELECT count(*) FROM runs), (SELECT max(finished_at) FROM runs),
       (SELECT count(*) FROM runs WHERE status = 'running')
"""


@attrs.frozen
class Source:
    """What ``assetry ui`` was started on: a catalog, and optionally a TARGET's assets.

    Examples:
        >>> Source(catalog=pathlib.Path("data/catalog.duckdb")).writable  # doctest: +SKIP
        False
    """

    #: The catalog file.
    catalog: Any
    #: The TARGET's assets as a run takes them (modules, or specs with clients bound); None without.
    assets: Any = None
    #: The TARGET as given on the command line, for runs started from the page.
    target: str | None = None
    #: Where the TARGET's products go (``--root`` or the spec's); None: the catalog's runs say.
    root: Any = None
    config: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    #: The command line's options that a run started from the page repeats (``--root``, ``-c``).
    run_options: tuple[str, ...] = ()

    @property
    def writable(self) -> bool:
        """Whether the page may start runs: only when a TARGET was given."""
        return self.target is not None


@attrs.define
class _Plan:
    at: float
    version: Any
    steps: dict[tuple[str, str | None], tuple[bool, str]]
    error: str | None = None
    #: Computed while a run went: kept for the rest of that run.
    during_run: bool = False


class Board:
    """The graph's live state for one catalog (and TARGET); thread-safe, cached briefly."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.catalog = Catalog(source.catalog, root=source.root)
        self._graph = None
        if source.assets is not None:
            from assetry.assets import AssetGraph

            self._graph = AssetGraph.build(source.assets)
        self._lock = threading.Lock()
        self._plan: _Plan | None = None
        self._cache: tuple[float, Any, list[dict[str, Any]]] | None = None
        self._shape: tuple[Any, Any] | None = None  # (catalog version, structure)

    # -- the shape ----------------------------------------------------------------------

    def structure(self) -> tuple[list[str], list[tuple[str, str]], dict[str, str],
                                 dict[str, tuple[str, ...]]]:
        """Names (in order), ``(upstream, asset)`` edges, kinds, and partition keys per asset."""
        if self._graph is not None:
            graph = self._graph
            names = list(graph.order)
            edges = [(up, name) for name in names for up in graph.upstream[name]]
            kinds = {n: _kind(graph.specs[n].kind) for n in names}
            parts = {n: tuple(graph.specs[n].partitions.keys())  # type: ignore[union-attr]
                     for n in names
                     if graph.specs[n].partitions is not None}
            return names, edges, kinds, parts
        version = self.version()
        if self._shape is None or self._shape[0] != version:
            self._shape = (version, self._catalog_structure())
        return self._shape[1]  # type: ignore[no-any-return]

    def _catalog_structure(self) -> tuple[list[str], list[tuple[str, str]], dict[str, str],
                                          dict[str, tuple[str, ...]]]:
        if not self.catalog.path.exists():
            return [], [], {}, {}
        edges = [tuple(r) for r in self.catalog.sql(
            "SELECT DISTINCT upstream, asset FROM dependencies ORDER BY asset, upstream").rows()]
        names = sorted({r[0] for r in self.catalog.sql(
            "SELECT asset FROM assets UNION SELECT asset FROM materializations "
            "UNION SELECT asset FROM dependencies UNION SELECT upstream FROM dependencies").rows()})
        kinds = dict(self.catalog.sql(
            "SELECT asset, any_value(kind) FROM assets WHERE kind IS NOT NULL GROUP BY asset").rows()
        ) if _has_column(self.catalog, "assets", "kind") else {}
        parts: dict[str, list[str]] = {}
        for name, key in self.catalog.sql(
            "SELECT DISTINCT asset, partition FROM (SELECT asset, partition FROM assets UNION ALL "
            "SELECT asset, partition FROM materializations) WHERE partition IS NOT NULL "
            "ORDER BY asset, partition"
        ).rows():
            parts.setdefault(name, []).append(key)
        known = set(names)
        edges = [e for e in edges if e[0] in known and e[1] in known]
        return names, edges, {n: _kind(kinds.get(n)) for n in names}, {
            n: tuple(k) for n, k in parts.items()}  # type: ignore[misc]

    def upstream(self) -> dict[str, list[str]]:
        """Each asset's upstream names."""
        names, edges, _, _ = self.structure()
        ups: dict[str, list[str]] = {n: [] for n in names}
        for up, down in edges:
            ups.setdefault(down, []).append(up)
        return ups

    def description(self, name: str) -> str | None:
        """The asset's description or the first line of its docstring (TARGET only)."""
        if self._graph is None or name not in self._graph.specs:
            return None
        spec = self._graph.specs[name]
        text = spec.description or getattr(spec.fn, "__doc__", None) or ""
        return text.strip() or None

    # -- the state ----------------------------------------------------------------------

    def version(self) -> Any:
        """A value that changes whenever the catalog does (a new row, a finished run)."""
        if not self.catalog.path.exists():
            return None
        return self.catalog.sql(_VERSION).row(0)

    def active_run(self) -> dict[str, Any] | None:
        """The run going on now (``running``, its process alive on this host), else None."""
        if not self.catalog.path.exists():
            return None
        for row in self.catalog.sql(
            "SELECT run_id, started_at, pid FROM runs WHERE status = 'running' "
            "ORDER BY started_at DESC"
        ).iter_rows(named=True):
            if row["pid"] is None or pid_alive(int(row["pid"])):
                return row
        return None

    def assets(self) -> list[dict[str, Any]]:
        """Every asset's state, as ``/api/assets`` returns it (cached for a fraction of a second)."""
        with self._lock:
            now = time.monotonic()
            if self._cache is not None and now - self._cache[0] < 0.3:
                return self._cache[2]
            version = self.version()
            if self._cache is not None and self._cache[1] == version and now - self._cache[0] < 2:
                return self._cache[2]
            run = self.active_run()
            plan = self._current_plan(version, run is not None)
            nodes = self._nodes(plan, run)
            self._cache = (now, version, nodes)
            return nodes

    def plan_error(self) -> str | None:
        """Why the plan could not be computed (shown on the page), else None."""
        return self._plan.error if self._plan is not None else None

    def _current_plan(self, version: Any, running: bool) -> _Plan | None:
        if self._graph is None:
            return None
        now = time.monotonic()
        plan = self._plan
        if plan is not None:
            age = now - plan.at
            if age < PLAN_MIN_S:
                return plan
            if running and plan.during_run and age < PLAN_TTL_S * 6:
                return plan  # planned at this run's start: its rows now say more than a plan
            if plan.version == version and age < PLAN_TTL_S:
                return plan
        self._plan = _Plan(now, version, *self._compute_plan(), during_run=running)
        return self._plan

    def _compute_plan(self) -> tuple[dict[tuple[str, str | None], tuple[bool, str]], str | None]:
        from assetry.errors import AssetError

        src = self.source
        try:
            frame = self.catalog.status(
                src.assets, config=src.config or None, root=src.root, partitions=True,
            )
        except AssetError as exc:
            return {}, str(exc).splitlines()[0]
        steps: dict[tuple[str, str | None], tuple[bool, str]] = {}
        parts = "partition" in frame.columns
        for row in frame.iter_rows(named=True):
            key = (row["asset"], row["partition"] if parts else None)
            steps[key] = (bool(row["fresh"]), row["reason"])
        return steps, None

    def _nodes(self, plan: _Plan | None, run: dict[str, Any] | None) -> list[dict[str, Any]]:
        names, edges, kinds, parts = self.structure()
        last = self._last_attempts()
        figures = self._figures()
        live = self._run_rows(run["run_id"]) if run else {}
        ups: dict[str, list[str]] = {n: [] for n in names}
        downs: dict[str, list[str]] = {n: [] for n in names}
        for up, down in edges:
            ups[down].append(up)
            downs[up].append(down)
        steps_of = {n: parts.get(n, (None,)) for n in names}
        done = {n: sum(1 for k in steps_of[n] if _recorded(live.get((n, k)))) for n in names}

        def settled(up: str) -> bool:
            # An upstream the run recorded whole; with a plan, also one that is fresh and not
            # touched by the run (a run of a selection never records it; a full run skips it).
            if done[up] >= len(steps_of[up]):
                return True
            return plan is not None and done[up] == 0 and all(
                plan.steps.get((up, k), (False, ""))[0] for k in steps_of[up])

        nodes = []
        for name in names:
            # The run has reached an asset when every upstream is settled; without a plan only
            # an upstream the run recorded counts (nothing says what a run of a selection skips).
            ready = run is not None and all(settled(u) for u in ups[name] if u in steps_of) and (
                plan is not None or any(u in steps_of for u in ups[name]))
            states = [
                _step_state((name, key), plan, last, live, ready) for key in steps_of[name]
            ]
            node = _summarize(name, states, name in parts, plan)
            seconds, rows = figures.get(name, (None, None))
            node.update(kind=kinds.get(name, "asset"), upstream=ups[name], downstream=downs[name],
                        duration_s=seconds, rows=rows)
            nodes.append(node)
        return nodes

    def _last_attempts(self) -> dict[tuple[str, str | None], tuple[str, str, str | None]]:
        if not self.catalog.path.exists():
            return {}
        return {(a, p): (s, r, e) for a, p, s, r, e in self.catalog.sql(_LAST_ATTEMPT).rows()}

    def _figures(self) -> dict[str, tuple[float | None, int | None]]:
        if not self.catalog.path.exists():
            return {}
        return {a: (s, int(n) if n is not None else None)
                for a, s, n in self.catalog.sql(_FIGURES).rows()}

    def _run_rows(self, run_id: str) -> dict[tuple[str, str | None], tuple[str, str, str | None]]:
        return {(a, p): (s, r, e) for a, p, s, r, e in self.catalog.sql(
            "SELECT asset, partition, status, reason, error FROM materializations WHERE run_id = ?",
            [run_id]).rows()}


def _recorded(row: tuple[str, str, str | None] | None) -> bool:
    """Whether the run recorded a step in a way that lets its downstream go on (or block)."""
    return row is not None and row[0] in (*OK_STATUSES, "failed", "blocked")


def _step_state(step: tuple[str, str | None], plan: _Plan | None,
                last: dict[tuple[str, str | None], tuple[str, str, str | None]],
                live: dict[tuple[str, str | None], tuple[str, str, str | None]],
                ready: bool) -> tuple[str, str, str | None]:
    """(state, reason, error) of one step: the run going on, else the plan and last attempt."""
    planned = plan.steps.get(step) if plan is not None else None
    row = live.get(step)
    if row is not None:
        status, reason, error = row
        if status in OK_STATUSES:
            return "fresh", "up to date", None
        if status in ("failed", "blocked"):
            return status, (planned[1] if planned else reason), error
        return "stale", reason, error  # interrupted
    if ready and (planned is None or not planned[0]):
        return "running", planned[1] if planned else "running now", None
    previous = last.get(step)
    if planned is not None:
        fresh, reason = planned
        if fresh:
            return "fresh", reason, None
        if previous is not None and previous[0] in ("failed", "blocked"):
            return previous[0], reason, previous[2]
        if previous is None and reason == "never materialized":
            return "never materialized", reason, None
        return "stale", reason, None
    if previous is None:
        return "never materialized", "never materialized", None
    status, reason, error = previous
    if status in OK_STATUSES:
        return "fresh", "up to date at its last run", None
    if status in ("failed", "blocked"):
        return status, reason, error
    return "stale", reason or status, error


def _summarize(name: str, states: list[tuple[str, str, str | None]], partitioned: bool,
               plan: _Plan | None) -> dict[str, Any]:
    """One node from its steps' states: the worst state wins, partitions are counted."""
    counts = Counter(s for s, _, _ in states)
    for state in ("failed", "running", "blocked"):
        if counts[state]:
            break
    else:
        if counts["never materialized"] == len(states):
            state = "never materialized"
        elif counts["fresh"] == len(states):
            state = "fresh"
        else:
            state = "stale"
    errors = [e for _, _, e in states if e]
    if not partitioned:
        reason = states[0][1]
    elif plan is not None and all(s != "running" for s, _, _ in states):
        from assetry.engine.status import summarize_reasons

        reason = summarize_reasons([r for _, r, _ in states])
    else:
        reason = _count_words(counts) if counts["fresh"] != len(states) else "up to date"
    return {
        "asset": name, "state": state, "fresh": state == "fresh", "reason": reason,
        "error": errors[0] if errors else None,
        "partitions": ({"total": len(states), **{s: counts[s] for s in STATES}}
                       if partitioned else None),
    }


def _count_words(counts: Counter[str]) -> str:
    """``'300 fresh, 65 running'``: the partitions by state, in the legend's order."""
    return ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s])


def _kind(kind: str | None) -> str:
    return "asset" if kind in (None, "python", "asset") else str(kind)


def _has_column(catalog: Catalog, table: str, column: str) -> bool:
    return bool(catalog.sql(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
        [table, column]).item())
