"""Content encodings: numpy arrays, polars, pandas and Arrow data, by every value they hold.

A frame or an array given as config enters a fingerprint by its content (type,
schema, shape and each value), never by a ``repr``, which elides the middle of
a large one. The libraries are recognised by module name and imported only when
a value is theirs, so encoding never loads them.

- numpy: the dtype as the ``.npy`` format writes it, the shape, and the bytes in
  C order; an array of objects item by item through :func:`encode`.
- Arrow columns (how polars, pandas and Arrow data are encoded): type, length,
  the positions of the nulls, then the values: fixed-width values by their
  bytes, strings and binary by lengths and bytes, lists by lengths and their
  flattened values, structs field by field, dictionaries decoded. What lies
  under a null, or past the end of a slice, is undefined in Arrow and never
  counts, so equal data always encodes alike, however it is chunked or sliced.
- polars: the schema (as :func:`encode` writes a ``pl.Schema``), then each
  column exported to Arrow at the oldest compatibility level, which does not
  change between polars versions.
- pandas: column labels, dtypes, the index and each column through Arrow; a
  column Arrow cannot type (mixed Python objects) item by item.
- A polars expression by its serialized tree (polars' own format: a new polars
  version may change it, and with it the fingerprint, once).
- A polars ``LazyFrame`` is a query, not a value: refused with :class:`EncodingError`.
"""

from __future__ import annotations

from typing import Any

from assetry.fingerprints._encoding import EncodingError, encode, frame

__all__ = ["encode_content"]

_LIBRARIES = frozenset({"numpy", "polars", "pandas", "pyarrow"})


def encode_content(value: Any) -> bytes | None:
    """The content encoding of a numpy, polars, pandas or Arrow value; None for other types."""
    module = (getattr(type(value), "__module__", "") or "").partition(".")[0]
    if module not in _LIBRARIES:
        return None
    return _ENCODERS[module](value)


# --- numpy ------------------------------------------------------------------------------


def _numpy(value: Any) -> bytes | None:
    import numpy as np

    if isinstance(value, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(value)
        return frame(b"n", encode(("numpy.ma",)) + _ndarray(np.asarray(value.data)) + _ndarray(mask))
    if isinstance(value, np.ndarray):
        if type(value) is np.ndarray:
            return _ndarray(value)
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        return frame(b"n", encode((kind,)) + _ndarray(np.asarray(value)))
    if isinstance(value, np.generic):  # float64 and str_ are a float and a str, encoded as such
        descr = np.lib.format.dtype_to_descr(value.dtype)
        return frame(b"n", encode(("numpy.scalar", descr)) + frame(b"y", value.tobytes()))
    if isinstance(value, np.dtype):
        return frame(b"n", encode(("numpy.dtype", np.lib.format.dtype_to_descr(value))))
    return None


def _ndarray(array: Any) -> bytes:
    import numpy as np

    head = encode(("numpy.ndarray", np.lib.format.dtype_to_descr(array.dtype), array.shape))
    if array.dtype.hasobject:
        items = array.ravel(order="C").tolist()
        return frame(b"n", head + frame(b"l", b"".join(map(encode, items))))
    return frame(b"n", head + frame(b"y", np.ascontiguousarray(array).tobytes()))


# --- Arrow columns ----------------------------------------------------------------------


def arrow_array(array: Any) -> bytes:
    """One Arrow array (or chunked array): type, length, null positions, then the values."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped]

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    head = encode((str(array.type), len(array)))
    nulls = b""
    if array.null_count:
        mask = array.is_null().to_numpy(zero_copy_only=False)
        nulls = np.packbits(mask, bitorder="little").tobytes()
        array = array.drop_null()
    return frame(b"v", head + frame(b"y", nulls) + _arrow_values(array))


def _arrow_values(array: Any) -> bytes:
    """The values of an Arrow array without nulls, independent of its buffers' layout."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    kind = array.type
    types = pa.types
    if types.is_dictionary(kind):
        return arrow_array(array.dictionary_decode())
    if types.is_boolean(kind):
        bits = np.packbits(array.to_numpy(zero_copy_only=False), bitorder="little")
        return frame(b"y", bits.tobytes())
    if types.is_string_view(kind) or types.is_binary_view(kind):
        wide = pa.large_string() if types.is_string_view(kind) else pa.large_binary()
        return _arrow_values(array.cast(wide))
    if types.is_string(kind) or types.is_binary(kind) or types.is_large_string(kind) \
            or types.is_large_binary(kind):
        return _arrow_bytes(array, np.int64 if "large" in str(kind) else np.int32)
    if types.is_list(kind) or types.is_large_list(kind) or types.is_fixed_size_list(kind) \
            or types.is_map(kind):
        lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False).astype("<i8")
        return frame(b"y", lengths.tobytes()) + arrow_array(array.flatten())
    if types.is_struct(kind):
        return b"".join(arrow_array(field) for field in array.flatten())
    if types.is_null(kind):
        return b""
    width = _byte_width(kind)
    if width:
        data = array.buffers()[1]
        start = array.offset * width
        return frame(b"y", data.slice(start, len(array) * width).to_pybytes())
    return frame(b"l", b"".join(map(encode, array.to_pylist())))  # anything else, value by value


def _byte_width(kind: Any) -> int:
    import pyarrow as pa  # type: ignore[import-untyped]

    fixed = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, pa.types.is_date,
             pa.types.is_time, pa.types.is_timestamp, pa.types.is_duration,
             pa.types.is_fixed_size_binary)
    if not any(check(kind) for check in fixed):
        return 0
    try:
        return kind.bit_width // 8
    except ValueError:
        return 0


def _arrow_bytes(array: Any, offset_type: Any) -> bytes:
    import numpy as np

    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[array.offset:][: len(array) + 1]
    lengths = np.diff(offsets).astype("<i8")
    data = b""
    if len(array) and data_buffer is not None:
        data = data_buffer.slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_pybytes()
    return frame(b"y", lengths.tobytes()) + frame(b"y", data)


def _arrow(value: Any) -> bytes | None:
    import pyarrow as pa  # type: ignore[import-untyped]

    if isinstance(value, (pa.Table, pa.RecordBatch)):
        head = encode(("pyarrow.Table", tuple(value.schema.names)))
        return frame(b"F", head + b"".join(arrow_array(c) for c in value.columns))
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return frame(b"F", encode(("pyarrow.Array",)) + arrow_array(value))
    return None


# --- polars and pandas ------------------------------------------------------------------


def _polars(value: Any) -> bytes | None:
    import polars as pl

    if isinstance(value, pl.LazyFrame):
        raise EncodingError(type(value), "is a query, not a value; pass its collected DataFrame "
                            "(.collect()) or the settings it is built from")
    if isinstance(value, pl.Series):
        head = encode(("polars.Series", value.name, value.dtype))
        return frame(b"F", head + _polars_columns(value.to_frame()))
    if isinstance(value, pl.DataFrame):
        return frame(b"F", encode(("polars.DataFrame", value.schema)) + _polars_columns(value))
    if isinstance(value, pl.Expr):  # its whole tree; the format is polars' own, per version
        return frame(b"F", encode(("polars.Expr", value.meta.serialize(format="binary"))))
    return None


def _polars_columns(df: Any) -> bytes:
    import polars as pl

    try:
        table = df.to_arrow(compat_level=pl.CompatLevel.oldest())
    except Exception as exc:
        raise EncodingError(type(df), f"has a column Arrow cannot hold ({exc}); keep plain "
                            "data in a frame given as config") from exc
    return b"".join(arrow_array(c) for c in table.columns)


def _pandas(value: Any) -> bytes | None:
    import pandas as pd  # type: ignore[import-untyped]

    if isinstance(value, pd.DataFrame):
        dtypes = tuple(str(d) for d in value.dtypes)
        head = encode(("pandas.DataFrame", tuple(value.columns), dtypes, tuple(value.index.names)))
        columns = (value.iloc[:, i] for i in range(value.shape[1]))
        return frame(b"F", head + _pandas_index(value.index) + b"".join(map(_pandas_values, columns)))
    if isinstance(value, pd.Series):
        head = encode(("pandas.Series", value.name, str(value.dtype), tuple(value.index.names)))
        return frame(b"F", head + _pandas_index(value.index) + _pandas_values(value))
    if isinstance(value, pd.Index):
        head = encode(("pandas.Index", tuple(value.names), str(value.dtype)))
        return frame(b"F", head + _pandas_index(value))
    return None


def _pandas_index(index: Any) -> bytes:
    return b"".join(_pandas_values(index.get_level_values(i)) for i in range(index.nlevels))


def _pandas_values(values: Any) -> bytes:
    import pyarrow as pa  # type: ignore[import-untyped]

    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):  # mixed objects: value by value
        return frame(b"l", b"".join(map(encode, values.tolist())))
    return frame(b"y", str(values.dtype).encode()) + arrow_array(array)


_ENCODERS = {"numpy": _numpy, "polars": _polars, "pandas": _pandas, "pyarrow": _arrow}
