"""Which processes are alive, which hold a lock on a file, and this process's writer slots.

:func:`pid_alive` and :func:`lock_holders` are the questions crash recovery asks:
both read ``/proc`` where it exists and never open the file they ask about
(opening and closing a file drops every POSIX lock this process holds on it).
A :class:`Slot` keeps the threads of this process to one writer per catalog file.
"""

from __future__ import annotations

import os
import pathlib
import threading

from assetry.errors import CatalogError

__all__ = ["Slot", "lock_holders", "pid_alive"]


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a zombie counts as dead).

    Examples:
        >>> pid_alive(os.getpid())
        True
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            # The state follows the command name in parentheses: "123 (python) Z ...".
            return f.read().rpartition(")")[2].split()[:1] != ["Z"]
    except OSError:
        return True  # no /proc (macOS): trust kill()


def lock_holders(path: str | os.PathLike[str]) -> set[int] | None:
    """The ids of processes holding a POSIX or flock lock on ``path``.

    Read from ``/proc/locks`` so the file itself is never opened: opening and
    closing a file drops every POSIX lock this process holds on it, DuckDB's
    included. Returns an empty set for a missing file and ``None`` where it
    cannot tell (no ``/proc/locks``).

    Examples:
        >>> lock_holders("/no/such/file")
        set()
    """
    try:
        st = os.stat(path)
    except OSError:
        return set()
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders = set()
    for line in lines:
        parts = line.split()
        # "1: POSIX  ADVISORY  WRITE 321 fe:00:2146964 0 EOF" ("->" marks a blocked waiter).
        if "->" in parts:
            continue
        if len(parts) >= 6 and parts[5] == wanted and parts[4].isdigit():
            holders.add(int(parts[4]))
    return holders


_SLOTS: dict[str, threading.RLock] = {}  # threading.RLock per catalog file
_DEPTH: dict[str, int] = {}
_SLOTS_LOCK = threading.Lock()


class Slot:
    """This process's one writer slot for a catalog file: threads wait, the holder re-enters."""

    def __init__(self, path: pathlib.Path, wait: float) -> None:
        self.key = os.path.realpath(path)
        with _SLOTS_LOCK:
            self._lock = _SLOTS.setdefault(self.key, threading.RLock())
        if not self._lock.acquire(timeout=min(max(wait, 0.001), threading.TIMEOUT_MAX)):
            raise CatalogError(
                f"catalog {str(path)!r} is held by another run in this process and did not "
                f"free within {wait:.0f}s; wait for that run to end"
            )
        with _SLOTS_LOCK:
            _DEPTH[self.key] = _DEPTH.get(self.key, 0) + 1
            self.nested = _DEPTH[self.key] > 1

    def release(self) -> None:
        self._lock.release()  # raises in a thread that does not hold it: nothing changes
        with _SLOTS_LOCK:
            _DEPTH[self.key] -= 1
