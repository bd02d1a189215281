"""The two in-process executors, ``sync`` and ``threads``.

Every executor is a :class:`concurrent.futures.Executor`: ``submit(fn, /,
*args, **kwargs)`` returns a future, ``shutdown(wait=True, *,
cancel_futures=False)`` releases its workers, and ``name`` is how the
catalog's ``runs`` row names it. The scheduler in the runner decides *what*
is ready; the executor only decides *where* it runs. Skipped assets never
reach an executor.

``"sync"`` and ``"threads"`` live here; ``"processes"`` in
:mod:`assetry.engine.executors.processes`; a ``dask.distributed.Client`` (or
``"dask"``, a local cluster) in :mod:`assetry.engine.executors.dask`. Choosing
among them is :func:`assetry.engine.executors.make_executor`.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["SyncExecutor", "ThreadExecutor", "default_workers"]

_T = TypeVar("_T")


class SyncExecutor(cf.Executor):
    """Runs each call inline, in the calling thread (debuggers and profilers like it).

    Examples:
        >>> with SyncExecutor() as ex:
        ...     ex.submit(sum, [1, 2, 3]).result()
        6
    """

    name = "sync"

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> cf.Future[_T]:
        """Call ``fn(*args, **kwargs)`` now; return a future that is already done."""
        future: cf.Future[_T] = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 (a future carries any error, as a pool's does)
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to release: every call finished inside ``submit``.

        It keeps working after a shutdown, so one instance can serve several runs
        (the runner shuts down the executor it was given at the end of each run).
        """


class ThreadExecutor(cf.ThreadPoolExecutor):
    """A thread pool named for the catalog, its threads named ``assetry_<n>``.

    Examples:
        >>> with ThreadExecutor(2) as ex:
        ...     ex.submit(max, 1, 2).result()
        2
    """

    name = "threads"

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(max_workers or default_workers(), thread_name_prefix="assetry")


def default_workers() -> int:
    """Threads default to the machine's cores plus four, as ``ThreadPoolExecutor`` does."""
    return min(32, (os.cpu_count() or 1) + 4)
