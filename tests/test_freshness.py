"""Freshness: which edits rerun which assets, and the reason given for each."""

from __future__ import annotations

import os
import time

import polars as pl

from assetry import Catalog, materialize

BASE = '''
import polars as pl
from assetry import asset
from helpers import scale

OFFSET = {offset}

@asset
def numbers() -> pl.DataFrame:
    return pl.DataFrame({{"n": [1, 2, 3]}})

@asset
def scaled(numbers: pl.DataFrame) -> pl.DataFrame:
    {comment}
    return numbers.with_columns(m=scale(pl.col("n")) + OFFSET)

@asset
def total(scaled: pl.DataFrame) -> dict:
    return {{"total": int(scaled["m"].sum())}}
'''

HELPERS = '''
def scale(expr):
    return expr * {factor}
'''


def setup(files, offset=0, comment="", factor=2):
    files.write("helpers.py", HELPERS.format(factor=factor))
    return files.module("pipe.py", BASE.format(offset=offset, comment=comment or "pass"))


def go(files, mod, **kw):
    return materialize(mod, root=files.root, **kw)


def test_comment_only_edit_reruns_nothing(files):
    """Comments, blank lines and docstrings are not code: nothing reruns."""
    go(files, setup(files))
    mod = setup(files, comment='"""A docstring-like string."""\n    # a comment\n\n    pass')
    result = go(files, mod)
    assert result.materialized == []


def test_code_edit_reruns_asset_and_changed_downstream(files):
    """A code edit reruns the asset ('code changed') and downstream whose input changed."""
    go(files, setup(files))
    result = go(files, setup(files, offset=1))
    assert result.materialized == ["scaled", "total"]
    assert result.reasons["scaled"] == "code changed: OFFSET (pipe.py)"
    assert result.reasons["total"] == "upstream changed: scaled"
    assert result.reasons["numbers"] == "up to date"


def test_helper_edit_in_other_module_reruns(files):
    """Editing a helper function in the user's own module makes its callers stale."""
    go(files, setup(files))
    result = go(files, setup(files, factor=3))
    assert result.reasons["scaled"] == "code changed: scale (helpers.py)"
    assert "total" in result.materialized


def test_identical_output_stops_the_cascade(files):
    """An upstream that reruns to identical data does not make downstream stale."""
    go(files, setup(files))
    # Different code, same data: an unused local variable.
    mod = setup(files, comment="unused = 5")
    result = go(files, mod)
    assert result.materialized == ["scaled"]
    assert result.reasons["total"] == "up to date"


def test_deleted_product_is_rebuilt(files):
    """A product deleted by hand is 'product missing' and is rebuilt."""
    mod = setup(files)
    go(files, mod)
    (files.root / "scaled.parquet").unlink()
    result = go(files, mod)
    assert result.reasons["scaled"] == "product missing"
    assert result.materialized == ["scaled"]  # identical data: total stays fresh


def test_modified_product_is_detected(files):
    """A product rewritten outside assetry is 'product modified outside assetry'."""
    mod = setup(files)
    go(files, mod)
    pl.DataFrame({"n": [9]}).write_parquet(files.root / "numbers.parquet")
    result = go(files, mod)
    assert result.reasons["numbers"] == "product modified outside assetry"
    assert result.reasons["scaled"] == "up to date" or "scaled" in result.skipped
    assert set(result.materialized) == {"numbers"}


def test_touched_identical_file_stays_fresh_and_is_not_rehashed_twice(files):
    """A touched but identical file stays fresh; its new stat is remembered."""
    mod = setup(files)
    go(files, mod)
    path = files.root / "numbers.parquet"
    future = time.time() + 100
    os.utime(path, (future, future))
    result = go(files, mod)
    assert result.materialized == []
    stat_key = Catalog(files.catalog).sql(
        "SELECT stat_key FROM assets WHERE asset = 'numbers'"
    ).item()
    assert str(os.stat(path).st_mtime_ns) in stat_key


def test_reset_mtime_with_changed_content_is_still_detected(files):
    """Content changed with mtime reset to the old value is caught (ctime/inode differ)."""
    mod = setup(files)
    go(files, mod)
    path = files.root / "numbers.parquet"
    st = os.stat(path)
    pl.DataFrame({"n": [7, 8, 9]}).write_parquet(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    result = go(files, mod)
    assert result.reasons["numbers"] == "product modified outside assetry"


def test_status_is_the_plan_before_a_run(files):
    """Catalog.status says which assets would run and why, with 'upstream stale'."""
    mod = setup(files)
    cat = Catalog(files.catalog)
    go(files, mod)
    (files.root / "numbers.parquet").unlink()
    status = cat.status(mod)
    reasons = dict(zip(status["asset"], status["reason"]))
    fresh = dict(zip(status["asset"], status["fresh"]))
    assert reasons == {
        "numbers": "product missing",
        "scaled": "upstream stale: numbers",
        "total": "upstream stale: scaled",
    }
    assert not any(fresh.values())


def test_status_of_a_fresh_graph(files):
    """A fresh graph's status is all 'up to date'."""
    mod = setup(files)
    go(files, mod)
    status = Catalog(files.catalog).status(mod)
    assert status["fresh"].to_list() == [True, True, True]
    assert set(status["reason"]) == {"up to date"}


def test_accept_records_harmless_change(files):
    """accept() records a harmless code change as fresh without running."""
    go(files, setup(files))
    mod = setup(files, comment="renamed_local = 1")
    cat = Catalog(files.catalog)
    assert cat.status(mod).filter(pl.col("asset") == "scaled")["reason"].item() == "code changed: scaled (pipe.py)"
    accepted = cat.accept(mod)
    assert accepted["accepted"].all()
    assert go(files, mod).materialized == []
    assert cat.sql("SELECT count(*) FROM materializations WHERE status = 'accepted'").item() == 3


def test_accept_refuses_modified_product(files):
    """accept() will not bless a product modified outside assetry."""
    mod = setup(files)
    go(files, mod)
    pl.DataFrame({"n": [0]}).write_parquet(files.root / "numbers.parquet")
    out = Catalog(files.catalog).accept(mod)
    row = out.filter(pl.col("asset") == "numbers")
    assert not row["accepted"].item()
    assert row["reason"].item() == "product modified outside assetry"


def test_cache_false_always_runs(files):
    """cache=False: the asset always runs, with reason 'cache disabled'."""
    mod = files.module("nc.py", """
        from assetry import asset

        @asset(cache=False)
        def clock() -> dict:
            return {"v": 1}

        @asset
        def reader(clock: dict) -> dict:
            return clock
    """)
    go(files, mod)
    result = go(files, mod)
    assert result.materialized == ["clock"]
    assert result.reasons["clock"] == "cache disabled"
    assert result.reasons["reader"] == "up to date"


def test_code_version_pins_the_fingerprint(files):
    """With code_version, body edits do not rerun; bumping the version does."""
    src = """
        from assetry import asset

        @asset(code_version="{v}")
        def pinned() -> dict:
            return {{"x": {x}}}
    """
    go(files, files.module("cv.py", src.format(v="1", x=1)))
    assert go(files, files.module("cv.py", src.format(v="1", x=2))).materialized == []
    result = go(files, files.module("cv.py", src.format(v="2", x=2)))
    assert result.reasons["pinned"] == "code changed: code_version"
