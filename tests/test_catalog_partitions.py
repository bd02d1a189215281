"""The Catalog's view of partitioned assets: status per partition, loading all partitions."""

from __future__ import annotations

import polars as pl

from assetry import Catalog, materialize

SOURCE = """
import datetime
import polars as pl
from assetry import DailyPartitions, asset

@asset(partitions=DailyPartitions("2024-01-01", "2024-01-03"))
def days(partition: datetime.date) -> pl.DataFrame:
    return pl.DataFrame({"n": [partition.day]})
"""


def test_catalog_status_and_load_of_partitions(files):
    """Catalog.status(partitions=True) lists each day; Catalog.load without a key loads them all."""
    mod = files.module("days.py", SOURCE)
    materialize(mod, root=files.root)
    (files.root / "days" / "date=2024-01-02" / "data.parquet").unlink()
    cat = Catalog(files.catalog)
    summary = cat.status(mod)
    assert summary["reason"].item() == "2 fresh, 1 missing"
    per_day = cat.status(mod, partitions=True)
    assert per_day.height == 3
    assert per_day.filter(~pl.col("fresh"))["partition"].to_list() == ["2024-01-02"]
    materialize(mod, root=files.root)
    frame = cat.load("days").sort("n")
    assert frame["n"].to_list() == [1, 2, 3]
    assert "date" in frame.columns
    assert isinstance(cat.load("days", as_type=pl.LazyFrame), pl.LazyFrame)
    assert cat.load("days", "2024-01-03")["n"].to_list() == [3]
