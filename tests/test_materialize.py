"""materialize(): first runs, skips, selection, force, failures and results."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assetry import Catalog, MaterializeError, SchemaError, materialize

PIPELINE = """
import polars as pl
from assetry import asset

@asset
def raw() -> pl.DataFrame:
    return pl.DataFrame({"carrier": ["AA", "UA", "AA", "DL"], "delay": [1.0, 2.0, 3.0, 4.0]})

@asset
def by_carrier(raw: pl.LazyFrame, min_n: int = 1) -> pl.DataFrame:
    return (raw.group_by("carrier").agg(pl.len().alias("n"), pl.col("delay").mean())
               .filter(pl.col("n") >= min_n).sort("carrier").collect())

@asset
def report(by_carrier: pl.DataFrame) -> dict:
    return {"carriers": by_carrier.height}

@asset
def other() -> list:
    return [1, 2, 3]
"""


def run(files, module, **kw):
    kw.setdefault("root", files.root)
    return materialize(module, **kw)


@pytest.mark.parametrize("executor", ["sync", "threads"])
def test_first_run_materializes_everything_and_second_skips(files, executor):
    """A first run stores every asset; an unchanged second run skips them all."""
    mod = files.module("pipe.py", PIPELINE)
    first = run(files, mod, executor=executor)
    assert first.success
    assert sorted(first.materialized) == ["by_carrier", "other", "raw", "report"]
    assert all(first.reasons[n] == "never materialized" for n in first.materialized)
    assert first.materialized.index("raw") < first.materialized.index("by_carrier")
    second = run(files, files.load("pipe.py"), executor=executor)
    assert second.materialized == []
    assert sorted(second.skipped) == ["by_carrier", "other", "raw", "report"]
    assert set(second.reasons.values()) == {"up to date"}


def test_products_are_stored_where_the_contract_says(files):
    """File products live at <root>/<name>.<extension> and load back as stored."""
    mod = files.module("pipe.py", PIPELINE)
    result = run(files, mod)
    assert (files.root / "raw.parquet").is_file()
    assert (files.root / "report.json").is_file()
    assert (files.root / "catalog.duckdb").is_file()
    assert result.load("report") == {"carriers": 3}
    expected = pl.DataFrame({"carrier": ["AA", "DL", "UA"], "n": [2, 1, 1], "delay": [2.0, 4.0, 2.0]})
    assert_frame_equal(result.load("by_carrier"), expected, check_dtypes=False)


def test_config_override_reruns_with_reason(files):
    """A config value given to materialize() changes the fingerprint: 'config changed'."""
    mod = files.module("pipe.py", PIPELINE)
    run(files, mod)
    result = run(files, mod, config={"by_carrier": {"min_n": 2}})
    assert result.reasons["by_carrier"] == "config changed: min_n 1 -> 2"
    assert result.reasons["report"] == "upstream changed: by_carrier"
    assert result.load("report") == {"carriers": 1}
    assert result.reasons["raw"] == "up to date"


def test_unknown_config_is_rejected(files):
    """Config for a parameter the asset does not have is an error naming it."""
    from assetry import AssetGraphError

    mod = files.module("pipe.py", PIPELINE)
    with pytest.raises(AssetGraphError, match="'min_x' for asset 'by_carrier'.*min_n"):
        run(files, mod, config={"by_carrier": {"min_x": 2}})


def test_select_forms(files):
    """'name' runs one asset, '+name' adds its upstream, 'name+' its downstream."""
    mod = files.module("pipe.py", PIPELINE)
    assert run(files, mod, select="+by_carrier").materialized == ["raw", "by_carrier"]
    result = run(files, mod, select="by_carrier+", force=True)
    assert result.materialized == ["by_carrier", "report"]
    assert run(files, mod, select=["other"]).materialized == ["other"]


def test_selected_asset_without_stored_upstream_fails_clearly(files):
    """Selecting an asset whose upstream was never stored fails it with a hint."""
    mod = files.module("pipe.py", PIPELINE)
    result = run(files, mod, select="by_carrier", raise_on_error=False)
    assert result.failed == ["by_carrier"]
    assert "select='+by_carrier'" in result.errors["by_carrier"]


def test_force_all_and_by_name(files):
    """force=True reruns everything; force=[names] only those, with reason 'forced'."""
    mod = files.module("pipe.py", PIPELINE)
    run(files, mod)
    assert sorted(run(files, mod, force=True).materialized) == ["by_carrier", "other", "raw", "report"]
    result = run(files, mod, force=["other"])
    assert result.materialized == ["other"]
    assert result.reasons["other"] == "forced"


FAILING = """
import polars as pl
from assetry import asset

FAIL = {fail}

@asset
def source() -> pl.DataFrame:
    return pl.DataFrame({{"x": [1, 2]}})

@asset
def fragile(source: pl.DataFrame) -> pl.DataFrame:
    if FAIL:
        raise ValueError("boom")
    return source.with_columns(y=pl.col("x") * 2)

@asset
def after(fragile: pl.DataFrame) -> pl.DataFrame:
    return fragile

@asset
def independent(source: pl.DataFrame) -> pl.DataFrame:
    return source.head(1)
"""


def test_failure_keeps_previous_product_and_blocks_downstream(files):
    """A failing asset stores nothing, keeps its old product and row, blocks downstream only."""
    mod = files.module("fail.py", FAILING.format(fail=False))
    run(files, mod)
    before = Catalog(files.catalog).sql("SELECT * FROM assets WHERE asset = 'fragile'")
    old = pl.read_parquet(files.root / "fragile.parquet")

    mod = files.module("fail.py", FAILING.format(fail=True))
    with pytest.raises(MaterializeError, match="fragile.*ValueError: boom") as info:
        run(files, mod, force=True)
    result = info.value.result
    assert result.failed == ["fragile"]
    assert result.blocked == ["after"]
    assert "independent" in result.materialized
    assert_frame_equal(pl.read_parquet(files.root / "fragile.parquet"), old)
    after = Catalog(files.catalog).sql("SELECT * FROM assets WHERE asset = 'fragile'")
    assert_frame_equal(before, after)
    rows = Catalog(files.catalog).sql(
        "SELECT status, error FROM materializations WHERE asset = 'fragile' AND status = 'failed'"
    )
    assert rows.height == 1 and "boom" in rows["error"][0]
    blocked = Catalog(files.catalog).sql(
        "SELECT reason FROM materializations WHERE asset = 'after' AND status = 'blocked'"
    )
    assert blocked["reason"].to_list() == ["upstream failed: fragile"]


def test_raise_on_error_false_returns_result(files):
    """raise_on_error=False returns a result whose success is False."""
    mod = files.module("fail.py", FAILING.format(fail=True))
    result = run(files, mod, raise_on_error=False)
    assert not result.success
    assert result.failed == ["fragile"] and result.blocked == ["after"]
    assert "fragile" in result.errors and "inputs: source=DataFrame(2, 1)" in result.errors["fragile"]


def test_failed_asset_reruns_next_time(files):
    """After a failure, fixing the code reruns the failed asset and its blocked downstream."""
    mod = files.module("fail.py", FAILING.format(fail=True))
    run(files, mod, raise_on_error=False)
    mod = files.module("fail.py", FAILING.format(fail=False))
    result = run(files, mod)
    assert sorted(result.materialized) == ["after", "fragile"]
    assert result.reasons["fragile"] == "never materialized"


def test_run_error_is_also_the_kind_of_its_failures(files):
    """A run whose only failures are schema mismatches raises something catchable as SchemaError."""
    mod = files.module("schema.py", """
        import polars as pl
        from assetry import asset

        @asset(schema={"a": pl.Int64, "b": pl.String})
        def t() -> pl.DataFrame:
            return pl.DataFrame({"a": ["x"], "c": [1]})
    """)
    with pytest.raises(SchemaError, match="missing column 'b'.*extra column 'c'.*column 'a' is String, expected Int64") as info:
        run(files, mod)
    assert isinstance(info.value, MaterializeError)
    assert not (files.root / "t.parquet").exists()


def test_runs_table_counts(files):
    """The runs table records one row per run with its counts and status."""
    mod = files.module("pipe.py", PIPELINE)
    run(files, mod)
    run(files, mod)
    con = duckdb.connect(str(files.catalog), read_only=True)
    rows = con.execute(
        "SELECT status, n_materialized, n_skipped, n_failed FROM runs ORDER BY started_at"
    ).fetchall()
    con.close()
    assert rows == [("success", 4, 0, 0), ("success", 0, 4, 0)]


def test_catalog_may_be_given_as_a_catalog(files, tmp_path):
    """catalog= takes a path or a Catalog; the run records land there."""
    mod = files.module("pipe.py", PIPELINE)
    cat = Catalog(tmp_path / "elsewhere.duckdb")
    run(files, mod, catalog=cat)
    assert cat.sql("SELECT count(*) AS n FROM assets")["n"].item() == 4
    assert run(files, mod, catalog=tmp_path / "elsewhere.duckdb").materialized == []
