"""The run's root directory: created, proven writable, tidied, and where a run proves it lives.

It owns everything a run does to the root as a whole (not to one product):
creating it, checking it can be written, the run's lock, removing temporary
files left behind by runs that died, and refusing a catalog file that an
asset's database would share. It never removes a name without the temporary
marker.

The run's lock: from start to end, a run holds ``fcntl.flock(LOCK_EX)`` on
``<root>/.assetry/runs/<run id>.lock``. The kernel frees it when the run's
process dies, SIGKILL included, so "the lock is free" proves the run is dead,
whatever catalog it used. Its temporaries are named with its id
(:func:`assetry.io_managers.base.temporary_name`), so a sweep removes exactly
the temporaries of dead runs, and a worker asks the same lock before putting a
product in place (:func:`run_alive`).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Self

from assetry._surface import option_hint
from assetry.errors import AssetGraphError, StorageError
from assetry.io_managers.base import TEMP_MARKER, durable, temporary_run
from assetry.records import DEFAULT_CATALOG, lock_holders
from assetry.storage import RemoteRoot, is_remote, local_root

try:  # POSIX; elsewhere runs hold no lock, and only the age rule below applies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "RUNS_DIR",
    "RunLock",
    "check_catalog_apart",
    "default_catalog",
    "prepare_root",
    "remove_dead_locks",
    "remove_temporaries",
    "run_alive",
    "run_lock_path",
]

#: Where the runs' lock files live, under the root (a hidden directory: never swept).
RUNS_DIR = os.path.join(".assetry", "runs")


def prepare_root(root: Any, storage_options: Any = None) -> pathlib.Path:
    """Create the root directory, prove it writable, and remove leftovers of dead runs.

    A root on an object store (``s3://bucket/prefix``, ``gs://``, ``az://``) is
    checked reachable with ``storage_options`` (kept in memory for the run's
    locations, never recorded) and returned as a :class:`~assetry.storage.RemoteRoot`;
    ``file://`` is a local path. See :func:`prepare_remote_root`.

    A temporary named with a run's id is removed when that run's lock is free
    (the run died, whatever catalog it used); a run that is still writing never
    loses its temporary files. A temporary without a run's id (written outside
    a run, by an older assetry, or for a run whose lock is not under this root)
    is removed only if it is older than this call and no process holds the
    root's default catalog. (A writer that opens a catalog also sweeps the roots
    of runs it marks ``crashed``.)

    Raises:
        StorageError: the root cannot be created or written, or ``ASSETRY_FSYNC`` is not 0 or 1.

    Examples:
        >>> prepare_root(tmp_path / "data").name  # doctest: +SKIP
        'data'
    """
    started = time.time()
    durable()  # a bad ASSETRY_FSYNC is refused before anything runs
    if isinstance(root, str):
        root = local_root(root)
    if is_remote(root) or (hasattr(root, "storage_options") and is_remote(str(root))):
        return prepare_remote_root(root, storage_options)  # type: ignore[return-value]
    path = pathlib.Path(os.path.abspath(os.path.expanduser(str(root))))
    if path.exists() and not path.is_dir():
        raise StorageError(f"root {str(path)!r} is a file, not a directory; choose another {option_hint('root')}")
    probe = path / f".assetry-write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"root {str(path)!r} is not a writable directory ({exc.strerror or exc}); "
            f"choose another {option_hint('root')}"
        ) from exc
    remove_temporaries(path, before=started,
                       unnamed=lambda: lock_holders(path / DEFAULT_CATALOG) == set())
    return path


def prepare_remote_root(root: Any, storage_options: Any = None) -> RemoteRoot:
    """Check a remote root (its bucket reachable with these options) and register its options.

    ``root`` is a URL, or an object with a URL as ``str()`` and ``storage_options``
    (a ``upath.UPath``); ``storage_options`` given here win over the object's.

    Raises:
        StorageError: credentials in the URL, no bucket, the library missing, or
            the bucket cannot be reached (the message names no credential).
    """
    from assetry import storage

    url = storage.remote_root(str(root))
    options = storage_options if storage_options is not None else getattr(
        root, "storage_options", None)
    storage.register(url, options)
    storage.check_root(url)
    return url


def remove_dead_locks(lock_root: str | os.PathLike[str]) -> list[str]:
    """Remove the lock files of dead runs in ``<lock_root>/.assetry/runs`` (nothing else).

    A remote root keeps no temporaries to sweep, but its runs' locks are local
    (beside the catalog), and a killed run leaves its lock file behind.
    """
    runs_dir = os.path.join(lock_root, RUNS_DIR)
    removed = []
    for run in _lock_files(runs_dir):
        with _dead_run(runs_dir, run) as dead:
            if dead:
                removed.append(os.path.join(runs_dir, f"{run}.lock"))
    return removed


def default_catalog(root: Any) -> str:
    """The catalog when none is given: ``<root>/catalog.duckdb``; for a remote root, the
    local ``catalog.duckdb`` in the current directory (the catalog is never on the store).

    Examples:
        >>> default_catalog("data")
        'data/catalog.duckdb'
    """
    if is_remote(root):
        return os.path.abspath(DEFAULT_CATALOG)
    return os.path.join(root, DEFAULT_CATALOG)


def remove_temporaries(
    root: str | os.PathLike[str], *, before: float | None = None,
    unnamed: bool | Callable[[], bool] = True,
) -> list[str]:
    """Remove the temporary products (files and directories) of dead runs under ``root``.

    A temporary named with a run's id goes when the run's lock file
    (``<root>/.assetry/runs/<id>.lock``) exists and no process holds it; the
    lock files of dead runs go too. A temporary without a run's id, or whose
    run has no lock file here, goes if ``unnamed`` and it is older than
    ``before`` (a directory is judged by the newest entry inside it). Only
    names containing the temporary marker are touched. Hidden directories
    (``.git``, ``.venv``, ``.assetry``) are not searched.

    Args:
        root: the directory to sweep, recursively (symbolic links are not followed).
        before: a ``time.time()`` value; default now.
        unnamed: whether temporaries that name no live-or-dead run here may go at all
            (or a function that tells, asked only if there are such temporaries).

    Returns:
        The removed paths.

    Examples:
        >>> remove_temporaries("data")  # doctest: +SKIP
        ['/abs/data/flights.parquet.assetry-tmp-9c1f...-1f2e3d4c5b6a']
    """
    cutoff = time.time() if before is None else before
    runs_dir = os.path.join(root, RUNS_DIR)
    by_run: dict[str, list[str]] = {}
    unnamed_found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        # Products never live in hidden directories (.git, .venv): a root of "." stays cheap.
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        temps = [d for d in dirnames if TEMP_MARKER in d]
        for name in temps:
            dirnames.remove(name)  # never descend into a temporary directory
        for name in [*temps, *(f for f in filenames if TEMP_MARKER in f)]:
            full = os.path.join(dirpath, name)
            run = temporary_run(name)
            if run is not None and os.path.exists(os.path.join(runs_dir, f"{run}.lock")):
                by_run.setdefault(run, []).append(full)
            else:
                unnamed_found.append(full)
    removed: list[str] = []
    for run in sorted(set(by_run) | set(_lock_files(runs_dir))):
        with _dead_run(runs_dir, run) as dead:
            if dead:
                removed += _remove_all(by_run.get(run, ()))
    if unnamed_found and (unnamed() if callable(unnamed) else unnamed):
        removed += _remove_all(p for p in unnamed_found if _newest_mtime(p) < cutoff)
    return removed


# -- the run's lock ----------------------------------------------------------------------------


def run_lock_path(root: str | os.PathLike[str], run_id: str) -> str:
    """``<root>/.assetry/runs/<run id>.lock``."""
    return os.path.join(root, RUNS_DIR, f"{run_id}.lock")


class RunLock:
    """Holds the run's lock from creation to :meth:`release` (or the process's death).

    Examples:
        >>> with RunLock(tmp_path, "0" * 32):  # doctest: +SKIP
        ...     run_alive(tmp_path, "0" * 32)
        True
    """

    def __init__(self, root: str | os.PathLike[str], run_id: str) -> None:
        self.path = run_lock_path(root, run_id)
        self._fd: int | None = None
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                if not _lock(fd, blocking=True) or _same_file(fd, self.path):
                    break
                os.close(fd)  # a sweep took a dead run's file between our open and our lock
        except OSError as exc:
            raise StorageError(
                f"cannot create the run's lock {self.path!r} ({exc.strerror or exc}); "
                "the root must be a writable local directory"
            ) from exc
        self._fd = fd
        with contextlib.suppress(OSError):
            os.write(fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        """Remove the lock file and free the lock (in that order: no sweep sees it free)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def run_alive(root: str | os.PathLike[str], run_id: str) -> bool:
    """Whether run ``run_id`` of this root still holds its lock (its driver lives).

    False when its lock file is free, or gone while the root's lock directory
    exists (a later run swept it). True when it cannot tell: no lock directory
    here (a worker that does not see the root's disk), or no locks on this
    system.
    """
    path = run_lock_path(root, run_id)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return not os.path.isdir(os.path.dirname(path))
    except OSError:
        return True
    try:
        return not _lock(fd, shared=True)
    finally:
        os.close(fd)


def _lock(fd: int, *, blocking: bool = False, shared: bool = False) -> bool:
    """Take a flock on ``fd``: True if taken, False if another holds it or locks do not work."""
    if fcntl is None:
        return False
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        fcntl.flock(fd, mode if blocking else mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return False  # no locks on this file system: every run counts as alive
    return True


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _lock_files(runs_dir: str) -> list[str]:
    try:
        names = os.listdir(runs_dir)
    except OSError:
        return []
    return [n[:-5] for n in names if n.endswith(".lock")]


@contextlib.contextmanager
def _dead_run(runs_dir: str, run: str) -> Iterator[bool]:
    """Yield True, holding the run's lock, if it is dead; its lock file goes after the block."""
    path = os.path.join(runs_dir, f"{run}.lock")
    try:  # read-write: where flock is emulated by byte-range locks (NFS), LOCK_EX needs it
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    try:
        dead = _lock(fd) and _same_file(fd, path)
        yield dead
        if dead:
            with contextlib.suppress(OSError):
                os.unlink(path)
    finally:
        os.close(fd)


def _remove_all(paths: Iterable[str]) -> list[str]:
    removed = []
    for full in paths:
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
        except FileNotFoundError:
            continue  # its own run renamed or removed it meanwhile
        except OSError:
            continue  # best effort: the next sweep tries again
        removed.append(full)
    return removed


def _mtime(path: str) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return float("inf")  # vanished: nothing to remove


def _newest_mtime(path: str) -> float:
    newest = _mtime(path)
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, _, filenames in os.walk(path):
            for name in filenames:
                newest = max(newest, _mtime(os.path.join(dirpath, name)))
    return newest


# -- the catalog, apart from every database an asset writes ------------------------------------


def check_catalog_apart(specs: Iterable[Any], catalog: str | os.PathLike[str]) -> None:
    """Refuse a graph whose DuckDB database is the catalog file itself.

    A SQL asset or a ``DuckDBTable`` product in the catalog's own file could
    replace its tables (an asset named ``runs`` or ``assets``) and destroy the
    history. A read-only client is allowed (it cannot write).

    Raises:
        AssetGraphError: naming the asset, the database and the catalog, and the way out.
    """
    target = os.path.realpath(catalog)
    for spec in specs:
        client = _duckdb_client(getattr(spec, "io", None))
        path = getattr(client, "path", ":memory:")
        if path == ":memory:" or getattr(client, "read_only", False):
            continue
        if os.path.realpath(path) == target:
            raise AssetGraphError(
                f"asset {spec.name!r} writes to the DuckDB database {path!r}, which is the "
                f"catalog file of this run ({str(catalog)!r}); an asset there could replace the "
                "catalog's tables (runs, assets, materializations...). Give the assets a "
                "warehouse file of their own (DuckDBClient('warehouse.duckdb')), or the run "
                f"another {option_hint('catalog')}"
            )


def _duckdb_client(io: Any) -> Any:
    """The DuckDB client an IO manager writes through, or None."""
    if io is None:
        return None
    try:  # SQLTable, DuckDBTable, Relation, QueryDump, PartitionedTable; files have none
        client = getattr(io, "client", None)
    except Exception:  # noqa: BLE001 - a user's manager with a property that fails: not ours
        return None
    return client if getattr(client, "dialect", None) == "duckdb" else None
