"""Canonical encoding: pinned bytes for every kind of value, and types a user registers.

The digests below were computed with the encoding as it stood before it moved to
``functools.singledispatch``; any change to them changes every fingerprint in
every catalog, so a failure here means a refactor was not byte-identical.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import json
import pathlib
import re
import sys
import zoneinfo
from typing import Any, NamedTuple

import attrs
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from assetry import fingerprints
from assetry.fingerprints import (
    EncodingError,
    asset_fingerprint,
    code_dependencies,
    code_fingerprint,
    config_fingerprint,
    encode,
    hash_bytes,
    hash_fields,
    io_fingerprint,
)


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Level(enum.IntEnum):
    LOW = 1


class Mode(enum.StrEnum):
    FAST = "fast"


class Shade(str, enum.Enum):
    DARK = "dark"


class Perm(enum.Flag):
    READ = 1
    WRITE = 2


class Bits(enum.IntFlag):
    ONE = 1


@attrs.frozen
class Settings:
    compression: str = "zstd"
    level: int = 3


@attrs.frozen
class Nested:
    inner: Settings = Settings()
    items: tuple[int, ...] = (1, 2)


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Box:
    corner: Point
    tags: list[str]


class Pair(NamedTuple):
    a: int
    b: str


class Text(str):
    pass


class Count(int):
    pass


class Table(dict):  # type: ignore[type-arg]
    pass


class Items(list):  # type: ignore[type-arg]
    pass


class Moment(datetime.datetime):
    pass


class Shown:
    """A type whose repr shows its settings: once encoded by that repr, now refused."""

    def __repr__(self) -> str:
        return "Shown(level=2)"


NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
PLUS_TWO = datetime.timezone(datetime.timedelta(hours=2))

VALUES: dict[str, Any] = {
    "none": None,
    "true": True,
    "false": False,
    "int_zero": 0,
    "int_small": 7,
    "int_minus_one": -1,
    "int_255": 255,
    "int_256": 256,
    "int_big": 2**80,
    "int_big_negative": -(2**80),
    "float": 1.5,
    "float_whole": 1.0,
    "float_zero": 0.0,
    "float_negative_zero": -0.0,
    "float_nan": float("nan"),
    "float_inf": float("inf"),
    "float_negative_inf": float("-inf"),
    "complex": 2j,
    "complex_negative_zero": complex(1, -0.0),
    "str_empty": "",
    "str": "text",
    "str_unicode": "ünï😀",
    "str_surrogate": "\udcff",
    "bytes_empty": b"",
    "bytes": b"bytes",
    "bytearray": bytearray(b"ba"),
    "memoryview": memoryview(b"mv"),
    "tuple_empty": (),
    "tuple": (1, "a"),
    "tuple_nested": ((1, (2,)), [3]),
    "namedtuple": Pair(1, "x"),
    "list_empty": [],
    "list": [1, "a"],
    "list_nested": [[1], [2, [3]]],
    "dict_empty": {},
    "dict": {"k": [1, 2]},
    "dict_mixed_keys": {1: "a", "1": "b", (1,): None},
    "ordered_dict": collections.OrderedDict([("b", 1), ("a", 2)]),
    "defaultdict": collections.defaultdict(int, {"a": 1}),
    "counter": collections.Counter("abca"),
    "set_empty": set(),
    "set": {3, 1, 2},
    "frozenset_empty": frozenset(),
    "frozenset": frozenset({"a"}),
    "date": datetime.date(2024, 1, 2),
    "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
    "datetime_utc": datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.UTC),
    "datetime_offset": datetime.datetime(2024, 1, 2, 3, 4, tzinfo=PLUS_TWO),
    "datetime_zoneinfo": datetime.datetime(2024, 7, 1, 12, tzinfo=NEW_YORK),
    "datetime_fold": datetime.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK),
    "datetime_subclass": Moment(2024, 1, 2),
    "time": datetime.time(1, 2),
    "time_utc": datetime.time(1, 2, 3, tzinfo=datetime.UTC),
    "timedelta": datetime.timedelta(days=1, seconds=2),
    "timedelta_negative": datetime.timedelta(microseconds=-1),
    "decimal": decimal.Decimal("1.10"),
    "decimal_nan": decimal.Decimal("NaN"),
    "decimal_negative_zero": decimal.Decimal("-0"),
    "enum": Color.RED,
    "int_enum": Level.LOW,
    "str_enum": Mode.FAST,
    "str_mixin_enum": Shade.DARK,
    "flag": Perm.READ | Perm.WRITE,
    "int_flag": Bits.ONE,
    "attrs": Settings(),
    "attrs_nested": Nested(),
    "dataclass": Point(1, 2),
    "dataclass_nested": Box(Point(0, 0), ["a"]),
    "str_subclass": Text("t"),
    "int_subclass": Count(3),
    "dict_subclass": Table(a=1),
    "list_subclass": Items([1]),
    # Numpy arrays and scalars (but float64 and str_, a float and a str), polars, pandas and
    # Arrow data are encoded by content (issue 10); ranges, classes and functions by name.
    "numpy_array": np.array([1, 2, 3]),
    "numpy_array_2d": np.arange(6, dtype=np.float64).reshape(2, 3),
    "numpy_int": np.int64(3),
    "numpy_float": np.float64(1.5),
    "numpy_bool": np.bool_(True),
    "numpy_str": np.str_("a"),
    "polars_frame": pl.DataFrame({"a": [1, 2], "b": ["x", None]}),
    "polars_series": pl.Series("s", [1.5, None]),
    "polars_dtype_class": pl.Int64,
    "polars_dtype": pl.Int64(),
    "polars_list_dtype": pl.List(pl.String),
    "polars_datetime_dtype": pl.Datetime("us", "UTC"),
    "polars_schema": pl.Schema({"a": pl.Int64, "b": pl.String}),
    "pandas_timestamp": pd.Timestamp("2024-01-02 03:04:05"),
    "pure_posix_path": pathlib.PurePosixPath("a/b"),
    "posix_path": pathlib.PosixPath("/data/flights.parquet"),
    "windows_path": pathlib.PureWindowsPath(r"C:\data\x.csv"),
    "pattern": re.compile("a+", re.IGNORECASE),
    "bytes_pattern": re.compile(b"x"),
    "class": json.JSONDecoder,
    "range": range(3),
    "ellipsis": ...,
    "numpy_object_array": np.array([1, "a", None], dtype=object),
    "numpy_datetime_array": np.array(["2024-01-02", "NaT"], dtype="datetime64[D]"),
    "numpy_str_array": np.array(["ab", "c"]),
    "numpy_float32": np.float32(1.5),
    "numpy_dtype": np.dtype("int32"),
    "polars_nested_frame": pl.DataFrame({
        "l": [[1, 2], None], "s": [{"x": 1}, {"x": None}], "d": [datetime.date(2024, 1, 2), None],
    }),
    "pandas_frame": pd.DataFrame({"a": [1, 2], "b": ["x", None]}, index=pd.Index([10, 20], name="k")),
    "pandas_series": pd.Series([1.5, None], name="s"),
    "pandas_mixed_objects": pd.Series([1, "1", 2.5]),
    "arrow_table": pa.table({"a": [1, None], "b": ["x", "y"]}),
    "arrow_array": pa.array([1.5, None]),
    "function": json.dumps,
    "builtin_function": len,
    "config": {
        "min_flights": 100,
        "carriers": ["AA", "UA"],
        "since": datetime.date(2013, 1, 1),
        "ratio": 0.25,
        "output": pathlib.PurePosixPath("out/x.csv"),
        "color": Color.BLUE,
        "settings": Settings(level=9),
        "dtype": pl.Float64,
        "flags": frozenset({"x", "y"}),
        "limit": None,
        "exact": True,
    },
}

# hash_bytes(encode(value)), computed before the move to singledispatch; the values that were
# encoded by repr() (numpy arrays and scalars, polars frames and series) were re-pinned when
# issue 10 made them encode by content, and the values below "ellipsis" were added then.
DIGESTS = {
    "none": "c2651e49f0f2e8bd3447097fe07bf6f2",
    "true": "cf7609b84bdc52355c18a33b9d792fca",
    "false": "b5b7cc22aee8f50e13a05d7e8c87215a",
    "int_zero": "8e7ba4744620b77b6c623212875f97ee",
    "int_small": "2a4231ecc31b5255e4cd036bf430b701",
    "int_minus_one": "a1e91c5d6860d32b80e47451797bd70d",
    "int_255": "f63a382acc05ef99fd1ec9f1a6fd40cc",
    "int_256": "53f97ce1b9fae111e8d9b956373b5200",
    "int_big": "8d5197a0fae7ca49225f803c6176e13d",
    "int_big_negative": "d6d89d133413dbe919be30384cd7c055",
    "float": "e0bbd961dc9fc518361616d07a7e5a3c",
    "float_whole": "84889d007ed5075f27439691bb2095bc",
    "float_zero": "02922442f5adef0f61dd905664c603d4",
    "float_negative_zero": "9b19d36c3cc1c974be8ca5cfc9392392",
    "float_nan": "1821eb98606b235e79f8241b002993e3",
    "float_inf": "648b0df5b174f1323d96dbf70ada2e46",
    "float_negative_inf": "94b235fcab76a882cbb00183e5cbfc35",
    "complex": "68dbdcce4bb720bad31cb6696a34ddc0",
    "complex_negative_zero": "71a4d179cd9a8587cd6d70bc8bd4b46d",
    "str_empty": "85fefc6f12f345b396720846b631026c",
    "str": "7945311f1c9d05f4cc12a3e0f97e6bef",
    "str_unicode": "e6c547f9e21bae85e1ea0f33906f1c9f",
    "str_surrogate": "c1b2282d2cbe4f386effb0ad660bb33e",
    "bytes_empty": "bb64c098708eea2e9f0b5099c7a6c463",
    "bytes": "f5da5fd4c96cf36a9065795f8e62af1b",
    "bytearray": "d8af82678dc2477c1c55a2b4658196ea",
    "memoryview": "ae0cebc063f29df689d6c51be46f7baa",
    "tuple_empty": "724b87a172f0c55441896213672a7b83",
    "tuple": "539259a13c2a86543cee4c797c8aa3e3",
    "tuple_nested": "50ae29d5175aa282d718c5c3da293ab5",
    "namedtuple": "469bbc87fd4df8bdd8c611ef9e3ce8f4",
    "list_empty": "0aebbd979a3abcb9966f4dbc9ca4448a",
    "list": "e6f757c0a274b5d1887b1ba1ec9f6496",
    "list_nested": "75238f808675847dba49b9436721c7b8",
    "dict_empty": "edbf82919c75c16412f589a228c03542",
    "dict": "bda5800b034f641259d87019ddffa8d8",
    "dict_mixed_keys": "0b750c2c7109da106a99765c84b0c3c2",
    "ordered_dict": "411901cd97739a733fe35e1b7a697e31",
    "defaultdict": "486244f4df2350b7d7e88f615f22449c",
    "counter": "9c11f32dcb28a468f59e00ed7412d819",
    "set_empty": "f8844f55639fb9e2a5dc94d33646b4df",
    "set": "724116f01e942ad99a1620550a0f7736",
    "frozenset_empty": "f8844f55639fb9e2a5dc94d33646b4df",
    "frozenset": "23eade99025ea51f44f2b096fea5aa87",
    "date": "40f7efe9a54d2b111d99ae07664d0abf",
    "datetime": "56e2d0ce93e109452089ac8545d612ac",
    "datetime_utc": "e5fb134fa8767d6bb7c65bd2889916ef",
    "datetime_offset": "937908b02c2a03bb764b5c46126f7f3e",
    "datetime_zoneinfo": "5c04787dfcd0c062752c9a5c85ec5a3d",
    "datetime_fold": "6c16b4973229d82a54603f6a7c3980a3",
    "datetime_subclass": "07f0a84577bb1b050685816e4224e520",
    "time": "86b66b31d20b658f53aa8138e1e9d000",
    "time_utc": "a11f61bf3757105765f91e0208eb0bc1",
    "timedelta": "db3b40992ca3e85302db0449d8a49e85",
    "timedelta_negative": "9c8e210bcadb3fcff34e4eb43d9f113d",
    "decimal": "c5f485b5924672ee5f5b7351955a549e",
    "decimal_nan": "9bf80007eda91495a72c886494c56e06",
    "decimal_negative_zero": "5823854f45fe3be9d57b01405d913660",
    "enum": "e787795f8ec59476cf0bc8de7cf8e29c",
    "int_enum": "8eae0ddbe15b9a8b891ffc717924c0c2",
    "str_enum": "96aca7ad412ff8fcff6eabe28d3a22f9",
    "str_mixin_enum": "2f13b5d9b9f277975fffa2b3133a7de0",
    "flag": "5f38ce004bcf75557f00bd075e8f5b4b",
    "int_flag": "555e1fb622e93458857120ad3301805a",
    "attrs": "f3669944d5cd011a57833a2c30a72111",
    "attrs_nested": "d4cceaba35e5eb31d2e3973f8ea75999",
    "dataclass": "a13dade5ecb6364857c3595a90ee8a85",
    "dataclass_nested": "056d000b6251417d01a7492724705415",
    "str_subclass": "386f89f8ad9557e5489189e8fdf94ae0",
    "int_subclass": "5db944d863b26965d7fef68a21e40245",
    "dict_subclass": "486244f4df2350b7d7e88f615f22449c",
    "list_subclass": "af1d9a43842e4f63493d3c57897d916c",
    "numpy_array": "242e7220369243787e3a836bb890ebe6",
    "numpy_array_2d": "cc0023cb0e3234675c0ceacf46ccbf99",
    "numpy_int": "95c9a6f72991b5954bf2f4c9f85c64e7",
    "numpy_float": "e0bbd961dc9fc518361616d07a7e5a3c",
    "numpy_bool": "42a27a1211c081456af535d0be939b7e",
    "numpy_str": "c42f66e2ecd9419e86b6cbeb7a821846",
    "polars_frame": "6fdcdf0e47531997f7f40bdcabe11cbb",
    "polars_series": "2a38b0956f5d2cb4a0b8a840394cc14f",
    "polars_dtype_class": "e57b0beae35a57340ba9b279d852fc8c",
    "polars_dtype": "e57b0beae35a57340ba9b279d852fc8c",
    "polars_list_dtype": "b9b40cd9f6f93ec089b9b582e2b10604",
    "polars_datetime_dtype": "573e27af3b6d33bdad07fc4da1c315f0",
    "polars_schema": "afedc8404da9ebee605c8714cb8b9f7e",
    "pandas_timestamp": "086c241edb7c5aded61c529fef5a60a2",
    "pure_posix_path": "7950ace712c7177c296de8b2667879da",
    "posix_path": "0ec88992e3c29344002d5a25940486aa",
    "windows_path": "86cad9418a08ebe99f8cdacb901474da",
    "pattern": "65fc77ec4f200b16cfccf52e3bcb5b0c",
    "bytes_pattern": "845a9172588aca6cce54db3b930acd58",
    "class": "f3eecdca23e0d3f4e730b14e9a7a4e93",
    "range": "e331e35658a1d0440bbe67f347f08ce3",
    "ellipsis": "062864637e9448ed3c4c60984640bc06",
    "numpy_object_array": "5d1b10f5429ae63ecd494f4de454fd61",
    "numpy_datetime_array": "249a8f38d5348af3faaa2202e296557b",
    "numpy_str_array": "dce48ba872d6ef3eb738e17dc477f6a4",
    "numpy_float32": "5ddc66cd5438f73482e339e5b5f187c8",
    "numpy_dtype": "272b47ee01ec6632144272a83fac652c",
    "polars_nested_frame": "998484debd3d732573420cdb2bf140ed",
    "pandas_frame": "6e6b3b97fe7b19576f9578bf0e9ccbb4",
    "pandas_series": "5466338f20621d436b0d56c292bd5c8f",
    "pandas_mixed_objects": "792fae6ef35cd105dc2640e8ed0e3c27",
    "arrow_table": "d5460384f2c2aa47bb2352866011086d",
    "arrow_array": "adb3befb437206e78cd33e6c47a4330a",
    "function": "32b2cfa6e0555f354ac206f0ae20fcc5",
    "builtin_function": "4482a843c689976735edbb4e70751989",
    "config": "a248a90fb7aa5ab9806fe83adb3b8504",
}

# hash_fields, config_fingerprint, asset_fingerprint and code_fingerprint(code_version=).
HASH_FIELDS = "040872e8ce61b8d18bef159912e9aa15"
CONFIG = "923927b75521530336bc209380fc6ee7"
ASSET = "2c851bc401f3ea1233c57dcff08e8033"
CODE_VERSION = "4444626c97447d23f0f65b76f1338bd5"
CODE = "495d6ce7ba64f8cf6f2ded617799067f"

# Full bytes of a few values, so the format itself is visible.
BYTES = {
    "none": b"N" + bytes(8),
    "true": b"b\x01" + bytes(7) + b"\x01",
    "int_small": b"i\x01" + bytes(7) + b"\x07",
    "str": b"s\x04" + bytes(7) + b"text",
    "tuple": b"t\x14" + bytes(7) + b"i\x01" + bytes(7) + b"\x01" + b"s\x01" + bytes(7) + b"a",
}


@pytest.mark.parametrize("name", list(VALUES), ids=str)
def test_encoding_is_pinned(name):
    """Every kind of value encodes to the bytes it encoded to before the dispatch refactor."""
    assert hash_bytes(encode(VALUES[name])) == DIGESTS[name]


def test_every_value_has_a_pinned_digest():
    """The pin table covers exactly the values above."""
    assert set(DIGESTS) == set(VALUES)


@pytest.mark.parametrize("name", list(BYTES), ids=str)
def test_encoding_bytes_are_pinned(name):
    """Tag, little-endian length, payload: the format, byte by byte."""
    assert encode(VALUES[name]) == BYTES[name]


def test_fingerprints_built_on_the_encoding_are_pinned():
    """hash_fields, config, asset and code-version fingerprints keep their values."""
    assert hash_fields(a=1, b="x") == HASH_FIELDS
    assert config_fingerprint(VALUES["config"]) == CONFIG
    assert asset_fingerprint(
        code="c", config="k", io="p", upstream={"x": "1"}, extra={"partition": "2024-01-01"}
    ) == ASSET
    assert code_fingerprint(len, "v1") == CODE_VERSION



_SCALE = 3


class _Scaler:
    factor = 2

    def apply(self, x: int) -> int:
        return x * self.factor


def _helper(x: int) -> int:
    return x + _SCALE


def _pinned_code(x: int = 1) -> int:
    """Reaches a helper, a class and a constant."""
    return _Scaler().apply(_helper(x))


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the AST, so the digest, is per Python")
def test_code_fingerprint_is_pinned():
    """A function's code fingerprint (normalized source, reached code) keeps its value."""
    assert code_fingerprint(_pinned_code) == CODE
    assert code_dependencies(_pinned_code) == [
        f"{__name__}:{name}" for name in ("_SCALE", "_Scaler", "_helper")
    ]


# --- types a user registers ------------------------------------------------------------------


class Window:
    """A config type whose repr would embed a memory address."""

    def __init__(self, days: int, label: str = "") -> None:
        self.days, self.label = days, label


class RollingWindow(Window):
    pass


@fingerprints.register(Window)
def _window(value: Window) -> tuple[int, str]:
    return (value.days, value.label)


@attrs.frozen
class Credentials:
    user: str
    password: str = attrs.field(repr=False)


def _credentials(value: Credentials) -> str:
    return value.user  # the password must not make the asset stale


fingerprints.register(Credentials, _credentials)


def test_a_registered_type_is_encoded_by_its_function():
    """A registered class enters the fingerprint through its function, not its repr."""
    assert encode(Window(7)) == encode(Window(7))
    assert encode(Window(7)) != encode(Window(8))
    assert encode(Window(7, "a")) != encode(Window(7, "b"))
    assert config_fingerprint({"window": Window(7)}) == config_fingerprint({"window": Window(7)})


def test_a_registered_type_never_shares_bytes_with_its_canonical_value():
    """The encoding is tagged with the class: a Window(7) is not the tuple (7, '')."""
    assert encode(Window(7)) != encode((7, ""))
    assert encode(Window(7)).startswith(b"U")


def test_a_registration_covers_subclasses_and_wins_over_fields():
    """Subclasses follow the MRO; a registered attrs class is no longer encoded by its fields."""
    assert encode(RollingWindow(7)) == encode(RollingWindow(7)) != encode(RollingWindow(8))
    assert encode(Credentials("ann", "a")) == encode(Credentials("ann", "b"))
    assert encode(Credentials("ann", "a")) != encode(Credentials("bob", "a"))


@pytest.mark.parametrize("cls", [int, dict, bool, type(None), enum.Enum, pathlib.PurePath, object],
                         ids=lambda c: c.__name__)
def test_types_assetry_encodes_cannot_be_registered(cls):
    """Registering a builtin would change every fingerprint: it is refused."""
    with pytest.raises(TypeError, match="assetry encodes it already"):
        fingerprints.register(cls, repr)


def test_register_takes_a_class():
    """Anything but a class is refused with the value named."""
    with pytest.raises(TypeError, match="takes a class, but got 'Window'"):
        fingerprints.register("Window", repr)  # type: ignore[arg-type]


# --- values that cannot be encoded exactly ---------------------------------------------------


def test_an_unknown_type_is_refused_not_guessed_from_its_repr():
    """A type assetry cannot encode exactly raises, naming the type and the two ways out."""
    with pytest.raises(EncodingError, match=r"'test_encoding\.Shown' cannot be fingerprinted "
                       r"exactly; register .* assetry\.fingerprints\.register\(Shown, \.\.\.\)"):
        encode({"nested": [Shown()]})
    with pytest.raises(TypeError):  # an EncodingError is a TypeError, and an AssetError
        encode(object())


def test_config_fingerprint_names_the_asset_and_the_parameter():
    """The error of a config value says which asset and which parameter hold it."""
    with pytest.raises(EncodingError, match=r"^asset 'rolling' has config parameter 'window' "
                       r"holding a value of type 'test_encoding\.Shown', which cannot be"):
        config_fingerprint({"n": 1, "window": [Shown()]}, asset="rolling")


def test_io_fingerprint_is_the_engines_hash_and_names_a_bad_setting():
    """Same bytes as ``hash_fields(io=, settings=)`` (recorded fingerprints hold); a setting
    that cannot be encoded is named with the asset and the way out."""
    settings = {"compression": "zstd", "level": 3}
    assert io_fingerprint("assetry.io_managers.files.Parquet", settings) == hash_fields(
        io="assetry.io_managers.files.Parquet", settings=settings)
    with pytest.raises(EncodingError, match=r"^asset 'words' has IO manager Upper with setting "
                       r"'codec' holding a value of type 'test_encoding\.Shown', which cannot be "
                       r"fingerprinted exactly; return a plain value for it from Upper\.settings\(\)"):
        io_fingerprint("pipe.Upper", {"suffix": "~", "codec": Shown()}, asset="words")


def test_a_lazy_frame_is_a_query_not_a_value():
    """A LazyFrame given as config is refused with the way out."""
    with pytest.raises(EncodingError, match=r"is a query, not a value; pass its collected"):
        encode(pl.LazyFrame({"a": [1]}))


@pytest.mark.parametrize("value", [lambda x: x, Shown().__repr__], ids=["lambda", "bound method"])
def test_functions_without_a_name_are_refused(value):
    """A lambda or a bound method has no name that stands for it."""
    with pytest.raises(EncodingError, match="has no name to be fingerprinted by"):
        encode(value)


# --- data by content ----------------------------------------------------------------------


def _changed(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    out[len(out) // 2] += 1
    return out


CONTENT = {
    "numpy 10,000": (np.arange(10_000, dtype=np.float64), lambda a: _changed(a)),
    "numpy 2d": (np.zeros((100, 100)), lambda a: _changed(a.ravel()).reshape(100, 100)),
    "numpy object": (np.array(list(range(1000)), dtype=object),
                     lambda a: np.array([*range(500), "500", *range(501, 1000)], dtype=object)),
    "numpy dtype": (np.arange(3, dtype=np.int64), lambda a: a.astype(np.int32)),
    "polars 1,000 rows": (
        pl.DataFrame({"n": range(1000), "s": [f"s{i}" for i in range(1000)]}),
        lambda df: df.with_columns(s=pl.when(pl.col("n") == 500).then(pl.lit("x")).otherwise("s")),
    ),
    "polars null": (pl.DataFrame({"n": list(range(1000))}),
                    lambda df: df.with_columns(n=pl.when(pl.col("n") == 500).then(None).otherwise("n"))),
    "polars series": (pl.Series("s", range(1000)), lambda s: s.clone().scatter(500, -1)),
    "pandas 1,000 rows": (pd.DataFrame({"n": range(1000), "s": [f"s{i}" for i in range(1000)]}),
                          lambda df: df.assign(s=df["s"].where(df["n"] != 500, "x"))),
    "pandas index": (pd.Series(range(1000)), lambda s: s.set_axis(range(1, 1001))),
    "arrow 1,000 rows": (pa.table({"n": list(range(1000))}),
                         lambda t: pa.table({"n": [*range(500), -1, *range(501, 1000)]})),
}


@pytest.mark.parametrize("name", list(CONTENT), ids=str)
def test_one_changed_element_changes_the_encoding(name):
    """Arrays and frames encode by every value: one element changed anywhere is seen."""
    value, change = CONTENT[name]
    assert encode(change(value)) != encode(value)


def test_equal_data_encodes_alike_however_it_is_laid_out():
    """Chunks, slices, views and what lies under a null do not count; only the data does."""
    df = pl.DataFrame({"a": [1, None, 3], "s": ["x", None, "zz"], "l": [[1], None, [2, 3]]})
    rebuilt = pl.concat([pl.DataFrame({"a": [0], "s": ["w"], "l": [[0]]}), df, df.head(1)])
    assert rebuilt.slice(1, 3).n_chunks() >= 1
    assert encode(rebuilt.slice(1, 3)) == encode(df)
    assert encode(pl.concat([df.head(1), df.tail(2)], rechunk=False)) == encode(df)
    table = df.to_arrow()
    assert encode(pa.concat_tables([table.slice(0, 2), table.slice(2)])) == encode(table)
    array = np.arange(20).reshape(4, 5)
    assert encode(array.T.copy()) == encode(np.asfortranarray(array.T))
    assert encode(array[::2]) == encode(np.ascontiguousarray(array[::2]))


def test_kinds_of_data_do_not_share_bytes():
    """A polars frame, its Arrow table, its pandas frame and a series differ, as do names."""
    df = pl.DataFrame({"a": [1, 2]})
    encodings = {encode(df), encode(df.to_arrow()), encode(df.to_pandas()), encode(df["a"]),
                 encode(df.rename({"a": "b"})), encode(df["a"].to_numpy())}
    assert len(encodings) == 6

