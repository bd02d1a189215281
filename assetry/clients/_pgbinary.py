"""PostgreSQL's binary COPY format, built from polars columns by Arrow kernels.

The server parses binary COPY in about half the time it takes for CSV (no text
to turn into numbers, dates and timestamps), so a frame whose every column has
an exact binary form is sent this way. Each row is ``int16`` field count, then
per field ``int32`` length (-1 for NULL) and the value, big-endian
(https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format"):
integers and floats as they are, booleans as one byte, dates as days and
timestamps as microseconds since 2000-01-01, text and bytea as their bytes.
Every field of a chunk is one Arrow binary array, and
``binary_join_element_wise`` lays the rows end to end, so no row passes
through Python.

A type without an exact form here (Decimal, UInt64, Time, Datetime in
nanoseconds, whose text PostgreSQL rounds) makes :func:`supported` false, and
the caller sends CSV. pyarrow and numpy are imported on first use.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

__all__ = ["HEADER", "TRAILER", "chunks", "supported"]

#: Signature, flags (no OIDs) and header extension length.
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
#: A field count of -1 ends the data.
TRAILER = struct.pack(">h", -1)

_DAYS_2000 = 10_957  # 1970-01-01 to 2000-01-01
_MICROS_2000 = _DAYS_2000 * 86_400 * 1_000_000

# polars type name -> (cast to, big-endian numpy type of the value)
_FIXED = {
    "Boolean": ("UInt8", ">u1"), "Int8": ("Int16", ">i2"), "UInt8": ("Int16", ">i2"),
    "Int16": ("Int16", ">i2"), "UInt16": ("Int32", ">i4"), "Int32": ("Int32", ">i4"),
    "UInt32": ("Int64", ">i8"), "Int64": ("Int64", ">i8"), "Float32": ("Float32", ">f4"),
    "Float64": ("Float64", ">f8"), "Date": ("Int32", ">i4"), "Datetime": ("Int64", ">i8"),
}
_TEXT = ("String", "Categorical", "Enum", "Binary", "Null")


def supported(frame: Any) -> bool:
    """Whether every column of ``frame`` has an exact binary form here (and there is one)."""
    if not frame.width:
        return False
    for dtype in frame.schema.values():
        name = dtype.base_type().__name__
        if name == "Datetime" and getattr(dtype, "time_unit", None) == "ns":
            return False
        if name not in _FIXED and name not in _TEXT:
            return False
    return True


def chunks(frame: Any, rows: int) -> Iterator[Any]:
    """The binary COPY data of ``frame``: the header, ``rows`` rows at a time, the trailer."""
    yield HEADER
    for part in frame.iter_slices(rows):
        yield _rows(part)
    yield TRAILER


def _rows(part: Any) -> Any:
    import numpy as np
    import polars as pl
    import pyarrow.compute as pc

    # One pass of polars over the chunk: each column as its wire values, and where a
    # column has nulls, whether each row has a value.
    nulls = part.null_count().row(0)
    exprs, valid = [], []
    for index, (name, dtype) in enumerate(part.schema.items()):
        exprs.append(_wire_values(pl.col(name), dtype.base_type().__name__).alias(f"v{index}"))
        if nulls[index]:
            valid.append(pl.col(name).is_not_null().alias(f"n{index}"))
    plain = part.select(*exprs, *valid)
    count = _fixed_width(np.full(part.height, part.width, dtype=">i2"), 2)
    fields = []
    for index, dtype in enumerate(part.schema.values()):
        present = plain.get_column(f"n{index}").to_arrow() if nulls[index] else None
        fields.append(_field(plain.get_column(f"v{index}"), dtype.base_type().__name__, present))
    joined = pc.binary_join_element_wise(count, *fields, _empty(part.height))
    ends = np.frombuffer(joined.buffers()[1], dtype=np.int64, count=len(joined) + 1,
                         offset=8 * joined.offset)
    return memoryview(joined.buffers()[2])[int(ends[0]):int(ends[-1])]


def _wire_values(column: Any, name: str) -> Any:
    """The expression of a column's values as sent: bytes, or numbers in the wire type."""
    import polars as pl

    if name in _TEXT:
        return column if name == "Binary" else column.cast(pl.String).cast(pl.Binary)
    if name == "Datetime":  # milliseconds widen exactly; microseconds since 2000
        column = column.dt.cast_time_unit("us").cast(pl.Int64) - _MICROS_2000
    elif name == "Date":
        column = column.cast(pl.Int32) - _DAYS_2000
    return column.cast(getattr(pl, _FIXED[name][0])).fill_null(0)


def _field(values: Any, name: str, present: Any) -> Any:
    """One column as a large_binary array of ``length + value``, or ``-1`` where not present."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if name in _TEXT:
        data = values.to_arrow().cast(pa.large_binary())
        offsets = np.frombuffer(data.buffers()[1], dtype=np.int64, count=len(data) + 1,
                                offset=8 * data.offset)
        prefix = _fixed_width(np.diff(offsets).astype(">i4"), 4)  # a NULL's is replaced below
        field = pc.binary_join_element_wise(prefix, data, _empty(len(data)))
    else:
        wire = _FIXED[name][1]
        width = np.dtype(wire).itemsize
        record = np.empty(len(values), dtype=[("length", ">i4"), ("value", wire)])
        record["length"] = width
        record["value"] = values.to_numpy()
        field = _fixed_width(record, 4 + width)
    if present is None:
        return field
    # Arrays only: a pyarrow scalar made from Python bytes imports pandas (0.3 s).
    null = _fixed_width(np.full(len(values), -1, dtype=">i4"), 4)
    return pc.if_else(present, field, null)


def _empty(rows: int) -> Any:
    """``rows`` empty large_binary values (the separator of the joins)."""
    import numpy as np
    import pyarrow as pa

    offsets = pa.py_buffer(np.zeros(rows + 1, dtype=np.int64))
    return pa.Array.from_buffers(pa.large_binary(), rows, [None, offsets, pa.py_buffer(b"")])


def _fixed_width(array: Any, width: int) -> Any:
    """A numpy array of ``width``-byte records as a large_binary Arrow array (one copy)."""
    import numpy as np
    import pyarrow as pa

    data = np.ascontiguousarray(array)
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(data), [None, pa.py_buffer(data.view(np.uint8))]
    )
    return fixed.cast(pa.large_binary())
