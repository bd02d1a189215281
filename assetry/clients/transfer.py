"""Moving rows between DB-API cursors and Arrow or polars frames.

Owns the conversions (result rows -> Arrow batches with stable types, frames ->
binary or CSV COPY data for PostgreSQL, made a chunk ahead in a worker thread,
frames -> parameter rows for ``executemany``, frames -> an order-independent
digest of their rows). Every
function works on a cursor it is given: none opens a connection, commits, or
decides what relation to write. Which values are frames is
:mod:`assetry._frames`'s to say; pyarrow and polars are imported on first use.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import xxhash

from assetry._frames import is_arrow_table, load_kind, to_polars
from assetry.clients import _pgbinary
from assetry.clients import dialects as _dialects
from assetry.clients import identifiers as _identifiers
from assetry.errors import ClientError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "COPY_CHUNK",
    "INSERT_BATCH",
    "BatchBuilder",
    "copy_rows",
    "create_table_sql",
    "fetch_batches",
    "frame_digest",
    "insert_rows",
    "made_ahead",
    "reader_batches",
    "restore",
    "steady",
    "to_arrow",
    "to_frame",
]

#: Rows per ``executemany`` call; pymysql folds each call into multi-row INSERTs.
INSERT_BATCH = 10_000
#: Rows per CSV chunk sent through COPY: bounds the buffers (two chunks wait at most) and
#: lets polars write the next chunk, in a thread of its own, while this one is sent.
COPY_CHUNK = 50_000


def to_frame(value: Any) -> Any:
    """An eager polars DataFrame from a polars, Arrow or pandas frame.

    Examples:
        >>> import pyarrow as pa
        >>> to_frame(pa.table({"a": [1]})).height
        1
    """
    if load_kind(type(value)) not in _FRAME_KINDS:
        raise ClientError(
            f"cannot upload a {type(value).__name__}; give a polars, pyarrow or pandas frame"
        )
    return to_polars(value)


def to_arrow(value: Any) -> pa.Table:
    """An Arrow table from a polars, Arrow or pandas frame (zero-copy where possible)."""
    return value if is_arrow_table(value) else to_frame(value).to_arrow()


_FRAME_KINDS = ("polars", "lazy", "arrow", "pandas")


class BatchBuilder:
    """Turns DB-API result rows into Arrow record batches whose schema does not drift.

    A column's type comes from the driver's type code when known; otherwise the
    first batch with a non-null value fixes it and later batches are cast to it.
    """

    def __init__(self, dialect: str, description: Sequence[Any]) -> None:
        self.names = [d[0] for d in description]
        self.types = [_dialects.arrow_hint(dialect, d) for d in description]

    def build(self, rows: Sequence[Sequence[Any]]) -> pa.RecordBatch:
        """One record batch from a list of row tuples."""
        import pyarrow as pa

        columns = list(zip(*rows, strict=True)) if rows else [()] * len(self.names)
        arrays = [self._column(i, list(values)) for i, values in enumerate(columns)]
        return pa.RecordBatch.from_arrays(arrays, names=self.names)

    def _column(self, index: int, values: list[Any]) -> pa.Array:
        import pyarrow as pa

        wanted = self.types[index]
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Values Arrow cannot infer (UUID, JSON documents, ranges) travel as text.
            array = pa.array([None if v is None else str(v) for v in values], pa.string())
        if wanted is None:
            if array.type != pa.null():
                self.types[index] = array.type
            return array
        if array.type == pa.null():
            return pa.nulls(len(values), wanted)
        try:
            return array.cast(wanted)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ClientError(
                f"column {self.names[index]!r} holds {array.type} values where earlier rows or "
                f"the database said {wanted}; CAST it in the query ({exc})"
            ) from exc

    def empty(self) -> pa.RecordBatch:
        """A zero-row batch carrying the known schema."""
        return self.build([])


def fetch_batches(cursor: Any, builder: BatchBuilder, size: int) -> Iterator[pa.RecordBatch]:
    """Record batches of at most ``size`` rows from an executed cursor; one empty if none."""
    sent = False
    while rows := cursor.fetchmany(size):
        sent = True
        yield builder.build(rows)
    if not sent:
        yield builder.empty()


def reader_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The batches of an Arrow reader; one empty batch with its schema if it has none."""
    sent = False
    for batch in reader:
        sent = True
        yield batch
    if not sent:
        import pyarrow as pa

        yield pa.RecordBatch.from_pylist([], schema=reader.schema)


def steady(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches, each cast to the first one's schema, or ClientError naming the drift.

    A column that is NULL in the first rows of a SQLite result is typed only later.
    """
    import pyarrow as pa

    schema = None
    for batch in batches:
        if schema is None:
            schema = batch.schema
        elif batch.schema != schema:
            try:
                batch = batch.cast(schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ClientError(
                    f"the query's column types changed between batches ({schema} then "
                    f"{batch.schema}); a column that is NULL in the first rows needs a CAST in "
                    "the query"
                ) from exc
        yield batch


def restore(table: pa.Table, declared: Sequence[tuple[str, str]], dialect: str) -> pa.Table:
    """Cast columns back to their declared types where the driver returned less."""
    import pyarrow as pa

    for index, (_name, text) in enumerate(declared):
        wanted = _dialects.restored_type(dialect, text)
        if wanted is None or index >= table.num_columns or table.column(index).type == wanted:
            continue
        try:
            table = table.set_column(index, table.field(index).name, table.column(index).cast(wanted))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # SQLite is dynamically typed: a value that does not parse as the declared
            # type is kept as stored rather than lost.
            continue
    return table


def create_table_sql(frame: Any, relation: str, dialect: str) -> str:
    """``CREATE TABLE relation (...)`` from a polars frame's schema and the type map."""
    columns = ", ".join(
        f"{_identifiers.quote(name, dialect)} {_dialects.sql_type(dtype, dialect, name)}"
        for name, dtype in frame.schema.items()
    )
    return f"CREATE TABLE {relation} ({columns})"


def copy_rows(cursor: Any, frame: Any, relation: str, dialect: str) -> int:
    """Fill ``relation`` from ``frame`` with PostgreSQL ``COPY ... FROM STDIN``.

    Binary COPY built by Arrow kernels (:mod:`assetry.clients._pgbinary`) when
    every column has an exact binary form, else CSV written by polars; both in
    native code (psycopg's own binary COPY encodes every value in Python). A
    worker thread makes the next chunk while this one is sent. In CSV, NULL is
    an unquoted empty field and an empty string is written quoted.
    """
    import polars as pl

    names = ", ".join(_identifiers.quote(n, dialect) for n in frame.columns)
    if _pgbinary.supported(frame):
        chunks = _pgbinary.chunks(frame, COPY_CHUNK)
        with cursor.copy(f"COPY {relation} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            for chunk in made_ahead(chunks):
                copy.write(chunk)
        return frame.height

    binary = [n for n, t in frame.schema.items() if t == pl.Binary]
    if binary:  # bytea's text input: \x followed by hex digits
        frame = frame.with_columns(
            pl.concat_str(pl.lit("\\x"), pl.col(n).bin.encode("hex")).alias(n) for n in binary
        )
    chunks = _csv_chunks(frame, COPY_CHUNK)
    with cursor.copy(f"COPY {relation} ({names}) FROM STDIN (FORMAT CSV)") as copy:
        for chunk in chunks if frame.height <= COPY_CHUNK else made_ahead(chunks):
            copy.write(chunk)
    return frame.height


def _csv_chunks(frame: Any, rows: int) -> Iterator[memoryview]:
    for part in frame.iter_slices(rows):
        buffer = io.BytesIO()
        part.write_csv(buffer, include_header=False)
        yield buffer.getbuffer()


_DONE = object()


def made_ahead(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """The items of ``items``, each made in a worker thread while the one before is used.

    polars writes CSV without holding the GIL and psycopg waits on its socket
    without it, so the next chunk is serialised while this one is sent. At most
    ``depth`` items wait. An error in the worker is raised here, at the item it
    would have been; closing this generator early (the server refused the COPY)
    stops the worker after the item it is making.

    Examples:
        >>> list(made_ahead(iter(range(5))))
        [0, 1, 2, 3, 4]
    """
    ready: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if not _put(ready, stop, (item, None)):
                    return
        except Exception as exc:  # noqa: BLE001 - handed over and raised again by the consumer
            _put(ready, stop, (None, exc))
            return
        _put(ready, stop, (_DONE, None))

    worker = threading.Thread(target=work, name="assetry-made-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _put(ready: queue.Queue[Any], stop: threading.Event, value: Any) -> bool:
    """Put ``value`` once there is room; False if the consumer stopped meanwhile."""
    while not stop.is_set():
        try:
            ready.put(value, timeout=0.05)
        except queue.Full:
            continue
        return True
    return False


def frame_digest(frame: Any) -> str:
    """An order-independent digest of a polars frame: its schema, height and row hashes.

    The sum modulo 2**64 (not XOR, so duplicate rows count) of polars'
    ``hash_rows``. Categorical and Enum columns are hashed by their text, as their
    codes depend on the process. polars may change ``hash_rows`` in a new
    version; the digest of the same rows then changes once.

    Examples:
        >>> import polars as pl
        >>> frame_digest(pl.DataFrame({"a": [1, 2]})) == frame_digest(pl.DataFrame({"a": [2, 1]}))
        True
        >>> frame_digest(pl.DataFrame({"a": [1, 1]})) == frame_digest(pl.DataFrame({"a": [1]}))
        False
    """
    import polars as pl

    plain = frame.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))
    total = int(plain.hash_rows(seed=0).sum()) if plain.width else 0
    schema = [(name, str(dtype)) for name, dtype in frame.schema.items()]
    return xxhash.xxh3_128_hexdigest(repr(("rows", schema, frame.height, total)).encode())


def insert_rows(cursor: Any, frame: Any, relation: str, dialect: str, paramstyle: str) -> int:
    """Fill ``relation`` from ``frame`` with batched ``executemany`` INSERTs."""
    frame = _plain_values(frame, dialect)
    names = ", ".join(_identifiers.quote(n, dialect) for n in frame.columns)
    marks = ", ".join(_dialects.placeholders(paramstyle, frame.width))
    if paramstyle in ("format", "pyformat"):
        # The driver %-formats the whole statement: a % in a quoted name must be doubled.
        relation, names = relation.replace("%", "%%"), names.replace("%", "%%")
    sql = f"INSERT INTO {relation} ({names}) VALUES ({marks})"
    for part in frame.iter_slices(INSERT_BATCH):
        cursor.executemany(sql, part.rows())
    return frame.height


def _plain_values(frame: Any, dialect: str) -> Any:
    """Cast columns the driver cannot bind: SQLite takes dates as ISO text, and
    MySQL and SQLite keep timestamps as UTC wall time without a zone."""
    import polars as pl

    changes = []
    for name, dtype in frame.schema.items():
        col, changed = pl.col(name), False
        if isinstance(dtype, pl.Datetime) and dtype.time_zone and dialect in ("mysql", "sqlite"):
            col, changed = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None), True
        if dialect == "sqlite" and isinstance(dtype, (pl.Datetime, pl.Time)):
            # Microseconds spelled out: a plain cast drops them from times.
            pattern = "%H:%M:%S%.6f" if isinstance(dtype, pl.Time) else "%Y-%m-%d %H:%M:%S%.6f"
            col, changed = col.dt.strftime(pattern), True
        elif dialect == "sqlite" and isinstance(dtype, (pl.Date, pl.Decimal)):
            col, changed = col.cast(pl.String), True
        if changed:
            changes.append(col.alias(name))
    return frame.with_columns(changes) if changes else frame
