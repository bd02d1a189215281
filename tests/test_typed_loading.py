"""The parameter annotation decides how an upstream is loaded; the return type is checked."""

from __future__ import annotations

import pytest

from assetry import AssetTypeError, materialize


def test_annotations_pick_the_loaded_type(files):
    """pl.DataFrame, pl.LazyFrame, pa.Table, Path, pandas and dicts of frames load as asked."""
    mod = files.module("typed.py", """
        import pathlib
        import pandas as pd
        import polars as pl
        import pyarrow as pa
        from assetry import asset

        @asset
        def frame() -> pl.DataFrame:
            return pl.DataFrame({"carrier": ["AA", "UA"], "n": [1, 2]})

        @asset
        def parts(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
            return {c: frame.filter(pl.col("carrier") == c) for c in frame["carrier"]}

        @asset
        def kinds(frame: pl.LazyFrame, parts: dict[str, pl.LazyFrame]) -> dict:
            return {"frame": type(frame).__name__, "parts": sorted(parts),
                    "part_kind": type(parts["AA"]).__name__}

        @asset
        def more(frame: pa.Table, parts: pathlib.Path) -> dict:
            return {"frame": type(frame).__name__, "dir": parts.is_dir()}

        @asset
        def pandas_in(frame: pd.DataFrame) -> dict:
            return {"frame": type(frame).__module__.split(".")[0]}

        @asset
        def natural(frame) -> dict:
            return {"frame": type(frame).__name__}
    """)
    result = materialize(mod, root=files.root)
    assert result.load("kinds") == {"frame": "LazyFrame", "parts": ["AA", "UA"], "part_kind": "LazyFrame"}
    assert result.load("more") == {"frame": "Table", "dir": True}
    assert result.load("pandas_in") == {"frame": "pandas"}
    assert result.load("natural") == {"frame": "DataFrame"}
    assert (files.root / "parts" / "AA.parquet").is_file()


def test_wrong_return_type_fails_with_names(files):
    """A value of the wrong type fails with AssetTypeError naming asset, expected and actual."""
    mod = files.module("wrong.py", """
        import polars as pl
        from assetry import asset

        @asset
        def report() -> pl.DataFrame:
            return {"not": "a frame"}
    """)
    with pytest.raises(AssetTypeError, match="asset 'report' returned dict, but its annotation says polars.DataFrame"):
        materialize(mod, root=files.root)
    assert not (files.root / "report.parquet").exists()


def test_unannotated_value_picks_a_manager(files):
    """Without a return annotation the value decides: frames Parquet, plain dicts JSON, else Pickle."""
    mod = files.module("auto.py", """
        import polars as pl
        from assetry import asset

        @asset
        def f():
            return pl.DataFrame({"a": [1]})

        @asset
        def d():
            return {"a": 1}

        @asset
        def o():
            return {1, 2}
    """)
    materialize(mod, root=files.root)
    assert (files.root / "f.parquet").is_file()
    assert (files.root / "d.json").is_file()
    assert (files.root / "o.pkl").is_file()
    assert materialize(mod, root=files.root).materialized == []


def test_lazy_frame_return_is_streamed_to_parquet(files):
    """An asset returning a LazyFrame is sunk to Parquet and loads back."""
    mod = files.module("lazy.py", """
        import polars as pl
        from assetry import asset

        @asset
        def lazy() -> pl.LazyFrame:
            return pl.LazyFrame({"a": [1, 2, 3]}).filter(pl.col("a") > 1)
    """)
    result = materialize(mod, root=files.root)
    assert result.load("lazy")["a"].to_list() == [2, 3]
    assert result.record("lazy").rows == 2
