"""A Python asset stored as a database table feeds a SQL asset in place."""

from __future__ import annotations

from assetry import materialize


def test_table_asset_is_a_sql_placeholder(files, tmp_path):
    """A frame stored with DuckDBTable is read by a sql_asset through its quoted table name."""
    db = tmp_path / "w.duckdb"
    mod = files.module("tbl.py", f"""
        import polars as pl
        from assetry import asset, sql_asset
        from assetry.clients import DuckDBClient
        from assetry.io_managers import DuckDBTable

        wh = DuckDBClient({str(db)!r})

        @asset(io=DuckDBTable(database={str(db)!r}))
        def raw() -> pl.DataFrame:
            return pl.DataFrame({{"k": ["a", "b", "a"], "v": [1, 2, 3]}})

        @sql_asset(client=wh)
        def totals(raw):
            return "SELECT k, sum(v) AS total FROM {{raw}} GROUP BY k ORDER BY k"

        @asset
        def report(totals: pl.DataFrame) -> dict:
            return {{k: int(t) for k, t in zip(totals["k"], totals["total"])}}
    """)
    result = materialize(mod, root=files.root)
    assert result.load("report") == {"a": 4, "b": 2}
    assert materialize(mod, root=files.root).materialized == []
