"""The garbage collector during a run: what was alive when the run started is left out of its passes.

A run allocates a few objects per step and keeps most of them (the result's
records, the steps' states). Every so often that makes CPython's collector
walk its oldest generation: every tracked object of the process, the
hundreds of thousands that polars, DuckDB, pyarrow and the user's modules
hold, tens of milliseconds a pass, for nothing (what was alive before the run
stays alive during it). :func:`frozen_heap` moves those objects to the
collector's permanent generation for the run (``gc.freeze``) and gives them
back at its end (``gc.unfreeze``), so a pass walks only what the run made.
Nothing is freed any later than it would have been at the next full pass after
the run. A process that froze objects itself (a server before it forks) is
left as it is, and so is one whose collector is disabled. The command line
imports its target inside the same block (a module of a thousand declarations
sets off a full pass at import), and freezes the heap for good at its exit
(``assetry.cli.commands``: the interpreter's closing passes walk nothing).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["frozen_heap"]

_LOCK = threading.Lock()
_DEPTH = 0
_OURS = False


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Within the block, the collector leaves alone every object alive at its start.

    Re-entrant and thread-safe: runs in threads of one process (or a run inside
    a hook) share one freeze, undone when the last of them ends.

    Examples:
        >>> with frozen_heap():
        ...     gc.get_freeze_count() > 0 or not gc.isenabled()
        True
        >>> gc.get_freeze_count()
        0
    """
    global _DEPTH, _OURS
    with _LOCK:
        if _DEPTH == 0:
            _OURS = gc.isenabled() and gc.get_freeze_count() == 0
            if _OURS:
                gc.freeze()
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _OURS:
                _OURS = False
                gc.unfreeze()
