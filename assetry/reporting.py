"""Run reporters and status tables for the command line.

It owns how a run looks while it happens and once it is done: a Rich progress
bar and summary table on a terminal, plain greppable lines elsewhere (the
same lines go through the ``assetry`` logger: :mod:`assetry.engine.runlog`).
The engine calls a reporter's four methods; a reporter never changes a run
and never touches the catalog. Rich is imported inside functions so that
``import assetry`` stays fast.

Output scales with assets, not partitions: the partitions of an asset are one
line (``materialized daily[2013-01-01..2013-12-31] (365) (never
materialized) 9.63s 327,346 rows``) once its last partition is done, unless
``verbose`` asks for one line per step. Verbose reporters also print the
traceback of each failure; otherwise a ``hint`` (the CLI's ``assetry logs
...`` command) says where to find it.

The engine calls the four methods of :class:`Reporter`; any object that has
them is a reporter (``materialize(..., reporter=...)``). One that also has
``assets_finished(records)`` is given a batch of finished steps at once (a
no-op run's unchanged sources): both reporters here write it in one go.

Longer than 400 lines: the plain and Rich reporters and the status table are
one vocabulary (the words, columns and colours of a run's outcome) and share
Rich's lazy import; apart, each would import the other's helpers.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import IO, Any, Protocol

from assetry._lines import (
    Groups,
    compress_labels,
    first_line,
    format_duration,
    format_rows,
    group_label,
    group_line,
    group_reason,
    group_status,
    indented,
    pointers,
    step_label,
    summary,
)

__all__ = [
    "PlainReporter",
    "Reporter",
    "RichReporter",
    "format_duration",
    "format_rows",
    "group_line",
    "make_reporter",
    "status_table",
]

class Reporter(Protocol):
    """What the engine tells of a run while it goes; a reporter never changes the run.

    The record and the result are the engine's ``StepRecord`` (``.asset``,
    ``.partition``, ``.status``, ``.reason``, ``.duration_s``, ``.rows``,
    ``.error``, ``.traceback``) and ``MaterializeResult`` (``.materialized``,
    ``.restored``, ``.skipped``, ``.failed``, ``.blocked``, ``.success``); this module does
    not import the engine, so they are typed loosely here.

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
        """A step ended: materialized, restored, skipped, failed, blocked or interrupted."""
        ...

    def run_finished(self, result: Any) -> None:
        """The run ended; the catalog holds every record."""
        ...


_STATUS_STYLE = {
    "materialized": "green",
    "restored": "cyan",
    "observed": "blue",
    "skipped": "dim",
    "failed": "bold red",
    "blocked": "yellow",
}
#: Counted on the bar only once one record has it: sources are observed only where declared.
_WHEN_ANY = frozenset({"observed"})
#: A run with more rows than this lists only what is not up to date in its summary table
#: (skipped, or a source observed unchanged).
_FULL_TABLE_ROWS = 30


class PlainReporter:
    """One line per finished asset (its partitions counted in it) and a closing count, no colour.

    With ``verbose``, one line per step (each partition) and the traceback of
    each failure; otherwise ``hint`` (a format string with ``{asset}``) points
    to where a failure's traceback is.

    The lines of steps found up to date (skipped, or a source observed
    unchanged) are held and written with the next other line, when the next
    asset starts, or at the run's end, in the order they came: a no-op run of
    1,000 assets writes its lines at once, not in 1,000 writes (each a system
    call that let the catalog's writer thread take the GIL from the run).

    Examples:
        >>> import io
        >>> out = io.StringIO()
        >>> PlainReporter(out).run_started(["flights"])
    """

    def __init__(self, stream: IO[str] | None = None, *, verbose: bool = False,
                 hint: str | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.verbose = verbose
        self.hint = hint
        self._groups = Groups(per_step=verbose)
        self._records: list[Any] = []
        self._started = time.perf_counter()
        self._lock = threading.Lock()
        #: Lines of up-to-date steps not written yet (see the class's docstring).
        self._held: list[str] = []

    def _say(self, text: str) -> None:
        self._write([f"assetry: {text}"])

    def _show(self, group: list[Any]) -> None:
        self._write(self._lines(group))

    def _lines(self, group: list[Any]) -> list[str]:
        """The group's line, and under it (``verbose``) each failure's traceback."""
        lines = [f"assetry: {group_line(group, self._groups.orders)}"]
        if self.verbose:
            lines += [indented(r.traceback) for r in group
                      if r.status == "failed" and getattr(r, "traceback", None)]
        return lines

    def _write(self, lines: list[str], *, hold: bool = False) -> None:
        """Write the held lines and ``lines``; with ``hold``, add ``lines`` to the held ones."""
        with self._lock:
            if hold:
                self._held += lines
                return
            if self._held:
                lines, self._held = [*self._held, *lines], []
            if lines:
                print("\n".join(lines), file=self.stream, flush=True)

    def run_started(self, names: list[str]) -> None:
        """Start the clock for the run's closing line; learn the partitions of each asset."""
        self._started = time.perf_counter()
        self._groups.start(names)
        self._records = []

    def asset_started(self, name: str) -> None:
        """Write the held lines: plain output records outcomes only."""
        self._write([])

    def asset_finished(self, record: Any) -> None:
        """Write ``<status> <asset> (<reason>) <duration> <rows>[: <error>]`` once the asset is done."""
        self.assets_finished((record,))

    def assets_finished(self, records: Iterable[Any]) -> None:
        """:meth:`asset_finished` of each record, their lines written at once (a no-op run's
        thousand unchanged sources: one write, not a thousand)."""
        lines: list[str] = []
        fresh = True  # every line an up-to-date one: held (an asset's partitions all up to date)
        for record in records:
            self._records.append(record)
            for group in self._groups.add(record):
                lines += self._lines(group)
                fresh = fresh and _up_to_date(group)
        self._write(lines, hold=fresh)

    def run_finished(self, result: Any) -> None:
        """Write what is left (the held lines first), where tracebacks are, and the closing count."""
        for group in self._groups.rest():
            self._show(group)
        if not self.verbose:
            for line in pointers(self._records, self.hint):
                self._say(line)
        self._say(summary(result, time.perf_counter() - self._started))


class RichReporter:
    """A live progress bar while the run goes, then a summary table.

    The bar counts steps (each partition is one) done of all, shows the
    running ones and the counts of materialized, skipped and failed. The table
    lists every asset (its partitions in one row, unless ``verbose``) with its
    status, reason, duration and rows; a run of more than 30 rows lists only
    those that are not up to date (skipped, or a source observed unchanged) and
    counts the others under the table. The errors follow, one per failed asset, with its
    traceback when ``verbose``, else a pointer (``hint``) to it.

    Examples:
        >>> import io
        >>> RichReporter(io.StringIO()).run_started(["flights"])
    """

    def __init__(self, stream: IO[str] | None = None, *, verbose: bool = False,
                 hint: str | None = None) -> None:
        from rich.console import Console

        self.console = Console(file=stream if stream is not None else sys.stderr, highlight=False)
        self.verbose = verbose
        self.hint = hint
        self._groups = Groups(per_step=verbose)
        self._rows: list[list[Any]] = []
        self._records: list[Any] = []
        #: The records of each status so far: the bar's counts, kept as they come.
        self._counts: Counter[str] = Counter()
        self._running: list[str] = []
        self._progress: Any = None
        self._task: Any = None
        self._started = time.perf_counter()
        self._lock = threading.Lock()

    def run_started(self, names: list[str]) -> None:
        """Show the progress bar for ``len(names)`` steps."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._started = time.perf_counter()
        self._groups.start(names)
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
        count = self._counts
        counts = " ".join(f"[{_STATUS_STYLE[s]}]{count[s]} {s}[/]" for s in _STATUS_STYLE
                          if s not in _WHEN_ANY or count[s])
        names = compress_labels(self._running, self._groups.orders)
        running = ", ".join(names[:4]) + (" …" if len(names) > 4 else "")
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
        self.assets_finished((record,))

    def assets_finished(self, records: Iterable[Any]) -> None:
        """Count each record, and move the bar once."""
        with self._lock:
            for record in records:
                if self._running:
                    for name in (step_label(record), record.asset):
                        if name in self._running:
                            self._running.remove(name)
                            break
                self._records.append(record)
                self._counts[record.status] += 1
                self._rows.extend(self._groups.add(record))
            self._refresh()

    def run_finished(self, result: Any) -> None:
        """Stop the bar; print the summary table, the errors and the closing count."""
        from rich.text import Text

        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
            self._rows.extend(self._groups.rest())
            if self._rows:
                table, folded = self._table()
                if table.row_count:
                    self.console.print(table)
                if folded:  # a line of its own: a narrow table's caption wraps
                    self.console.print(Text(folded, style="dim italic"))
            self._errors()
            style = "green" if getattr(result, "success", not result.failed) else "bold red"
            elapsed = time.perf_counter() - self._started
            self.console.print(Text(f"assetry: {summary(result, elapsed)}", style=style))

    def _errors(self) -> None:
        from rich.text import Text

        for group in self._rows:
            failed = [r for r in group if r.error]
            if not failed:
                continue
            name = group_label(failed, self._groups.orders)
            line = Text(f"{name}: ", style="bold red")
            line.append(first_line(failed[0].error))
            self.console.print(line)
            tb = getattr(failed[0], "traceback", None)
            if self.verbose and tb and failed[0].status == "failed":
                self.console.print(Text(indented(tb)))
        if not self.verbose:
            for pointer in pointers(self._records, self.hint):
                self.console.print(Text(f"assetry: {pointer}", style="dim"))

    def _table(self) -> tuple[Any, str]:
        """The summary table, and the line that counts the up-to-date steps it leaves out."""
        from rich.table import Table
        from rich.text import Text

        shown = self._rows
        if len(shown) > _FULL_TABLE_ROWS:
            shown = [g for g in shown if not _up_to_date(g)]
        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("asset")
        table.add_column("status")
        table.add_column("reason")
        table.add_column("duration", justify="right")
        table.add_column("rows", justify="right")
        for group in shown:
            status = group_status(group)
            durations = [r.duration_s for r in group if r.duration_s is not None]
            rows = [r.rows for r in group if r.rows is not None]
            name = group_label(group, self._groups.orders)
            table.add_row(
                Text(name),
                Text(status, style=_STATUS_STYLE.get(status, "")),
                Text(group_reason(group)),
                format_duration(sum(durations)) if durations else "",
                f"{sum(rows):,}" if rows else "",
            )
        if len(shown) == len(self._rows):
            return table, ""
        kept = {id(g) for g in shown}
        hidden = Counter(r.status for g in self._rows if id(g) not in kept for r in g)
        counts = ", ".join(f"{n} {status}" for status, n in sorted(hidden.items(), reverse=True))
        return table, f"and {counts} (up to date)"


def _up_to_date(group: Sequence[Any]) -> bool:
    """Whether every record of a group says its step is up to date: skipped, or a source
    observed unchanged (a big run's table folds these into one line, and plain output
    holds their lines: a thousand sources, a thousand rows)."""
    return all(r.status == "skipped" or (r.status == "observed" and r.reason == "up to date")
               for r in group)


def make_reporter(stream: IO[str] | None = None, *, verbose: bool = False,
                  hint: str | None = None) -> RichReporter | PlainReporter:
    """A Rich reporter when ``stream`` is a terminal, else a plain one.

    Examples:
        >>> import io
        >>> type(make_reporter(io.StringIO())).__name__
        'PlainReporter'
    """
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return RichReporter(stream, verbose=verbose, hint=hint)
    return PlainReporter(stream, verbose=verbose, hint=hint)


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
