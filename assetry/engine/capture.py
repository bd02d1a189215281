"""What an asset prints and logs, captured per materialization, wherever it runs.

While a task runs, its thread's writes to ``sys.stdout`` and ``sys.stderr``
and the ``logging`` records emitted in its thread are copied into a bounded
buffer, which becomes ``materializations.logs``. The same code serves every
executor: the calling thread (sync), a pool thread (threads: the streams are
replaced by a thread-aware proxy and the root logger gets a handler filtered
by thread, so parallel assets never mix), a worker process or a Dask worker
(the capture happens there, and the text travels back in the outcome).

Output still reaches the real streams as before (a tee); logging records are
captured at the levels the program's logging lets through (Python's default
is WARNING). Output written below Python (a C library writing to file
descriptor 1) is not captured. The proxy and the handler are installed when
the first task starts and removed when the last one ends.

A proxy is never freed: it lives as long as the stream it stands in for, and
the next capture over that stream puts the same proxy back. CPython's
``print()`` holds ``sys.stdout`` as a borrowed reference across its writes (the
text, ``sep``, ``end``), as warnings do ``sys.stderr`` (python/cpython#130163;
Python 3.11 has it, at least): a proxy freed while another thread was inside
``print()`` was used after being freed, and the process crashed (SIGSEGV in
``_Tee.write``) when the last running task ended while another thread printed.

A buffer keeps the first :data:`HEAD` and the last :data:`TAIL` characters,
with a marker line saying how many were left out between them. This module
runs no asset and touches no catalog.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

__all__ = ["HEAD", "TAIL", "LogBuffer", "capture"]

#: Characters kept from the start and from the end of an asset's output (32 KiB each).
HEAD = TAIL = 32 * 1024


class LogBuffer:
    """The first ``head`` and last ``tail`` characters written to it.

    Examples:
        >>> buf = LogBuffer(head=4, tail=4)
        >>> buf.write("0123456789abcdef")
        >>> print(buf.text())
        0123
        [... 8 characters omitted ...]
        cdef
    """

    def __init__(self, head: int = HEAD, tail: int = TAIL) -> None:
        self._head_max, self._tail_max = head, tail
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        """Keep ``text`` (within the bounds)."""
        with self._lock:
            room = self._head_max - self._head_len
            if room > 0:
                self._head.append(text[:room])
                self._head_len += len(self._head[-1])
                text = text[room:]
            if not text:
                return
            self._tail.append(text)
            self._tail_len += len(text)
            while self._tail and self._tail_len - len(self._tail[0]) >= self._tail_max:
                gone = self._tail.popleft()
                self._tail_len -= len(gone)
                self._dropped += len(gone)

    def text(self) -> str | None:
        """Everything kept, None when nothing was written."""
        with self._lock:
            tail = "".join(self._tail)
            dropped = self._dropped
            if len(tail) > self._tail_max:
                dropped += len(tail) - self._tail_max
                tail = tail[len(tail) - self._tail_max:]
            head = "".join(self._head)
        if not head and not tail:
            return None
        if not dropped:
            return head + tail
        sep = "" if head.endswith("\n") else "\n"
        return f"{head}{sep}[... {dropped:,} characters omitted ...]\n{tail}"


# -- the thread-aware streams and handler, shared by every capture of this process ---------------

#: Thread ident -> the buffer its output goes to, while that thread runs a task.
_BUFFERS: dict[int, LogBuffer] = {}
_LOCK = threading.Lock()
_ACTIVE = 0
_SAVED: dict[str, Any] = {}


class _Tee:
    """Stands in for ``sys.stdout`` / ``sys.stderr``: copies a capturing thread's writes to its buffer."""

    def __init__(self, original: Any) -> None:
        self._original = original

    def write(self, text: str) -> int:
        buf = _BUFFERS.get(threading.get_ident())
        if buf is not None and isinstance(text, str):
            buf.write(text)
        return self._original.write(text)  # type: ignore[no-any-return]

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, buffer, ...
        return getattr(self._original, name)


#: id(stream) -> its proxy, kept for good (see the module's docstring). A proxy holds its
#: stream, so no other stream takes that id while the entry lives.
_TEES: dict[int, _Tee] = {}


class _ThreadHandler(logging.Handler):
    """A root handler that keeps the records of capturing threads, and ignores the rest."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        buf = _BUFFERS.get(record.thread or 0)
        if buf is None:
            return
        try:
            buf.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 (a record that cannot be formatted: as logging does)
            self.handleError(record)


_HANDLER = _ThreadHandler()


def _install() -> None:
    global _ACTIVE
    with _LOCK:
        _ACTIVE += 1
        if _ACTIVE > 1:
            return
        for name in ("stdout", "stderr"):
            original = getattr(sys, name)
            if original is None:  # no console (pythonw): nothing to stand in for
                continue
            tee = _TEES.get(id(original))
            if tee is None:
                tee = _TEES[id(original)] = _Tee(original)
            _SAVED[name] = tee
            setattr(sys, name, tee)
        logging.getLogger().addHandler(_HANDLER)


def _uninstall() -> None:
    global _ACTIVE
    with _LOCK:
        _ACTIVE -= 1
        if _ACTIVE > 0:
            return
        logging.getLogger().removeHandler(_HANDLER)
        for name in ("stdout", "stderr"):
            tee = _SAVED.pop(name, None)
            if tee is not None and getattr(sys, name) is tee:  # else someone replaced it since
                setattr(sys, name, tee._original)


@contextlib.contextmanager
def capture() -> Iterator[LogBuffer]:
    """Collect what this thread prints and logs within the block.

    Examples:
        >>> with capture() as buf:
        ...     print("hello")
        hello
        >>> buf.text()
        'hello\\n'
    """
    buf = LogBuffer()
    ident = threading.get_ident()
    outer = _BUFFERS.get(ident)  # a run inside an asset (sync executor): restored after
    _install()
    _BUFFERS[ident] = buf
    try:
        yield buf
    finally:
        if outer is None:
            _BUFFERS.pop(ident, None)
        else:
            _BUFFERS[ident] = outer
        _uninstall()
