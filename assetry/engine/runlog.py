"""The ``assetry`` logger: one line per asset of every run, through the standard ``logging``.

A script that configures logging (``logging.basicConfig(level=logging.INFO)``)
sees what the command line prints in a pipe: one INFO line per asset, whatever
came of it (``materialized delays (code changed) 0.12s 336 rows``, ``failed
report (...) 0.01s: ValueError: ...``; an asset's partitions in one line), and
an INFO closing count. (A failure also raises ``MaterializeError``, unless
``raise_on_error=False``.) Without any logging configured it prints nothing:
the logger has a ``NullHandler``, as a library's should. The runner attaches
a :class:`LogReporter` to every run (:func:`with_log`); this module only
words and logs, it decides nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from assetry._lines import Groups, group_line, summary
from assetry.reporting import Reporter

__all__ = ["LOGGER", "LogReporter", "report_all", "with_log"]

#: The logger assetry speaks through.
LOGGER = logging.getLogger("assetry")
LOGGER.addHandler(logging.NullHandler())


class LogReporter:
    """The run's lines through the ``assetry`` logger: one INFO line per asset, then the count.

    Attached to every run by the engine (see :func:`with_log`); with no
    logging configured it prints nothing.

    Examples:
        >>> LogReporter().run_started(["flights"])
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or LOGGER
        self._groups = Groups()
        self._started = time.perf_counter()
        self._lock = threading.Lock()

    def run_started(self, names: list[str]) -> None:
        """Learn the partitions of each asset."""
        self._started = time.perf_counter()
        self._groups.start(names)

    def asset_started(self, name: str) -> None:
        """Log nothing: the line comes when the asset is done."""

    def asset_finished(self, record: Any) -> None:
        """One line once the asset (all its partitions) is done."""
        self.assets_finished((record,))

    def assets_finished(self, records: Iterable[Any]) -> None:
        """:meth:`asset_finished` for each of many records at once (a no-op run's
        thousand unchanged sources), taking the lock once."""
        if not self.logger.isEnabledFor(logging.INFO):
            # Nothing is logged: only partitions are grouped, so that a later line (the
            # logger turned on mid-run) still counts an asset's partitions whole.
            records = [r for r in records if getattr(r, "partition", None) is not None]
            if not records:
                return
        with self._lock:
            groups = [g for record in records for g in self._groups.add(record)]
        for group in groups:
            self._emit(group)

    def run_finished(self, result: Any) -> None:
        """The steps left unfinished, then the closing count."""
        with self._lock:
            groups = self._groups.rest()
        for group in groups:
            self._emit(group)
        self.logger.info("%s", summary(result, time.perf_counter() - self._started))

    def _emit(self, group: list[Any]) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info("%s", group_line(group, self._groups.orders))


class _Both:
    """Tells two reporters, the caller's and the logger's, in turn."""

    def __init__(self, *reporters: Any) -> None:
        self.reporters = reporters

    def run_started(self, names: list[str]) -> None:
        for r in self.reporters:
            r.run_started(names)

    def asset_started(self, name: str) -> None:
        for r in self.reporters:
            r.asset_started(name)

    def asset_finished(self, record: Any) -> None:
        for r in self.reporters:
            r.asset_finished(record)

    def assets_finished(self, records: Iterable[Any]) -> None:
        records = list(records)
        for r in self.reporters:
            report_all(r, records)

    def run_finished(self, result: Any) -> None:
        for r in self.reporters:
            r.run_finished(result)


def report_all(reporter: Any, records: Iterable[Any]) -> None:
    """Tell ``reporter`` that each of ``records`` finished, in order: through its
    ``assets_finished`` if it has one, else one :meth:`~Reporter.asset_finished` each."""
    many = getattr(reporter, "assets_finished", None)
    if many is not None:
        many(records)
        return
    for record in records:
        reporter.asset_finished(record)


def with_log(reporter: Reporter | None) -> Reporter:
    """``reporter`` and a :class:`LogReporter` together (the logger alone without one).

    Examples:
        >>> type(with_log(None)).__name__
        'LogReporter'
    """
    return LogReporter() if reporter is None else _Both(reporter, LogReporter())
