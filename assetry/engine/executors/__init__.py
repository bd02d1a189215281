"""Executors: where a ready step's task runs (sync, threads, processes, Dask).

Each is a :class:`concurrent.futures.Executor` with a ``name``; the scheduler
in the runner decides *what* is ready, an executor only *where* it runs.
:func:`make_executor` turns ``materialize(executor=...)`` into one.
"""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

from assetry.engine.executors.base import SyncExecutor, ThreadExecutor, default_workers
from assetry.errors import AssetError

__all__ = ["EXECUTORS", "SyncExecutor", "ThreadExecutor", "default_workers", "make_executor"]

#: The executors named by a string, in ``materialize(executor=...)`` and ``--executor``.
EXECUTORS = ("sync", "threads", "processes", "dask")


def make_executor(executor: Any, max_workers: int | None = None) -> cf.Executor:
    """Turn ``materialize(executor=...)`` into a :class:`concurrent.futures.Executor`.

    Args:
        executor: ``"sync"``, ``"threads"``, ``"processes"``, ``"dask"`` (a local
            cluster, closed after the run), a ``dask.distributed.Client``, or any
            :class:`concurrent.futures.Executor` (used as it is).
        max_workers: parallel tasks at most (threads, processes, local Dask workers).

    Examples:
        >>> make_executor("sync").name
        'sync'
    """
    if isinstance(executor, cf.Executor):
        return executor
    if executor == "sync":
        return SyncExecutor()
    if executor == "threads":
        return ThreadExecutor(max_workers)
    # Imported only when chosen: processes bring multiprocessing and cloudpickle packing,
    # dask brings dask.distributed (an optional dependency).
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
