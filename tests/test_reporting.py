"""Run reporters and status tables: what a person sees during and after a run."""

from __future__ import annotations

import io
import re

import attrs
import polars as pl
import pytest

from assetry.reporting import (
    PlainReporter,
    Reporter,
    RichReporter,
    format_duration,
    format_rows,
    make_reporter,
    status_table,
)

ANSI = re.compile(r"\x1b\[")


@attrs.frozen
class Record:
    """What the engine hands to asset_finished."""

    asset: str
    status: str
    reason: str
    duration_s: float | None = None
    rows: int | None = None
    error: str | None = None
    partition: str | None = None


@attrs.frozen
class Result:
    """What the engine hands to run_finished."""

    materialized: list[str]
    skipped: list[str]
    failed: list[str]
    blocked: list[str]

    @property
    def success(self) -> bool:
        return not self.failed and not self.blocked


RECORDS = [
    Record("flights", "skipped", "up to date", None, 336776),
    Record("delays", "materialized", "code changed", 0.123, 336),
    Record("daily", "materialized", "never materialized", 0.5, 10, partition="2013-01-01"),
    Record("report", "failed", "upstream changed: delays", 0.01, None, "ValueError: boom\nmore"),
    Record("summary[x]", "blocked", "upstream failed: report"),
]
RESULT = Result(["delays", "daily[2013-01-01]"], ["flights"], ["report"], ["summary[x]"])


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(reporter) -> None:
    reporter.run_started([r.asset for r in RECORDS])
    for record in RECORDS:
        reporter.asset_started(record.asset)
        reporter.asset_finished(record)
    reporter.run_finished(RESULT)


def test_plain_reporter_writes_one_line_per_asset_and_a_count() -> None:
    """Plain output: one greppable line per finished asset, then the counts; no ANSI."""
    out = io.StringIO()
    _run(PlainReporter(out))
    lines = out.getvalue().splitlines()
    assert lines[:5] == [
        "assetry: skipped flights (up to date) 336,776 rows",
        "assetry: materialized delays (code changed) 0.12s 336 rows",
        "assetry: materialized daily[2013-01-01] (never materialized) 0.50s 10 rows",
        "assetry: failed report (upstream changed: delays) 0.01s: ValueError: boom",
        "assetry: blocked summary[x] (upstream failed: report)",
    ]
    assert re.fullmatch(
        r"assetry: 2 materialized, 1 skipped, 1 failed, 1 blocked in \d+\.\d\ds", lines[5]
    )
    assert not ANSI.search(out.getvalue())


def test_rich_reporter_prints_a_summary_table() -> None:
    """Rich output ends with a table of every asset, the errors and the counts."""
    out = io.StringIO()
    _run(RichReporter(out))
    text = out.getvalue()
    for name in ("flights", "delays", "daily[2013-01-01]", "report", "summary[x]"):
        assert name in text
    assert re.search(r"delays\s+materialized\s+code changed\s+0\.12s\s+336", text)
    assert "report: ValueError: boom" in text and "more" not in text
    assert "2 materialized, 1 skipped, 1 failed, 1 blocked" in text.splitlines()[-1]


def test_rich_reporter_on_a_terminal_colours_and_finishes_cleanly() -> None:
    """On a terminal the live bar runs and the summary uses colour."""
    out = _Tty()
    _run(RichReporter(out))
    assert ANSI.search(out.getvalue())
    assert "1 failed" in out.getvalue()


def test_rich_table_hides_skipped_assets_of_a_big_run() -> None:
    """Past 30 assets the table lists only what did not skip, and counts the rest."""
    out = io.StringIO()
    reporter = RichReporter(out)
    names = [f"a{i}" for i in range(40)]
    reporter.run_started(names)
    for name in names:
        reporter.asset_finished(Record(name, "skipped" if name != "a7" else "materialized", "x"))
    reporter.run_finished(Result(["a7"], names[:7] + names[8:], [], []))
    text = out.getvalue()
    assert "a7" in text and "a8 " not in text and "and 39 skipped (up to date)" in text


def test_rich_table_folds_sources_observed_unchanged_like_skips() -> None:
    """A big run's table lists a source only when it changed (or failed): a no-op run of a
    thousand sources on a terminal printed a thousand rows of ``observed  up to date``."""
    out = io.StringIO()
    reporter = RichReporter(out, hint=None)
    sources = [f"raw_{i}" for i in range(30)]
    assets = [f"a_{i}" for i in range(30)]
    reporter.run_started(sources + assets)
    reporter.assets_finished([Record(s, "observed", "up to date", rows=2) for s in sources[1:]])
    reporter.asset_finished(Record("raw_0", "observed", "source changed", rows=2))
    for name in assets:
        reporter.asset_finished(Record(name, "skipped" if name != "a_0" else "materialized",
                                       "up to date" if name != "a_0" else "upstream changed: raw_0"))
    reporter.run_finished(Result(["a_0"], assets[1:], [], []))
    rows = [line.split() for line in out.getvalue().splitlines()]
    listed = [r[0] for r in rows if r and (r[0].startswith("raw_") or r[0].startswith("a_"))]
    assert listed == ["raw_0", "a_0"]
    assert "and 29 skipped, 29 observed (up to date)" in out.getvalue()


def test_rich_no_op_run_of_a_big_graph_prints_no_empty_table() -> None:
    """Every step up to date: the count alone, not a table of headers over nothing."""
    out = io.StringIO()
    reporter = RichReporter(out)
    names = [f"a{i}" for i in range(40)]
    reporter.run_started(names)
    reporter.assets_finished([Record(name, "skipped", "up to date") for name in names])
    reporter.run_finished(Result([], names, [], []))
    assert out.getvalue().splitlines()[0] == "and 40 skipped (up to date)"
    assert "duration" not in out.getvalue()


@pytest.mark.parametrize(
    ("stream", "kind"),
    [(io.StringIO(), PlainReporter), (_Tty(), RichReporter)],
    ids=["pipe", "terminal"],
)
def test_make_reporter_picks_by_terminal(stream, kind) -> None:
    """make_reporter gives Rich on a terminal and plain text otherwise."""
    assert isinstance(make_reporter(stream), kind)


STATUS = pl.DataFrame(
    {
        "asset": ["flights", "delays"],
        "fresh": [True, False],
        "reason": ["up to date", "code changed"],
    }
)


def test_status_table_plain_text_is_aligned() -> None:
    """Plain status: aligned columns, fresh/stale words, a closing count, no ANSI."""
    out = io.StringIO()
    status_table(STATUS, out)
    assert out.getvalue().splitlines() == [
        "asset    fresh  reason",
        "flights  fresh  up to date",
        "delays   stale  code changed",
        "1 fresh, 1 stale",
    ]


def test_status_table_on_a_terminal_uses_rich() -> None:
    """A terminal gets a coloured Rich table with the same words."""
    out = _Tty()
    status_table(STATUS, out)
    text = out.getvalue()
    assert ANSI.search(text)
    assert "stale" in ANSI.sub("", text) and "1 fresh, 1 stale" in text


@pytest.mark.parametrize(
    ("seconds", "sep", "expected"),
    [(0.123, "", "0.12s"), (12.34, "", "12.3s"), (75.4, " ", "1 min 15 s"), (3600, "", "60min 0s")],
    ids=["sub-second", "seconds", "minutes", "an-hour"],
)
def test_format_duration(seconds, sep, expected) -> None:
    """Durations read naturally at every scale."""
    assert format_duration(seconds, unit_sep=sep) == expected


def test_format_rows() -> None:
    """Row counts have thousands separators and a singular."""
    assert (format_rows(1), format_rows(0), format_rows(1234567)) == (
        "1 row",
        "0 rows",
        "1,234,567 rows",
    )


@pytest.mark.parametrize("cls", [PlainReporter, RichReporter], ids=lambda c: c.__name__)
def test_reporters_have_the_protocols_methods(cls) -> None:
    """Both reporters have exactly the parameters of the Reporter protocol's four methods."""
    import inspect

    methods = ["run_started", "asset_started", "asset_finished", "run_finished"]
    assert [m for m in vars(Reporter) if not m.startswith("_")] == methods
    for method in methods:
        expected = list(inspect.signature(getattr(Reporter, method)).parameters)
        assert list(inspect.signature(getattr(cls, method)).parameters) == expected, method


def test_the_engine_calls_a_reporter_in_order(tmp_path) -> None:
    """materialize calls run_started, asset_started / asset_finished per asset, run_finished."""
    from assetry import asset, materialize

    calls: list[tuple[str, object]] = []

    class Listening:
        def run_started(self, names: list[str]) -> None:
            calls.append(("run_started", tuple(names)))

        def asset_started(self, name: str) -> None:
            calls.append(("asset_started", name))

        def asset_finished(self, record: object) -> None:
            finished = (record.asset, record.status)  # type: ignore[attr-defined]
            calls.append(("asset_finished", finished))

        def run_finished(self, result: object) -> None:
            calls.append(("run_finished", result.success))  # type: ignore[attr-defined]

    @asset
    def numbers() -> dict:
        return {"n": 1}

    reporter: Reporter = Listening()
    materialize([numbers], root=tmp_path, executor="sync", reporter=reporter)
    materialize([numbers], root=tmp_path, executor="sync", reporter=reporter)
    assert calls == [
        ("run_started", ("numbers",)), ("asset_started", "numbers"),
        ("asset_finished", ("numbers", "materialized")), ("run_finished", True),
        ("run_started", ("numbers",)), ("asset_finished", ("numbers", "skipped")),
        ("run_finished", True),
    ]


def test_sync_reports_and_records_each_step_before_the_next_starts(tmp_path):
    """Under ``executor="sync"`` a wide graph's roots are reported finished one by one, each
    before the next starts, and their rows reach the catalog during the run, not at its end."""
    import duckdb as _duckdb

    from assetry import asset as _asset
    from assetry import materialize

    events: list[tuple[str, str]] = []
    committed_before_last: list[int] = []
    catalog = tmp_path / "catalog.duckdb"

    class Spy:
        def run_started(self, names):
            pass

        def asset_started(self, name):
            events.append(("started", name))

        def asset_finished(self, record):
            events.append(("finished", record.asset))

        def run_finished(self, result):
            pass

    def make(i: int):
        def root() -> dict:
            if i == 7:  # the last root: what did the catalog hold by now?
                import time as _time

                deadline = _time.monotonic() + 5
                while _time.monotonic() < deadline:
                    from assetry import Catalog

                    n = Catalog(catalog).sql(
                        "SELECT count(*) AS n FROM materializations")["n"][0]
                    if n:
                        committed_before_last.append(n)
                        break
                    _time.sleep(0.05)
            return {"i": i}
        return _asset(name=f"root{i}")(root)

    roots = [make(i) for i in range(8)]
    materialize(roots, root=tmp_path / "data", catalog=catalog, executor="sync",
                reporter=Spy())
    names = [f"root{i}" for i in range(8)]
    assert events == [e for n in names for e in (("started", n), ("finished", n))]
    assert committed_before_last and committed_before_last[0] >= 1
    with _duckdb.connect(str(catalog), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM materializations").fetchone()[0] == 8


class _Counting(io.StringIO):
    """A stream that counts its flushes: each is a write to the terminal or the log file."""

    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_plain_reporter_writes_many_records_at_once_in_one_flush() -> None:
    """A no-op run's thousand unchanged sources come as one batch: one line each, in order,
    written with one flush (a flush per line cost a no-op run of 1,000 sources 10 ms)."""
    out = _Counting()
    reporter = PlainReporter(out)
    reporter.run_started([f"raw_{i}" for i in range(5)])
    reporter.assets_finished([Record(f"raw_{i}", "observed", "up to date", None, 2) for i in range(5)])
    reporter.asset_started("a")
    assert out.getvalue().splitlines() == [
        f"assetry: observed raw_{i} (up to date) 2 rows" for i in range(5)]
    assert out.flushes == 1


def test_plain_reporter_holds_up_to_date_lines_until_another_line_a_start_or_the_end() -> None:
    """Skips and unchanged sources are written together, in order, with the next line that
    is not up to date, when an asset starts, or at the end: a no-op run of 1,000 assets
    makes one write, not 1,000."""
    out = _Counting()
    reporter = PlainReporter(out)
    reporter.run_started(["raw", "a", "b", "c", "d"])
    reporter.assets_finished([Record("raw", "observed", "up to date", None, 2)])
    reporter.asset_finished(Record("a", "skipped", "up to date"))
    assert out.getvalue() == "" and out.flushes == 0
    reporter.asset_finished(Record("b", "materialized", "code changed", 0.5, 3))
    assert out.getvalue().splitlines() == [
        "assetry: observed raw (up to date) 2 rows", "assetry: skipped a (up to date)",
        "assetry: materialized b (code changed) 0.50s 3 rows"]
    assert out.flushes == 1
    reporter.asset_finished(Record("c", "skipped", "up to date"))
    reporter.asset_started("d")  # c's line is out before d runs, however long d takes
    assert out.getvalue().splitlines()[-1] == "assetry: skipped c (up to date)"
    reporter.asset_finished(Record("d", "skipped", "up to date"))
    reporter.run_finished(Result([], ["c", "d"], [], []))
    lines = out.getvalue().splitlines()
    assert lines[-2] == "assetry: skipped d (up to date)"
    assert lines[-1].startswith("assetry: 0 materialized, 2 skipped")


def test_plain_reporter_writes_a_partitioned_line_at_once_when_a_partition_ran() -> None:
    """An asset's line is held only when all its partitions are up to date: its last
    partition skipped after another ran still gives a line that is written at once."""
    out = _Counting()
    reporter = PlainReporter(out)
    reporter.run_started(["d[1]", "d[2]", "e[1]", "e[2]"])
    reporter.asset_finished(Record("d", "materialized", "code changed", 0.5, 3, partition="1"))
    reporter.asset_finished(Record("d", "skipped", "up to date", None, 3, partition="2"))
    line = ("assetry: materialized d[1, 2] (2) (1 materialized: code changed; 1 skipped: "
            "up to date) 0.50s 6 rows")
    assert out.getvalue().splitlines() == [line]
    reporter.asset_finished(Record("e", "skipped", "up to date", None, 1, partition="1"))
    reporter.asset_finished(Record("e", "skipped", "up to date", None, 1, partition="2"))
    assert out.flushes == 1  # e's line, every partition up to date, is held


def test_rich_bar_counts_observed_sources_only_in_a_run_that_has_them() -> None:
    """A run without sources shows no ``0 observed`` on its bar."""
    out = _Tty()
    reporter = RichReporter(out)
    reporter.run_started(["a", "b"])
    reporter.asset_finished(Record("a", "skipped", "up to date"))
    assert "observed" not in reporter._progress.tasks[0].fields["counts"]
    reporter.run_finished(Result([], ["a"], [], []))


def test_rich_bar_counts_each_status_as_records_come() -> None:
    """The live bar's counts follow the records, one by one or many at once."""
    out = _Tty()
    reporter = RichReporter(out)
    reporter.run_started([f"a{i}" for i in range(6)])
    reporter.assets_finished([Record(f"a{i}", "observed", "up to date") for i in range(3)])
    reporter.asset_finished(Record("a3", "skipped", "up to date"))
    reporter.asset_finished(Record("a4", "failed", "code changed", error="boom"))
    fields = reporter._progress.tasks[0].fields["counts"]
    assert "1 skipped" in fields and "1 failed" in fields and "0 materialized" in fields
    assert "3 observed" in fields  # the sources, counted once there are any
    assert reporter._progress.tasks[0].completed == 5
    reporter.run_finished(Result([], ["a3"], ["a4"], []))
