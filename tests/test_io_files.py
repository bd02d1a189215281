"""The contract suite for file IO managers: round trip, overwrite, missing, atomicity."""

from __future__ import annotations

import pathlib

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assetry import AssetTypeError, StorageError
from assetry.io_managers import CSV, JSON, Directory, Parquet, Pickle, resolve
from assetry.io_managers.base import TEMP_MARKER

FRAME = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})

CASES = [
    (Parquet(), FRAME, pl.DataFrame({"a": [4], "b": ["z"]})),
    (CSV(), FRAME, pl.DataFrame({"a": [4], "b": ["z"]})),
    (JSON(), {"k": [1, 2], "s": "x"}, {"k": []}),
    (Pickle(), {1, 2, 3}, {4}),
    (Directory(), {"AA": FRAME, "UA": FRAME.head(1)}, {"DL": FRAME}),
]
IDS = ["parquet", "csv", "json", "pickle", "directory"]


def _same(a, b):
    if isinstance(a, pl.DataFrame):
        assert_frame_equal(a, b)
    elif isinstance(a, dict) and a and isinstance(next(iter(a.values())), pl.DataFrame):
        assert a.keys() == b.keys()
        for k in a:
            assert_frame_equal(a[k], b[k])
    else:
        assert a == b


@pytest.mark.parametrize(("io", "value", "other"), CASES, ids=IDS)
def test_round_trip(tmp_path, io, value, other):
    """What is saved loads back equal, and observe() fingerprints it."""
    loc = io.default_location(tmp_path, "thing")
    stored = io.save(value, loc)
    assert stored.location == loc
    _same(io.load(loc), value)
    assert io.observe(loc) is not None


@pytest.mark.parametrize(("io", "value", "other"), CASES, ids=IDS)
def test_overwrite_changes_fingerprint(tmp_path, io, value, other):
    """Saving another value replaces the product and changes its data fingerprint."""
    loc = io.default_location(tmp_path, "thing")
    io.save(value, loc)
    first = io.observe(loc)
    io.save(other, loc)
    _same(io.load(loc), other)
    assert io.observe(loc, first).data_fingerprint != first.data_fingerprint


@pytest.mark.parametrize(("io", "value", "other"), CASES, ids=IDS)
def test_same_value_same_fingerprint(tmp_path, io, value, other):
    """Saving an identical value again gives an identical data fingerprint (early cutoff)."""
    loc = io.default_location(tmp_path, "thing")
    io.save(value, loc)
    first = io.observe(loc)
    io.save(value, loc)
    assert io.observe(loc, first).data_fingerprint == first.data_fingerprint


@pytest.mark.parametrize(("io", "value", "other"), CASES, ids=IDS)
def test_missing_product_observes_none(tmp_path, io, value, other):
    """A product that does not exist observes as None."""
    assert io.observe(io.default_location(tmp_path, "never")) is None


@pytest.mark.parametrize(("io", "value", "other"), CASES, ids=IDS)
def test_failed_write_leaves_old_product_and_no_temp(tmp_path, io, value, other):
    """A write that fails midway leaves the previous product intact and no temp file."""
    loc = io.default_location(tmp_path, "thing")
    io.save(value, loc)

    class Unstorable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    bad = {"AA": pl.LazyFrame({"a": [1]}).map_batches(_explode)} if isinstance(io, Directory) else (
        pl.LazyFrame({"a": [1]}).map_batches(_explode) if isinstance(io, (Parquet, CSV)) else
        {"k": Unstorable()} if isinstance(io, Pickle) else {"k": object()}
    )
    with pytest.raises(Exception, match="disk full|JSON-serializable"):
        io.save(bad, loc)
    _same(io.load(loc), value)
    assert not [p for p in pathlib.Path(tmp_path).rglob(f"*{TEMP_MARKER}*")]


def _explode(df):
    raise RuntimeError("disk full")


def test_parquet_loads_by_annotation(tmp_path):
    """Parquet loads a DataFrame, a lazy scan, an Arrow table or the path by annotation."""
    import pyarrow as pa

    io = Parquet()
    loc = io.default_location(tmp_path, "t")
    io.save(FRAME, loc)
    assert isinstance(io.load(loc, pl.DataFrame), pl.DataFrame)
    lazy = io.load(loc, pl.LazyFrame)
    assert isinstance(lazy, pl.LazyFrame)
    assert "Parquet SCAN" in lazy.explain() or "SCAN" in lazy.explain()
    assert isinstance(io.load(loc, pa.Table), pa.Table)
    assert io.load(loc, pathlib.Path) == pathlib.Path(loc)


def test_directory_loads_lazy_dict(tmp_path):
    """A Directory loads as dict[str, LazyFrame] when asked."""
    io = Directory()
    loc = io.default_location(tmp_path, "parts")
    io.save({"a": FRAME, "b": FRAME}, loc)
    out = io.load(loc, dict[str, pl.LazyFrame])
    assert sorted(out) == ["a", "b"] and all(isinstance(v, pl.LazyFrame) for v in out.values())


def test_directory_rejects_unsafe_keys(tmp_path):
    """Directory keys become file names, so '../x' is refused."""
    with pytest.raises(AssetTypeError, match="not a safe file name"):
        Directory().save({"../escape": FRAME}, str(tmp_path / "d"))


def test_file_where_directory_is_expected(tmp_path):
    """A product path that is a directory where a file is expected is a StorageError."""
    loc = Parquet().default_location(tmp_path, "t")
    pathlib.Path(loc).mkdir(parents=True)
    with pytest.raises(StorageError, match="is a directory where a file is expected"):
        Parquet().save(FRAME, loc)


def test_short_names_resolve():
    """io='csv' and friends resolve to instances; an unknown name is an error."""
    from assetry import AssetGraphError

    assert resolve("parquet") == Parquet()
    with pytest.raises(AssetGraphError, match="io='xlsx'"):
        resolve("xlsx", "t")
