"""`assetry diff` and Catalog.diff: how two versions of a product differ."""

from __future__ import annotations

import polars as pl
import pytest
from click.testing import CliRunner

from assetry import Catalog, materialize
from assetry.cli import cli
from assetry.diff import diff_frames

ORDERS = '''
import polars as pl
from assetry import asset

@asset
def orders() -> pl.DataFrame:
    return pl.DataFrame({{"id": {ids}, "amount": {amounts}, "note": {notes}}})
'''

FIRST = {"ids": [1, 2, 3, 4], "amounts": [10, 20, 30, None], "notes": ["a", "b", "c", "d"]}
# id 1 removed, 5 and 6 added, id 3 changed; amount becomes a float column.
SECOND = {"ids": [2, 3, 4, 5, 6], "amounts": [20.0, 35.5, None, 50.0, 60.0],
          "notes": ["b", "c", "d", "e", "f"]}


@pytest.fixture
def two_versions(files):
    for values in (FIRST, SECOND):
        materialize(files.module("orders.py", ORDERS.format(**values)), root=files.root,
                    executor="sync")
    return Catalog(files.catalog)


def test_diff_reports_a_retyped_column_added_and_removed_rows(two_versions):
    """The previous version against the current: retyped column, row counts, stats, rows by key."""
    found = two_versions.diff("orders", key="id")
    assert found.rows == (4, 5)
    assert found.retyped_columns == (("amount", "Int64", "Float64"),)
    assert found.added_columns == () and found.removed_columns == ()
    amount = {c.column: c for c in found.columns}["amount"]
    assert amount.nulls == (1, 1)
    assert amount.mean == (20.0, pytest.approx(41.375))
    assert amount.max == ("30", "60.0")
    keyed = found.by_key
    assert (keyed.added, keyed.removed, keyed.changed) == (2, 1, 1)
    assert sorted(keyed.added_sample["id"].to_list()) == [5, 6]
    assert keyed.removed_sample["id"].to_list() == [1]
    assert keyed.changed_sample.select("id", "amount", "amount_new").rows() == [(3, 30, 35.5)]
    assert not found.same


def test_cli_diff_prints_schema_rows_and_keyed_changes(two_versions, files):
    """`assetry diff ASSET --key COLS` prints each change; V1 and V2 may be given."""
    where = ["--catalog", str(files.catalog)]
    out = CliRunner().invoke(cli, ["diff", "orders", "--key", "id", *where], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    text = out.output
    assert "orders: version -1 -> current" in text
    assert "rows: 4 -> 5 (+1)" in text
    assert "amount Int64 -> Float64" in text
    assert "by key (id): 2 added, 1 removed, 1 changed" in text
    prefix = two_versions.versions("orders")["data_fingerprint"][0][:8]
    same = CliRunner().invoke(cli, ["diff", "orders", "-1", prefix, *where], catch_exceptions=False)
    assert same.exit_code == 0 and "rows: 4 -> 4 (+0)" in same.output
    bad = CliRunner().invoke(cli, ["diff", "orders", "-5", *where])
    assert bad.exit_code == 2 and "version=-5 names none" in bad.output


def test_a_key_missing_from_a_version_is_refused():
    """--key must name columns both versions have."""
    from assetry.errors import AssetTypeError

    with pytest.raises(AssetTypeError, match=r"key column\(s\) 'x' are not in both versions"):
        diff_frames(pl.DataFrame({"a": [1]}), pl.DataFrame({"a": [1]}), key="x")


def test_identical_frames_are_the_same():
    """Nothing differs: Diff.same, and the text says no schema change."""
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", None]})
    found = diff_frames(frame, frame.lazy(), key=["a"])
    assert found.same and "no schema change" in found.text()
