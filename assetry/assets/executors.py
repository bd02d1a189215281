"""Executors: where a ready asset's task runs.

Every executor offers ``submit(fn, arg) -> concurrent.futures.Future`` and
``shutdown()``. The scheduler in the runner decides *what* is ready; the
executor only decides *where* it runs. Skipped assets never reach an executor.

``"sync"`` and ``"threads"`` live here; ``"processes"`` in
:mod:`assetry.assets.process_executor`; a ``dask.distributed.Client`` (or
``"dask"``, a local cluster) in :mod:`assetry.assets.dask_executor`. Those two
import their dependencies only when chosen.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable
from typing import Any

from assetry.errors import AssetError

__all__ = ["Executor", "SyncExecutor", "make_executor"]


class Executor:
    """The protocol: submit a call, get a future; shut down at the end of the run."""

    name = "executor"

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> cf.Future[Any]:
        """Run ``fn(arg)`` somewhere; return a future of its result."""
        raise AssetError(f"{type(self).__name__} cannot run tasks")

    def shutdown(self) -> None:
        """Release workers (threads, processes, cluster futures)."""


class SyncExecutor(Executor):
    """Runs each task inline, in the calling thread (debuggers and profilers like it)."""

    name = "sync"

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        try:
            future.set_result(fn(arg))
        except BaseException as exc:  # noqa: BLE001 (a future carries any error, as a pool's does)
            future.set_exception(exc)
        return future


class PoolExecutor(Executor):
    """Wraps a ``concurrent.futures`` pool (threads or processes)."""

    def __init__(self, pool: cf.Executor, name: str) -> None:
        self._pool = pool
        self.name = name

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> cf.Future[Any]:
        return self._pool.submit(fn, arg)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def default_workers() -> int:
    """Threads default to the machine's cores plus four, as ``ThreadPoolExecutor`` does."""
    return min(32, (os.cpu_count() or 1) + 4)


def make_executor(executor: Any, max_workers: int | None = None) -> Executor:
    """Turn ``materialize(executor=...)`` into an :class:`Executor`.

    Args:
        executor: ``"sync"``, ``"threads"``, ``"processes"``, ``"dask"`` (a local
            cluster, closed after the run), a ``dask.distributed.Client``, or an
            :class:`Executor`.
        max_workers: parallel tasks at most (threads, processes, local Dask workers).

    Examples:
        >>> make_executor("sync").name
        'sync'
    """
    if isinstance(executor, Executor):
        return executor
    if executor == "sync":
        return SyncExecutor()
    if executor == "threads":
        pool = cf.ThreadPoolExecutor(max_workers or default_workers(), thread_name_prefix="assetry")
        return PoolExecutor(pool, "threads")
    if executor == "processes":
        from assetry.assets.process_executor import make_process_executor

        return make_process_executor(max_workers)
    if executor == "dask":
        from assetry.assets.dask_executor import local_dask_executor

        return local_dask_executor(max_workers)
    if type(executor).__module__.startswith("distributed"):
        from assetry.assets.dask_executor import DaskExecutor

        return DaskExecutor(executor)
    raise AssetError(
        f"executor {executor!r} is not one of 'sync', 'threads', 'processes', 'dask' or a "
        "dask.distributed Client"
    )
