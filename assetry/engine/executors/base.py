"""The executor protocol and the two in-process executors, ``sync`` and ``threads``.

Every executor offers ``submit(fn, arg) -> concurrent.futures.Future`` and
``shutdown()``. The scheduler in the runner decides *what* is ready; the
executor only decides *where* it runs. Skipped assets never reach an executor.

``"sync"`` and ``"threads"`` live here; ``"processes"`` in
:mod:`assetry.engine.executors.processes`; a ``dask.distributed.Client`` (or
``"dask"``, a local cluster) in :mod:`assetry.engine.executors.dask`. Choosing
among them is :func:`assetry.engine.executors.make_executor`.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable
from typing import Any

from assetry.errors import AssetError

__all__ = ["Executor", "PoolExecutor", "SyncExecutor", "default_workers"]


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
