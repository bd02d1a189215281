"""Frames: one place recognises a polars, lazy, Arrow or pandas frame, and converts it."""

from __future__ import annotations

import pathlib

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from assetry import checks
from assetry._frames import FRAME_KINDS, frame_kind, polars_frame
from assetry.errors import AssetGraphError, AssetTypeError
from assetry.io_managers import (
    CSV,
    JSON,
    SHORT_NAMES,
    Directory,
    Parquet,
    Pickle,
    default_for_value,
    resolve,
)

FRAME = pl.DataFrame({"a": [1, 2], "b": ["x", None]})

KINDS = {
    "polars": FRAME,
    "lazy": FRAME.lazy(),
    "arrow": FRAME.to_arrow(),
    "pandas": FRAME.to_pandas(),
}


@pytest.mark.parametrize("kind", FRAME_KINDS, ids=str)
def test_every_kind_of_frame_is_recognised_and_converted(kind):
    """Each kind is named by frame_kind; polars_frame gives the same rows as polars."""
    value = KINDS[kind]
    assert frame_kind(value) == kind
    frame = polars_frame(value)
    if kind == "lazy":
        assert frame is value  # not collected
        frame = frame.collect()
    assert_frame_equal(frame, FRAME)


@pytest.mark.parametrize("value", [None, {"a": [1]}, [1], "DataFrame", pa.array([1]),
                                   pathlib.Path("x.parquet")], ids=repr)
def test_other_values_are_no_frames(value):
    """Anything else is neither recognised nor converted."""
    assert frame_kind(value) is None
    assert polars_frame(value) is None


class MyFrame(pl.DataFrame):
    pass


def test_a_polars_subclass_is_a_frame_to_convert_but_not_a_default_kind():
    """As before: checks and file writers take a subclass; the IO default goes by module."""
    value = MyFrame({"a": [1]})
    assert polars_frame(value) is value
    assert frame_kind(value) is None


@pytest.mark.parametrize(
    ("value", "manager"),
    [(FRAME, Parquet()), (FRAME.lazy(), Parquet()), (FRAME.to_arrow(), Parquet()),
     (FRAME.to_pandas(), Parquet()), ({"x": FRAME, "y": FRAME.lazy()}, Directory()),
     ({"x": FRAME.to_arrow()}, Pickle()), ({"x": [1]}, JSON()), (object(), Pickle())],
    ids=["polars", "lazy", "arrow", "pandas", "dict-of-polars", "dict-of-arrow", "plain", "other"],
)
def test_the_default_manager_of_a_value(value, manager):
    """Frames go to Parquet, a dict of polars frames to a Directory, plain values to JSON."""
    assert default_for_value(value) == manager


@pytest.mark.parametrize("kind", FRAME_KINDS, ids=str)
def test_checks_take_every_kind_of_frame(kind):
    """A built-in check runs on each kind of frame alike."""
    [outcome] = checks.run_checks("t", KINDS[kind], [checks.not_null("b")])
    assert (outcome.passed, outcome.detail) == (False, "b has 1 null")


def test_checks_of_frames_refuse_other_values():
    """A frame check on a list fails with the value's type named."""
    [outcome] = checks.run_checks("t", [1], [checks.unique("a")])
    assert outcome.detail == (
        "raised TypeError: checks of frames need a polars or Arrow frame, but the value is list"
    )


@pytest.mark.parametrize("kind", ["arrow", "pandas"], ids=str)
def test_file_managers_store_arrow_and_pandas(tmp_path, kind):
    """CSV converts Arrow and pandas frames through polars."""
    location = str(tmp_path / "t.csv")
    CSV().save(KINDS[kind], location)
    assert_frame_equal(CSV().load(location), FRAME)


def test_file_managers_refuse_other_values(tmp_path):
    """A value that is no frame is an AssetTypeError naming the manager and the type."""
    with pytest.raises(AssetTypeError, match="CSV stores data frames, but the value is dict"):
        CSV().save({"a": 1}, str(tmp_path / "t.csv"))


def test_short_names_are_one_constant():
    """SHORT_NAMES is what resolve accepts and what its error lists."""
    assert SHORT_NAMES == ("parquet", "csv", "json", "pickle", "directory")
    assert [type(resolve(n.upper())) for n in SHORT_NAMES] == [
        Parquet, CSV, JSON, Pickle, Directory]
    with pytest.raises(
        AssetGraphError, match=r"one of \['csv', 'directory', 'json', 'parquet', 'pickle'\]"
    ):
        resolve("xlsx", "t")
