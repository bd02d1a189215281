"""Stopping a run on Ctrl-C (SIGINT) or SIGTERM: first gently, then at once.

The first signal stops scheduling: no step starts any more. Steps already
running get a grace period (``ASSETRY_GRACE_S`` seconds, default 10) to
finish, and are recorded as usual; the sync executor's step runs in the main
thread and is interrupted at once (a KeyboardInterrupt inside the asset); a
thread pool's lone step, which the runner also runs in the main thread, is
treated as the pool's (:meth:`Stop.gentle`: a timer interrupts it when the
grace period ends). When
the grace period ends, or at a second signal, the run stops at once: the steps
still running are recorded ``interrupted``, worker processes are terminated,
and the run's temporary files are removed, as after a crash. The runner then
marks the run ``interrupted`` and ``materialize()`` raises KeyboardInterrupt
(its ``signum`` attribute says which signal).

Handlers are installed for the duration of a run, and only in the main thread
(Python allows no other); the previous ones are restored after. This module
owns the signal handling and the hard stop; the runner decides what to record.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from assetry.io_managers.base import TEMP_MARKER, temporary_run

__all__ = [
    "GRACE_S", "Stop", "children", "grace_period", "hard_stop", "interrupt_error",
    "remove_run_temporaries", "stop_workers",
]

#: Seconds running steps get to finish after the first signal, unless ``ASSETRY_GRACE_S`` says.
GRACE_S = 10.0

#: How often the scheduler looks up from waiting, to notice a signal.
POLL_S = 0.2

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def grace_period() -> float:
    """``ASSETRY_GRACE_S`` as seconds (at least 0), else :data:`GRACE_S`.

    Examples:
        >>> grace_period()
        10.0
    """
    text = os.environ.get("ASSETRY_GRACE_S", "").strip()
    try:
        return max(0.0, float(text)) if text else GRACE_S
    except ValueError:
        return GRACE_S


class Stop:
    """What signals asked of a run: nothing yet, stop scheduling, or stop at once.

    Examples:
        >>> stop = Stop()
        >>> stop.requested, stop.expired()
        (False, False)
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.hard = False
        self._deadline: float | None = None
        self._inline = False
        self._gentle = False
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._saved: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """A signal came: start nothing more."""
        return self.signum is not None

    def expired(self) -> bool:
        """Stop at once: a second signal came, or the grace period is over."""
        if self.hard:
            return True
        return self._deadline is not None and time.monotonic() >= self._deadline

    def timeout(self) -> float:
        """How long the scheduler may wait for a step before looking up again."""
        if self._deadline is None:
            return POLL_S
        return max(0.0, min(POLL_S, self._deadline - time.monotonic()))

    @property
    def name(self) -> str:
        """``SIGINT`` or ``SIGTERM`` (empty before a signal)."""
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @contextlib.contextmanager
    def installed(self) -> Iterator[Stop]:
        """Handle SIGINT and SIGTERM within the block (main thread only; elsewhere do nothing)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        for sig in _SIGNALS:
            self._saved[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for signum, previous in self._saved.items():
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            self._saved.clear()

    @contextlib.contextmanager
    def inline(self) -> Iterator[None]:
        """A step runs in the main thread (sync executor) within the block: a signal interrupts it."""
        self._inline = True
        try:
            yield
        finally:
            self._inline = False

    @contextlib.contextmanager
    def gentle(self) -> Iterator[None]:
        """A step of a pool's runs in the main thread within the block (the only step to run):
        as in the pool, the first signal lets it finish, and a second signal or the end of the
        grace period interrupts it (a KeyboardInterrupt inside the asset)."""
        self._gentle = True
        try:
            yield
        finally:
            with self._lock:
                self._gentle = False
                timer, self._timer = self._timer, None
            if timer is not None:  # no signal of ours arrives after the block
                timer.cancel()
                timer.join()

    def _arm(self) -> None:
        """At the end of the grace period, signal the main thread again if its step still runs."""
        main, signum = threading.main_thread().ident, self.signum

        def expire() -> None:
            with self._lock:
                if self._gentle and main is not None and signum is not None:
                    signal.pthread_kill(main, signum)  # its handler stops at once

        wait = max(0.0, (self._deadline or 0.0) - time.monotonic())
        self._timer = threading.Timer(wait, expire)
        self._timer.daemon = True
        self._timer.start()

    def request(self, signum: int = int(signal.SIGINT)) -> None:
        """Stop scheduling, as the first signal does (a no-op once a stop was asked)."""
        if self.signum is None:
            self.signum = signum
            self._deadline = time.monotonic() + grace_period()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.request(signum)
            if self._gentle:
                self._arm()
        else:
            self.hard = True
        if self._inline or (self._gentle and self.hard):
            self._inline = self._gentle = False  # one KeyboardInterrupt per step
            raise KeyboardInterrupt


def interrupt_error(stop: Stop, run_id: str) -> KeyboardInterrupt:
    """The KeyboardInterrupt ``materialize()`` raises after recording an interrupted run.

    Examples:
        >>> stop = Stop()
        >>> stop.signum = signal.SIGTERM
        >>> err = interrupt_error(stop, "abc")
        >>> str(err), err.signum == signal.SIGTERM
        ('run abc was interrupted by SIGTERM', True)
    """
    error = KeyboardInterrupt(f"run {run_id} was interrupted by {stop.name}")
    error.signum = stop.signum  # type: ignore[attr-defined]
    return error


def children() -> set[Any]:
    """The multiprocessing children of this process now (worker processes started later are the run's)."""
    import multiprocessing  # on first use: only the processes executor starts children

    return set(multiprocessing.active_children())


def stop_workers(pool: Any, before: set[Any]) -> None:
    """Stop the pool's work at once: its own ``terminate_workers()``, else terminate the worker
    processes started since ``before`` (the ``processes`` executor). Threads cannot be stopped
    from outside: a thread still running finishes on its own, and cannot put its product in
    place once the run has ended (see :func:`assetry.engine.roots.run_alive`).
    """
    terminate = getattr(pool, "terminate_workers", None)
    if callable(terminate):
        terminate()
        return
    if getattr(pool, "name", None) != "processes":
        return
    import multiprocessing

    for child in set(multiprocessing.active_children()) - before:
        with contextlib.suppress(OSError, ValueError):  # already gone
            child.terminate()


def hard_stop(pool: Any, before: set[Any], root: str | os.PathLike[str], run_id: str) -> None:
    """Stop at once: cancel what waits, wait for nothing, stop the workers (:func:`stop_workers`),
    and remove the run's temporaries, as after a crash."""
    pool.shutdown(wait=False, cancel_futures=True)
    stop_workers(pool, before)
    remove_run_temporaries(root, run_id)


def remove_run_temporaries(root: str | os.PathLike[str], run_id: str) -> list[str]:
    """Remove the temporary files and directories of run ``run_id`` under ``root``.

    Examples:
        >>> remove_run_temporaries("data", "0" * 32)  # doctest: +SKIP
        []
    """
    removed: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in [*dirnames, *filenames]:
            if TEMP_MARKER not in name or temporary_run(name) != run_id:
                continue
            full = os.path.join(dirpath, name)
            if name in dirnames:
                dirnames.remove(name)
                shutil.rmtree(full, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(full)
            removed.append(full)
    return removed
