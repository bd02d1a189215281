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

Reading costs a run little (docs/ui.md, "Live updates"): every refresh asks
all its questions through one reader (:meth:`Board.reading`: one ``ATTACH`` of
the file, not one per query), gathers the rows first and works on them after
letting the file go; ``/api/version`` is answered from one read shared by every
tab for :data:`POLL_CACHE_S`; and while a run goes, a refresh reads only that
run's rows and the figures of the assets they touched, the rest (the last
attempts before the run, the graph's shape) is kept from the refresh that saw
the run begin.

It reads only, through :func:`assetry.records.connect` read-only; it renders nothing.

Longer than 400 lines: the states, and the incremental reads they are made of,
share one board's caches, locks and reader; split in two, each half would reach
into the other's state.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs

from assetry.catalog import Catalog
from assetry.errors import CatalogError
from assetry.records import connect, pid_alive

__all__ = ["OK_STATUSES", "PLAN_TTL_S", "POLL_CACHE_S", "STATES", "Board", "Source"]

#: The states a node is shown in, in the legend's order.
STATES = ("fresh", "stale", "running", "failed", "blocked", "never materialized")
#: Statuses of a ``materializations`` row after which the step's product is current.
OK_STATUSES = ("materialized", "skipped", "accepted", "restored", "observed")
#: The plan is recomputed at least this often (products may change outside assetry).
PLAN_TTL_S = 10.0
#: ... and at most this often while the catalog keeps changing.
PLAN_MIN_S = 1.0
#: ``/api/version`` reads the catalog at most this often, however many tabs poll it.
POLL_CACHE_S = 0.2
#: ``/api/assets`` is computed at most this often, however many tabs ask.
ASSETS_CACHE_S = 0.3
#: ``/api/assets`` uses the rows a poll of ``/api/version`` read this recently (the page asks
#: for the states right after the version changed): one read of the catalog per poll.
PREFETCH_S = 0.5

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
#: Changes when the graph's edges do (a run rewrites its assets' dependencies as it starts).
_EDGES_SIGNATURE = "SELECT count(*), bit_xor(hash(asset, upstream)) FROM dependencies"
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
class _Rows:
    """What a refresh read: kept while a run goes, so the next refresh reads only its rows."""

    version: Any
    run_id: str | None
    structure: Any
    last: dict[tuple[str, str | None], tuple[str, str, str | None]]
    figures: dict[str, tuple[float | None, int | None]]
    #: The run's rows: (status, reason, error, duration_s) by (asset, partition).
    live: dict[tuple[str, str | None], tuple[Any, ...]]
    edges: Any = None
    #: Every (asset, partition) of ``structure`` (without a TARGET: to see a run bring new ones).
    steps: frozenset[tuple[str, str | None]] | None = None
    #: How many rows the run has (``live`` keeps the last of each step).
    n_live: int = 0
    #: The rows of the run that ended last, and when this board saw it end: until a plan made
    #: after that, they say more than the plan made before the run.
    recent: dict[tuple[str, str | None], tuple[Any, ...]] = attrs.field(factory=dict)
    ended_at: float = 0.0
    #: When it was read, and the run going on then (None: none).
    at: float = 0.0
    run: dict[str, Any] | None = None


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
        #: Counts the plans made: part of the page's version, so a plan made in the
        #: background reaches the page at its next poll.
        self.plan_serial = 0
        self._planning: threading.Thread | None = None
        self._cache: tuple[float, Any, list[dict[str, Any]], Any] | None = None
        self._shape: tuple[Any, Any] | None = None  # (catalog version, structure)
        self._rows_read: _Rows | None = None
        self._linked: tuple[Any, Any] | None = None
        self._poll_lock = threading.Lock()
        self._polled: tuple[float, tuple[Any, dict[str, Any] | None]] | None = None
        self._local = threading.local()

    # -- reading ------------------------------------------------------------------------

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Ask every question inside through one reader of the catalog (one ``ATTACH``).

        Re-entrant, per thread. Keep the block to the queries: a run's next
        batch waits while the file is held (docs/catalog.md, "Reading during a run").
        """
        if getattr(self._local, "con", None) is not None or not self.catalog.path.exists():
            yield
            return
        con = connect(self.catalog.path, read_only=True)
        self._local.con = con
        try:
            yield
        finally:
            self._local.con = None
            con.close()

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        """A read-only query as a ``pl.DataFrame``, through the thread's reader if one is open."""
        con = getattr(self._local, "con", None)
        if con is None:
            return self.catalog.sql(query, params)
        import duckdb

        try:
            return con.sql(query, params=params or None).pl()
        except duckdb.Error as exc:
            raise CatalogError(f"query on catalog {str(self.catalog.path)!r} failed: {exc}") from exc

    def rows(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """A read-only query's rows as tuples (no data frame: the cheap way for many small reads)."""
        with self.reading():
            con = getattr(self._local, "con", None)
            if con is None:  # no catalog file: Catalog.sql says so
                return self.catalog.sql(query, params).rows()  # type: ignore[no-any-return]
            import duckdb

            try:
                return con.execute(query, params or []).fetchall()  # type: ignore[no-any-return]
            except duckdb.Error as exc:
                raise CatalogError(
                    f"query on catalog {str(self.catalog.path)!r} failed: {exc}") from exc

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
        with self.reading():
            version = self.version()
            if self._shape is None or self._shape[0] != version:
                self._shape = (version, self._catalog_structure())
        return self._shape[1]  # type: ignore[no-any-return]

    def _catalog_structure(self) -> tuple[list[str], list[tuple[str, str]], dict[str, str],
                                          dict[str, tuple[str, ...]]]:
        if not self.catalog.path.exists():
            return [], [], {}, {}
        with self.reading():
            edges = [tuple(r) for r in self.rows(
                "SELECT DISTINCT upstream, asset FROM dependencies ORDER BY asset, upstream")]
            names = sorted({r[0] for r in self.rows(
                "SELECT asset FROM assets UNION SELECT asset FROM materializations "
                "UNION SELECT asset FROM dependencies UNION SELECT upstream FROM dependencies")})
            kinds = dict(self.rows(  # type: ignore[arg-type]
                "SELECT asset, any_value(kind) FROM assets WHERE kind IS NOT NULL GROUP BY asset")
            ) if _has_column(self, "assets", "kind") else {}
            parts: dict[str, list[str]] = {}
            for name, key in self.rows(
                "SELECT DISTINCT asset, partition FROM (SELECT asset, partition FROM assets UNION ALL "
                "SELECT asset, partition FROM materializations) WHERE partition IS NOT NULL "
                "ORDER BY asset, partition"
            ):
                parts.setdefault(name, []).append(key)
        known = set(names)
        edges = [e for e in edges if e[0] in known and e[1] in known]
        return names, edges, {n: _kind(kinds.get(n)) for n in names}, {  # type: ignore[return-value]
            n: tuple(k) for n, k in parts.items()}

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
        return self.rows(_VERSION)[0]

    def active_run(self) -> dict[str, Any] | None:
        """The run going on now (``running``, its process alive on this host), else None."""
        if not self.catalog.path.exists():
            return None
        for run_id, started_at, pid in self.rows(
            "SELECT run_id, started_at, pid FROM runs WHERE status = 'running' "
            "ORDER BY started_at DESC"
        ):
            if pid is None or pid_alive(int(pid)):
                return {"run_id": run_id, "started_at": started_at, "pid": pid}
        return None

    def poll(self) -> tuple[Any, dict[str, Any] | None]:
        """What ``/api/version`` answers: the version, and the run going on with the steps it
        recorded so far. One read, shared by every caller for :data:`POLL_CACHE_S`.

        When the version changed, the same read takes the rows :meth:`assets` needs
        (the page asks for them next): one ``ATTACH`` per poll, not two.
        """
        with self._poll_lock:
            now = time.monotonic()
            if self._polled is not None and now - self._polled[0] < POLL_CACHE_S:
                return self._polled[1]
            with self.reading():
                version = self.version()
                run = self.active_run()
                if run is not None:
                    run["recorded"] = self.rows(
                        "SELECT count(*) FROM materializations WHERE run_id = ?", [run["run_id"]]
                    )[0][0]
                before = self._rows_read
                # Not while the states are being worked out (or planned): the file stays held
                # only for reading, and /api/assets then reads for itself.
                if before is not None and before.version != version and self._lock.acquire(
                        blocking=False):
                    try:
                        self._read(version, run)
                    finally:
                        self._lock.release()
            self._polled = (time.monotonic(), (version, run))
        self._plan_when_due(version, run)
        return version, run

    def _plan_when_due(self, version: Any, run: dict[str, Any] | None) -> None:
        """Have the plan made again when it is due (:meth:`_current_plan`'s rule), though no
        page asked for the assets: a page asks only when the version it polls moves, and the
        new plan's serial is part of that version. Not while a run goes, nor before a first
        plan (a page's request makes that one, and waits for it)."""
        if self._plan is None or run is not None or not self._lock.acquire(blocking=False):
            return  # a page being answered plans for itself
        try:
            if self._plan is not None:  # not dropped meanwhile by a run the page started
                self._current_plan(version, running=False)
        finally:
            self._lock.release()

    def assets(self) -> list[dict[str, Any]]:
        """Every asset's state, as ``/api/assets`` returns it (cached for a fraction of a second).

        The catalog is read first, in one read (while a run goes, only what it
        recorded since); the states are worked out after the file is let go.
        Call it outside :meth:`reading`: the plan (with a TARGET) opens the catalog itself.
        """
        return self.snapshot()[0]

    def snapshot(self) -> tuple[list[dict[str, Any]], Any]:
        """:meth:`assets` and the :meth:`structure` they were read with, together."""
        with self._lock:
            now = time.monotonic()
            cache = self._cache
            if cache is not None and now - cache[0] < ASSETS_CACHE_S:
                return cache[2], cache[3]
            read = self._rows_read
            if read is None or now - read.at >= PREFETCH_S:  # not read by a poll just now
                with self.reading():
                    version = self.version()
                    if cache is not None and cache[1] == version and now - cache[0] < 2:
                        return cache[2], cache[3]
                    read = self._read(version, self.active_run())
            elif cache is not None and cache[1] == read.version and now - cache[0] < 2:
                return cache[2], cache[3]
            plan = self._current_plan(read.version, read.run is not None)
            nodes = self._nodes(plan, read.run, read)
            self._cache = (now, read.version, nodes, read.structure)
            return nodes, read.structure

    def _read(self, version: Any, run: dict[str, Any] | None) -> _Rows:
        """The rows the states are made of, read in the caller's :meth:`reading`.

        While the run seen last goes on (or has just ended, or has just begun
        and nothing else changed the catalog since), only its rows are read
        again, and the figures of the assets they touched: the last attempts
        before it and the graph's shape are kept. Otherwise everything is read.
        """
        run_id = run["run_id"] if run else None
        before = self._rows_read
        if before is not None and before.version == version and before.run_id == run_id:
            read = attrs.evolve(before, at=time.monotonic(), run=run)
        elif before is not None and self._follows(before, version, run_id):
            read = self._read_run(before, version, run_id or before.run_id)  # type: ignore[arg-type]
            if run_id is None:  # the run ended: its rows are the last attempts now
                last = {**read.last, **{k: v[:3] for k, v in read.live.items()}}
                read = attrs.evolve(read, run_id=None, last=last, live={}, n_live=0,
                                    recent=read.live, ended_at=time.monotonic())
        else:
            structure = self.structure() if self._graph is not None else self._catalog_structure()
            live, n_live = self._run_rows(run_id) if run_id else ({}, 0)
            read = _Rows(version, run_id, structure, self._last_attempts(), self._figures(), live,
                         edges=self._edges(), n_live=n_live,
                         steps=_steps(structure) if self._graph is None else None)
        read = attrs.evolve(read, at=time.monotonic(), run=run)
        self._rows_read = read
        if self._graph is None:
            self._shape = (version, read.structure)
        return read

    def _follows(self, before: _Rows, version: Any, run_id: str | None) -> bool:
        """Whether only one run's rows can have changed the catalog since ``before``.

        ``version`` is (rows of materializations, their latest start, runs, the
        latest end, runs going): the same run going on; or a run that has just
        begun (one run more, no other ended, every new row its own, checked by
        :meth:`_read_run`); or the run seen last that has just ended.
        """
        if version is None or before.version is None:
            return False
        if before.run_id is not None:
            return run_id in (before.run_id, None) and version[2] == before.version[2]
        return run_id is not None and version[2] == before.version[2] + 1 and (
            version[3] == before.version[3])

    def _read_run(self, before: _Rows, version: Any, run_id: str) -> _Rows:
        live, n_live = self._run_rows(run_id)
        if version[0] - before.version[0] != n_live - (
                before.n_live if before.run_id == run_id else 0):  # another's rows, or deletions
            structure = self.structure() if self._graph is not None else self._catalog_structure()
            return _Rows(version, run_id, structure, self._last_attempts(), self._figures(), live,
                         edges=self._edges(), n_live=n_live,
                         steps=_steps(structure) if self._graph is None else None)
        old_live = before.live if before.run_id == run_id else {}
        touched = sorted({k[0] for k, row in live.items() if old_live.get(k) != row})
        figures = before.figures
        if touched:
            figures = {**figures, **self._run_figures(touched, live, figures)}
        structure, edges, steps = before.structure, before.edges, before.steps
        if self._graph is None:
            edges = self._edges()
            if edges != before.edges or steps is None or any(k not in steps for k in live):
                structure = self._catalog_structure()  # the run brought new assets or edges
                steps = None
        if steps is None and self._graph is None:
            steps = _steps(structure)
        return _Rows(version, run_id, structure, before.last, figures, live, edges=edges,
                     steps=steps, n_live=n_live)

    def _run_figures(self, touched: list[str], live: dict[tuple[str, str | None], tuple[Any, ...]],
                     figures: dict[str, tuple[float | None, int | None]],
                     ) -> dict[str, tuple[float | None, int | None]]:
        """The figures of the assets a run just recorded, as :data:`_FIGURES` would say.

        The run is the latest to have materialized any of them, so their time is
        the sum of its materialized steps' durations (else the time they had); their
        rows are what the ``assets`` table holds for them now.
        """
        took: dict[str, float | None] = {}
        for (name, _), (status, _, _, seconds) in live.items():
            if status == "materialized":
                if seconds is not None:
                    took[name] = (took.get(name) or 0.0) + seconds
                else:
                    took.setdefault(name, None)
        held = dict(self.rows(
            "SELECT asset, sum(rows) FROM assets WHERE list_contains(?, asset) GROUP BY asset",
            [touched]))
        return {
            name: (took[name] if name in took else figures.get(name, (None, None))[0],
                   int(held[name]) if held.get(name) is not None else None)
            for name in touched
        }

    def replan(self) -> None:
        """Plan again at the next :meth:`assets`, and wait for it (before a run the page starts:
        during the run the plan made before it is kept)."""
        with self._lock:
            self._plan = None
            self._cache = None

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
            if running and age < PLAN_TTL_S * 6:
                # Planned before this run or at its start: its rows now say more than a plan,
                # and planning (observing every product) would take the run's CPU.
                return plan
            if plan.version == version and age < PLAN_TTL_S:
                return plan
        if plan is None:  # the first: the page waits for it
            self._plan = _Plan(now, version, *self._compute_plan(), during_run=running)
            self.plan_serial += 1
            return self._plan
        if self._planning is None or not self._planning.is_alive():
            # Planning observes every product (a fraction of a second for thousands): it goes
            # on in the background, and the page shows the plan it has until then.
            self._planning = threading.Thread(target=self._plan_again, args=(version, running),
                                              name="assetry-ui-plan", daemon=True)
            self._planning.start()
        return plan

    def _plan_again(self, version: Any, running: bool) -> None:
        at = time.monotonic()
        steps, error = self._compute_plan()
        with self._lock:
            if self._plan is None or self._plan.at > at:
                return  # planned again meanwhile (replan): that plan is newer
            self._plan = _Plan(at, version, steps, error, during_run=running)
            self.plan_serial += 1
            self._cache = None

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

    def _nodes(self, plan: _Plan | None, run: dict[str, Any] | None,
               read: _Rows) -> list[dict[str, Any]]:
        names, _, kinds, parts = read.structure
        last, figures = read.last, read.figures
        live = read.live if run else {}
        if run is None and plan is not None and plan.at < read.ended_at:
            live = read.recent  # the plan predates the run that just ended: its rows say more
        ups, downs, steps_of = self._links(read.structure)
        done = {n: sum(1 for k in steps_of[n] if _recorded(live.get((n, k)))) for n in names
                } if run is not None else {}

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

    def _links(self, structure: Any) -> tuple[dict[str, list[str]], dict[str, list[str]],
                                              dict[str, tuple[str | None, ...]]]:
        """Each asset's upstream, downstream and steps: worked out once per shape read."""
        cached = self._linked
        if cached is not None and cached[0] is structure:
            return cached[1]
        names, edges, _, parts = structure
        ups: dict[str, list[str]] = {n: [] for n in names}
        downs: dict[str, list[str]] = {n: [] for n in names}
        for up, down in edges:
            ups[down].append(up)
            downs[up].append(down)
        links = ups, downs, {n: parts.get(n, (None,)) for n in names}
        self._linked = (structure, links)
        return links

    def _edges(self) -> Any:
        """A value that changes with the ``dependencies`` table (None with a TARGET: its graph)."""
        if self._graph is not None or not self.catalog.path.exists():
            return None
        return self.rows(_EDGES_SIGNATURE)[0]

    def _last_attempts(self) -> dict[tuple[str, str | None], tuple[str, str, str | None]]:
        if not self.catalog.path.exists():
            return {}
        return {(a, p): (s, r, e) for a, p, s, r, e in self.rows(_LAST_ATTEMPT)}

    def _figures(self) -> dict[str, tuple[float | None, int | None]]:
        if not self.catalog.path.exists():
            return {}
        return {a: (s, int(n) if n is not None else None) for a, s, n in self.rows(_FIGURES)}

    def _run_rows(self, run_id: str) -> tuple[dict[tuple[str, str | None], tuple[Any, ...]], int]:
        """The run's steps, the last row of each; and how many rows it has."""
        found = self.rows(
            "SELECT asset, partition, status, reason, error, duration_s FROM materializations "
            "WHERE run_id = ? ORDER BY started_at", [run_id])
        return {(a, p): (s, r, e, d) for a, p, s, r, e, d in found}, len(found)


def _steps(structure: Any) -> frozenset[tuple[str, str | None]]:
    """Every (asset, partition) of a structure (names, edges, kinds, partition keys)."""
    return frozenset((n, k) for n in structure[0] for k in structure[3].get(n, (None,)))


def _recorded(row: tuple[Any, ...] | None) -> bool:
    """Whether the run recorded a step in a way that lets its downstream go on (or block)."""
    return row is not None and row[0] in (*OK_STATUSES, "failed", "blocked")


def _step_state(step: tuple[str, str | None], plan: _Plan | None,
                last: dict[tuple[str, str | None], tuple[str, str, str | None]],
                live: dict[tuple[str, str | None], tuple[Any, ...]],
                ready: bool) -> tuple[str, str, str | None]:
    """(state, reason, error) of one step: the run going on, else the plan and last attempt."""
    planned = plan.steps.get(step) if plan is not None else None
    row = live.get(step)
    if row is not None:
        status, reason, error = row[:3]
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
    if not partitioned and len(states) == 1:  # most assets: one step, nothing to count
        state, reason, error = states[0]
        return {"asset": name, "state": state, "fresh": state == "fresh", "reason": reason,
                "error": error, "partitions": None}
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


def _has_column(board: Board, table: str, column: str) -> bool:
    return bool(board.rows(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
        [table, column])[0][0])
