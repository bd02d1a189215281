"""Config typed by its annotation, and reasons that name the config value that changed.

Values from ``config=``, ``-c``, assetry.yaml and ``${ENV}`` reach the asset as
its parameter's annotation says, or the run is refused before anything runs
with an error naming the asset, the parameter, the value and the type.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import pathlib
import subprocess
import sys
import textwrap
import typing

import pytest

from assetry import AssetGraphError, Catalog, asset, materialize
from assetry.engine.config import ConfigTypeError, convert, describe


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


# id -> (value, annotation, expected)
CONVERTED: dict[str, tuple[typing.Any, typing.Any, typing.Any]] = {
    "int from text": ("5", int, 5),
    "int from a whole float": (5.0, int, 5),
    "int stays": (7, int, 7),
    "float from int": (1, float, 1.0),
    "float from text": ("2.5", float, 2.5),
    "bool from yes": ("yes", bool, True),
    "bool from false": ("False", bool, False),
    "bool from 0": (0, bool, False),
    "str from number": (2013, str, "2013"),
    "str from date": (dt.date(2013, 1, 1), str, "2013-01-01"),
    "date from text": ("2013-01-02", dt.date, dt.date(2013, 1, 2)),
    "date from midnight": (dt.datetime(2013, 1, 2), dt.date, dt.date(2013, 1, 2)),
    "datetime from text": ("2013-01-02T03:04:05", dt.datetime, dt.datetime(2013, 1, 2, 3, 4, 5)),
    "datetime from date": (dt.date(2013, 1, 2), dt.datetime, dt.datetime(2013, 1, 2)),
    "path from text": ("out/x.csv", pathlib.Path, pathlib.Path("out/x.csv")),
    "literal": ("b", typing.Literal["a", "b"], "b"),
    "literal number from text": ("2", typing.Literal[1, 2], 2),
    "enum by name": ("RED", Color, Color.RED),
    "enum by value": ("blue", Color, Color.BLUE),
    "enum by qualified name": ("Color.BLUE", Color, Color.BLUE),
    "int enum from text": ("2", Level, Level.HIGH),
    "optional none": (None, int | None, None),
    "optional null text": ("null", int | None, None),
    "optional value": ("3", int | None, 3),
    "typing optional": ("1.5", typing.Optional[float], 1.5),  # noqa: UP045 - the old spelling too
    "union keeps a member's type": ("5", int | str, "5"),
    "annotated": ("4", typing.Annotated[int, "rows"], 4),
    "unknown annotation": ({"a": 1}, dict[str, int], {"a": 1}),
    "no annotation": ("x", typing.Any, "x"),
}


@pytest.mark.parametrize(("value", "annotation", "expected"), list(CONVERTED.values()),
                         ids=list(CONVERTED))
def test_convert(value, annotation, expected):
    """A value becomes the annotation's type (and exactly that type)."""
    got = convert(value, annotation)
    assert got == expected and type(got) is type(expected)


REFUSED: dict[str, tuple[typing.Any, typing.Any]] = {
    "int from words": ("ten", int),
    "int from a fraction": (1.5, int),
    "int from bool": (True, int),
    "float from words": ("x", float),
    "bool from 2": (2, bool),
    "bool from words": ("maybe", bool),
    "date from junk": ("2013-13-01", dt.date),
    "date from a time of day": (dt.datetime(2013, 1, 1, 12), dt.date),
    "literal outside": ("c", typing.Literal["a", "b"]),
    "enum unknown": ("GREEN", Color),
    "str from list": ([1], str),
    "optional junk": ("x", int | None),
}


@pytest.mark.parametrize(("value", "annotation"), list(REFUSED.values()), ids=list(REFUSED))
def test_convert_refuses(value, annotation):
    """A value the annotation cannot take raises ConfigTypeError."""
    with pytest.raises(ConfigTypeError):
        convert(value, annotation)


def test_describe_names_types_as_written():
    """The expected type reads as the annotation was written."""
    assert describe(int | None) == "int | None"
    assert describe(typing.Literal["a", "b"]) == "'a' | 'b'"
    assert describe(pathlib.Path) == "pathlib.Path"
    assert describe(Color).endswith("test_config_types.Color")


PIPELINE = '''
import datetime, enum, pathlib, typing
import polars as pl
from assetry import asset

class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"

@asset
def shifted(offset: int = 0, scale: float = 1.0, on: bool = False,
            day: datetime.date = datetime.date(2013, 1, 1), out: pathlib.Path = pathlib.Path("x"),
            mode: Mode = Mode.FAST, kind: typing.Literal["a", "b"] = "a",
            limit: int | None = None) -> dict:
    return {{"offset": [type(offset).__name__, offset], "scale": [type(scale).__name__, scale],
            "on": on, "day": day.isoformat(), "out": [type(out).__name__, str(out)],
            "mode": mode.value, "kind": kind, "limit": limit}}

@asset
def flights() -> pl.DataFrame:
    return pl.DataFrame({{"n": list(range(200))}})

@asset
def delays(flights: pl.DataFrame, min_flights: int = {min_flights}, title: str = "{title}",
           weights: tuple = {weights}) -> dict:
    return {{"kept": flights.filter(pl.col("n") >= min_flights).height, "title": title}}
'''


def _pipeline(files, min_flights=100, title="Delays", weights="tuple(range(100))"):
    return files.module("pipe.py", PIPELINE.format(min_flights=min_flights, title=title,
                                                   weights=weights))


def test_config_values_reach_the_asset_as_annotated(files):
    """Strings (as ${ENV} gives them) become int, float, bool, date, Path, Enum, Literal, None."""
    module = _pipeline(files)
    config = {"shifted": {"offset": "5", "scale": 2, "on": "yes", "day": "2013-02-03",
                          "out": "reports/a.csv", "mode": "SLOW", "kind": "b", "limit": "null"}}
    result = materialize(module, root=files.root, config=config, select="shifted")
    assert result.load("shifted") == {
        "offset": ["int", 5], "scale": ["float", 2.0], "on": True, "day": "2013-02-03",
        "out": ["PosixPath" if os.name != "nt" else "WindowsPath", "reports/a.csv"],
        "mode": "slow", "kind": "b", "limit": None,
    }


def test_a_value_of_the_wrong_type_is_refused_before_the_run(files):
    """Every bad value is one line naming asset, parameter, value and type; nothing runs."""
    module = _pipeline(files)
    config = {"shifted": {"offset": "ten", "kind": "c", "mode": "medium"},
              "delays": {"min_flights": "many"}}
    with pytest.raises(AssetGraphError) as caught:
        materialize(module, root=files.root, config=config)
    lines = str(caught.value).splitlines()
    assert "asset 'shifted' has config parameter 'offset' of type int, but got 'ten'; give a " \
           "value of type int" in lines
    assert any("'kind' of type 'a' | 'b', but got 'c'" in line for line in lines)
    assert any("'mode' of type" in line and "(one of FAST, SLOW)" in line for line in lines)
    assert any("asset 'delays' has config parameter 'min_flights' of type int, but got 'many'"
               in line for line in lines)
    assert len(lines) == 4
    assert not files.catalog.exists()  # refused before the run: no catalog, no product


def test_status_refuses_a_bad_value_too(files):
    """Catalog.status converts config the same way, and refuses the same values."""
    module = _pipeline(files)
    materialize(module, root=files.root)
    with pytest.raises(AssetGraphError, match="'offset' of type int, but got 'x'"):
        Catalog(files.catalog).status(module, config={"shifted": {"offset": "x"}})


def test_int_and_float_for_a_float_parameter_are_the_same_config(files):
    """`1` and `1.0` for a float parameter: the same fingerprint, no `config changed`."""
    module = _pipeline(files)
    materialize(module, root=files.root, config={"shifted": {"scale": 1}})
    again = materialize(module, root=files.root, config={"shifted": {"scale": 1.0}})
    assert again.reasons["shifted"] == "up to date"
    assert materialize(module, root=files.root).reasons["shifted"] == "up to date"  # default 1.0
    text = materialize(module, root=files.root, config={"shifted": {"scale": "1"}})
    assert text.reasons["shifted"] == "up to date"


def test_a_default_its_annotation_cannot_take_is_left_alone(files):
    """`limit: int = None`-style defaults are the user's code: not converted, not refused."""

    @asset
    def loose(limit: int = None, ratio: float = 2) -> dict:  # type: ignore[assignment]  # noqa: RUF013
        return {"limit": limit, "ratio": [type(ratio).__name__, ratio]}

    result = materialize([loose], root=files.root, executor="sync")
    assert result.load("loose") == {"limit": None, "ratio": ["float", 2.0]}


def test_config_changed_names_the_parameter_and_both_values(files):
    """`config changed: min_flights 100 -> 10`, in status before the run and in the run."""
    materialize(_pipeline(files), root=files.root)
    config = {"delays": {"min_flights": 10}}
    module = _pipeline(files)
    status = Catalog(files.catalog).status(module, config=config)
    reasons = dict(zip(status["asset"], status["reason"], strict=True))
    assert reasons["delays"] == "config changed: min_flights 100 -> 10"
    result = materialize(module, root=files.root, config=config)
    assert result.reasons["delays"] == "config changed: min_flights 100 -> 10"


def test_config_changed_names_several_parameters_and_big_values_by_name(files):
    """Two values changed: both named; a value too big to show is named without its values."""
    materialize(_pipeline(files), root=files.root)
    config = {"delays": {"title": "Late", "weights": tuple(range(99)) + (-1,)}}
    result = materialize(_pipeline(files), root=files.root, config=config)
    assert result.reasons["delays"] == "config changed: title 'Delays' -> 'Late', weights"


def test_a_default_edited_in_code_is_code_and_config_alike(files):
    """Editing a default in the source is a code change first (the precedence is unchanged)."""
    materialize(_pipeline(files), root=files.root)
    result = materialize(_pipeline(files, min_flights=10), root=files.root)
    assert result.reasons["delays"] == "code changed: delays (pipe.py)"


def test_io_settings_changed_names_the_manager(files):
    """A changed IO manager setting says which manager, before and after."""
    source = '''
    import polars as pl
    from assetry import asset
    from assetry.io_managers import Parquet

    @asset(io=Parquet(compression="{codec}"))
    def table() -> pl.DataFrame:
        return pl.DataFrame({{"a": [1]}})
    '''
    materialize(files.module("io.py", textwrap.dedent(source).format(codec="zstd")), root=files.root)
    module = files.module("io.py", textwrap.dedent(source).format(codec="snappy"))
    reason = materialize(module, root=files.root).reasons["table"]
    assert reason == "config changed: io Parquet(compression='zstd') -> Parquet(compression='snappy')"


# -- the command line ------------------------------------------------------------------------

CLI_PIPELINE = '''
from assetry import asset

@asset
def shifted(offset: int = 0, scale: float = 1.0) -> dict:
    return {"offset": [type(offset).__name__, offset], "scale": [type(scale).__name__, scale]}
'''


def _cli(tmp_path: pathlib.Path, *args: str, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assetry", *args], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})}, check=False, timeout=120,
    )


def test_cli_config_reaches_an_int_parameter_as_an_int(tmp_path):
    """`-c shifted.offset=5` reaches `offset: int` as 5; `-c shifted.scale=1` is a float."""
    (tmp_path / "pipeline.py").write_text(CLI_PIPELINE)
    done = _cli(tmp_path, "materialize", "pipeline.py", "-c", "shifted.offset=5",
                "-c", "shifted.scale=1")
    assert done.returncode == 0, done.stderr
    stored = Catalog(tmp_path / "data" / "catalog.duckdb").load("shifted")
    assert stored == {"offset": ["int", 5], "scale": ["float", 1.0]}
    again = _cli(tmp_path, "materialize", "pipeline.py", "-c", "shifted.offset=5",
                 "-c", "shifted.scale=1.0")
    assert again.returncode == 0 and "skipped shifted (up to date)" in again.stderr


def test_cli_env_variable_in_the_spec_reaches_an_int_parameter(tmp_path):
    """`${OFFSET}` from assetry.yaml (a string) reaches `offset: int` as 5."""
    (tmp_path / "pipeline.py").write_text(CLI_PIPELINE)
    (tmp_path / "assetry.yaml").write_text(
        "assets: [pipeline.py]\nconfig:\n  shifted:\n    offset: ${OFFSET}\n    scale: ${SCALE:-2}\n")
    done = _cli(tmp_path, "materialize", "assetry.yaml", env={"OFFSET": "5"})
    assert done.returncode == 0, done.stderr
    stored = Catalog(tmp_path / "data" / "catalog.duckdb").load("shifted")
    assert stored == {"offset": ["int", 5], "scale": ["float", 2.0]}


def test_cli_refuses_a_bad_value_before_the_run(tmp_path):
    """A value its annotation cannot take: exit 2, one line naming it, nothing stored."""
    (tmp_path / "pipeline.py").write_text(CLI_PIPELINE)
    (tmp_path / "assetry.yaml").write_text(
        "assets: [pipeline.py]\nconfig:\n  shifted:\n    offset: ${OFFSET}\n")
    done = _cli(tmp_path, "materialize", "assetry.yaml", env={"OFFSET": "five"})
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "assetry: error: asset 'shifted' has config parameter 'offset' of type int, but got "
        "'five'; give a value of type int")
    assert not (tmp_path / "data" / "catalog.duckdb").exists()


def test_cli_status_names_the_changed_value(tmp_path):
    """`assetry status -c` gives the run's words: `config changed: offset 0 -> 3`."""
    (tmp_path / "pipeline.py").write_text(CLI_PIPELINE)
    assert _cli(tmp_path, "materialize", "pipeline.py").returncode == 0
    status = _cli(tmp_path, "status", "pipeline.py", "-c", "shifted.offset=3")
    assert status.returncode == 0, status.stderr
    assert "config changed: offset 0 -> 3" in status.stdout


# -- the planner's words, from records alone --------------------------------------------------


class _Explained:
    """An intent's explanation as plain values (what RunContext computes from the code walk)."""

    def __init__(self, definitions: dict[str, str], config: dict[str, tuple[str, str]],
                 io: str = "") -> None:
        self._definitions, self._config, self.io = definitions, config, io

    def definitions(self) -> dict[str, str]:
        return self._definitions

    def config(self) -> dict[str, tuple[str, str]]:
        return self._config


def _recorded(definitions, config, io=None):
    import json

    from assetry.engine.planner import Record

    text = None if definitions is None else json.dumps(
        {**definitions, **({"@config": {k: list(v) for k, v in config.items()}} if config else {})})
    return Record("whole", "code", "config", "io", {}, "data", None, None, text, io)


DEFS = {"delays (pipe.py)": "1", "mean_delay (flights/helpers.py)": "2"}
CONF = {"min_flights": ("d100", "100"), "title": ("dT", "'Delays'")}
# id -> (intent parts changed, explanation, record, reason)
REASONS = {
    "a helper changed": (
        {"code": "new"}, _Explained({**DEFS, "mean_delay (flights/helpers.py)": "3"}, CONF),
        _recorded(DEFS, CONF), "code changed: mean_delay (flights/helpers.py)"),
    "more than three definitions changed": (
        {"code": "new"}, _Explained({f"f{i} (p.py)": "x" for i in range(5)}, CONF),
        _recorded({f"f{i} (p.py)": "y" for i in range(5)}, CONF),
        "code changed: f0 (p.py), f1 (p.py), f2 (p.py) and 2 more"),
    "a record without definitions": (
        {"code": "new"}, _Explained(DEFS, CONF), _recorded(None, None), "code changed"),
    "a config value changed": (
        {"config": "new"}, _Explained(DEFS, {**CONF, "min_flights": ("d10", "10")}),
        _recorded(DEFS, CONF), "config changed: min_flights 100 -> 10"),
    "a config parameter added": (
        {"config": "new"}, _Explained(DEFS, {**CONF, "limit": ("dN", "None")}),
        _recorded(DEFS, CONF), "config changed: limit added"),
    "a record without config values": (
        {"config": "new"}, _Explained(DEFS, CONF), _recorded(DEFS, None), "config changed"),
    "the IO manager changed": (
        {"io": "new"}, _Explained(DEFS, CONF, io="CSV(separator=';')"),
        _recorded(DEFS, CONF, io="CSV(separator=',')"),
        "config changed: io CSV(separator=',') -> CSV(separator=';')"),
}


@pytest.mark.parametrize(("changed", "explained", "record", "reason"), list(REASONS.values()),
                         ids=list(REASONS))
def test_the_planner_names_what_changed(changed, explained, record, reason):
    """The reason's detail comes from comparing the intent's explanation with the record."""
    from assetry.engine.planner import Intent, UpstreamState, plan_step
    from assetry.io_managers.base import Observation

    parts = {"code": "code", "config": "config", "io": "io", **changed}

    class Facts:
        def intent(self, name, upstream):
            return Intent(parts["code"], parts["config"], parts["io"], {}, "other", explained)

        def record(self, name, partition=None):
            return record

        def observe(self, name, partition=None):
            return Observation("data")

    assert plan_step(("delays", None), UpstreamState({}), Facts()).reason == reason


def test_a_sql_assets_config_is_passed_as_given_and_named_when_changed(tmp_path):
    """A SQL asset's parameters are annotated Location by assetry: its config is not a path."""
    import polars as pl

    from assetry import sql_asset
    from assetry.clients import DuckDBClient

    warehouse = DuckDBClient(str(tmp_path / "w.duckdb"))

    @asset
    def nums() -> pl.DataFrame:
        return pl.DataFrame({"n": [1, 2, 3]})

    @sql_asset(client=warehouse)
    def big(nums, min_n: int = 1):
        return f"SELECT * FROM {{nums}} WHERE n >= {min_n}"

    root = tmp_path / "data"
    first = materialize([nums, big], root=root, config={"big": {"min_n": 2}}, executor="sync")
    assert first.load("big", pl.DataFrame)["n"].to_list() == [2, 3]
    again = materialize([nums, big], root=root, config={"big": {"min_n": 3}}, executor="sync")
    assert again.reasons["big"] == "config changed: min_n 2 -> 3"
