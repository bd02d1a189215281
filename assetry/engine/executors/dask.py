"""The Dask executor: each ready asset runs as one task on a ``dask.distributed`` cluster.

The driver keeps the schedule and the catalog; the cluster only runs tasks.
Each task goes packed with cloudpickle (see
:mod:`assetry.engine.executors.shipping`), so assets from ``__main__``, a
notebook or a file loaded by path run on the workers too, and each comes back
as a ``concurrent.futures.Future`` the runner waits on like any other. Workers
read inputs and write products under the run's root: a URL on an object store
(``s3://...``), which every worker reaches with the credentials its task
carries, or a shared file system mounted at the same absolute path on every
worker. A task travels as :class:`~assetry.engine.executors.shipping.Sealed`
bytes, so a worker that logs a failed task never prints those credentials.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
import uuid
from collections.abc import Callable
from typing import Any

from assetry.engine.executors.shipping import (
    Sealed,
    label,
    pack_or_fail,
    run_packed,
    task_name,
    unpack,
)
from assetry.errors import AssetError

__all__ = ["DaskExecutor", "local_dask_executor"]

_MISSING = (
    "executor={!r} needs dask.distributed, which is not installed; "
    "install it with: pip install 'assetry[dask]'"
)


def _require_distributed(executor: Any) -> Any:
    try:
        import distributed  # here: an optional dependency, and a heavy import
    except ImportError as exc:
        raise AssetError(_MISSING.format(executor)) from exc
    return distributed


class DaskExecutor(cf.Executor):
    """Submits each call to a ``distributed.Client``; the client stays the caller's.

    Shutting down cancels what still runs; a client the executor started itself
    (``executor="dask"``) is closed with its cluster.

    Examples:
        >>> from distributed import Client  # doctest: +SKIP
        >>> materialize(assets, executor=Client("tcp://scheduler:8786"), root="s3://bucket/data")  # doctest: +SKIP
    """

    name = "dask"

    def __init__(self, client: Any, *, owned: Any = None) -> None:
        _require_distributed("dask")
        self._client = client
        self._owned = owned  # a client (and its cluster) this executor started and closes
        self._lock = threading.Lock()
        # Dask forgets a task whose future is dropped: keep each until its result is read.
        self._running: dict[str, tuple[Any, cf.Future[Any], str]] = {}
        self._done: queue.Queue[str | None] = queue.Queue()
        self._resolver: threading.Thread | None = None

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` tasks go to."""
        return self._client

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        """Send ``fn(*args, **kwargs)``, packed, to the cluster; return a local future of it."""
        outer: cf.Future[Any] = cf.Future()
        name = label(fn, args)
        payload = pack_or_fail(outer, "a Dask worker", fn, args, kwargs)
        if payload is None:
            return outer
        key = f"assetry-{task_name(args)}-{uuid.uuid4().hex[:12]}"
        # Sealed: Dask logs a failed task's arguments, and a task carries its root's credentials.
        future = self._client.submit(run_packed, Sealed(payload), pure=False, key=key)
        with self._lock:
            self._running[key] = (future, outer, name)
            if self._resolver is None:
                self._resolver = threading.Thread(
                    target=self._resolve, name="assetry-dask", daemon=True
                )
                self._resolver.start()
        future.add_done_callback(lambda f: self._done.put(key))
        return outer

    def _resolve(self) -> None:
        """Fetch finished results in batches: one gather per batch, not one round trip each."""
        while True:
            keys = [self._done.get()]
            while True:
                try:
                    keys.append(self._done.get_nowait())
                except queue.Empty:
                    break
            if None in keys:
                return
            with self._lock:
                jobs = [self._running.pop(k) for k in keys if k in self._running]
            finished = [j for j in jobs if j[0].status == "finished"]
            try:
                results = self._client.gather([j[0] for j in finished]) if finished else []
            except Exception:  # noqa: BLE001 (a result lost meanwhile: fetch one by one below)
                results = None
            if results is not None:
                for (_, outer, name), data in zip(finished, results):
                    _set_result(outer, data, name)
            for future, outer, name in jobs if results is None else [
                j for j in jobs if j[0].status != "finished"
            ]:
                try:
                    _set_result(outer, future.result(), name)
                except BaseException as exc:  # noqa: BLE001 (a remote error, a cancel, a lost worker)
                    outer.set_exception(_remote_error(exc, name))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Cancel what still runs, stop fetching results, close a cluster of our own.

        Tasks still on the cluster are cancelled whatever ``cancel_futures`` says:
        once the thread that fetches results stops, nothing would deliver theirs.
        """
        with self._lock:
            running = list(self._running.values())
            resolver, self._resolver = self._resolver, None
        for future, _, _ in running:
            future.cancel()
        if resolver is not None:
            self._done.put(None)
            resolver.join()
        if self._owned is not None:
            cluster = getattr(self._owned, "cluster", None)
            self._owned.close()
            if cluster is not None:
                cluster.close()


def _set_result(outer: cf.Future[Any], data: bytes, name: str) -> None:
    try:
        outer.set_result(unpack(data))
    except Exception as exc:  # noqa: BLE001 (unpickling runs arbitrary reducers)
        outer.set_exception(AssetError(
            f"the result of {name} cannot be read back from its Dask worker ({exc})"
        ))


def _remote_error(exc: BaseException, name: str) -> BaseException:
    if isinstance(exc, AssetError):
        return exc
    kind = type(exc).__name__
    if kind == "KilledWorker":
        return AssetError(
            f"the Dask workers running {name} kept dying (killed, os._exit() or out of "
            f"memory); the asset failed and its previous product is kept ({exc})"
        )
    if kind in ("CancelledError", "FutureCancelledError"):
        return AssetError(f"{name} was cancelled on the Dask cluster ({exc})")
    return exc


def local_dask_executor(max_workers: int | None = None) -> DaskExecutor:
    """``executor="dask"``: a fresh local cluster of worker processes, closed after the run.

    Examples:
        >>> materialize(assets, executor="dask", max_workers=4)  # doctest: +SKIP
    """
    distributed = _require_distributed("dask")
    cluster = distributed.LocalCluster(
        n_workers=max_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
    )
    client = distributed.Client(cluster)
    return DaskExecutor(client, owned=client)
