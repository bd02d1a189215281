"""The traceback of a failed asset, formatted where its frames are (the worker).

It owns the text kept in ``materializations.traceback``: the user's frames in
full, as Python prints them; assetry's own frames folded into one marker line
per run of them (leading ones dropped: they are the boundary that called the
asset); chained exceptions (``raise ... from ...``) included. It also owns
making an exception fit to travel back from a worker process: one that does
not survive pickling is replaced by a :class:`~assetry.errors.RemoteError`
carrying its type, message and traceback text. It runs and records nothing.

``ASSETRY_FULL_TRACEBACK=1`` keeps assetry's frames (for reporting a bug in assetry).
"""

from __future__ import annotations

import os
import traceback
from typing import Any

from assetry.errors import RemoteError

__all__ = ["attach_remote_traceback", "format_traceback", "portable"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def format_traceback(exc: BaseException) -> str:
    """The whole traceback of ``exc`` (with its chain), assetry's own frames folded.

    Examples:
        >>> try:
        ...     int("x")
        ... except ValueError as exc:
        ...     text = format_traceback(exc)
        >>> text.splitlines()[-1]
        "ValueError: invalid literal for int() with base 10: 'x'"
    """
    te = traceback.TracebackException.from_exception(exc)
    if os.environ.get("ASSETRY_FULL_TRACEBACK", "") not in ("", "0"):
        return "".join(te.format())
    seen: set[int] = set()
    pending: list[Any] = [te]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.stack = _fold(current.stack)
        pending.extend([current.__cause__, current.__context__])
    return "".join(te.format())


class _Folded(traceback.FrameSummary):
    """Stands for ``count`` consecutive frames of assetry's own code."""

    def __init__(self, count: int) -> None:
        super().__init__("<assetry>", None, "", lookup_line=False, line="")
        self.count = count


class _Stack(traceback.StackSummary):
    def format_frame_summary(self, frame_summary: Any) -> str:
        if isinstance(frame_summary, _Folded):
            n = frame_summary.count
            return f"  [{n} frame{'s' if n > 1 else ''} of assetry]\n"
        return str(super().format_frame_summary(frame_summary))


_STDLIB = os.path.dirname(os.__file__) + os.sep


def _owned(frames: list[traceback.FrameSummary]) -> list[bool]:
    """Which frames are assetry's: its own files, and the standard library's called from them."""
    owned = []
    inside = True  # the first frames are the boundary that called the asset
    for frame in frames:
        path = os.path.abspath(frame.filename)
        if path.startswith(_PACKAGE):
            inside = True
        elif not (path.startswith(_STDLIB) and "site-packages" not in path):
            inside = False
        owned.append(inside)
    return owned


def _fold(stack: traceback.StackSummary) -> traceback.StackSummary:
    frames = list(stack)
    owned = _owned(frames)
    start = 0
    while start < len(frames) - 1 and owned[start]:  # the boundary that called the asset
        start += 1
    folded: list[traceback.FrameSummary] = []
    run = 0
    for frame, own in zip(frames[start:], owned[start:]):
        if own:
            run += 1
            continue
        if run:
            folded.append(_Folded(run))
            run = 0
        folded.append(frame)
    if run:
        folded.append(_Folded(run))
    out = _Stack()
    out.extend(folded)
    return out


def portable(exc: BaseException | None, text: str | None) -> BaseException | None:
    """``exc`` if it survives pickling, else a :class:`RemoteError` with its type, message and traceback.

    Examples:
        >>> import threading
        >>> class Holding(Exception):
        ...     def __init__(self, lock):
        ...         super().__init__("held")
        ...         self.lock = lock
        >>> type(portable(Holding(threading.Lock()), "Traceback ...")).__name__
        'RemoteError'
        >>> portable(ValueError("fine"), None)
        ValueError('fine')
    """
    if exc is None or isinstance(exc, RemoteError):
        return exc
    import cloudpickle  # here: only a worker process ever sends an exception back

    try:
        copy = cloudpickle.loads(cloudpickle.dumps(exc))
    except Exception:  # noqa: BLE001 (pickling runs arbitrary reducers; any failure means it cannot travel)
        copy = None
    if copy is not None and type(copy).__name__ == type(exc).__name__ and str(copy) == str(exc):
        return exc
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
    return RemoteError(kind, str(exc), text)


def attach_remote_traceback(exc: BaseException | None, text: str | None) -> BaseException | None:
    """Note the worker's traceback on an exception that came back from another process.

    An exception unpickled in the driver has no ``__traceback__``: the frames
    stayed in the worker. Its text is added as a note, so a notebook or pytest
    showing the exception shows where it was raised.
    """
    if exc is None or exc.__traceback__ is not None or not text:
        return exc
    notes = getattr(exc, "__notes__", None) or []
    note = "traceback in the worker:\n" + text.rstrip("\n")
    if note not in notes:
        exc.add_note(note)
    return exc
