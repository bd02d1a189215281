"""Proposed engine changes, tried by patching a run in its own process (the engine is unchanged).

    python benchmarks/proposals/experiments.py MODULE ROOT [--executor threads]
        [--try schedule_queue,plan_first,no_catalog_rows,threads_pool] [--preimport ...]

Runs ``peers/assetry_run.py`` with these patches installed first:

- ``schedule_queue``: ``engine/runner.py`` ``_Run._schedule`` calls
  ``concurrent.futures.wait`` over every pending future each time one
  completes; each call locks, registers a waiter on, and scans every pending
  future, so a wide graph of N tiny assets costs O(N^2) (a 10,000-asset wide
  graph under threads: 53% of the main thread in ``wait``). The replacement
  hands each finished future to a ``queue.SimpleQueue`` through
  ``add_done_callback`` and takes them one at a time: O(1) per completion.
- ``plan_first``: the code, config and IO fingerprints of every asset computed
  in the main thread before the first task starts (they do not depend on any
  upstream data), so the scheduler does not compute them while worker threads
  hold the GIL (each ``os.stat`` of the module file in ``fingerprints/_scan.py``
  ``source()`` then waits up to the 5 ms switch interval to get it back).
- ``no_catalog_rows``: no row is written to the catalog (NOT a proposal: it
  measures what the catalog rows cost a run).
- ``threads_pool``: under ``executor="threads"``, every step goes to the pool,
  as before a step that is the only one able to run was run in the scheduler's
  own thread (``engine/runner.py`` ``_submit``): measures the two thread wakeups
  per step that this spares a chain.
"""

from __future__ import annotations

import queue
import sys
from collections import deque
from typing import Any


def _schedule(self: Any, pool: Any) -> None:
    from assetry.engine import runner
    from assetry.engine.state import EXTERNAL, StepState
    from assetry.engine.steps import label

    for step in self.steps.external:
        obs = self.ctx.observe(*step)
        self.states[step] = StepState(status=EXTERNAL, product=self._product(step),
                                      data_fingerprint=obs.data_fingerprint if obs else None)
    waiting = dict(self.steps.waiting)
    ready = deque(s for s in self.steps.order if waiting[s] == 0)
    futures: dict[Any, Any] = {}
    finished: queue.SimpleQueue[Any] = queue.SimpleQueue()
    if self.reporter is not None:
        self.reporter.run_started([label(s) for s in self.steps.order])
    while ready or futures:
        while ready:
            step = ready.popleft()
            task = self._plan(step)
            if task is None:
                self._release(step, waiting, ready)
            else:
                future = self._submit(pool, step, task)
                futures[future] = step
                future.add_done_callback(finished.put)  # a done future calls it at once
        if futures:
            future = finished.get()  # the first to finish; then whatever else already has
            while True:
                step = futures.pop(future)
                self._complete(step, runner._outcome_of(future))
                self._release(step, waiting, ready)
                try:
                    future = finished.get_nowait()
                except queue.Empty:
                    break


def install(names: list[str]) -> None:
    from assetry.engine import runner
    from assetry.records import CatalogWriter

    schedule = _schedule if "schedule_queue" in names else runner._Run._schedule
    if "plan_first" in names:
        def plan_first(self: Any, pool: Any) -> None:
            for name in self.graph.specs:
                if name not in self.ctx._parts:
                    self.ctx._parts[name] = self.ctx._intent_parts(name)
            schedule(self, pool)

        runner._Run._schedule = plan_first
    else:
        runner._Run._schedule = schedule
    if "threads_pool" in names:
        submit = runner._Run._submit

        def to_the_pool(self: Any, pool: Any, step: Any, task: Any, *, alone: bool = False) -> Any:
            return submit(self, pool, step, task)

        runner._Run._submit = to_the_pool
    if "no_catalog_rows" in names:
        CatalogWriter.put = lambda self, table, row: None


if __name__ == "__main__":
    import pathlib
    import runpy

    peers = pathlib.Path(__file__).resolve().parents[1] / "peers"
    sys.path.insert(0, str(peers))
    chosen: list[str] = []
    if "--try" in sys.argv:
        at = sys.argv.index("--try")
        chosen = [c for c in sys.argv[at + 1].split(",") if c]
        del sys.argv[at : at + 2]
    install(chosen)
    sys.argv[0] = str(peers / "assetry_run.py")
    runpy.run_path(sys.argv[0], run_name="__main__")
