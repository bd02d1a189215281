"""The work of one asset, as a worker runs it: load inputs, call, check, store.

This is the boundary around user code. It must be picklable end to end (a
:class:`Task` goes to a thread, a process or a Dask worker and an
:class:`Outcome` comes back), so it touches no catalog and no shared state:
values pass through the IO managers, never in memory between assets.
"""

from __future__ import annotations

import pathlib
import time
import traceback
from collections.abc import Mapping
from typing import Any

import attrs

from assetry.assets.decorator import PARTITION_PARAM, AssetSpec
from assetry.checks import run_checks
from assetry.checks.validation import check_return, check_schema
from assetry.errors import AssetError, CheckError
from assetry.io_managers import IOManager, default_for_annotation, default_for_value
from assetry.io_managers.base import Observation, PartitionedProduct, Stored

__all__ = ["Input", "Outcome", "Task", "run_task", "summarize"]


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


def run_task(task: Task) -> Outcome:
    """Run a task with its retries; never raises for a failure of the asset itself."""
    start = time.perf_counter()
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
                f"asset {task.label!r} ({spec.qualname}) raised {type(exc).__name__}: {exc}"
                f"{_inputs_note(kwargs, task)}"
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
        stored = io.save(value, location)
        observation = io.observe(location)
        return Outcome(
            ok=True, duration_s=time.perf_counter() - start, attempts=attempt, stored=stored,
            observation=observation, io=io, checks=checks,
        )
    except Exception as exc:  # noqa: BLE001 - the boundary around user code: every failure is an outcome
        cause = exc.__cause__ if isinstance(exc, _UserError) else exc
        kind = type(exc).__name__ if isinstance(exc, AssetError) and not isinstance(exc, _UserError) else None
        message = str(exc) if isinstance(exc, (AssetError,)) else f"{type(exc).__name__}: {exc}"
        failed_checks = [c.check for c in checks if c.blocking and not c.passed]
        return Outcome(
            ok=False, duration_s=time.perf_counter() - start, attempts=attempt, error=message,
            error_kind=kind, checks=checks,
            reason=f"check failed: {failed_checks[0]}" if failed_checks else None,
            traceback="".join(traceback.format_exception(cause)) if cause else None,
        )


class _UserError(AssetError):
    """The user's function raised; the message names the asset and its inputs."""


def _root(task: Task) -> pathlib.Path:
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


def _io_for(spec: AssetSpec, value: Any) -> IOManager:
    if spec.io is not None:
        return spec.io
    return default_for_annotation(spec.hints().get("return")) or default_for_value(value)


def summarize(value: Any) -> str:
    """A short description of a value by its shape, never its full repr."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__}{tuple(shape)!r}"
    if isinstance(value, (list, tuple, dict, set)):
        return f"{type(value).__name__} of {len(value)}"
    if type(value).__name__ == "LazyFrame":
        return "LazyFrame"
    text = repr(value)
    return text if len(text) <= 40 else type(value).__name__


def _inputs_note(kwargs: Mapping[str, Any], task: Task) -> str:
    names = [i.param for i in task.inputs]
    if not names:
        return ""
    return "; inputs: " + ", ".join(f"{n}={summarize(kwargs[n])}" for n in names)

