"""The work of one asset, as a worker runs it: load inputs, call, check, store.

This is the boundary around user code. It must be picklable end to end (a
:class:`Task` goes to a thread, a process or a Dask worker and an
:class:`Outcome` comes back), so it touches no catalog and no shared state:
values pass through the IO managers, never in memory between assets.

Everything about a failure is settled here, in the worker, where the frames
are: the message naming the asset, its ``module:function`` and its inputs by
where they are stored; the traceback text (:mod:`assetry.engine.tracebacks`);
what the asset printed and logged (:mod:`assetry.engine.capture`); and the
exception itself, replaced by a picklable stand-in when it must cross to
another process and cannot. A KeyboardInterrupt inside the asset ends the task
as ``interrupted``, with its output and traceback so far.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pathlib
import re
import time
from collections.abc import Mapping
from typing import Any

import attrs

from assetry.assets.decorator import PARTITION_PARAM, AssetSpec
from assetry.checks import run_checks
from assetry.checks.validation import check_return, check_schema
from assetry.engine.capture import capture
from assetry.engine.roots import run_alive
from assetry.engine.tracebacks import format_traceback, portable
from assetry.errors import AssetError, CheckError, StorageError
from assetry.io_managers import IOManager, default_for_annotation, default_for_value
from assetry.io_managers.base import Observation, PartitionedProduct, Stored, run_scope
from assetry.storage import RemoteRoot, is_remote, register

__all__ = ["Input", "Outcome", "Task", "run_task", "summarize", "where_of"]


@attrs.frozen
class Input:
    """An upstream product a parameter receives."""

    param: str
    upstream: str
    location: str
    io: IOManager
    #: Every stored partition, when a partitioned upstream feeds an unpartitioned asset.
    partitions: PartitionedProduct | None = None


@attrs.frozen
class Task:
    """Everything a worker needs to run one asset."""

    spec: AssetSpec
    config: Mapping[str, Any]
    inputs: tuple[Input, ...]
    root: str
    partition: str | None = None
    partition_value: Any = None
    location: str | None = None
    #: The partition's path segment (``date=2013-01-01``) for the default location.
    segment: str | None = None
    #: The run's id: the product's temporary carries it, and it is put in place only while
    #: the run lives (a worker orphaned by a killed driver never replaces a newer product).
    run_id: str | None = None
    #: The credentials and endpoint of a remote root (:class:`assetry.storage.StorageOptions`,
    #: whose repr hides them), registered in the worker's process before anything is read.
    storage: Any = None
    #: Where the run's lock is when it is not under the root (a remote root: beside the catalog).
    lock_root: str | None = None
    #: Where the asset is defined, for messages (``module:function``, or a .sql file); set in
    #: the driver, where the user's modules have their real names.
    where: str = attrs.field(
        default=attrs.Factory(lambda self: where_of(self.spec), takes_self=True)
    )

    @property
    def label(self) -> str:
        """``asset`` or ``asset[key]``, for messages."""
        name = self.spec.name
        return name if self.partition is None else f"{name}[{self.partition}]"


@attrs.frozen
class Outcome:
    """What came of a task: the stored product, or the error in words."""

    ok: bool
    duration_s: float
    attempts: int = 1
    stored: Stored | None = None
    observation: Observation | None = None
    io: IOManager | None = None
    error: str | None = None
    error_kind: str | None = None
    traceback: str | None = None
    checks: tuple[Any, ...] = ()
    #: Replaces the run's reason in the catalog (a failed check names itself).
    reason: str | None = None
    #: What the asset printed and logged (bounded; see :mod:`assetry.engine.capture`).
    logs: str | None = None
    #: The asset's own exception (the user's, or assetry's AssetError); picklable on the way back.
    exception: BaseException | None = attrs.field(default=None, eq=False, repr=False)
    #: Stopped by KeyboardInterrupt (Ctrl-C) before it finished.
    interrupted: bool = False

    def __reduce__(self) -> Any:
        # Crossing to another process: an exception that does not pickle travels as a
        # RemoteError with its traceback text, so the outcome itself always arrives.
        values = {f.name: getattr(self, f.name) for f in attrs.fields(Outcome)}
        values["exception"] = portable(self.exception, self.traceback)
        return (_outcome, (values,))


def _outcome(values: dict[str, Any]) -> Outcome:
    return Outcome(**values)


def where_of(spec: AssetSpec) -> str:
    """Where an asset is defined, as messages name it: ``module:function``, or a .sql file.

    A SQL asset names the user's decorated function or ``.sql`` file, not the
    assetry function that runs its SQL.
    """
    origin = getattr(spec.fn, "_assetry_origin", None)
    if isinstance(origin, str) and origin:
        if origin.endswith(".sql") and os.path.isabs(origin):
            try:
                relative = os.path.relpath(origin)
            except ValueError:  # another drive (Windows)
                return origin
            return origin if relative.startswith("..") else relative
        return origin
    return spec.qualname


def run_task(task: Task) -> Outcome:
    """Run a task with its retries, capturing its output; never raises for a failure of the asset."""
    start = time.perf_counter()
    if task.storage is not None:
        register(task.root, task.storage)
    with capture() as logs:
        try:
            outcome = _attempts(task, start)
        except KeyboardInterrupt as exc:
            outcome = Outcome(
                ok=False, duration_s=time.perf_counter() - start, error="interrupted",
                traceback=format_traceback(exc), interrupted=True,
            )
    return attrs.evolve(outcome, logs=logs.text())


def _attempts(task: Task, start: float) -> Outcome:
    attempts = task.spec.retries + 1
    attempt = 1
    outcome = _attempt(task, attempt, start)
    while not outcome.ok and outcome.error_kind not in _NOT_RETRIED and attempt < attempts:
        attempt += 1
        outcome = _attempt(task, attempt, start)
    return outcome


# Errors that a retry cannot mend: the value itself is wrong.
_NOT_RETRIED = {"AssetTypeError", "SchemaError", "CheckError"}


def _attempt(task: Task, attempt: int, start: float) -> Outcome:
    spec = task.spec
    checks: tuple[Any, ...] = ()
    try:
        kwargs = _load_inputs(task)
        try:
            value = spec.fn(**kwargs)
        except Exception as exc:
            raise _UserError(
                f"asset {task.label!r} ({_where(task, exc)}) raised {type(exc).__name__}: {exc}"
                f"{_hint(exc)}{_inputs_note(kwargs, task)}"
            ) from exc
        check_return(spec.name, value, spec.hints().get("return"))
        if spec.schema is not None:
            check_schema(spec.name, value, spec.schema)
        if spec.checks:
            checks = tuple(run_checks(spec.name, value, spec.checks))
            failed = [c for c in checks if c.blocking and not c.passed]
            if failed:
                raise CheckError(
                    f"asset {task.label!r} failed check {failed[0].check!r}: {failed[0].detail}"
                )
        io = _io_for(spec, value)
        location = task.location or io.default_location(_root(task), spec.name, task.segment)
        stored = _store(task, io, value, location)
        observation = io.observe(location)
        if observation is None:
            raise StorageError(
                f"asset {task.label!r} was stored at {location!r} but cannot be read back; "
                "check the IO manager and the storage"
            )
        return Outcome(
            ok=True, duration_s=time.perf_counter() - start, attempts=attempt, stored=stored,
            observation=observation, io=io, checks=checks,
        )
    except Exception as exc:  # noqa: BLE001 - the boundary around user code: every failure is an outcome
        cause = exc.__cause__ if isinstance(exc, _UserError) and exc.__cause__ else exc
        kind = type(exc).__name__ if isinstance(exc, AssetError) and not isinstance(exc, _UserError) else None
        message = str(exc) if isinstance(exc, (AssetError,)) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, _UserError):
            message += _hint(exc)
        failed_checks = [c.check for c in checks if c.blocking and not c.passed]
        return Outcome(
            ok=False, duration_s=time.perf_counter() - start, attempts=attempt, error=message,
            error_kind=kind, checks=checks,
            reason=f"check failed: {failed_checks[0]}" if failed_checks else None,
            traceback=_traceback_text(task, cause), exception=cause,
        )


def _traceback_text(task: Task, exc: BaseException) -> str:
    """The traceback; a SQL asset's says first where its SQL comes from (no frame of it runs)."""
    text = format_traceback(exc)
    if getattr(task.spec.fn, "_assetry_origin", None):
        text = f"In the SQL of asset {task.label!r} ({_where(task, exc)}):\n{text}"
    return text


class _UserError(AssetError):
    """The user's function raised; the message names the asset and its inputs."""


def _root(task: Task) -> pathlib.Path:
    if is_remote(task.root):
        return RemoteRoot(task.root)  # type: ignore[return-value]
    return pathlib.Path(task.root)


def _load_inputs(task: Task) -> dict[str, Any]:
    hints = task.spec.hints()
    kwargs: dict[str, Any] = dict(task.config)
    for inp in task.inputs:
        if inp.partitions is not None:
            kwargs[inp.param] = inp.io.load_partitions(inp.partitions, hints.get(inp.param))
        else:
            kwargs[inp.param] = inp.io.load(inp.location, hints.get(inp.param))
    if task.partition is not None and any(p.name == PARTITION_PARAM for p in task.spec.params):
        kwargs[PARTITION_PARAM] = task.partition_value
    return kwargs


def _store(task: Task, io: IOManager, value: Any, location: str) -> Stored:
    """Save inside the run's scope; an IO manager's refusal names the asset."""
    scope: Any = contextlib.nullcontext()
    if task.run_id is not None:
        scope = run_scope(task.run_id, functools.partial(run_alive, task.lock_root or task.root,
                                                         task.run_id))
    try:
        with scope:
            return io.save(value, location)
    except AssetError as exc:
        if repr(task.spec.name) in str(exc):
            raise
        try:
            named = type(exc)(f"asset {task.label!r}: {exc}")
        except Exception:  # noqa: BLE001 - a subclass with another signature keeps its message
            named = None
        if named is None:
            raise
        raise named from exc


def _io_for(spec: AssetSpec, value: Any) -> IOManager:
    if spec.io is not None:
        return spec.io
    return default_for_annotation(spec.hints().get("return")) or default_for_value(value)


def summarize(value: Any) -> str:
    """A short description of a value by its shape, never its full repr.

    Examples:
        >>> summarize([1, 2, 3]), summarize(pathlib.PurePosixPath("data/a.parquet"))
        ('list of 3', 'data/a.parquet')
    """
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__}{tuple(shape)!r}"
    if isinstance(value, (list, tuple, dict, set)):
        return f"{type(value).__name__} of {len(value)}"
    if type(value).__name__ == "LazyFrame":
        return "LazyFrame"
    if isinstance(value, pathlib.PurePath):
        return shown_location(str(value))
    text = repr(value)
    return text if len(text) <= 40 else type(value).__name__


def shown_location(location: str) -> str:
    """A stored location as messages show it: a path relative to the current directory when
    inside it, a relation as ``schema.table``.

    Examples:
        >>> shown_location("duckdb:/tmp/w.duckdb#main.stats")
        'main.stats'
    """
    if "#" in location and ":" in location.split("#", 1)[0]:
        return location.rsplit("#", 1)[1]
    if os.path.isabs(location):
        try:
            relative = os.path.relpath(location)
        except ValueError:  # another drive (Windows)
            return location
        return location if relative.startswith("..") else relative
    return location


def _input_summary(inp: Input, value: Any) -> str:
    if inp.partitions is not None:
        locations = inp.partitions.locations
        try:
            common = os.path.commonpath(locations) if len(locations) > 1 else locations[0]
        except ValueError:  # URLs, relations, mixed drives
            common = inp.location
        return f"{shown_location(common)} ({len(locations)} partitions)"
    where = shown_location(inp.location)
    if isinstance(value, pathlib.PurePath) or _is_location(value):
        return where
    return f"{summarize(value)} from {where}"


def _is_location(value: Any) -> bool:
    # A SQL asset's upstream: a relation, or a product on an object store read in place.
    return type(value).__name__ in ("RelationRef", "ObjectRef")


def _inputs_note(kwargs: Mapping[str, Any], task: Task) -> str:
    inputs = [i for i in task.inputs if i.param in kwargs]
    if not inputs:
        return ""
    return "; inputs: " + ", ".join(f"{i.param}={_input_summary(i, kwargs[i.param])}" for i in inputs)


_SQL_LINE = re.compile(r"\bLINE (\d+):")


def _where(task: Task, exc: BaseException) -> str:
    """``module:function``; for a .sql file, with the line the database complained about."""
    where = task.where
    if where.endswith(".sql"):
        found = _SQL_LINE.search(str(exc))
        if found:
            return f"{where}:{found.group(1)}"
    return where


def _hint(exc: BaseException) -> str:
    """What to do about an error that has one known cause."""
    text = str(exc)
    import multiprocessing  # on first use: not at ``import assetry``

    if "Could not set lock on file" in text and multiprocessing.parent_process() is not None:
        return (
            "; a DuckDB database file can be open in one process at a time, so run assets on a "
            "DuckDB warehouse with the threads executor (executor='threads', --executor threads)"
        )
    return ""

