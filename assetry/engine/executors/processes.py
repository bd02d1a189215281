"""The process executor: each ready asset runs in a worker process.

It owns the pool of worker processes and what happens when a worker dies.
Tasks travel packed by :mod:`assetry.engine.executors.shipping` (so an asset defined in
``__main__``, a notebook or a file loaded by path runs too). Values never
travel between processes: a task carries the locations of its inputs and the
worker loads them through their IO managers, as any executor's worker does.

A worker killed inside an asset (SIGKILL, ``os._exit()``, the out-of-memory
killer) breaks a ``ProcessPoolExecutor`` and every task in it. The executor
starts a fresh pool for new work and reruns the tasks that were in flight one
at a time in a separate single-worker pool, so the asset that kills its worker
fails, alone, with a clear error, and the innocent ones finish.

Workers die with their driver. A driver killed by SIGKILL runs no cleanup, and
left alone its workers, the fork server and the resource tracker would live on
(each worker holds the fork server's "alive" pipe, which keeps it up) and a
worker would later put its product in place over a newer run's. So each
worker, when it starts (:func:`_worker_started`):

- closes its copy of the fork server's "alive" pipe, so the fork server ends
  the moment the driver does, and on Linux asks the kernel for SIGKILL when its
  parent (the fork server) dies (``prctl(PR_SET_PDEATHSIG)``): the chain needs
  no Python code of the worker to run;
- watches a pipe whose only writer is the driver (everywhere): at its end of
  file, the driver is gone and the worker kills itself.

The resource tracker ends when the last of them is gone. And a save in a
worker is put in place only while the run's lock is held (see
:func:`assetry.io_managers.base.put_in_place`), for the instant before the
signal lands.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import itertools
import multiprocessing
import multiprocessing.context
import multiprocessing.spawn
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import attrs

from assetry.engine.executors.shipping import label, pack_or_fail, run_packed, unpack
from assetry.errors import AssetError

__all__ = ["ProcessExecutor", "make_process_executor"]

#: Imported once by the fork server, so each worker starts warm (polars, pyarrow, assetry).
_PRELOAD = "assetry.engine.task"


def make_process_executor(max_workers: int | None = None) -> ProcessExecutor:
    """The executor behind ``materialize(executor="processes")``.

    Examples:
        >>> make_process_executor(2).name
        'processes'
    """
    return ProcessExecutor(max_workers or os.cpu_count() or 1)


# -- the executor ----------------------------------------------------------------------------


@attrs.define(eq=False)
class _Job:
    payload: bytes
    outer: cf.Future[Any]
    label: str
    seq: int


class ProcessExecutor(cf.Executor):
    """Runs calls in a pool of worker processes (fork server where available, else spawn).

    After a shutdown, the next call starts fresh pools, so one instance can
    serve several runs (the runner shuts down its executor after each).

    Examples:
        >>> ex = ProcessExecutor(2)
        >>> ex.submit(len, [1, 2, 3]).result()
        3
        >>> ex.shutdown()
    """

    name = "processes"

    def __init__(self, max_workers: int) -> None:
        self._workers = max(1, max_workers)
        self._context = _mp_context()
        self._lock = threading.RLock()
        self._seq = itertools.count()
        self._pool: cf.ProcessPoolExecutor | None = None
        self._gen = 0
        self._inflight: dict[int, set[_Job]] = {}
        self._solo: cf.ProcessPoolExecutor | None = None
        self._suspects: deque[_Job] = deque()
        self._solo_busy = False
        self._retired: list[cf.ProcessPoolExecutor] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        """Send ``fn(*args, **kwargs)``, packed, to a worker process; return its future."""
        outer: cf.Future[Any] = cf.Future()
        where = "a worker process (use executor='threads')"
        payload = pack_or_fail(outer, where, fn, args, kwargs)
        if payload is None:
            return outer
        self._send(_Job(payload, outer, label(fn, args), next(self._seq)))
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut every pool down: the main one, the suspects' one and those retired."""
        with self._lock:
            pools = [p for p in (self._pool, self._solo, *self._retired) if p is not None]
            self._pool = self._solo = None
            self._retired = []
        for pool in pools:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    # -- the main pool ---------------------------------------------------------------------

    def _send(self, job: _Job) -> None:
        for _ in range(3):
            with self._lock:
                if self._pool is None:
                    self._pool = self._new_pool(self._workers)
                pool, gen = self._pool, self._gen
                self._inflight.setdefault(gen, set()).add(job)
            try:
                inner = pool.submit(run_packed, job.payload)
            except BrokenProcessPool:
                # It broke before our callback saw it: this job never ran there; retire the
                # pool (its own jobs become suspects through their callbacks) and resend.
                with self._lock:
                    self._inflight.get(gen, set()).discard(job)
                    self._retire(gen)
                continue
            inner.add_done_callback(functools.partial(self._settle, job, gen))
            return
        _fail_died(job)

    def _retire(self, gen: int) -> None:
        if gen == self._gen and self._pool is not None:
            self._retired.append(self._pool)
            self._pool = None
            self._gen += 1

    def _settle(self, job: _Job, gen: int, inner: cf.Future[bytes]) -> None:
        exc = _exception_of(inner)
        if isinstance(exc, BrokenProcessPool):
            self._on_break(gen)
            return
        with self._lock:
            jobs = self._inflight.get(gen)
            if jobs is None or job not in jobs:
                return  # already handed to the suspects' pool
            jobs.discard(job)
        _deliver(job, inner, exc)

    def _on_break(self, gen: int) -> None:
        """A worker of pool ``gen`` died: new pool for new work; in-flight jobs become suspects."""
        with self._lock:
            affected = self._inflight.pop(gen, None)
            if affected is None:
                return
            self._retire(gen)
            jobs = sorted(affected, key=lambda j: j.seq)
            if len(jobs) == 1:
                _fail_died(jobs[0])  # it ran alone: it is the one
                return
            self._suspects.extend(jobs)
        self._pump()

    # -- suspects, one at a time -------------------------------------------------------------

    def _pump(self) -> None:
        with self._lock:
            if self._solo_busy or not self._suspects:
                return
            job = self._suspects.popleft()
            self._solo_busy = True
            if self._solo is None:
                self._solo = self._new_pool(1)
            solo = self._solo
        try:
            inner = solo.submit(run_packed, job.payload)
        except BrokenProcessPool:
            self._solo_done(job, None, BrokenProcessPool("broken"))
            return
        inner.add_done_callback(lambda f: self._solo_done(job, f, _exception_of(f)))

    def _solo_done(self, job: _Job, inner: cf.Future[bytes] | None, exc: BaseException | None) -> None:
        if isinstance(exc, BrokenProcessPool):
            _fail_died(job)
            with self._lock:
                if self._solo is not None:
                    self._retired.append(self._solo)
                self._solo = None
        else:
            _deliver(job, inner, exc)  # type: ignore[arg-type]
        with self._lock:
            self._solo_busy = False
        self._pump()

    def _new_pool(self, workers: int) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(workers, mp_context=self._context,
                                      initializer=_worker_started,
                                      initargs=(_driver_pipe(self._context),))


def _exception_of(future: cf.Future[Any]) -> BaseException | None:
    if future.cancelled():
        return cf.CancelledError()
    return future.exception()


def _deliver(job: _Job, inner: cf.Future[bytes], exc: BaseException | None) -> None:
    if exc is not None:
        job.outer.set_exception(exc)
        return
    try:
        job.outer.set_result(unpack(inner.result()))
    except Exception as err:  # noqa: BLE001 (unpickling runs arbitrary reducers)
        job.outer.set_exception(AssetError(
            f"the result of {job.label} cannot be read back from its worker process "
            f"({type(err).__name__}: {err})"
        ))


def _fail_died(job: _Job) -> None:
    job.outer.set_exception(AssetError(
        f"the worker process running {job.label} died abruptly (a signal such as SIGKILL, "
        "os._exit() or running out of memory); the asset failed and its previous product "
        "is kept"
    ))


# -- workers die with their driver ---------------------------------------------------------

#: (pid, read end, write end) of this driver's pipe: only the driver holds the write end.
_PIPE: tuple[int, Any, Any] | None = None
_PIPE_LOCK = threading.Lock()

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _driver_pipe(context: Any) -> Any:
    """The read end every worker watches; its write end lives, unused, until the driver dies."""
    global _PIPE
    with _PIPE_LOCK:
        if _PIPE is None or _PIPE[0] != os.getpid():  # a forked driver makes its own
            reader, writer = context.Pipe(duplex=False)
            _PIPE = (os.getpid(), reader, writer)
        return _PIPE[1]


def _worker_started(driver: Any) -> None:
    """The worker initializer: die with the driver (see the module docstring)."""
    _close_fork_server_pipe()
    _die_with_parent()
    threading.Thread(target=_watch_driver, args=(driver,), name="assetry-driver-watch",
                     daemon=True).start()


def _close_fork_server_pipe() -> None:
    # A forked worker inherits the write end of the pipe the fork server watches to know its
    # clients are alive; while any worker keeps it, the fork server (and every worker's
    # parent-death signal) outlives a killed driver. A nested pool in the worker starts a
    # fork server of its own, so the worker needs no copy.
    try:
        from multiprocessing import forkserver
    except ImportError:  # pragma: no cover - no fork server on this platform
        return
    server = forkserver._forkserver
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is None or getattr(server, "_forkserver_pid", None) is not None:
        return  # not a child of a fork server, or one that runs its own
    server._forkserver_alive_fd = None  # type: ignore[attr-defined]
    try:
        os.close(fd)
    except OSError:
        return


def _die_with_parent() -> None:
    """On Linux, SIGKILL this worker when its parent (the fork server, or the driver) dies."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request: the signal never comes
        os.kill(os.getpid(), signal.SIGKILL)


def _watch_driver(driver: Any) -> None:
    """Block on the driver's pipe; nothing is ever sent, so it returns at the driver's death."""
    while True:
        try:
            driver.recv_bytes()
        except (EOFError, OSError):
            break
    if hasattr(signal, "SIGKILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(1)


def _mp_context() -> Any:
    """A fork server where the platform has one: workers fork from a clean, warm process.

    Never plain ``fork``: the driver runs threads (the catalog writer, DuckDB),
    and forking a threaded process can deadlock the child.
    """
    _strip_main_from_workers()
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return _SpawnContext()
    from multiprocessing import forkserver  # here: only platforms with a fork server have it

    # Add ours to whatever the program asked for; this only takes effect if the fork
    # server has not started yet.
    current = list(getattr(forkserver._forkserver, "_preload_modules", None) or [])
    if _PRELOAD not in current:
        forkserver.set_forkserver_preload([*current, _PRELOAD])
    return _ForkServerContext()


# Workers get their code by value (cloudpickle), so they never need the driver's __main__.
# Left to itself, multiprocessing re-runs the driver's script in every worker: a script
# without `if __name__ == "__main__":` would start a nested run there. Our workers are
# launched with a flag that drops the main module from their preparation data.
_LAUNCHING = threading.local()


def _strip_main_from_workers() -> None:
    spawn = multiprocessing.spawn
    original = spawn.get_preparation_data
    if getattr(original, "_assetry", False):
        return

    @functools.wraps(original)
    def get_preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        if getattr(_LAUNCHING, "active", False):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data  # type: ignore[no-any-return]

    get_preparation_data._assetry = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = get_preparation_data


def _launch(base: Any, process_obj: Any) -> Any:
    _LAUNCHING.active = True
    try:
        return base._Popen(process_obj)
    finally:
        _LAUNCHING.active = False


class _ForkServerProcess(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _launch(multiprocessing.context.ForkServerProcess, process_obj)


class _SpawnProcess(multiprocessing.context.SpawnProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _launch(multiprocessing.context.SpawnProcess, process_obj)


class _ForkServerContext(multiprocessing.context.ForkServerContext):
    Process = _ForkServerProcess


class _SpawnContext(multiprocessing.context.SpawnContext):
    Process = _SpawnProcess
