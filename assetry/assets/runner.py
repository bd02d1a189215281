"""The runner: ``materialize()`` executes a graph, asset by asset, as soon as each is ready.

It owns scheduling (an asset starts the moment its upstream is done, not level
by level), calling the planner for each asset, handing work to an executor,
and recording every outcome in the catalog. Freshness rules live in the
planner; the work of one asset lives in :mod:`assetry.assets.execution`.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import os
import time
import uuid
from collections import deque
from collections.abc import Iterable
from typing import Any

import attrs

from assetry.assets.context import RunContext, resolve_config
from assetry.assets.execution import Input, Outcome, Task, run_task
from assetry.assets.graph import AssetGraph
from assetry.assets.hooks import call_asset_hook, call_run_hook, materialize_error
from assetry.assets.planner import decide
from assetry.assets.result import MaterializeResult, StepRecord
from assetry.assets.roots import prepare_root
from assetry.catalog import CatalogWriter, connect, dumps_upstream, read_records
from assetry.errors import AssetError, AssetGraphError

__all__ = ["materialize", "now"]


def now() -> dt.datetime:
    """The current UTC time, naive (the catalog's TIMESTAMP columns are UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def materialize(
    assets: Any,
    *,
    select: str | Iterable[str] | None = None,
    force: bool | str | Iterable[str] = False,
    root: str | os.PathLike[str] = "data",
    catalog: str | os.PathLike[str] | None = None,
    executor: Any = "threads",
    max_workers: int | None = None,
    config: dict[str, dict[str, Any]] | None = None,
    partitions: Any = None,
    raise_on_error: bool = True,
    on_finish: Any = None,
    on_failure: Any = None,
    reporter: Any = None,
) -> MaterializeResult:
    """Run every selected asset that is stale, skip the fresh ones, record it all.

    Args:
        assets: an asset, a module holding assets, or a list of these.
        select: ``"name"``, ``"+name"`` (with upstream), ``"name+"`` (with downstream), or a list.
        force: True to run everything selected, or names to run even if fresh.
        root: the directory for file products.
        catalog: the DuckDB catalog file; default ``<root>/catalog.duckdb``.
        executor: ``"sync"``, ``"threads"``, ``"processes"`` or a ``dask.distributed.Client``.
        max_workers: parallel tasks at most (threads and processes).
        config: ``{asset: {param: value}}`` overrides of config parameters.
        partitions: keys or ``"first..last"`` for partitioned assets.
        raise_on_error: raise :class:`MaterializeError` at the end if anything failed.
        on_finish: ``f(result)`` called after every run.
        on_failure: ``f(result)`` called after a run with failures.
        reporter: an object told of progress (see :mod:`assetry.reporting`).

    Examples:
        >>> result = materialize([flights, delays], root="data")  # doctest: +SKIP
        >>> result.materialized  # doctest: +SKIP
        ['flights', 'delays']
    """
    graph = AssetGraph.build(assets)
    selected = graph.select(select)
    forced = _forced(force, graph)
    values = resolve_config(graph, config)
    root_path = prepare_root(root)
    catalog_path = os.path.abspath(catalog) if catalog is not None else str(root_path / "catalog.duckdb")
    if partitions is not None and not any(s.partitions for s in graph.specs.values()):
        raise AssetGraphError("partitions= was given, but no selected asset is partitioned")
    run = _Run(graph, selected, forced, values, root_path, catalog_path, reporter)
    result = run.execute(executor, max_workers)
    call_run_hook(on_finish, result, "on_finish")
    if not result.success:
        call_run_hook(on_failure, result, "on_failure")
        if raise_on_error:
            raise materialize_error(result)
    return result


def _forced(force: bool | str | Iterable[str], graph: AssetGraph) -> set[str]:
    if force is True:
        return set(graph.specs)
    if not force:
        return set()
    names = {force} if isinstance(force, str) else set(force)
    unknown = sorted(names - set(graph.specs))
    if unknown:
        raise AssetGraphError(f"force names unknown asset(s): {', '.join(map(repr, unknown))}")
    return names


@attrs.define
class _Run:
    graph: AssetGraph
    selected: list[str]
    forced: set[str]
    values: dict[str, dict[str, Any]]
    root: Any
    catalog_path: str
    reporter: Any
    run_id: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    ctx: RunContext = attrs.field(init=False)
    writer: CatalogWriter = attrs.field(init=False)
    result: MaterializeResult = attrs.field(init=False)
    status: dict[str, str] = attrs.field(factory=dict)
    data_fp: dict[str, str | None] = attrs.field(factory=dict)
    reasons: dict[str, str] = attrs.field(factory=dict)
    started: dict[str, dt.datetime] = attrs.field(factory=dict)
    intents: dict[str, Any] = attrs.field(factory=dict)

    def execute(self, executor: Any, max_workers: int | None) -> MaterializeResult:
        from assetry.assets.executors import make_executor

        t0 = time.perf_counter()
        con = connect(self.catalog_path)
        try:
            self.ctx = RunContext(self.graph, self.values, self.root, read_records(con))
            self.writer = CatalogWriter(con)
            self.result = MaterializeResult(run_id=self.run_id)
            self._start_records(executor)
            pool = make_executor(executor, max_workers)
            try:
                self._schedule(pool)
            finally:
                pool.shutdown()
                self.result.duration_s = time.perf_counter() - t0
                self._finish_records()
                self.writer.close()
        finally:
            con.close()
        if self.reporter is not None:
            self.reporter.run_finished(self.result)
        return self.result

    # -- scheduling ------------------------------------------------------------------------

    def _schedule(self, pool: Any) -> None:
        chosen = set(self.selected)
        for name in self.selected:
            for up in self.graph.upstream[name]:
                if up not in chosen and up not in self.status:
                    obs = self.ctx.observe(up)
                    self.status[up] = "external"
                    self.data_fp[up] = obs.data_fingerprint if obs else None
                    self._remember_product(up)
        waiting = {n: sum(u in chosen for u in self.graph.upstream[n]) for n in self.selected}
        ready = deque(n for n in self.selected if waiting[n] == 0)
        futures: dict[cf.Future[Outcome], str] = {}
        if self.reporter is not None:
            self.reporter.run_started(list(self.selected))
        while ready or futures:
            while ready:
                name = ready.popleft()
                task = self._plan(name)
                if task is None:
                    self._release(name, chosen, waiting, ready)
                else:
                    if self.reporter is not None:
                        self.reporter.asset_started(name)
                    self.started[name] = now()
                    futures[pool.submit(run_task, task)] = name
            if futures:
                done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    name = futures.pop(future)
                    self._complete(name, _outcome_of(future))
                    self._release(name, chosen, waiting, ready)

    def _release(self, name: str, chosen: set[str], waiting: dict[str, int], ready: deque[str]) -> None:
        for down in self.graph.downstream[name]:
            if down in chosen:
                waiting[down] -= 1
                if waiting[down] == 0:
                    ready.append(down)

    def _plan(self, name: str) -> Task | None:
        """Decide one asset; record a skip or a block and return None, or return its task."""
        ups = self.graph.upstream[name]
        bad = sorted(u for u in ups if self.status.get(u) in ("failed", "blocked"))
        if bad:
            self._record(name, "blocked", "upstream failed: " + ", ".join(bad))
            return None
        missing = sorted(u for u in ups if self.data_fp.get(u) is None)
        if missing:
            hint = ", ".join(repr(m) for m in missing)
            self._record(name, "failed", "upstream missing", error=(
                f"asset {name!r} needs {hint}, which has no stored product; select it too "
                f"(select='+{name}')"
            ))
            return None
        spec = self.graph.specs[name]
        intent = self.ctx.intent(name, {u: self.data_fp[u] for u in ups})  # type: ignore[misc]
        observation = self.ctx.observe(name)
        decision = decide(
            intent, self.ctx.record(name), observation,
            forced=name in self.forced, cache=spec.cache,
        )
        self.reasons[name] = decision.reason
        if not decision.run and observation is not None:
            self.data_fp[name] = observation.data_fingerprint
            self._remember_product(name)
            self._refresh_stat(name, observation)
            self._record(name, "skipped", decision.reason)
            return None
        self.intents[name] = intent
        return self._task(name)

    def _task(self, name: str) -> Task:
        spec = self.graph.specs[name]
        inputs = []
        for param in self.graph.inputs[name]:
            io, location = self.result.products[param]
            inputs.append(Input(param=param, upstream=param, location=location, io=io))
        _, location = self.ctx.product(name)
        return Task(
            spec=spec, config=self.values[name], inputs=tuple(inputs), root=str(self.root),
            location=location if spec.io is not None else None,
        )

    def _remember_product(self, name: str) -> None:
        io, location = self.ctx.product(name)
        if io is not None and location is not None:
            self.result.products[name] = (io, location)

    # -- recording -------------------------------------------------------------------------

    def _complete(self, name: str, outcome: Outcome) -> None:
        spec = self.graph.specs[name]
        reason = outcome.reason or self.reasons.get(name, "")
        for c in outcome.checks:
            self.writer.put("checks", {
                "run_id": self.run_id, "asset": name, "partition": None, "check": c.check,
                "passed": c.passed, "blocking": c.blocking, "detail": c.detail,
            })
        if not outcome.ok:
            self.result.error_kinds[name] = outcome.error_kind
            self._record(name, "failed", reason, outcome=outcome, error=outcome.error)
            call_asset_hook(spec.on_failure, self._context(name, "failed", outcome), "on_failure")
            return
        stored, observation, io = outcome.stored, outcome.observation, outcome.io
        self.data_fp[name] = observation.data_fingerprint
        self.result.products[name] = (io, stored.location)
        self._put_asset(name, self.intents[name], observation, io, stored)
        self._record(name, "materialized", reason, outcome=outcome)
        call_asset_hook(spec.on_finish, self._context(name, "materialized", outcome), "on_finish")

    def _put_asset(self, name: str, intent: Any, observation: Any, io: Any, stored: Any) -> None:
        import cloudpickle

        self.writer.put("assets", {
            "asset": name, "partition": None, "fingerprint": intent.fingerprint,
            "code_fingerprint": intent.code, "config_fingerprint": intent.config,
            "io_fingerprint": intent.io, "upstream": dumps_upstream(dict(intent.upstream)),
            "data_fingerprint": observation.data_fingerprint, "stat_key": observation.stat_key,
            "io": io.describe(), "io_pickle": cloudpickle.dumps(io), "location": stored.location,
            "rows": stored.rows, "bytes": stored.bytes, "schema": stored.schema,
            "updated_at": now(), "run_id": self.run_id,
        })

    def _refresh_stat(self, name: str, observation: Any) -> None:
        row = self.ctx.rows.get((name, None))
        if row is not None and row.get("stat_key") != observation.stat_key:
            # Touched but identical: remember the new stat so the next run need not re-hash.
            self.writer.put("assets", {**row, "stat_key": observation.stat_key})

    def _record(self, name: str, status: str, reason: str, *, outcome: Outcome | None = None,
                error: str | None = None) -> None:
        self.status[name] = status
        if status == "failed":
            self.result.errors[name] = error or ""
            self.result.error_kinds.setdefault(name, None)
        stored = outcome.stored if outcome is not None else None
        intent = self.intents.get(name)
        row = self.ctx.rows.get((name, None)) if status == "skipped" else None
        rec = StepRecord(
            asset=name, status=status, reason=reason,
            duration_s=outcome.duration_s if outcome else None,
            rows=stored.rows if stored else (row or {}).get("rows"),
            bytes=stored.bytes if stored else (row or {}).get("bytes"),
            location=stored.location if stored else (row or {}).get("location"),
            error=error, attempts=outcome.attempts if outcome else 0,
        )
        self.result.records.append(rec)
        self.writer.put("materializations", {
            "run_id": self.run_id, "asset": name, "partition": None, "status": status,
            "reason": reason,
            "fingerprint": intent.fingerprint if intent else (row or {}).get("fingerprint"),
            "code_fingerprint": intent.code if intent else (row or {}).get("code_fingerprint"),
            "data_fingerprint": self.data_fp.get(name) if status in ("materialized", "skipped") else None,
            "started_at": self.started.get(name, now()), "duration_s": rec.duration_s,
            "rows": rec.rows, "bytes": rec.bytes, "location": rec.location, "error": error,
            "attempts": rec.attempts,
        })
        if self.reporter is not None:
            self.reporter.asset_finished(rec)

    def _context(self, name: str, status: str, outcome: Outcome) -> Any:
        from assetry.assets.result import AssetContext

        stored = outcome.stored
        return AssetContext(
            asset=name, status=status, run_id=self.run_id, reason=self.reasons.get(name, ""),
            location=stored.location if stored else None, rows=stored.rows if stored else None,
            duration_s=outcome.duration_s, error=outcome.error,
        )

    def _start_records(self, executor: Any) -> None:
        self.writer.put("runs", {
            "run_id": self.run_id, "started_at": now(), "status": "running",
            "root": str(self.root), "executor": str(getattr(executor, "name", executor)),
            "pid": os.getpid(),
        })
        names = list(self.graph.specs)
        self.writer.sql("DELETE FROM dependencies WHERE list_contains(?, asset)", [names])
        for name in names:
            for up in self.graph.upstream[name]:
                self.writer.put("dependencies", {"asset": name, "upstream": up})

    def _finish_records(self) -> None:
        r = self.result
        self.writer.sql(
            "UPDATE runs SET finished_at = ?, status = ?, n_materialized = ?, n_skipped = ?, "
            "n_failed = ?, n_blocked = ? WHERE run_id = ?",
            [now(), "success" if r.success else "failed", len(r.materialized), len(r.skipped),
             len(r.failed), len(r.blocked), self.run_id],
        )


def _outcome_of(future: cf.Future[Outcome]) -> Outcome:
    try:
        return future.result()
    except AssetError as exc:
        return Outcome(ok=False, duration_s=0.0, error=str(exc), error_kind=type(exc).__name__)
    except Exception as exc:  # the executor itself failed (a worker died, unpicklable task)
        return Outcome(ok=False, duration_s=0.0, error=f"{type(exc).__name__}: {exc}")
