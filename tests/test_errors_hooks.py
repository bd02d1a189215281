"""Bad input gets a clear AssetError subclass; hooks see what happened."""

from __future__ import annotations

import polars as pl
import pytest

from assetry import CatalogError, StorageError, materialize

ONE = """
from assetry import asset

@asset
def one() -> list:
    return [1]
"""


def test_unwritable_root_is_a_storage_error(files, tmp_path):
    """A root that cannot be created or written is a StorageError naming it."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    mod = files.module("one.py", ONE)
    with pytest.raises(StorageError, match="is not a writable directory"):
        materialize(mod, root=blocker / "root")


def test_catalog_that_is_not_duckdb(files, tmp_path):
    """A catalog file that is not a DuckDB database is a CatalogError and is left alone."""
    bad = tmp_path / "catalog.duckdb"
    bad.write_text("this is not a database" * 100)
    mod = files.module("one.py", ONE)
    with pytest.raises(CatalogError, match="not a readable DuckDB database"):
        materialize(mod, root=files.root, catalog=bad)
    assert bad.read_text().startswith("this is not a database")


def test_asset_hooks_receive_context(files):
    """on_finish gets the asset, its location and rows; on_failure gets the error."""
    mod = files.module("hooks.py", """
        import polars as pl
        from assetry import asset

        SEEN = []

        @asset(on_finish=SEEN.append)
        def good() -> pl.DataFrame:
            return pl.DataFrame({"a": [1, 2]})

        @asset(on_failure=SEEN.append)
        def bad(good: pl.DataFrame) -> pl.DataFrame:
            raise RuntimeError("nope")
    """)
    materialize(mod, root=files.root, raise_on_error=False)
    finished, failed = mod.SEEN
    assert finished.asset == "good" and finished.rows == 2
    assert finished.location.endswith("good.parquet")
    assert failed.asset == "bad" and "RuntimeError: nope" in failed.error


def test_a_raising_hook_keeps_the_product(files):
    """A hook that raises is reported as a warning; the product and its record are kept."""
    from assetry.engine.hooks import HookWarning

    mod = files.module("hooks2.py", """
        from assetry import asset

        def explode(ctx):
            raise ValueError("hook broke")

        @asset(on_finish=explode)
        def good() -> list:
            return [1]
    """)
    with pytest.warns(HookWarning, match="hook broke"):
        result = materialize(mod, root=files.root)
    assert result.materialized == ["good"]
    assert materialize(mod, root=files.root).skipped == ["good"]


def test_run_level_hooks(files):
    """materialize(on_finish=, on_failure=) receive the result."""
    mod = files.module("one.py", """
        from assetry import asset

        @asset
        def one() -> list:
            raise KeyError("x")
    """)
    seen = []
    materialize(mod, root=files.root, raise_on_error=False, on_finish=seen.append, on_failure=seen.append)
    assert len(seen) == 2 and seen[0].failed == ["one"]


def test_retries_are_counted(files):
    """@asset(retries=N) retries a failing asset and records the attempts."""
    mod = files.module("flaky.py", """
        from assetry import asset

        CALLS = []

        @asset(retries=2)
        def flaky() -> list:
            CALLS.append(1)
            if len(CALLS) < 3:
                raise ConnectionError("try again")
            return CALLS
    """)
    result = materialize(mod, root=files.root)
    assert result.record("flaky").attempts == 3
    from assetry import Catalog

    assert Catalog(files.catalog).sql("SELECT attempts FROM materializations").item() == 3


def test_scheduling_starts_assets_as_soon_as_upstream_is_done(files):
    """A fast chain finishes while a slow independent asset still runs (not level by level)."""
    mod = files.module("sched.py", """
        import time
        from assetry import asset

        @asset
        def slow() -> list:
            time.sleep(1.0)
            return [1]

        @asset
        def fast() -> list:
            return [1]

        @asset
        def fast2(fast: list) -> list:
            return fast

        @asset
        def fast3(fast2: list) -> list:
            return fast2
    """)
    result = materialize(mod, root=files.root, executor="threads", max_workers=2)
    order = result.materialized
    assert order.index("fast3") < order.index("slow")


def test_result_load_and_catalog_load(files):
    """result.load and Catalog.load / assetry.load return the stored value."""
    from assetry import Catalog, load

    mod = files.module("one.py", """
        import polars as pl
        from assetry import asset

        @asset
        def one() -> pl.DataFrame:
            return pl.DataFrame({"a": [1]})
    """)
    result = materialize(mod, root=files.root)
    assert result.load("one")["a"].to_list() == [1]
    assert Catalog(files.catalog).load("one")["a"].to_list() == [1]
    lazy = load("one", catalog=files.catalog, as_type=pl.LazyFrame)
    assert isinstance(lazy, pl.LazyFrame)
    with pytest.raises(StorageError, match="asset 'two' has no stored product.*stored assets: one"):
        load("two", catalog=files.catalog)


def test_catalog_history_and_sql(files):
    """Catalog.history lists an asset's materializations; Catalog.sql returns polars."""
    from assetry import Catalog

    mod = files.module("one.py", ONE)
    materialize(mod, root=files.root)
    materialize(mod, root=files.root)
    cat = Catalog(files.catalog)
    hist = cat.history("one")
    assert sorted(hist["status"].to_list()) == ["materialized", "skipped"]
    deps = cat.sql("SELECT * FROM dependencies")
    assert deps.height == 0
    assert set(cat.sql("SHOW TABLES")["name"]) >= {"runs", "materializations", "assets", "dependencies", "checks"}


def test_catalog_readable_by_other_connection_between_runs(files):
    """Between runs the catalog is closed, so a read-only connection opens it."""
    import duckdb

    mod = files.module("one.py", ONE)
    materialize(mod, root=files.root)
    con = duckdb.connect(str(files.catalog), read_only=True)
    assert con.execute("SELECT count(*) FROM assets").fetchone()[0] == 1
    con.close()
