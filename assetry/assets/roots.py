"""The run's root directory: created, proven writable, and tidied before a run.

It owns everything a run does to the root as a whole (not to one product):
creating it, checking it can be written, and removing temporary files left
behind by a run that was killed. It also answers the two questions tidying
needs about this host: is a process alive, and which processes hold a lock on
a file. It never removes a name without the temporary marker.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import time
import uuid

from assetry.errors import StorageError
from assetry.io_managers.base import TEMP_MARKER

__all__ = ["lock_holders", "pid_alive", "prepare_root", "remove_temporaries"]

#: The catalog's default name inside a root (see ``materialize(catalog=None)``).
DEFAULT_CATALOG = "catalog.duckdb"


def prepare_root(root: str | os.PathLike[str]) -> pathlib.Path:
    """Create the root directory, prove it writable, and remove leftovers of killed runs.

    Leftovers are names containing ``.assetry-tmp-`` that are older than this
    call. They are removed only while no process (this one included) holds the
    root's default catalog open: a run holds it for its whole duration, so a
    run that is still writing never loses its temporary files. (A writer that
    opens a catalog also sweeps the roots of runs it marks ``crashed``.)

    Raises:
        StorageError: the root cannot be created or written.

    Examples:
        >>> prepare_root(tmp_path / "data").name  # doctest: +SKIP
        'data'
    """
    started = time.time()
    path = pathlib.Path(os.path.abspath(os.path.expanduser(str(root))))
    if path.exists() and not path.is_dir():
        raise StorageError(f"root {str(path)!r} is a file, not a directory; choose another root=")
    probe = path / f".assetry-write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"root {str(path)!r} is not a writable directory ({exc.strerror or exc}); "
            "choose another root="
        ) from exc
    if lock_holders(path / DEFAULT_CATALOG) == set():
        remove_temporaries(path, before=started)
    return path


def remove_temporaries(root: str | os.PathLike[str], *, before: float | None = None) -> list[str]:
    """Remove temporary products (files and directories) under ``root`` older than ``before``.

    Only names containing the temporary marker are touched; a directory is
    judged by the newest entry inside it, so one still being filled is kept.
    Hidden directories (``.git``, ``.venv``) are not searched.

    Args:
        root: the directory to sweep, recursively (symbolic links are not followed).
        before: a ``time.time()`` value; default now.

    Returns:
        The removed paths.

    Examples:
        >>> remove_temporaries("data")  # doctest: +SKIP
        ['/abs/data/flights.parquet.assetry-tmp-1f2e3d4c5b6a']
    """
    cutoff = time.time() if before is None else before
    removed: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        # Products never live in hidden directories (.git, .venv): a root of "." stays cheap.
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in [d for d in dirnames if TEMP_MARKER in d]:
            dirnames.remove(name)  # never descend into a temporary directory
            full = os.path.join(dirpath, name)
            if _newest_mtime(full) < cutoff:
                shutil.rmtree(full, ignore_errors=True)
                removed.append(full)
        for name in filenames:
            full = os.path.join(dirpath, name)
            if TEMP_MARKER in name and _mtime(full) < cutoff:
                try:
                    os.unlink(full)
                    removed.append(full)
                except FileNotFoundError:
                    continue  # its own run renamed or removed it meanwhile
    return removed


def _mtime(path: str) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return float("inf")  # vanished: nothing to remove


def _newest_mtime(directory: str) -> float:
    newest = _mtime(directory)
    for dirpath, _, filenames in os.walk(directory):
        for name in filenames:
            newest = max(newest, _mtime(os.path.join(dirpath, name)))
    return newest


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
