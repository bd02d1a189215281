"""Run reporters and status tables for the command line.

It owns how a run looks while it happens and once it is done: a Rich progress
bar and summary table on a terminal, plain greppable lines elsewhere. The
engine calls a reporter's four methods; a reporter never changes a run and
never touches the catalog. Rich is imported inside functions so that
``import assetry`` stays fast.

The engine calls exactly the four methods of :class:`Reporter`; any object
that has them is a reporter (``materialize(..., reporter=...)``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any, Protocol

__all__ = [
    "PlainReporter",
    "Reporter",
    "RichReporter",
    "format_duration",
    "format_rows",
    "make_reporter",
    "status_table",
]

class Reporter(Protocol):
    """What the engine tells of a run while it goes; a reporter never changes the run.

    The record and the result are the engine's ``StepRecord`` (``.asset``,
    ``.partition``, ``.status``, ``.reason``, ``.duration_s``, ``.rows``,
    ``.error``) and ``MaterializeResult`` (``.materialized``, ``.skipped``,
    ``.failed``, ``.blocked``, ``.success``); this module does not import the
    engine, so they are typed loosely here.

    Examples:
        >>> class Quiet:
        ...     def run_started(self, names): pass
        ...     def asset_started(self, name): pass
        ...     def asset_finished(self, record): pass
        ...     def run_finished(self, result): pass
        >>> reporter: Reporter = Quiet()
    """

    def run_started(self, names: list[str]) -> None:
        """The run begins; ``names`` is every asset (or ``asset[partition]``) of the plan."""
        ...

    def asset_started(self, name: str) -> None:
        """A step was handed to the executor (skipped ones never start)."""
        ...

    def asset_finished(self, record: Any) -> None:
        """A step ended: materialized, skipped, failed or blocked."""
        ...

    def run_finished(self, result: Any) -> None:
        """The run ended; the catalog holds every record."""
        ...


_STATUS_STYLE = {
    "materialized": "green",
    "skipped": "dim",
    "failed": "bold red",
    "blocked": "yellow",
}
#: A run with more rows than this lists only what did not skip in its summary table.
_FULL_TABLE_ROWS = 30


def format_duration(seconds: float, unit_sep: str = "") -> str:
    """A duration for people: two decimals under ten seconds, then fewer.

    Examples:
        >>> format_duration(0.123), format_duration(75.4, unit_sep=" ")
        ('0.12s', '1 min 15 s')
    """
    if seconds < 10:
        return f"{seconds:.2f}{unit_sep}s"
    if seconds < 60:
        return f"{seconds:.1f}{unit_sep}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}{unit_sep}min {rest}{unit_sep}s"


def format_rows(rows: int) -> str:
    """A row count with thousands separators.

    Examples:
        >>> format_rows(1234), format_rows(1)
        ('1,234 rows', '1 row')
    """
    return f"{rows:,} row" + ("" if rows == 1 else "s")


def _label(record: Any) -> str:
    """``asset``, or ``asset[partition]`` for a record of one partition."""
    partition = getattr(record, "partition", None)
    return record.asset if partition is None else f"{record.asset}[{partition}]"


def _figures(record: Any) -> list[str]:
    parts = []
    if record.duration_s is not None:
        parts.append(format_duration(record.duration_s))
    if record.rows is not None:
        parts.append(format_rows(record.rows))
    return parts


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""


def _summary(result: Any, elapsed: float) -> str:
    counts = ", ".join(
        f"{len(getattr(result, kind))} {kind}"
        for kind in ("materialized", "skipped", "failed", "blocked")
    )
    return f"{counts} in {format_duration(elapsed)}"


class PlainReporter:
    """One line per finished asset and a closing count, without colour.

    Examples:
        >>> import io
        >>> out = io.StringIO()
        >>> PlainReporter(out).run_started(["flights"])
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._started = time.perf_counter()
        self._lock = threading.Lock()

    def _say(self, text: str) -> None:
        with self._lock:
            print(f"assetry: {text}", file=self.stream, flush=True)

    def run_started(self, names: list[str]) -> None:
        """Start the clock for the run's closing line."""
        self._started = time.perf_counter()

    def asset_started(self, name: str) -> None:
        """Say nothing: plain output records outcomes only."""

    def asset_finished(self, record: Any) -> None:
        """Write ``<status> <asset> (<reason>) <duration> <rows>[: <error>]``."""
        words = [record.status, _label(record)]
        if record.reason:
            words.append(f"({record.reason})")
        line = " ".join(words + _figures(record))
        if record.error:
            line += f": {_first_line(record.error)}"
        self._say(line)

    def run_finished(self, result: Any) -> None:
        """Write the closing count, e.g. ``3 materialized, 2 skipped, 0 failed, 0 blocked in 1.23s``."""
        self._say(_summary(result, time.perf_counter() - self._started))


class RichReporter:
    """A live progress bar while the run goes, then a summary table.

    The bar shows how many assets are done, the running ones, and the counts of
    materialized, skipped and failed. The table lists every asset with its
    status, reason, duration and rows; a run of more than 30 assets lists only
    those that did not skip. Errors follow the table, one per failed asset.

    Examples:
        >>> import io
        >>> RichReporter(io.StringIO()).run_started(["flights"])
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console

        self.console = Console(file=stream if stream is not None else sys.stderr, highlight=False)
        self._records: list[Any] = []
        self._running: list[str] = []
        self._progress: Any = None
        self._task: Any = None
        self._started = time.perf_counter()
        self._lock = threading.Lock()

    def run_started(self, names: list[str]) -> None:
        """Show the progress bar for ``len(names)`` assets."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._started = time.perf_counter()
        if not self.console.is_terminal:  # a bar would only litter a log
            return
        self._progress = Progress(
            SpinnerColumn(),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[running]}"),
            console=self.console,
            transient=True,
        )
        self._task = self._progress.add_task("run", total=len(names), counts="", running="")
        self._progress.start()

    def _refresh(self) -> None:
        from rich.markup import escape

        if self._progress is None:
            return
        count = {s: 0 for s in _STATUS_STYLE}
        for record in self._records:
            count[record.status] = count.get(record.status, 0) + 1
        counts = " ".join(f"[{_STATUS_STYLE[s]}]{count[s]} {s}[/]" for s in _STATUS_STYLE)
        running = ", ".join(self._running[:4]) + (" …" if len(self._running) > 4 else "")
        self._progress.update(
            self._task,
            completed=len(self._records),
            counts=counts,
            running=escape(f"running: {running}") if running else "",
        )

    def asset_started(self, name: str) -> None:
        """Add ``name`` to the running ones."""
        with self._lock:
            self._running.append(name)
            self._refresh()

    def asset_finished(self, record: Any) -> None:
        """Count the record and move the bar."""
        with self._lock:
            for name in (_label(record), record.asset):
                if name in self._running:
                    self._running.remove(name)
                    break
            self._records.append(record)
            self._refresh()

    def run_finished(self, result: Any) -> None:
        """Stop the bar; print the summary table, the errors and the closing count."""
        from rich.text import Text

        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
            if self._records:
                self.console.print(self._table())
            for record in self._records:
                if record.error:
                    line = Text(f"{_label(record)}: ", style="bold red")
                    line.append(_first_line(record.error))
                    self.console.print(line)
            style = "green" if getattr(result, "success", not result.failed) else "bold red"
            elapsed = time.perf_counter() - self._started
            self.console.print(Text(f"assetry: {_summary(result, elapsed)}", style=style))

    def _table(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        shown = self._records
        if len(shown) > _FULL_TABLE_ROWS:
            shown = [r for r in shown if r.status != "skipped"]
        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("asset")
        table.add_column("status")
        table.add_column("reason")
        table.add_column("duration", justify="right")
        table.add_column("rows", justify="right")
        for r in shown:
            table.add_row(
                Text(_label(r)),
                Text(r.status, style=_STATUS_STYLE.get(r.status, "")),
                Text(r.reason or ""),
                "" if r.duration_s is None else format_duration(r.duration_s),
                "" if r.rows is None else f"{r.rows:,}",
            )
        hidden = len(self._records) - len(shown)
        if hidden:
            table.caption = f"and {hidden} skipped (up to date)"
        return table


def make_reporter(stream: IO[str] | None = None) -> RichReporter | PlainReporter:
    """A Rich reporter when ``stream`` is a terminal, else a plain one.

    Examples:
        >>> import io
        >>> type(make_reporter(io.StringIO())).__name__
        'PlainReporter'
    """
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return RichReporter(stream) if isatty is not None and isatty() else PlainReporter(stream)


def _cell(column: str, value: Any) -> str:
    if column == "fresh" and isinstance(value, bool):
        return "fresh" if value else "stale"
    return "" if value is None else str(value)


def status_table(df: Any, stream: IO[str] | None = None) -> None:
    """Print a status frame (``asset``, ``fresh``, ``reason``, ...) as a table.

    A terminal gets a Rich table with fresh in green and stale in yellow; other
    streams get aligned plain text. Every column of ``df`` is shown; the bool
    ``fresh`` column reads ``fresh`` or ``stale``. A closing line counts both.

    Args:
        df: A polars DataFrame, as ``Catalog.status`` returns.
        stream: Where to print; standard output by default.

    Examples:
        >>> import io, polars as pl
        >>> out = io.StringIO()
        >>> status_table(pl.DataFrame({"asset": ["a"], "fresh": [True], "reason": ["up to date"]}), out)
        >>> out.getvalue().splitlines()[1].split()
        ['a', 'fresh', 'up', 'to', 'date']
    """
    stream = stream if stream is not None else sys.stdout
    columns: Sequence[str] = list(df.columns)
    rows = [[_cell(c, v) for c, v in zip(columns, row)] for row in df.iter_rows()]
    fresh = sum(1 for v in (df["fresh"] if "fresh" in columns else []) if v)
    closing = f"{fresh} fresh, {df.height - fresh} stale"
    if getattr(stream, "isatty", lambda: False)():
        _rich_status(columns, rows, closing, stream)
        return
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    for line in [list(columns), *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip(), file=stream)
    print(closing, file=stream)


def _rich_status(
    columns: Sequence[str], rows: list[list[str]], closing: str, stream: IO[str]
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column)
    styles = {"fresh": "green", "stale": "yellow"}
    for row in rows:
        table.add_row(
            *(
                Text(v, style=styles.get(v, "") if c == "fresh" else "")
                for c, v in zip(columns, row)
            )
        )
    console = Console(file=stream, highlight=False)
    console.print(table)
    console.print(closing)
