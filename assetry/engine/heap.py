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

Inside the block the collector also makes no pass at all until
:func:`resume_collections`, which the runner calls as it hands out its first
task (user code that may make garbage in bulk), or until the block ends:
planning a graph and importing its module make objects by the thousand and
almost no garbage, and the passes over them (a pass every 700 allocations)
were 2 to 8% of a no-op run of 1,000 assets (the more with 1,000 sources
beside them) and 10 ms of importing such a module. What the pause made is
frozen too when it ends, so no pass walks it before the block's end; garbage
in reference cycles made meanwhile (an observe= function's, an import's) is
freed at the first full pass after the block, bounded by what planning or an
import makes.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["frozen_heap", "resume_collections"]

_LOCK = threading.Lock()
_DEPTH = 0
_OURS = False
#: The collector is disabled by the outermost block, until resume_collections() or its end.
_PAUSED = False


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Within the block, the collector leaves alone every object alive at its start.

    The collector makes no pass until :func:`resume_collections` or the block's end.
    Re-entrant and thread-safe: runs in threads of one process (or a run inside
    a hook) share one freeze, undone when the last of them ends.

    Examples:
        >>> with frozen_heap():
        ...     gc.get_freeze_count() > 0 or not gc.isenabled()
        True
        >>> gc.get_freeze_count()
        0
    """
    global _DEPTH, _OURS, _PAUSED
    with _LOCK:
        if _DEPTH == 0:
            _OURS = gc.isenabled() and gc.get_freeze_count() == 0
            if _OURS:
                gc.freeze()
                gc.disable()
                _PAUSED = True
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _OURS:
                _OURS = False
                _resume()
                gc.unfreeze()


def resume_collections() -> None:
    """End the pause of :func:`frozen_heap`: what was made since its start is frozen as well,
    and the collector passes again over what is made from now on. Does nothing outside a
    block, or once resumed: a call per task costs a test of a flag.

    Examples:
        >>> with frozen_heap():
        ...     resume_collections()
        ...     gc.isenabled()
        True
    """
    if _PAUSED:
        with _LOCK:
            _resume()


def _resume() -> None:
    global _PAUSED
    if _PAUSED:  # under _LOCK
        _PAUSED = False
        gc.freeze()  # O(1): the generations' lists are moved, not walked
        gc.enable()
