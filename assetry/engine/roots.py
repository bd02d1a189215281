"""The run's root directory: created, proven writable, and tidied before a run.

It owns everything a run does to the root as a whole (not to one product):
creating it, checking it can be written, and removing temporary files left
behind by a run that was killed. It never removes a name without the
temporary marker.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import time
import uuid

from assetry.errors import StorageError
from assetry.io_managers.base import TEMP_MARKER
from assetry.records import DEFAULT_CATALOG, lock_holders

__all__ = ["prepare_root", "remove_temporaries"]


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
