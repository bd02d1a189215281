"""Who declared an asset: the module, its directory, the file and line of the call.

``source()`` and ``sql_asset`` resolve a relative path from the directory of
the module that declares them and name the declaring line in messages. A
pipeline module declaring a thousand sources asks a thousand times, so both
answers are cheap here: the directory is resolved once per file, and the line
is looked up in a table of the module's code made once, where ``f_lineno``
scans that code's whole line table at each call (quadratic in the module's
length: about 80 ms of the import of a module of a thousand sources).
"""

from __future__ import annotations

import bisect
import functools
import operator
import pathlib
import sys
import types
from typing import NamedTuple

__all__ = ["Caller", "caller"]


class Caller(NamedTuple):
    """Where a declaration was made."""

    base: pathlib.Path  # the declaring module's directory (the working directory without a file)
    module: str  # the declaring module's ``__name__``
    file: str  # its code's file name
    line: int  # the line of the call


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
    return Caller(_directory(file) if file else pathlib.Path.cwd(),
                  str(frame.f_globals.get("__name__") or "__main__"),
                  frame.f_code.co_filename, _line(frame))


@functools.lru_cache(maxsize=64)
def _directory(file: str) -> pathlib.Path:
    return pathlib.Path(file).resolve().parent


#: The last code object looked up, with its line ranges: (start, end, line), by start offset.
_TABLE: tuple[types.CodeType, list[tuple[int, int, int | None]]] | None = None
_START = operator.itemgetter(0)


def _line(frame: types.FrameType) -> int:
    """``frame.f_lineno``, from a table of the frame's code made once per code object."""
    global _TABLE
    code = frame.f_code
    if len(code.co_linetable) < 1024:  # a short code (a function's): its own scan is cheap
        return frame.f_lineno
    table = _TABLE
    if table is None or table[0] is not code:
        table = _TABLE = (code, list(code.co_lines()))  # 2 ms for a code of 20,000 instructions
    ranges = table[1]
    at = bisect.bisect_right(ranges, frame.f_lasti, key=_START) - 1
    line = ranges[at][2] if at >= 0 else None
    return frame.f_lineno if line is None else line
