"""Who declared an asset: the module, its directory, the file and line of the call.

``source()`` and ``sql_asset`` resolve a relative path from the directory of
the module that declares them and name the declaring line in messages. A
pipeline module declaring a thousand sources asks a thousand times, so both
answers are cheap here: the directory is resolved once per file, and the line
is looked up only when a message asks for it, in a table of the module's code
made once. ``f_lineno`` scans that code's whole line table at each call
(quadratic in the module's length: about 80 ms of the import of a module of a
thousand sources), and even the table, made at the first declaration, was
3 ms of that import.
"""

from __future__ import annotations

import bisect
import functools
import operator
import pathlib
import sys
import types
from typing import Any

__all__ = ["Caller", "caller"]


class Caller:
    """Where a declaration was made; its :attr:`line` is looked up when first asked for."""

    __slots__ = ("_code", "_lasti", "_line", "base", "file", "module")

    def __init__(self, base: pathlib.Path, module: str, file: str, code: types.CodeType | None,
                 lasti: int, line: int | None = None) -> None:
        self.base = base  # the declaring module's directory (the working directory without a file)
        self.module = module  # the declaring module's ``__name__``
        self.file = file  # its code's file name
        self._code = code  # with ``lasti``, where the line is looked up (None once it is)
        self._lasti = lasti
        self._line = line

    @property
    def line(self) -> int:
        """The line of the call."""
        if self._line is None:
            self._line = _line(self._code, self._lasti)  # type: ignore[arg-type]
            self._code = None  # the module's code need not outlive its import for this
        return self._line

    def __reduce__(self) -> tuple[Any, ...]:  # the line, not the module's whole code
        return (Caller, (self.base, self.module, self.file, None, 0, self.line))

    def __repr__(self) -> str:
        return f"Caller({self.module!r}, {self.file!r}, line {self.line})"


def caller(depth: int) -> Caller:
    """The declaration made ``depth`` frames above the caller of this function.

    Examples:
        >>> def declare():
        ...     return caller(1)
        >>> declare().line  # the line of the call, in this example's own code
        1
    """
    frame = sys._getframe(depth + 1)
    file = frame.f_globals.get("__file__")
    code = frame.f_code
    return Caller(_directory(file) if file else pathlib.Path.cwd(),
                  str(frame.f_globals.get("__name__") or "__main__"),
                  code.co_filename, code, frame.f_lasti)


@functools.lru_cache(maxsize=64)
def _directory(file: str) -> pathlib.Path:
    return pathlib.Path(file).resolve().parent


#: The last code object looked up, with its line ranges: (start, end, line), by start offset.
_TABLE: tuple[types.CodeType, list[tuple[int, int, int | None]]] | None = None
_START = operator.itemgetter(0)


def _line(code: types.CodeType, lasti: int) -> int:
    """The line of the instruction at ``lasti`` (``f_lasti``), from a table of the code's
    line ranges made once per code object (the last one asked about is kept)."""
    global _TABLE
    table = _TABLE
    if table is None or table[0] is not code:
        table = _TABLE = (code, list(code.co_lines()))  # 2 to 9 ms for a module of 2,000 statements
    ranges = table[1]
    at = bisect.bisect_right(ranges, lasti, key=_START) - 1
    while at >= 0 and ranges[at][2] is None:  # an instruction of no line: the one before's
        at -= 1
    return ranges[at][2] if at >= 0 else code.co_firstlineno  # type: ignore[return-value]
