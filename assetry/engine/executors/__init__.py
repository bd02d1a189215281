"""Executors: where a ready asset's task runs (sync, threads, processes, Dask).

The scheduler in the runner decides *what* is ready; an executor only decides
*where* it runs. ``processes`` and ``dask`` import their dependencies only when
chosen.
"""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

from assetry.engine.executors.base import Executor, PoolExecutor, SyncExecutor, default_workers
from assetry.errors import AssetError

__all__ = ["EXECUTORS", "Executor", "SyncExecutor", "default_workers", "make_executor"]

#: The executors named by a string, in ``materialize(executor=...)`` and ``--executor``.
EXECUTORS = ("sync", "threads", "processes", "dask")


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
        from assetry.engine.executors.processes import make_process_executor

        return make_process_executor(max_workers)
    if executor == "dask":
        from assetry.engine.executors.dask import local_dask_executor

        return local_dask_executor(max_workers)
    if type(executor).__module__.startswith("distributed"):
        from assetry.engine.executors.dask import DaskExecutor

        return DaskExecutor(executor)
    names = ", ".join(repr(n) for n in EXECUTORS)
    raise AssetError(f"executor {executor!r} is not one of {names} or a dask.distributed Client")
