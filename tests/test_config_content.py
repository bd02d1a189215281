"""Config values encoded by content: arrays and frames, never a truncated repr (issue 10, case 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from assetry import materialize
from assetry.fingerprints import EncodingError

PIPELINE = '''
import numpy as np
import pandas as pd
import polars as pl
from assetry import asset

ARRAY = np.arange(10_000, dtype=np.float64)
FRAME = pl.DataFrame({"n": range(1_000), "s": [f"row {i}" for i in range(1_000)]})
PANDAS = pd.DataFrame({"n": range(1_000)})


@asset
def summed(values=ARRAY) -> dict:
    return {"sum": float(values.sum())}


@asset
def joined(lookup=FRAME) -> dict:
    return {"rows": lookup.height, "last": lookup["s"][-1]}


@asset
def from_pandas(table=PANDAS) -> dict:
    return {"sum": int(table["n"].sum())}
'''


def _one_changed(values: np.ndarray) -> np.ndarray:
    changed = values.copy()
    changed[5_000] += 0.5  # the middle, which a repr elides
    return changed


def test_one_changed_element_of_a_10000_element_array_is_a_config_change(files):
    """A numpy array as config: one element changed in its middle reruns the asset."""
    module = files.module("pipe.py", PIPELINE)
    materialize(module, root=files.root)
    result = materialize(module, root=files.root,
                         config={"summed": {"values": _one_changed(module.ARRAY)}})
    assert result.materialized == ["summed"]
    assert result.reasons["summed"].startswith("config changed")


def test_one_changed_cell_of_a_1000_row_frame_is_a_config_change(files):
    """A polars frame as config: one cell changed in row 500 reruns the asset."""
    module = files.module("pipe.py", PIPELINE)
    materialize(module, root=files.root)
    frame = module.FRAME.with_columns(
        s=pl.when(pl.col("n") == 500).then(pl.lit("edited")).otherwise(pl.col("s")))
    result = materialize(module, root=files.root, config={"joined": {"lookup": frame}})
    assert result.materialized == ["joined"]
    assert result.reasons["joined"].startswith("config changed")


def test_one_changed_cell_of_a_pandas_frame_is_a_config_change(files):
    """A pandas frame as config is encoded by content too."""
    module = files.module("pipe.py", PIPELINE)
    materialize(module, root=files.root)
    table = module.PANDAS.copy()
    table.loc[500, "n"] = -1
    result = materialize(module, root=files.root, config={"from_pandas": {"table": table}})
    assert result.materialized == ["from_pandas"]


def test_equal_data_built_anew_in_a_fresh_process_is_up_to_date(files):
    """The same arrays and frames, built again by a fresh import, keep every asset fresh."""
    materialize(files.module("pipe.py", PIPELINE), root=files.root)
    again = materialize(files.load("pipe.py"), root=files.root)
    assert again.materialized == []
    same = pl.concat([files.load("pipe.py").FRAME.head(400), files.load("pipe.py").FRAME.tail(600)],
                     rechunk=False)
    assert materialize(files.load("pipe.py"), root=files.root,
                       config={"joined": {"lookup": same}}).materialized == []


UNKNOWN = '''
from assetry import asset


class Window:
    def __init__(self, days):
        self.days = days


@asset
def rolling(window=Window(7)) -> dict:
    return {"days": window.days}
'''


def test_a_config_value_that_cannot_be_encoded_is_refused_naming_the_parameter(files):
    """No repr guess: the run is refused, naming the parameter, the type and the way out."""
    module = files.module("unknown.py", UNKNOWN)
    with pytest.raises(EncodingError, match=r"(?i)config parameter 'window' holding a value of "
                       r"type '.*Window', which cannot be fingerprinted exactly; register"):
        materialize(module, root=files.root)


def test_a_lazy_frame_as_config_is_refused(files):
    """A LazyFrame is a query, not a value: collect it first."""
    module = files.module("pipe.py", PIPELINE)
    with pytest.raises(EncodingError, match="is a query, not a value"):
        materialize(module, root=files.root, config={"joined": {"lookup": pl.LazyFrame({"a": [1]})}})


def test_registering_the_type_makes_it_a_config_value(files):
    """A registered type is encoded by what its function returns."""
    module = files.module("unknown.py", UNKNOWN + '''

import assetry.fingerprints
assetry.fingerprints.register(Window, lambda w: w.days)
''')
    materialize(module, root=files.root)
    result = materialize(module, root=files.root, config={"rolling": {"window": module.Window(8)}})
    assert result.reasons["rolling"].startswith("config changed")
    fresh = files.load("unknown.py")  # a new class object, the same registration
    again = materialize(fresh, root=files.root, config={"rolling": {"window": fresh.Window(8)}})
    assert again.materialized == []


def test_pandas_and_numpy_values_are_not_mistaken_for_each_other():
    """The same numbers as an array, a pandas Series and a polars Series are different config."""
    values = [1, 2, 3]
    from assetry.fingerprints import config_fingerprint

    prints = {config_fingerprint({"v": v}) for v in
              (np.array(values), pd.Series(values), pl.Series(values), values)}
    assert len(prints) == 4
