"""The runner: ``materialize()`` executes a graph, step by step, as soon as each is ready.

A step is an unpartitioned asset or one partition of a partitioned asset
(:mod:`assetry.engine.steps`). The runner owns scheduling (a step starts the
moment its upstream steps are done, not level by level), calling the planner
for each step, handing work to an executor, and recording every outcome
(:mod:`assetry.engine.recording`). Freshness rules live in the planner; the
work of one step lives in :mod:`assetry.engine.task`. What each step has
come to is one :class:`~assetry.engine.state.StepState` per step, in one dict
that the result holds. Ctrl-C and SIGTERM (:mod:`assetry.engine.interrupts`)
stop the scheduling; the steps they stop are recorded ``interrupted``, the
run too, and ``materialize()`` raises KeyboardInterrupt once all is recorded.
Under the thread pool, a step that is the only one able to run (each step of
a chain) runs in the calling thread, two thread switches fewer per step.

Longer than 400 lines: ``materialize()`` and the one ``_Run`` that schedules,
plans, submits and records each step; split, each part would reach into the
others' state (the step states, the stop, the recorder) on every step.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import queue
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from assetry._surface import option_hint
from assetry.assets import is_source
from assetry.assets.binding import bind_clients
from assetry.assets.graph import AssetGraph, collect
from assetry.engine.context import SOURCE_CODE, RunContext, resolve_config
from assetry.engine.executors import SyncExecutor, make_executor
from assetry.engine.heap import frozen_heap, resume_collections
from assetry.engine.hooks import call_asset_hook, call_run_hook, materialize_error
from assetry.engine.interrupts import Stop, children, hard_stop, interrupt_error
from assetry.engine.observing import observe_source
from assetry.engine.planner import (
    FAILED,
    OBSERVED,
    RUN,
    SKIPPED,
    UP_TO_DATE,
    UpstreamState,
    plan_step,
)
from assetry.engine.recording import Recorder, now, read_edges
from assetry.engine.restore import DEFAULT_VERSIONS, VersionKeeper, check_versions, read_kept
from assetry.engine.result import AssetContext, MaterializeResult, StepRecord
from assetry.engine.roots import (
    RunLock,
    check_catalog_apart,
    default_catalog,
    prepare_root,
    remove_dead_locks,
    remove_temporaries,
)
from assetry.engine.runlog import report_all, with_log
from assetry.engine.state import EXTERNAL, MATERIALIZED, RUNNING, StepState
from assetry.engine.steps import (
    StepKey,
    Steps,
    expand,
    forced_names,
    label,
    run_keys,
    upstream_state,
)
from assetry.engine.task import Input, Outcome, Task
from assetry.engine.tracebacks import attach_remote_traceback
from assetry.errors import AssetError, AssetGraphError
from assetry.io_managers import IOManager
from assetry.io_managers.base import PartitionedProduct
from assetry.records import CatalogWriter, connect, read_records
from assetry.reporting import Reporter
from assetry.storage import is_remote, registered

__all__ = ["materialize"]

#: File sources found unchanged: (step, its SourceFile, location, its ``assets`` row).
_Found = list[tuple[StepKey, Any, str, dict[str, Any]]]


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
    reporter: Reporter | None = None,
    clients: Mapping[str, Any] | None = None,
    versions: int = DEFAULT_VERSIONS,
    storage_options: Mapping[str, Any] | None = None,
) -> MaterializeResult:
    """Run every selected asset (and partition) that is stale, skip the fresh ones, record it all.

    Args:
        assets: an asset, a module holding assets, or a list of these.
        select: ``"name"``, ``"+name"`` (with upstream), ``"name+"`` (with downstream), or a list.
        force: True to run everything selected, or names to run even if fresh.
        root: the directory for file products, or a URL on an object store
            (``s3://bucket/prefix``, ``gs://...``, ``az://...``; see docs/storage.md).
        catalog: the DuckDB catalog file; default ``<root>/catalog.duckdb``, or
            ``catalog.duckdb`` in the current directory for a remote root.
        executor: ``"sync"``, ``"threads"``, ``"processes"``, ``"dask"``, a
            ``dask.distributed.Client``, or any ``concurrent.futures.Executor``
            (an executor given here is shut down at the end of the run).
        max_workers: parallel tasks at most (threads and processes).
        config: ``{asset: {param: value}}`` overrides of config parameters.
        partitions: keys or ``"first..last"`` ranges (or a list of these) narrowing the
            partitioned assets to those partitions; default every partition.
        raise_on_error: raise :class:`MaterializeError` at the end if anything failed.
        on_finish: ``f(result)`` called after every run.
        on_failure: ``f(result)`` called after a run with failures.
        reporter: told of progress (a :class:`~assetry.reporting.Reporter`).
        clients: ``{name: client}`` for assets naming theirs (``SQLTable(client="warehouse")``),
            resolved before anything is planned; an unknown name is an error.
        versions: earlier file and directory products kept per asset (its ``versions=`` wins;
            0 keeps none); a kept one matching the fingerprint is restored (docs/versions.md).
        storage_options: credentials and endpoint of a remote root (fsspec's options, e.g.
            ``{"key": ..., "secret": ..., "client_kwargs": {"endpoint_url": ...}}``); kept in
            memory, never recorded. Without them the store's environment variables apply.

    Examples:
        >>> result = materialize([flights, delays], root="data")  # doctest: +SKIP
        >>> result.materialized  # doctest: +SKIP
        ['flights', 'delays']
        >>> materialize([daily_flights], partitions="2013-01-01..2013-01-31")  # doctest: +SKIP
    """
    # The collector's passes skip what was alive before the run (engine/heap.py): planning a
    # graph of thousands of assets would otherwise pay full passes over every module's objects.
    with frozen_heap():
        keep_versions = check_versions(versions)
        graph = AssetGraph.build(bind_clients(collect(assets), clients))  # collected once
        selected = graph.select(select)
        forced = forced_names(force, graph)
        values = resolve_config(graph, config)
        if partitions is not None and not any(s.partitions for s in graph.specs.values()):
            hint = option_hint("partitions")  # the command line's --partitions, or partitions=
            raise AssetGraphError(f"{hint} was given, but no selected asset is partitioned")
        steps = expand(graph, run_keys(graph, selected, partitions))
        root_path = prepare_root(root, storage_options)
        catalog = getattr(catalog, "path", catalog)  # a Catalog, or its path
        catalog_path = os.path.abspath(catalog if catalog is not None else default_catalog(root_path))
        check_catalog_apart(graph.specs.values(), catalog_path)  # no asset may write into the catalog
        run = _Run(graph, steps, forced, values, root_path, catalog_path, with_log(reporter),
                   keep_versions=keep_versions)
        # The run's lock is local: beside the catalog when the root is on an object store.
        lock_root = os.path.dirname(catalog_path) if is_remote(root_path) else root_path
        if lock_root is not root_path:
            remove_dead_locks(lock_root)  # what killed runs on this remote root left beside the catalog
        # The lock is held to the end (no sweep takes this run's temporaries).
        with RunLock(lock_root, run.run_id):
            result = run.execute(executor, max_workers)
        resume_collections()  # the run's hooks are user code, as a task is
        if result.interrupted_by is not None:  # recorded; now stop as Ctrl-C would have
            raise interrupt_error(run.stop, run.run_id)
        call_run_hook(on_finish, result, "on_finish")
        if not result.success:
            call_run_hook(on_failure, result, "on_failure")
            if raise_on_error:
                raise materialize_error(result)
        return result


@attrs.define
class _Run:
    graph: AssetGraph
    steps: Steps
    forced: set[str]
    values: dict[str, dict[str, Any]]
    root: Any
    catalog_path: str
    reporter: Reporter | None
    run_id: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    keep_versions: int = DEFAULT_VERSIONS
    ctx: RunContext = attrs.field(init=False)
    keeper: VersionKeeper = attrs.field(init=False)
    recorder: Recorder = attrs.field(init=False)
    result: MaterializeResult = attrs.field(init=False)
    #: Every step's state, by step: the one dict, shared with the result.
    states: dict[StepKey, StepState] = attrs.field(factory=dict)
    #: What Ctrl-C / SIGTERM asked: stop scheduling, or stop at once.
    stop: Stop = attrs.field(factory=Stop)
    _inline: bool = False
    #: A lone step of the thread pool runs in this thread (see _submit).
    _alone_inline: bool = False

    def execute(self, executor: Any, max_workers: int | None) -> MaterializeResult:
        t0 = time.perf_counter()
        con = connect(self.catalog_path)
        for crashed in con.crashed_roots:
            remove_temporaries(crashed)
        try:
            self.ctx = RunContext(self.graph, self.values, self.root,
                                  read_records(con, narrow_sources=True))
            kept = read_kept(con)
            # Read here, beside the other reads: the writer's thread, whose first batch a busy
            # main thread starves of the GIL, then writes the edges only when they changed.
            held_edges = read_edges(con)
            writer = CatalogWriter(con)
            self.keeper = VersionKeeper(self.root, writer, self.keep_versions, kept,
                                        run_id=self.run_id)
            self.keeper.sweep()  # what a dead run left half kept in the version store
            self.recorder = Recorder(writer, self.run_id, self.ctx.rows)
            self.result = MaterializeResult(run_id=self.run_id, states=self.states, partition_sets={
                n: s.partitions for n, s in self.graph.specs.items() if s.partitions is not None
            })
            self.recorder.start(self.graph, self.root, executor, held_edges)
            pool = make_executor(executor, max_workers)
            self._inline = getattr(pool, "name", None) == "sync"
            self._alone_inline = getattr(pool, "name", None) == "threads"
            before = children() if getattr(pool, "name", None) == "processes" else set()
            with self.stop.installed():
                try:
                    self._schedule(pool)
                finally:
                    self._shutdown(pool, before)
                    self.result.duration_s = time.perf_counter() - t0
                    self.result.interrupted_by = self.stop.name or None
                    try:
                        if not writer.failed:
                            self.keeper.prune_run(self.graph.specs, self.states)
                            self.recorder.finish(self.result)
                    finally:
                        try:
                            writer.close()  # raises the writer's CatalogError after a failed write
                        finally:
                            # A write failed (during the run, or the last batch, the one with
                            # the run's end): mark the run failed, if the catalog takes it.
                            if writer.failed:
                                self.recorder.abandon(self.result)
        finally:
            con.close()
        if self.reporter is not None:
            self.reporter.run_finished(self.result)
        return self.result

    # -- scheduling ------------------------------------------------------------------------

    def _schedule(self, pool: cf.Executor) -> None:
        for step in self.steps.external:
            obs = self.ctx.observe(*step)
            self.states[step] = StepState(status=EXTERNAL, product=self._product(step),
                                          data_fingerprint=obs.data_fingerprint if obs else None)
        # The sources' stats first, while the writer's thread still lingers after the runs
        # row (records/_writer.py, _LINGER_S): a thread that releases the GIL for each
        # ``stat`` beside one that holds it waits for it, each time. Their rows next, which
        # the catalog makes in the writer's thread while this one prepares the rest.
        specs = self.graph.specs
        unchanged = self._unchanged_sources(
            self.ctx.unchanged_sources(s for s in self.steps.order if is_source(specs[s[0]])))
        # Code, config and IO fingerprints and file observations depend on no upstream step:
        # all of them now, before any worker competes with the main thread for the GIL.
        self.ctx.prepare(s for s in self.steps.order if not is_source(self.graph.specs[s[0]]))
        waiting = dict(self.steps.waiting)
        ready = deque(s for s in self.steps.order if waiting[s] == 0 and s not in unchanged)
        futures: dict[cf.Future[Outcome], StepKey] = {}
        # Each future puts itself here when done (at once if it already is): taking
        # one costs O(1), where ``cf.wait`` over every pending future cost O(pending).
        finished: queue.SimpleQueue[cf.Future[Outcome]] = queue.SimpleQueue()
        if self.reporter is not None:
            self.reporter.run_started([label(s) for s in self.steps.order])
            report_all(self.reporter, unchanged.values())
        for step in unchanged:
            self._release(step, waiting, ready)
        while (ready or futures) and not self.stop.expired():
            # The catalog stopped taking rows (a full disk): schedule nothing more.
            self.recorder.writer.check()
            while ready and not self.stop.requested:  # after Ctrl-C, nothing more starts
                step = ready.popleft()
                task = self._plan(step)
                if task is None:
                    self._release(step, waiting, ready)
                else:
                    alone = self._alone_inline and not futures and not ready
                    future = self._submit(pool, step, task, alone=alone)
                    futures[future] = step
                    future.add_done_callback(finished.put)
                    if self._inline:  # done already: recorded and reported now, not after
                        break  # every other ready step (a wide graph's thousand roots)
            if self.stop.requested and not futures:
                break
            if futures:
                # Look up now and then: a signal only sets a flag (see interrupts.Stop).
                try:
                    future = finished.get(timeout=self.stop.timeout())
                except queue.Empty:
                    continue
                while True:  # the first to finish, then every other one already done
                    step = futures.pop(future)
                    self._complete(step, _outcome_of(future))
                    self._release(step, waiting, ready)
                    try:
                        future = finished.get_nowait()
                    except queue.Empty:
                        break
        for step in futures.values():  # still running when the run stopped at once
            self._interrupted(step, None)

    def _unchanged_sources(self, found: _Found) -> dict[StepKey, StepRecord]:
        """Record the file sources whose stat key is the one recorded (``found`` by
        :meth:`RunContext.unchanged_sources`), all at once.

        Each is ``observed``, ``up to date`` with its recorded data fingerprint;
        their ``materializations`` rows are one statement of the writer, made in
        the catalog from their ``assets`` rows, which stay as they are. A no-op
        run of a thousand sources pays a ``stat``, a state and a record per
        source, no plan or row of its own.
        Every other source step (changed, missing, a folder...) is planned in
        :meth:`_plan`, one by one.
        """
        if not found:
            return {}
        self.recorder.unchanged_sources([f[0] for f in found], SOURCE_CODE, now())
        states, records = self.states, {}
        for step, io, location, row in found:
            states[step] = StepState(OBSERVED, UP_TO_DATE, None, row["data_fingerprint"], None,
                                     (io, location))
            records[step] = StepRecord(step[0], OBSERVED, UP_TO_DATE, step[1], None,
                                       row.get("rows"), row.get("bytes"), location)
        self.result.records.extend(records.values())
        return records

    def _shutdown(self, pool: cf.Executor, before: set[Any]) -> None:
        if not self.stop.expired():
            pool.shutdown(wait=True, cancel_futures=True)
            return
        hard_stop(pool, before, self.root, self.run_id)  # wait for nothing, kill, sweep

    def _release(self, step: StepKey, waiting: dict[StepKey, int], ready: deque[StepKey]) -> None:
        for down in self.steps.children[step]:
            waiting[down] -= 1
            if waiting[down] == 0:
                ready.append(down)

    def _plan(self, step: StepKey) -> Task | None:
        """Plan one step: record a skip, a block or a failure and return None, or return its task."""
        name = step[0]
        if is_source(self.graph.specs[name]):  # observed here, never run
            plan, state = observe_source(self.ctx, self.recorder, step)
            self._record(step, state, plan.reason, error=plan.error)
            return None
        upstream = upstream_state(self.graph, step, self.states)
        plan = plan_step(step, upstream, self.ctx, forced=name in self.forced,
                         cache=self.graph.specs[name].cache, versions=self.keeper.matching(step))
        if plan.version is not None:  # restored: a kept version is put back, nothing runs
            done = self.keeper.restore_step(step, plan, self.ctx, self.recorder)
            if done is not None:
                self._record(step, done[0], plan.reason, outcome=done[1])
                return None
            plan = plan.run_instead()  # the version is gone: run as planned without it
        if plan.action == RUN:
            self.keeper.set_aside_step(step, plan, self.ctx, self.graph.specs[step[0]])
            self.states[step] = StepState(reason=plan.reason, intent=plan.intent)
            return self._task(step, upstream)
        if plan.action == SKIPPED:  # fresh: its product was observed, unchanged
            observation = plan.observation
            self.recorder.refresh_stat(step, observation)
            state = StepState(status=SKIPPED, reason=plan.reason, product=self._product(step),
                              data_fingerprint=observation.data_fingerprint)  # type: ignore[union-attr]
        else:
            state = StepState(status=plan.action, reason=plan.reason)
        self._record(step, state, plan.reason, error=plan.error)
        return None

    def _submit(self, pool: cf.Executor, step: StepKey, task: Task, *,
                alone: bool = False) -> cf.Future[Outcome]:
        resume_collections()  # the first task: user code, which may make garbage in bulk
        if self.reporter is not None:
            self.reporter.asset_started(label(step))
        self.states[step] = attrs.evolve(self.states[step], status=RUNNING, started_at=now())
        job = self.keeper.job(step, task)  # run_task, or run_keeping for a table kept as a version
        if self._inline:  # runs here, in the main thread: Ctrl-C interrupts it at once
            with self.stop.inline():
                return pool.submit(*job)
        if alone:  # the only step that can run now (a chain): here, sparing two thread
            with self.stop.gentle():  # wakeups; Ctrl-C treats it as the pool would
                return _HERE.submit(*job)
        return pool.submit(*job)

    def _task(self, step: StepKey, upstream: UpstreamState) -> Task:
        name, key = step
        remote = is_remote(self.root)
        spec = self.graph.specs[name]
        inputs = [self._input(param, key, upstream) for param in self.graph.inputs[name]]
        _, location = self.ctx.product(name, key)
        return Task(
            spec=spec, config=self.values[name], inputs=tuple(inputs), root=str(self.root),
            partition=key,
            partition_value=spec.partitions.value(key) if spec.partitions and key else None,
            location=location if spec.io is not None else None,
            segment=self.ctx.segment(name, key),
            run_id=self.run_id,
            storage=registered(self.root) if remote else None,
            lock_root=os.path.dirname(self.catalog_path) if remote else None,
        )

    def _input(self, param: str, key: str | None, upstream: UpstreamState) -> Input:
        parts = self.graph.specs[param].partitions
        if param not in upstream.partitions:
            io, location = self._stored((param, None if parts is None else key))
            return Input(param=param, upstream=param, location=location, io=io)
        keys = upstream.partitions[param]
        products = [self._stored((param, k)) for k in keys]
        stored = PartitionedProduct(
            asset=param, column=parts.column, keys=keys,  # type: ignore[union-attr]
            values=tuple(parts.value(k) for k in keys),  # type: ignore[union-attr]
            locations=tuple(loc for _, loc in products),
        )
        return Input(param=param, upstream=param, location=products[0][1], io=products[0][0],
                      partitions=stored)

    def _product(self, step: StepKey) -> tuple[IOManager, str] | None:
        product = self.ctx.product(*step)
        if product[0] is None or product[1] is None:
            return None
        return product  # type: ignore[return-value]

    def _stored(self, step: StepKey) -> tuple[IOManager, str]:
        # An upstream step without a product is planned as missing: its downstream never runs.
        return self.states[step].product  # type: ignore[return-value]

    # -- recording -------------------------------------------------------------------------

    def _complete(self, step: StepKey, outcome: Outcome) -> None:
        spec = self.graph.specs[step[0]]
        state = self.states[step]
        reason = outcome.reason or state.reason
        self.keeper.settle(step)  # a table its swap kept as a version: now recorded
        if outcome.interrupted:
            self._interrupted(step, outcome)
            return
        self.recorder.checks(step, outcome.checks)
        if not outcome.ok:
            if self.result.exception is None:  # MaterializeError.__cause__: the first failure's own
                self.result.exception = attach_remote_traceback(outcome.exception, outcome.traceback)
            failed = attrs.evolve(state, status=FAILED, error_kind=outcome.error_kind)
            self._record(step, failed, reason, outcome=outcome, error=outcome.error)
            call_asset_hook(spec.on_failure, self._context(step, FAILED, outcome), "on_failure")
            return
        # A successful outcome always carries what it stored, how, and its observation.
        stored, observation, io = outcome.stored, outcome.observation, outcome.io
        self.recorder.asset(step, state.intent, observation, io, stored)
        done = attrs.evolve(
            state, status=MATERIALIZED, product=(io, stored.location),  # type: ignore[arg-type,union-attr]
            data_fingerprint=observation.data_fingerprint,  # type: ignore[union-attr]
        )
        self._record(step, done, reason, outcome=outcome)
        call_asset_hook(spec.on_finish, self._context(step, MATERIALIZED, outcome), "on_finish")

    def _interrupted(self, step: StepKey, outcome: Outcome | None) -> None:
        """A step stopped by Ctrl-C / SIGTERM: recorded ``interrupted``, no product, no hook."""
        state = self.states[step]
        if outcome is None:  # still running when the run stopped at once
            started = state.started_at or now()
            outcome = Outcome(ok=False, duration_s=(now() - started).total_seconds(),
                              interrupted=True)
        self.stop.request()  # a KeyboardInterrupt inside the asset stops the run like Ctrl-C
        by = self.stop.name or "KeyboardInterrupt"
        self._record(step, attrs.evolve(state, status=INTERRUPTED), state.reason, outcome=outcome,
                     error=f"interrupted by {by}")

    def _record(self, step: StepKey, state: StepState, reason: str, *,
                outcome: Outcome | None = None, error: str | None = None) -> None:
        """Keep a finished step's state; write its line to the result, the catalog, the reporter."""
        self.states[step] = state
        stored = outcome.stored if outcome is not None else None
        row = (self.ctx.rows.get(step) or {}) if state.status in (SKIPPED, OBSERVED) else {}
        rec = StepRecord(
            asset=step[0], status=state.status, reason=reason, partition=step[1],  # type: ignore[arg-type]
            duration_s=outcome.duration_s if outcome else None,
            rows=stored.rows if stored else row.get("rows"),
            bytes=stored.bytes if stored else row.get("bytes"),
            location=stored.location if stored else (
                state.product[1] if state.product else row.get("location")),
            error=error, attempts=outcome.attempts if outcome else 0,
            traceback=outcome.traceback if outcome else None,
        )
        self.result.records.append(rec)
        self.recorder.materialization(step, rec, state.intent, state.data_fingerprint,
                                      state.started_at, logs=outcome.logs if outcome else None)
        if self.reporter is not None:
            self.reporter.asset_finished(rec)

    def _context(self, step: StepKey, status: str, outcome: Outcome) -> AssetContext:
        stored = outcome.stored
        return AssetContext(
            asset=step[0], status=status, run_id=self.run_id, reason=self.states[step].reason,
            location=stored.location if stored else None, rows=stored.rows if stored else None,
            duration_s=outcome.duration_s, error=outcome.error, partition=step[1],
        )


def _outcome_of(future: cf.Future[Outcome]) -> Outcome:
    try:
        return future.result()
    except KeyboardInterrupt:  # Ctrl-C outside the asset's own boundary (sync, a worker)
        return Outcome(ok=False, duration_s=0.0, interrupted=True)
    except AssetError as exc:
        return Outcome(ok=False, duration_s=0.0, error=str(exc), error_kind=type(exc).__name__,
                       exception=exc)
    except Exception as exc:  # noqa: BLE001 - the executor failed (a worker died, unpicklable task)
        return Outcome(ok=False, duration_s=0.0, error=f"{type(exc).__name__}: {exc}",
                       exception=exc)


#: Runs a thread pool's lone step in the scheduler's thread.
_HERE = SyncExecutor()

#: The status of a step that Ctrl-C or SIGTERM stopped before it finished.
INTERRUPTED = "interrupted"
