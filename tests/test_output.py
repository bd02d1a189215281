"""Output that scales with assets, not partitions: partition lists compressed into ranges, one
line per asset in a pipe, the same in MaterializeError's message and the demo's rerun."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import textwrap

import attrs
import pytest

from assetry import MaterializeError, materialize
from assetry.reporting import PlainReporter, RichReporter

DAYS = [f"2013-{m:02}-{d:02}" for m in range(1, 13) for d in range(1, 29)]


def test_compress_keys_into_runs_in_the_partition_order():
    """Consecutive keys become first..last; gaps split runs; past four runs the count speaks."""
    from assetry._lines import compress_keys

    assert compress_keys(DAYS, DAYS) == "2013-01-01..2013-12-28"
    assert compress_keys(DAYS[:3] + DAYS[5:6], DAYS) == "2013-01-01..2013-01-03, 2013-01-06"
    assert compress_keys(["b", "a"], ["a", "b", "c"]) == "a, b"
    assert compress_keys(DAYS[::2], DAYS).endswith(", …")
    assert compress_keys(["x", "y"]) == "x, y"  # no order: no ranges


def test_compress_labels_one_per_asset():
    """Labels of many partitions become `asset[first..last] (n)`; plain assets stay as they are."""
    from assetry._lines import compress_labels

    labels = ["summary", *(f"daily[{d}]" for d in DAYS), "other[2013-01-01]"]
    assert compress_labels(labels, {"daily": DAYS}) == [
        "summary", f"daily[2013-01-01..2013-12-28] ({len(DAYS)})", "other[2013-01-01]"]


@attrs.frozen
class Record:
    asset: str
    status: str
    reason: str
    partition: str | None = None
    duration_s: float | None = None
    rows: int | None = None
    error: str | None = None
    traceback: str | None = None


@attrs.frozen
class Result:
    materialized: list[str]
    skipped: list[str]
    failed: list[str]
    blocked: list[str]
    success: bool = True


def _partitioned_run(reporter) -> None:
    reporter.run_started(["flights", *(f"daily[{d}]" for d in DAYS)])
    reporter.asset_finished(Record("flights", "skipped", "up to date", rows=10))
    for i, day in enumerate(DAYS):
        status = "materialized" if i == 0 else "skipped"
        reason = "never materialized" if i == 0 else "up to date"
        reporter.asset_started(f"daily[{day}]")
        reporter.asset_finished(Record("daily", status, reason, day, 0.01, 1))
    reporter.run_finished(Result([f"daily[{DAYS[0]}]"], ["flights", *DAYS[1:]], [], []))


def test_plain_reporter_prints_one_line_per_asset_with_partition_counts():
    """In a pipe a partitioned asset is one line, its partitions counted by status."""
    out = io.StringIO()
    _partitioned_run(PlainReporter(out))
    lines = out.getvalue().splitlines()
    n = len(DAYS)
    assert lines[0] == "assetry: skipped flights (up to date) 10 rows"
    assert lines[1] == (
        f"assetry: materialized daily[2013-01-01..2013-12-28] ({n}) "
        f"(1 materialized: never materialized; {n - 1} skipped: up to date) 3.36s {n} rows"
    )
    assert len(lines) == 3


def test_verbose_plain_reporter_prints_every_partition():
    """`-v` keeps one line per partition."""
    out = io.StringIO()
    _partitioned_run(PlainReporter(out, verbose=True))
    assert len(out.getvalue().splitlines()) == len(DAYS) + 2
    assert "assetry: skipped daily[2013-12-28] (up to date) 0.01s 1 row" in out.getvalue()


def test_rich_reporter_table_has_one_row_per_asset(monkeypatch):
    """The summary table groups an asset's partitions into one row."""
    monkeypatch.setenv("COLUMNS", "200")
    out = io.StringIO()
    _partitioned_run(RichReporter(out))
    text = out.getvalue()
    assert f"daily[2013-01-01..2013-12-28] ({len(DAYS)})" in text
    assert "daily[2013-01-02]" not in text


PARTITIONED = """
    import polars as pl
    from assetry import DailyPartitions, asset

    @asset
    def source() -> pl.DataFrame:
        raise ValueError("no source today")

    @asset(partitions=DailyPartitions(start="2013-01-01", end="2013-12-31"))
    def daily(partition, source: pl.DataFrame) -> pl.DataFrame:
        return source

    @asset(partitions=DailyPartitions(start="2013-01-01", end="2013-01-31"))
    def fragile(partition) -> pl.DataFrame:
        raise RuntimeError(f"bad day {partition}")
"""


def test_materialize_error_compresses_failed_and_blocked_partitions(files):
    """365 blocked partitions are one short `blocked:` line; 31 failures one line per asset."""
    mod = files.module("parted.py", PARTITIONED)
    with pytest.raises(MaterializeError) as info:
        materialize(mod, root=files.root, executor="threads")
    message = str(info.value)
    lines = message.splitlines()
    assert lines[0] == "32 asset(s) failed"
    assert "blocked: daily[2013-01-01..2013-12-31] (365)" in lines
    fragile = next(x for x in lines if x.startswith("fragile["))
    assert fragile.startswith("fragile[2013-01-01..2013-01-31] (31): ")
    assert fragile.endswith("(and 30 more)")
    assert len(message) < 1000


def test_a_partitioned_noop_rerun_in_a_pipe_is_one_line_per_asset(tmp_path):
    """`assetry materialize` in a pipe: a no-op rerun of 365 partitions says one line for them."""
    (tmp_path / "daily.py").write_text(textwrap.dedent("""
        import polars as pl
        from assetry import DailyPartitions, asset

        @asset(partitions=DailyPartitions(start="2013-01-01", end="2013-12-31"))
        def daily(partition) -> pl.DataFrame:
            return pl.DataFrame({"day": [partition]})

        @asset
        def total(daily: pl.DataFrame) -> pl.DataFrame:
            return daily.select(pl.len())
    """))
    args = [sys.executable, "-m", "assetry", "materialize", "daily.py"]
    first = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines()[0].startswith(
        "assetry: materialized daily[2013-01-01..2013-12-31] (365) (never materialized)")
    again = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert again.stderr.splitlines()[:2] == [
        "assetry: skipped daily[2013-01-01..2013-12-31] (365) (up to date) 365 rows",
        "assetry: skipped total (up to date) 1 row",
    ]
    assert len(again.stderr.splitlines()) == 3


def test_the_demo_rerun_in_a_pipe_prints_at_most_one_line_per_asset(tmp_path):
    """`assetry demo DIR | cat`, run again: no asset (nor a partition of one) has two lines."""
    args = [sys.executable, "-m", "assetry", "demo", str(tmp_path / "demo")]
    env = {**os.environ, "COLUMNS": "200"}
    first = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False, env=env)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False, env=env)
    assert again.returncode == 0, again.stderr
    lines = (again.stdout + again.stderr).splitlines()
    assets = [re.match(r"assetry: skipped (\w+)", x).group(1) for x in lines
              if re.match(r"assetry: skipped \w+", x)]
    assert "daily_flights" in assets and len(assets) == len(set(assets))
    assert len(lines) <= len(assets) + 8
    assert not any("daily_flights[2013-01-02]" in x for x in lines)
    assert "second run: skipped everything" in again.stdout
