"""A frame uploaded as a table is fingerprinted on its way in, and a hand edit is still found.

``SQLTable.save`` hashes what it uploads (PostgreSQL: the frame, while COPY
sends it, plus a stamp of row count, transaction id and columns on the table;
elsewhere: the staged table inside the swap), so the run reads nothing back.
The next run proves the table unchanged by the stamp, or reads it: any edit by
hand makes the asset ``product modified outside assetry``. Digests recorded by
the earlier PostgreSQL scheme (md5 of each row's text) are checked once the old
way, so an upgrade reruns nothing. See docs/sql.md, "Fingerprints".
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import duckdb
import polars as pl
import psycopg
import pytest
import xxhash
from conftest import PipelineFiles
from polars.testing import assert_frame_equal
from sql_fixtures import BACKENDS, PG_DSN, drop, leftovers, make_client

from assetry import materialize
from assetry.clients import Client
from assetry.clients.dialects import bind, columns_sql, fingerprint_sql
from assetry.clients.transfer import COPY_CHUNK, frame_digest, made_ahead
from assetry.errors import ClientError
from assetry.io_managers import SQLTable

PIPELINE = """
import polars as pl
from assetry import asset
from assetry.io_managers import SQLTable
from sql_fixtures import make_client

CLIENT = make_client({backend!r}, __import__("pathlib").Path({directory!r}))

@asset(io=SQLTable(CLIENT, table={table!r}))
def uploaded() -> pl.DataFrame:
    return pl.DataFrame({{"id": list(range({rows})), "x": [i / 4 for i in range({rows})],
                         "s": [f"row {{i}}" for i in range({rows})]}})
"""

#: Edits by hand on PostgreSQL, each keeping the row count or the values where it can.
PG_EDITS = {
    "update to the same value": "UPDATE {t} SET x = x WHERE id = 3",
    "delete and insert the same row": (
        "WITH gone AS (DELETE FROM {t} WHERE id = 3 RETURNING *) INSERT INTO {t} SELECT * FROM gone"
    ),
    "null where a zero was": "UPDATE {t} SET x = NULL WHERE id = 0",
    "a column added": "ALTER TABLE {t} ADD COLUMN extra integer DEFAULT 1",
    "a column renamed": "ALTER TABLE {t} RENAME COLUMN s TO t",
    "emptied and filled again": (
        "CREATE TEMP TABLE keep AS SELECT * FROM {t}; TRUNCATE {t}; "
        "INSERT INTO {t} SELECT * FROM keep; DROP TABLE keep"
    ),
}


class Upload:
    """One backend: a pipeline whose one asset uploads a frame as table ``table``."""

    def __init__(self, backend: str, files: PipelineFiles, rows: int = 10) -> None:
        self.files = files
        self.client = make_client(backend, files.dir.parent)
        self.table = f"up_{uuid.uuid4().hex[:10]}"
        self.module = files.module("uploads.py", PIPELINE.format(
            backend=backend, directory=str(files.dir.parent), table=self.table, rows=rows))

    def run(self):
        return materialize(self.module, root=self.files.root, executor="sync")

    def relation(self) -> str:
        return self.client.qualified(None, self.table)

    def read(self) -> pl.DataFrame:
        return pl.from_arrow(self.client.read_table(None, self.table)).sort("id")

    def row(self) -> dict:
        return catalog_row(self.files, "uploaded")

    def close(self) -> None:
        drop(self.client, None, self.table)
        self.client.close()


def catalog_row(files: PipelineFiles, asset: str) -> dict:
    con = duckdb.connect(str(files.catalog), read_only=True)
    try:
        cur = con.execute("SELECT data_fingerprint, stat_key FROM assets WHERE asset = ?", [asset])
        found = cur.fetchone()
    finally:
        con.close()
    return {"data_fingerprint": found[0], "stat_key": found[1]}


@pytest.fixture
def upload(request: pytest.FixtureRequest, files: PipelineFiles) -> Iterator[Upload]:
    made = Upload(request.param, files)
    yield made
    made.close()


@pytest.mark.parametrize("upload", ["postgres", "postgres-sqlalchemy"], indirect=True)
@pytest.mark.parametrize("edit", list(PG_EDITS))
def test_a_postgresql_table_edited_by_hand_is_modified_outside_assetry(
    upload: Upload, edit: str
) -> None:
    """Every kind of edit after an upload (even one that keeps the values) makes the asset stale."""
    first = upload.run()
    assert first.materialized == ["uploaded"]
    expected = upload.read()
    assert upload.run().reasons == {"uploaded": "up to date"}
    upload.client.execute(PG_EDITS[edit].format(t=upload.relation()))
    again = upload.run()
    assert again.reasons == {"uploaded": "product modified outside assetry"}
    assert_frame_equal(upload.read(), expected)  # uploaded again
    assert upload.run().reasons == {"uploaded": "up to date"}


@pytest.mark.parametrize("upload", [b for b in BACKENDS if not b.startswith("postgres")],
                         indirect=True)
def test_a_table_edited_by_hand_is_modified_outside_assetry(upload: Upload) -> None:
    """On DuckDB, SQLite and MariaDB too, an upload then a hand edit: the next run says so."""
    upload.run()
    assert upload.run().reasons == {"uploaded": "up to date"}
    upload.client.execute(f"UPDATE {upload.relation()} SET x = 99 WHERE id = 3")
    assert upload.run().reasons == {"uploaded": "product modified outside assetry"}
    assert upload.read()["x"].to_list()[3] == 0.75


@pytest.mark.parametrize("upload", ["postgres", "postgres-sqlalchemy"], indirect=True)
def test_a_postgresql_upload_is_fingerprinted_from_the_frame(upload: Upload) -> None:
    """The data fingerprint is the frame's digest and the change key the table's stamp."""
    upload.run()
    row = upload.row()
    assert row["data_fingerprint"] == frame_digest(upload.module.uploaded())
    assert row["stat_key"].startswith("rows:")
    comment = upload.client.execute(f"SELECT obj_description('{upload.relation()}'::regclass)")
    assert comment[0][0].startswith(f"assetry-rows {row['data_fingerprint']} ")


@pytest.mark.parametrize("upload", ["postgres"], indirect=True)
def test_the_stamp_survives_vacuum_full_and_a_move_and_back(upload: Upload) -> None:
    """VACUUM FULL rewrites the file, a rename moves the table: neither is an edit of its rows."""
    upload.run()
    with psycopg.connect(PG_DSN, autocommit=True) as con:  # VACUUM runs outside a transaction
        con.execute(f"VACUUM FULL {upload.relation()}")
    moved = f"{upload.table}_away"
    upload.client.execute(f'ALTER TABLE {upload.relation()} RENAME TO "{moved}"')
    upload.client.execute(f'ALTER TABLE "{moved}" RENAME TO "{upload.table}"')
    assert upload.run().reasons == {"uploaded": "up to date"}


@pytest.mark.parametrize("upload", ["postgres-sqlalchemy"], indirect=True)
def test_a_digest_of_the_earlier_scheme_reruns_nothing(upload: Upload) -> None:
    """A table recorded with assetry 0.x's md5 digest is up to date, and gains the new key."""
    upload.run()
    # As assetry 0.x left it: no stamp on the table, the md5 digest in the catalog.
    upload.client.execute(f"COMMENT ON TABLE {upload.relation()} IS NULL")
    old = legacy_digest(upload.client, upload.table)
    con = duckdb.connect(str(upload.files.catalog))
    try:
        con.execute("UPDATE assets SET data_fingerprint = ?, stat_key = NULL WHERE asset = ?",
                    [old, "uploaded"])
    finally:
        con.close()
    assert upload.run().reasons == {"uploaded": "up to date"}
    row = upload.row()
    assert row["data_fingerprint"] == old and row["stat_key"].startswith("table:")
    assert upload.run().reasons == {"uploaded": "up to date"}  # by the new key now
    upload.client.execute(f"UPDATE {upload.relation()} SET x = 99 WHERE id = 3")
    assert upload.run().reasons == {"uploaded": "product modified outside assetry"}


SQL_TABLE = """
from assetry import sql_asset
from sql_fixtures import make_client

CLIENT = make_client("postgres", __import__("pathlib").Path({directory!r}))

@sql_asset(client=CLIENT, kind="table", table={table!r})
def built():
    return "SELECT i, i * 0.5 AS half, 'n' || i AS name FROM generate_series(1, 50) AS i"
"""


def test_a_sql_asset_table_of_the_earlier_scheme_reruns_nothing(files: PipelineFiles) -> None:
    """A sql_asset table recorded with the md5 digest: up to date once checked, then by key."""
    client = make_client("postgres", files.dir.parent)
    table = f"built_{uuid.uuid4().hex[:10]}"
    module = files.module("built.py", SQL_TABLE.format(directory=str(files.dir.parent),
                                                        table=table))
    try:
        assert materialize(module, root=files.root).materialized == ["built"]
        assert catalog_row(files, "built")["stat_key"].startswith("table:")
        old = legacy_digest(client, table)
        con = duckdb.connect(str(files.catalog))
        try:
            con.execute("UPDATE assets SET data_fingerprint = ?, stat_key = NULL "
                        "WHERE asset = 'built'", [old])
        finally:
            con.close()
        assert materialize(module, root=files.root).reasons == {"built": "up to date"}
        assert catalog_row(files, "built")["data_fingerprint"] == old
        client.execute(f"DELETE FROM {client.qualified(None, table)} WHERE i = 1")
        again = materialize(module, root=files.root)
        assert again.reasons == {"built": "product modified outside assetry"}
    finally:
        drop(client, None, table)
        client.close()


def legacy_digest(client: Client, table: str) -> str:
    """The digest assetry 0.x recorded for a PostgreSQL table (md5 of each row's text)."""
    schema = client.default_schema()
    columns = [tuple(r) for r in client.execute(
        bind(columns_sql("postgresql"), client.paramstyle), (schema, table))]
    quoted = [client.quote(c) for c, _ in columns]
    sql = fingerprint_sql("postgresql", client.qualified(schema, table), quoted, "md5")
    totals = client.execute(sql)[0]
    return xxhash.xxh3_128_hexdigest(repr((columns, [str(v) for v in totals])).encode())


def test_a_column_type_without_a_hash_is_fingerprinted_by_md5(tmp_path) -> None:
    """A json column (no hash function): the fingerprint falls back to md5, stable and exact."""
    client = make_client("postgres", tmp_path)
    name = f"j_{uuid.uuid4().hex[:10]}"
    relation = client.qualified(None, name)
    try:
        client.execute(f"CREATE TABLE {relation} AS SELECT i, json_build_object('i', i) AS j "
                       "FROM generate_series(1, 100) AS i")
        first = client.relation_fingerprint(None, name)
        assert first == legacy_digest(client, name)
        assert client.relation_fingerprint(None, name) == first
        client.execute(f"UPDATE {relation} SET j = '{{\"i\": 0}}' WHERE i = 1")
        assert client.relation_fingerprint(None, name) != first
    finally:
        drop(client, None, name)
        client.close()


@pytest.mark.parametrize("backend", ["postgres", "postgres-sqlalchemy"])
def test_copy_refused_in_a_late_chunk_keeps_the_previous_table(backend: str, tmp_path) -> None:
    """COPY stopping several chunks in: ClientError, the old table intact, no worker left."""
    client = make_client(backend, tmp_path)
    manager = SQLTable(client)
    name = f"late_{uuid.uuid4().hex[:10]}"
    location = manager.default_location(tmp_path, name)
    try:
        manager.save(pl.DataFrame({"a": [1, 2], "s": ["x", "y"]}), location)
        before = manager.observe(location)
        rows = 3 * COPY_CHUNK
        bad = pl.DataFrame({"a": list(range(rows)),
                            "s": ["ok"] * (rows - 1) + ["NUL \x00 is not text in PostgreSQL"]})
        with pytest.raises(ClientError, match="failed on"):
            manager.save(bad, location)
        assert manager.observe(location, before) == before
        assert manager.load(location)["s"].to_list() == ["x", "y"]
        assert leftovers(client, name) == []
        assert not [t for t in threading.enumerate() if t.name == "assetry-made-ahead"]
    finally:
        drop(client, None, name)
        client.close()


def every_binary_type(rows: int) -> pl.DataFrame:
    """A column of each type binary COPY sends, extremes included, a null every 7th row."""
    i = pl.int_range(rows, eager=True)
    frame = pl.DataFrame({
        "i8": (i % 256 - 128).cast(pl.Int8), "u8": (i % 256).cast(pl.UInt8),
        "i16": (i % 65536 - 32768).cast(pl.Int16), "u16": (i % 65536).cast(pl.UInt16),
        "i32": (i * 40_503 - 2**31).cast(pl.Int32), "u32": (i * 4_294).cast(pl.UInt32),
        "i64": (i * 9_007_199_254_740_993 - 2**62).cast(pl.Int64),
        "f32": (i.cast(pl.Float32) / 3), "f64": (i.cast(pl.Float64) * -1.000001e300 / 7),
        "b": i % 3 == 0, "s": "é " + i.cast(pl.String), "bin": i.cast(pl.String).cast(pl.Binary),
        "d": (i * 7 - 700_000).cast(pl.Date),
        "ts": (i * 3_600_000_123 - 2**52).cast(pl.Datetime("us")),
        "ms": (i * 86_400_001 - 2**40).cast(pl.Datetime("ms")),
        "tz": (i * 1_000_003).cast(pl.Datetime("us", "UTC")),
        "cat": (i % 5).cast(pl.String).cast(pl.Categorical),
        "enum": (i % 2).cast(pl.String).cast(pl.Enum(["0", "1"])),
        "nul": pl.Series([None] * rows, dtype=pl.Null),
    })
    nulls = i % 7 == 3
    return frame.with_columns(pl.when(~nulls).then(pl.col(c)).alias(c) for c in frame.columns)


@pytest.mark.parametrize("backend", ["postgres", "postgres-sqlalchemy"])
def test_binary_copy_keeps_every_value_across_chunks(backend: str, tmp_path) -> None:
    """Every type sent as binary COPY reads back equal, nulls and chunk edges included."""
    client = make_client(backend, tmp_path)
    name = f"bin_{uuid.uuid4().hex[:10]}"
    frame = every_binary_type(2 * COPY_CHUNK + 3).with_row_index("row")
    try:
        assert client.upload(frame, None, name) == frame.height
        back = pl.from_arrow(client.read_table(None, name)).sort("row")
        wider = {"row": pl.Int64, "i8": pl.Int16, "u8": pl.Int16, "u16": pl.Int32,
                 "u32": pl.Int64, "ms": pl.Datetime("us"), "cat": pl.String, "enum": pl.String,
                 "nul": pl.String}
        assert_frame_equal(back, frame.cast(wider))  # types widen as docs/sql.md says
    finally:
        drop(client, None, name)
        client.close()


def test_made_ahead_raises_the_worker_error_and_stops_when_closed() -> None:
    """An error making an item is raised in order; closing early ends the worker thread."""

    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("cannot make item 2")

    got: list[int] = []
    with pytest.raises(ValueError, match="cannot make item 2"):
        got.extend(made_ahead(failing()))
    assert got == [1]

    def endless() -> Iterator[int]:
        n = 0
        while True:
            n += 1
            yield n

    ahead = made_ahead(endless())
    assert [next(ahead) for _ in range(3)] == [1, 2, 3]
    ahead.close()
    assert not [t for t in threading.enumerate() if t.name == "assetry-made-ahead"]
