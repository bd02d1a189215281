"""The runner: ``materialize()`` executes a graph, step by step, as soon as each is ready.

A step is an unpartitioned asset or one partition of a partitioned asset
(:mod:`assetry.engine.steps`). The runner owns scheduling (a step starts the
moment its upstream steps are done, not level by level), calling the planner
for each step, handing work to an executor, and recording every outcome
(:mod:`assetry.engine.recording`). Freshness rules live in the planner; the
work of one step lives in :mod:`assetry.engine.task`.
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

from assetry.assets.graph import AssetGraph
from assetry.engine.context import RunContext, resolve_config
from assetry.engine.hooks import call_asset_hook, call_run_hook, materialize_error
from assetry.engine.planner import Intent, decide
from assetry.engine.recording import Recorder, now
from assetry.engine.result import MaterializeResult, StepRecord
from assetry.engine.roots import prepare_root, remove_temporaries
from assetry.engine.steps import (
    StepKey,
    Steps,
    UpstreamState,
    expand,
    label,
    run_keys,
    upstream_state,
)
from assetry.engine.task import Input, Outcome, Task, run_task
from assetry.errors import AssetError, AssetGraphError
from assetry.io_managers.base import PartitionedProduct
from assetry.records import DEFAULT_CATALOG, CatalogWriter, connect, read_records

__all__ = ["materialize", "now"]


def materialize(
    assets: Any,
    *,
    select: str | Iterable[str] | None = None,
    force: bool | str | Iterable[str] = False,
    root: str | os.PathLike[str] = "data",
    catalog: str | os.PathLike[str] | Any = None,
    executor: Any = "threads",
    max_workers: int | None = None,
    config: dict[str, dict[str, Any]] | None = None,
    partitions: Any = None,
    raise_on_error: bool = True,
    on_finish: Any = None,
    on_failure: Any = None,
    reporter: Any = None,
) -> MaterializeResult:
    """Run every selected asset (and partition) that is stale, skip the fresh ones, record it all.

    Args:
        assets: an asset, a module holding assets, or a list of these.
        select: ``"name"``, ``"+name"`` (with upstream), ``"name+"`` (with downstream), or a list.
        force: True to run everything selected, or names to run even if fresh.
        root: the directory for file products.
        catalog: the DuckDB catalog file; default ``<root>/catalog.duckdb``.
        executor: ``"sync"``, ``"threads"``, ``"processes"`` or a ``dask.distributed.Client``.
        max_workers: parallel tasks at most (threads and processes).
        config: ``{asset: {param: value}}`` overrides of config parameters.
        partitions: keys or ``"first..last"`` ranges (or a list of these) narrowing the
            partitioned assets to those partitions; default every partition.
        raise_on_error: raise :class:`MaterializeError` at the end if anything failed.
        on_finish: ``f(result)`` called after every run.
        on_failure: ``f(result)`` called after a run with failures.
        reporter: an object told of progress (see :mod:`assetry.reporting`).

    Examples:
        >>> result = materialize([flights, delays], root="data")  # doctest: +SKIP
        >>> result.materialized  # doctest: +SKIP
        ['flights', 'delays']
        >>> materialize([daily_flights], partitions="2013-01-01..2013-01-31")  # doctest: +SKIP
    """
    graph = AssetGraph.build(assets)
    selected = graph.select(select)
    forced = _forced(force, graph)
    values = resolve_config(graph, config)
    if partitions is not None and not any(s.partitions for s in graph.specs.values()):
        raise AssetGraphError("partitions= was given, but no selected asset is partitioned")
    steps = expand(graph, run_keys(graph, selected, partitions))
    root_path = prepare_root(root)
    catalog = getattr(catalog, "path", catalog)  # a Catalog, or its path
    catalog_path = os.path.abspath(catalog) if catalog is not None else str(root_path / DEFAULT_CATALOG)
    run = _Run(graph, steps, forced, values, root_path, catalog_path, reporter)
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
    steps: Steps
    forced: set[str]
    values: dict[str, dict[str, Any]]
    root: Any
    catalog_path: str
    reporter: Any
    run_id: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    ctx: RunContext = attrs.field(init=False)
    recorder: Recorder = attrs.field(init=False)
    result: MaterializeResult = attrs.field(init=False)
    status: dict[StepKey, str] = attrs.field(factory=dict)
    data_fp: dict[StepKey, str | None] = attrs.field(factory=dict)
    reasons: dict[StepKey, str] = attrs.field(factory=dict)
    started: dict[StepKey, dt.datetime] = attrs.field(factory=dict)
    intents: dict[StepKey, Intent] = attrs.field(factory=dict)

    def execute(self, executor: Any, max_workers: int | None) -> MaterializeResult:
        from assetry.engine.executors import make_executor

        t0 = time.perf_counter()
        con = connect(self.catalog_path)
        for crashed in con.crashed_roots:
            remove_temporaries(crashed)
        try:
            self.ctx = RunContext(self.graph, self.values, self.root, read_records(con))
            writer = CatalogWriter(con)
            self.recorder = Recorder(writer, self.run_id, self.ctx.rows)
            self.result = MaterializeResult(run_id=self.run_id, partition_sets={
                n: s.partitions for n, s in self.graph.specs.items() if s.partitions is not None
            })
            self.recorder.start(self.graph, self.root, executor)
            pool = make_executor(executor, max_workers)
            try:
                self._schedule(pool)
            finally:
                pool.shutdown()
                self.result.duration_s = time.perf_counter() - t0
                self.recorder.finish(self.result)
                writer.close()
        finally:
            con.close()
        if self.reporter is not None:
            self.reporter.run_finished(self.result)
        return self.result

    # -- scheduling ------------------------------------------------------------------------

    def _schedule(self, pool: Any) -> None:
        for step in self.steps.external:
            obs = self.ctx.observe(*step)
            self.status[step] = "external"
            self.data_fp[step] = obs.data_fingerprint if obs else None
            self._remember_product(step)
        waiting = dict(self.steps.waiting)
        ready = deque(s for s in self.steps.order if waiting[s] == 0)
        futures: dict[cf.Future[Outcome], StepKey] = {}
        if self.reporter is not None:
            self.reporter.run_started([label(s) for s in self.steps.order])
        while ready or futures:
            while ready:
                step = ready.popleft()
                task = self._plan(step)
                if task is None:
                    self._release(step, waiting, ready)
                else:
                    if self.reporter is not None:
                        self.reporter.asset_started(label(step))
                    self.started[step] = now()
                    futures[pool.submit(run_task, task)] = step
            if futures:
                done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    step = futures.pop(future)
                    self._complete(step, _outcome_of(future))
                    self._release(step, waiting, ready)

    def _release(self, step: StepKey, waiting: dict[StepKey, int], ready: deque[StepKey]) -> None:
        for down in self.steps.children[step]:
            waiting[down] -= 1
            if waiting[down] == 0:
                ready.append(down)

    def _plan(self, step: StepKey) -> Task | None:
        """Decide one step; record a skip or a block and return None, or return its task."""
        name, key = step
        state = upstream_state(self.graph, step, self.status, self.data_fp)
        if state.bad:
            self._record(step, "blocked", "upstream failed: " + ", ".join(sorted(state.bad)))
            return None
        if state.missing:
            hint = ", ".join(repr(m if key is None or m not in self.result.partition_sets
                                  else f"{m}[{key}]") for m in sorted(state.missing))
            self._record(step, "failed", "upstream missing", error=(
                f"asset {label(step)!r} needs {hint}, which has no stored product; select it too "
                f"(select='+{name}')"
            ))
            return None
        intent = self.ctx.intent(name, state.fingerprints)
        observation = self.ctx.observe(name, key)
        decision = decide(
            intent, self.ctx.record(name, key), observation,
            forced=name in self.forced, cache=self.graph.specs[name].cache,
        )
        self.reasons[step] = decision.reason
        if not decision.run and observation is not None:
            self.data_fp[step] = observation.data_fingerprint
            self._remember_product(step)
            self.recorder.refresh_stat(step, observation)
            self._record(step, "skipped", decision.reason)
            return None
        self.intents[step] = intent
        return self._task(step, state)

    def _task(self, step: StepKey, state: UpstreamState) -> Task:
        name, key = step
        spec = self.graph.specs[name]
        inputs = [self._input(param, key, state) for param in self.graph.inputs[name]]
        _, location = self.ctx.product(name, key)
        return Task(
            spec=spec, config=self.values[name], inputs=tuple(inputs), root=str(self.root),
            partition=key,
            partition_value=spec.partitions.value(key) if spec.partitions and key else None,
            location=location if spec.io is not None else None,
            segment=self.ctx.segment(name, key),
        )

    def _input(self, param: str, key: str | None, state: UpstreamState) -> Input:
        parts = self.graph.specs[param].partitions
        if param not in state.partitions:
            io, location = self.result.products[label((param, None if parts is None else key))]
            return Input(param=param, upstream=param, location=location, io=io)
        keys = state.partitions[param]
        products = [self.result.products[label((param, k))] for k in keys]
        stored = PartitionedProduct(
            asset=param, column=parts.column, keys=keys,  # type: ignore[union-attr]
            values=tuple(parts.value(k) for k in keys),  # type: ignore[union-attr]
            locations=tuple(loc for _, loc in products),
        )
        return Input(param=param, upstream=param, location=products[0][1], io=products[0][0],
                      partitions=stored)

    def _remember_product(self, step: StepKey) -> None:
        io, location = self.ctx.product(*step)
        if io is not None and location is not None:
            self.result.products[label(step)] = (io, location)

    # -- recording -------------------------------------------------------------------------

    def _complete(self, step: StepKey, outcome: Outcome) -> None:
        spec = self.graph.specs[step[0]]
        reason = outcome.reason or self.reasons.get(step, "")
        self.recorder.checks(step, outcome.checks)
        if not outcome.ok:
            self.result.error_kinds[label(step)] = outcome.error_kind
            self._record(step, "failed", reason, outcome=outcome, error=outcome.error)
            call_asset_hook(spec.on_failure, self._context(step, "failed", outcome), "on_failure")
            return
        stored, observation, io = outcome.stored, outcome.observation, outcome.io
        self.data_fp[step] = observation.data_fingerprint  # type: ignore[union-attr]
        self.result.products[label(step)] = (io, stored.location)  # type: ignore[assignment,union-attr]
        self.recorder.asset(step, self.intents[step], observation, io, stored)
        self._record(step, "materialized", reason, outcome=outcome)
        call_asset_hook(spec.on_finish, self._context(step, "materialized", outcome), "on_finish")

    def _record(self, step: StepKey, status: str, reason: str, *, outcome: Outcome | None = None,
                error: str | None = None) -> None:
        self.status[step] = status
        key = label(step)
        if status == "failed":
            self.result.errors[key] = error or ""
            self.result.error_kinds.setdefault(key, None)
        stored = outcome.stored if outcome is not None else None
        row = (self.ctx.rows.get(step) or {}) if status == "skipped" else {}
        rec = StepRecord(
            asset=step[0], status=status, reason=reason, partition=step[1],
            duration_s=outcome.duration_s if outcome else None,
            rows=stored.rows if stored else row.get("rows"),
            bytes=stored.bytes if stored else row.get("bytes"),
            location=stored.location if stored else row.get("location"),
            error=error, attempts=outcome.attempts if outcome else 0,
        )
        self.result.records.append(rec)
        self.recorder.materialization(
            step, rec, self.intents.get(step), self.data_fp.get(step), self.started.get(step)
        )
        if self.reporter is not None:
            self.reporter.asset_finished(rec)

    def _context(self, step: StepKey, status: str, outcome: Outcome) -> Any:
        from assetry.engine.result import AssetContext

        stored = outcome.stored
        return AssetContext(
            asset=step[0], status=status, run_id=self.run_id, reason=self.reasons.get(step, ""),
            location=stored.location if stored else None, rows=stored.rows if stored else None,
            duration_s=outcome.duration_s, error=outcome.error, partition=step[1],
        )


def _outcome_of(future: cf.Future[Outcome]) -> Outcome:
    try:
        return future.result()
    except AssetError as exc:
        return Outcome(ok=False, duration_s=0.0, error=str(exc), error_kind=type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - the executor failed (a worker died, unpicklable task)
        return Outcome(ok=False, duration_s=0.0, error=f"{type(exc).__name__}: {exc}")
