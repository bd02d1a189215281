"""Partitions: per-partition storage, freshness, selection, downstream wiring and status."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assetry import AssetGraphError, Catalog, DailyPartitions, StaticPartitions, materialize
from assetry.engine.status import status as status_frame

PIPELINE = '''
import datetime
import polars as pl
from assetry import DailyPartitions, asset

DAYS = DailyPartitions("2013-01-01", "{end}")

@asset
def events() -> pl.DataFrame:
    days = pl.date_range(datetime.date(2013, 1, 1), datetime.date(2013, 1, 31), eager=True)
    return pl.DataFrame({{"date": days, "n": list(range(len(days)))}})

@asset(partitions=DAYS)
def daily(partition: datetime.date, events: pl.LazyFrame) -> pl.DataFrame:
    return events.filter(pl.col("date") == partition).with_columns(m=pl.col("n") * {factor}).collect()

@asset(partitions=DAYS)
def doubled(partition: datetime.date, daily: pl.DataFrame) -> pl.DataFrame:
    return daily.with_columns(d=pl.col("m") * 2)

@asset
def total(doubled: pl.LazyFrame) -> pl.DataFrame:
    return doubled.select(pl.len().alias("days"), pl.col("d").sum()).collect()
'''

DAILY = [f"daily[2013-01-0{d}]" for d in range(1, 4)]
DOUBLED = [f"doubled[2013-01-0{d}]" for d in range(1, 4)]


def pipeline(files, end="2013-01-03", factor=1):
    return files.module("pipe.py", PIPELINE.format(end=end, factor=factor))


def run(files, mod, **kw):
    return materialize(mod, root=files.root, executor="sync", **kw)


def test_first_run_materializes_every_partition_and_second_none(files):
    """Each partition is a step named asset[key]; an unchanged second run skips them all."""
    first = run(files, pipeline(files))
    assert sorted(first.materialized) == sorted(["events", *DAILY, *DOUBLED, "total"])
    assert first.reasons["daily[2013-01-02]"] == "never materialized"
    second = run(files, pipeline(files))
    assert second.materialized == []
    assert sorted(second.skipped) == sorted(["events", *DAILY, *DOUBLED, "total"])


def test_partitions_are_stored_hive_style_and_loaded_as_one_frame(files):
    """<root>/<asset>/date=<key>/data.parquet; all partitions scan as one frame with the column."""
    result = run(files, pipeline(files))
    for day in ("2013-01-01", "2013-01-02", "2013-01-03"):
        assert (files.root / "daily" / f"date={day}" / "data.parquet").is_file()
    scanned = pl.scan_parquet(files.root / "daily" / "**" / "*.parquet", hive_partitioning=True)
    assert scanned.collect().height == 3
    assert_frame_equal(result.load("total"), pl.DataFrame({"days": [3], "d": [6]}), check_dtypes=False)
    every = result.load("daily", pl.LazyFrame)
    assert isinstance(every, pl.LazyFrame)
    assert every.collect_schema()["date"] == pl.Date
    assert every.filter(pl.col("date") == dt.date(2013, 1, 2)).collect()["n"].to_list() == [1]


def test_catalog_rows_carry_the_partition(files):
    """assets and materializations have one row per partition, keyed by it."""
    run(files, pipeline(files))
    con = duckdb.connect(str(files.catalog), read_only=True)
    try:
        rows = con.execute(
            "SELECT partition FROM assets WHERE asset = 'daily' ORDER BY partition"
        ).fetchall()
        mats = con.execute(
            "SELECT count(*) FROM materializations WHERE asset = 'doubled' AND partition IS NOT NULL"
        ).fetchall()
        unpart = con.execute("SELECT partition FROM assets WHERE asset = 'total'").fetchall()
    finally:
        con.close()
    assert [r[0] for r in rows] == ["2013-01-01", "2013-01-02", "2013-01-03"]
    assert mats == [(3,)]
    assert unpart == [(None,)]


def test_deleted_partition_file_reruns_only_that_partition(files):
    """A missing partition reruns alone; identical data stops the cascade below it."""
    run(files, pipeline(files))
    (files.root / "daily" / "date=2013-01-02" / "data.parquet").unlink()
    result = run(files, pipeline(files))
    assert result.materialized == ["daily[2013-01-02]"]
    assert result.reasons["daily[2013-01-02]"] == "product missing"
    assert result.reasons["doubled[2013-01-02]"] == "up to date"
    assert result.reasons["total"] == "up to date"


def test_code_change_reruns_every_partition(files):
    """Editing a partitioned asset's code makes every one of its partitions stale."""
    run(files, pipeline(files))
    result = run(files, pipeline(files, factor=10))
    assert sorted(r for r in result.materialized if r.startswith("daily")) == DAILY
    assert all(result.reasons[k] == "code changed: daily (pipe.py)" for k in DAILY)
    assert result.reasons["doubled[2013-01-02]"] == "upstream changed: daily"
    assert result.materialized.count("total") == 1


def test_range_selection_runs_only_those_partitions(files):
    """partitions='first..last' narrows the run to those keys; the rest are not steps."""
    result = run(files, pipeline(files), partitions="2013-01-02..2013-01-03")
    keys = [k for k in result.materialized if "[" in k]
    assert sorted(keys) == sorted(DAILY[1:] + DOUBLED[1:])
    assert "daily[2013-01-01]" not in result.reasons
    nxt = run(files, pipeline(files), partitions=["2013-01-01"])
    assert sorted(k for k in nxt.materialized if "[" in k) == ["daily[2013-01-01]", "doubled[2013-01-01]"]


def test_forced_range_reruns_fresh_partitions(files):
    """Fresh partitions in a selection stay skipped unless forced."""
    run(files, pipeline(files))
    assert run(files, pipeline(files), partitions="2013-01-01").materialized == []
    forced = run(files, pipeline(files), partitions="2013-01-01", force=["daily"])
    assert forced.materialized[0] == "daily[2013-01-01]"
    assert forced.reasons["daily[2013-01-01]"] == "forced"


def test_unknown_partition_selection_is_an_error(files):
    """A key or range that no selected partitioned asset has is an error naming the sets."""
    with pytest.raises(AssetGraphError, match=r"partitions= names '2014-01-01'.*2013-01-01\.\.2013-01-03"):
        run(files, pipeline(files), partitions="2014-01-01")


def test_unpartitioned_downstream_reruns_once_after_a_partition_changes(files):
    """A changed partition reruns an all-partitions downstream once; no change, not at all."""
    run(files, pipeline(files))
    path = files.root / "doubled" / "date=2013-01-03" / "data.parquet"
    pl.DataFrame({"date": [dt.date(2013, 1, 3)], "n": [2], "m": [2], "d": [100]}).write_parquet(path)
    result = run(files, pipeline(files))
    assert result.materialized == ["doubled[2013-01-03]"]
    assert result.reasons["doubled[2013-01-03]"] == "product modified outside assetry"
    assert result.reasons["total"] == "up to date"  # rebuilt identical: the set is unchanged
    assert run(files, pipeline(files)).materialized == []


def test_widening_end_adds_only_new_partitions_and_reruns_downstream_once(files):
    """DailyPartitions(end=...) is not code: widening runs the new days and the summary once."""
    run(files, pipeline(files))
    result = run(files, pipeline(files, end="2013-01-05"))
    assert sorted(result.materialized) == sorted([
        "daily[2013-01-04]", "daily[2013-01-05]", "doubled[2013-01-04]", "doubled[2013-01-05]",
        "total",
    ])
    assert result.reasons["total"] == "upstream changed: doubled"
    assert result.load("total")["days"].to_list() == [5]


def test_status_summarises_partitions(files):
    """Status gives one row per asset ('2 fresh, 1 missing'), or one per partition on request."""
    mod = pipeline(files)
    run(files, mod)
    cat = Catalog(files.catalog)
    assert cat.status(mod)["fresh"].all()
    assert set(cat.status(mod)["reason"]) == {"up to date"}
    (files.root / "daily" / "date=2013-01-01" / "data.parquet").unlink()
    frame = cat.status(mod)
    reasons = dict(zip(frame["asset"], frame["reason"]))
    assert reasons["daily"] == "2 fresh, 1 missing"
    assert reasons["doubled"] == "2 fresh, 1 upstream stale"
    assert reasons["total"] == "upstream stale: doubled"
    detail = status_frame(mod, catalog=cat, partitions=True)
    row = detail.filter((pl.col("asset") == "daily") & (pl.col("partition") == "2013-01-01"))
    assert row["reason"].to_list() == ["product missing"]
    assert detail.columns == ["asset", "partition", "fresh", "reason"]


STATIC = '''
import polars as pl
from assetry import StaticPartitions, asset

REGIONS = StaticPartitions(["eu", "us", "apac"])

@asset(partitions=REGIONS)
def sales(partition: str) -> pl.DataFrame:
    return pl.DataFrame({"amount": [len(partition)]})

@asset
def by_region(sales: dict[str, pl.DataFrame]) -> dict:
    return {k: int(v["amount"][0]) for k, v in sales.items()}

@asset
def combined(sales: pl.DataFrame) -> pl.DataFrame:
    return sales.sort("partition")
'''


def test_static_partitions_receive_keys_and_feed_dicts_and_frames(files):
    """Static keys are strings; a dict annotation gets {key: value}, a frame the partition column."""
    mod = files.module("static.py", STATIC)
    result = run(files, mod)
    assert (files.root / "sales" / "partition=eu" / "data.parquet").is_file()
    assert result.load("by_region") == {"eu": 2, "us": 2, "apac": 4}
    assert result.load("combined")["partition"].to_list() == ["apac", "eu", "us"]
    assert run(files, mod, partitions="eu..us").materialized == []


def test_partitioned_downstream_of_other_kind_is_a_graph_error(files):
    """Daily cannot map onto static partitions; the error says how to fix it."""
    with pytest.raises(AssetGraphError, match="partitioned by DailyPartitions but its upstream 'a'"):
        files.module("bad.py", """
            import polars as pl
            from assetry import DailyPartitions, StaticPartitions, asset, materialize

            @asset(partitions=StaticPartitions(["x"]))
            def a(partition: str) -> pl.DataFrame:
                return pl.DataFrame({"a": [1]})

            @asset(partitions=DailyPartitions("2013-01-01", "2013-01-02"))
            def b(partition, a: pl.DataFrame) -> pl.DataFrame:
                return a

            materialize([a, b], root="unused-never-created")
        """)


def test_partition_parameter_without_partitions_is_a_graph_error(files):
    """A 'partition' parameter on an unpartitioned asset says to declare partitions."""
    mod = files.module("nopart.py", """
        from assetry import asset

        @asset
        def a(partition) -> list:
            return [partition]
    """)
    with pytest.raises(AssetGraphError, match="has parameter 'partition' but no partitions"):
        run(files, mod)


def test_partitions_without_partitioned_assets_is_an_error(files):
    """partitions= on a graph with no partitioned asset is refused."""
    mod = files.module("plain.py", """
        from assetry import asset

        @asset
        def a() -> list:
            return [1]
    """)
    with pytest.raises(AssetGraphError, match="no selected asset is partitioned"):
        run(files, mod, partitions="2013-01-01")


def test_failed_partition_blocks_only_its_downstream_partition(files):
    """One failing partition fails alone; its downstream partition and the summary are blocked."""
    mod = files.module("flaky.py", """
        import datetime
        import polars as pl
        from assetry import DailyPartitions, asset

        @asset(partitions=DailyPartitions("2013-01-01", "2013-01-03"))
        def daily(partition: datetime.date) -> pl.DataFrame:
            if partition.day == 2:
                raise ValueError("no data for the 2nd")
            return pl.DataFrame({"day": [partition.day]})

        @asset(partitions=DailyPartitions("2013-01-01", "2013-01-03"))
        def doubled(daily: pl.DataFrame) -> pl.DataFrame:
            return daily * 2

        @asset
        def total(daily: pl.DataFrame) -> int:
            return int(daily["day"].sum())
    """)
    result = run(files, mod, raise_on_error=False)
    assert result.failed == ["daily[2013-01-02]"]
    assert "asset 'daily[2013-01-02]'" in result.errors["daily[2013-01-02]"]
    assert sorted(result.blocked) == ["doubled[2013-01-02]", "total"]
    assert "doubled[2013-01-03]" in result.materialized


def test_partition_sets_validate_their_input():
    """Bad dates, reversed ranges, unsafe or duplicate keys are errors at declaration."""
    with pytest.raises(AssetGraphError, match="ends .* before it starts"):
        DailyPartitions("2013-02-01", "2013-01-01")
    with pytest.raises(AssetGraphError, match="needs dates"):
        DailyPartitions("yesterday")
    with pytest.raises(AssetGraphError, match="not safe file names"):
        StaticPartitions(["a/b"])
    with pytest.raises(AssetGraphError, match="more than once"):
        StaticPartitions(["a", "a"])
    assert DailyPartitions(dt.date(2013, 1, 1)).keys()[-1] == dt.date.today().isoformat()


def test_changed_upstream_data_reruns_the_summary_once(files):
    """An upstream edit that changes one day's data: every day rechecks, one changes, total once."""
    run(files, pipeline(files))
    source = PIPELINE.format(end="2013-01-03", factor=1).replace(
        '"n": list(range(len(days)))', '"n": [5 if i == 1 else i for i in range(len(days))]'
    )
    result = run(files, files.module("pipe.py", source))
    assert result.reasons["events"] == "code changed: events (pipe.py)"
    assert sorted(k for k in result.materialized if k.startswith("daily")) == DAILY
    assert [k for k in result.materialized if k.startswith("doubled")] == ["doubled[2013-01-02]"]
    assert result.reasons["doubled[2013-01-01]"] == "up to date"
    assert result.materialized.count("total") == 1
    assert result.reasons["total"] == "upstream changed: doubled"


def test_directory_partitions_reach_a_downstream_as_a_dict(files):
    """Directory partitions load as {key: {file: frame}}; a frame annotation is a clear error."""
    mod = files.module("dirs.py", """
        import polars as pl
        from assetry import StaticPartitions, asset

        @asset(partitions=StaticPartitions(["a", "b"]))
        def parts(partition: str) -> dict[str, pl.DataFrame]:
            return {"x": pl.DataFrame({"v": [partition]})}

        @asset
        def keys(parts: dict[str, dict[str, pl.DataFrame]]) -> list:
            return sorted((k, sorted(v)) for k, v in parts.items())

        @asset
        def wrong(parts: pl.DataFrame) -> int:
            return parts.height
    """)
    result = run(files, mod, raise_on_error=False)
    assert (files.root / "parts" / "partition=a" / "x.parquet").is_file()
    assert result.load("keys") == [["a", ["x"]], ["b", ["x"]]]
    assert "annotate the parameter dict[str, ...]" in result.errors["wrong"]
