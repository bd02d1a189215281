"""Upload speed: assetry's SQL IO managers against the usual ways of loading a frame.

Run it as ``python benchmarks/bench_upload.py [--rows N]``. It needs the
PostgreSQL server of ``ASSETRY_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/test``) and writes a DuckDB file in a
temporary directory. Every figure comes from this one run; each fast method is
timed ``--repeat`` times and the best time is kept.

PostgreSQL: ``SQLTable(...).save`` (COPY) against ``pandas.DataFrame.to_sql``
(default and ``method="multi"``) and a hand-written psycopg COPY, the physical
floor. DuckDB: ``DuckDBTable.save`` against DuckDB's own
``CREATE TABLE t AS SELECT * FROM arrow_table``. A slow ``to_sql`` is timed on
``--probe-rows`` rows and scaled linearly when the full size would take over
three minutes; the output says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import pathlib
import tempfile
import time
from collections.abc import Callable

import duckdb
import numpy as np
import polars as pl
import psycopg
import sqlalchemy as sa

from assetry.clients import SQLAlchemyClient
from assetry.io_managers.sql import DuckDBTable, SQLTable

PG_DSN = os.environ.get("ASSETRY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TABLE = "bench_upload"
PATIENCE = 180.0  # seconds a to_sql run may take at full size before it is scaled instead


def make_frame(rows: int) -> pl.DataFrame:
    """``rows`` x 6 columns: int, float, text, bool, date, timestamp, with some nulls."""
    rng = np.random.default_rng(42)
    start = dt.datetime(2020, 1, 1)
    return pl.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "amount": rng.normal(100.0, 25.0, rows),
            "carrier": rng.choice(["AA", "DL", "UA", "WN", "B6", "AS"], rows),
            "late": rng.random(rows) < 0.2,
            "day": pl.date_range(dt.date(2000, 1, 1), dt.date(2000, 1, 1) + dt.timedelta(rows - 1),
                                 eager=True),
            "at": [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 10**8, rows)],
        }
    ).with_columns(pl.when(pl.col("id") % 17 == 0).then(None).otherwise(pl.col("amount"))
                   .alias("amount"))


def best(run: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` timed calls."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def drop_pg(conn: psycopg.Connection) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    conn.commit()


def hand_copy(frame: pl.DataFrame, conn: psycopg.Connection) -> None:
    """What one writes by hand: CREATE TABLE, then COPY of polars' CSV in one transaction."""
    conn.execute(
        f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id BIGINT, amount DOUBLE PRECISION, "
        "carrier TEXT, late BOOLEAN, day DATE, at TIMESTAMP)"
    )
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False)
    view = buffer.getbuffer()
    with conn.cursor().copy(f"COPY {TABLE} FROM STDIN (FORMAT CSV)") as copy:
        for start in range(0, len(view), 1 << 20):
            copy.write(view[start : start + (1 << 20)])
    conn.commit()


def time_to_sql(frame: pl.DataFrame, engine: sa.Engine, probe: int, **options: object) -> tuple:
    """Seconds for ``to_sql`` at full size, measured or scaled from ``probe`` rows."""
    small = frame.head(probe).to_pandas()
    began = time.perf_counter()
    small.to_sql(TABLE, engine, if_exists="replace", index=False, **options)
    probe_seconds = time.perf_counter() - began
    estimate = probe_seconds * frame.height / probe
    if frame.height <= probe:
        return probe_seconds, "measured"
    if estimate > PATIENCE:
        return estimate, f"scaled from {probe:,} rows ({probe_seconds:.1f} s)"
    full = frame.to_pandas()
    began = time.perf_counter()
    full.to_sql(TABLE, engine, if_exists="replace", index=False, **options)
    return time.perf_counter() - began, "measured"


def report(label: str, seconds: float, note: str = "") -> None:
    print(f"  {label:<44} {seconds:9.3f} s  {note}")


def verdict(name: str, ratio: float, target: str, ok: bool) -> None:
    print(f"  {name:<44} {ratio:9.2f} x  target {target}: {'met' if ok else 'MISSED'}")


def bench_postgres(frame: pl.DataFrame, repeat: int, probe: int, multi: bool) -> None:
    print(f"PostgreSQL ({PG_DSN.rsplit('@', 1)[-1]})")
    client = SQLAlchemyClient(PG_DSN)
    manager = SQLTable(client)
    location = manager.default_location(pathlib.Path("."), TABLE)
    conn = psycopg.connect(PG_DSN)
    drop_pg(conn)
    ours = best(lambda: manager.save(frame, location), repeat)
    assert client.execute(f"SELECT count(*) FROM {TABLE}") == [(frame.height,)]
    client.close()
    drop_pg(conn)
    floor = best(lambda: hand_copy(frame, conn), repeat)
    drop_pg(conn)
    engine = sa.create_engine(PG_DSN.replace("postgresql://", "postgresql+psycopg://", 1))
    default, how = time_to_sql(frame, engine, probe)
    report("SQLTable.save (COPY)", ours)
    report("hand-written psycopg COPY", floor)
    report("pandas to_sql (method=None)", default, how)
    if multi:
        many, how_many = time_to_sql(frame, engine, probe, method="multi", chunksize=10_000)
        report('pandas to_sql (method="multi", 10k chunks)', many, how_many)
    engine.dispose()
    drop_pg(conn)
    conn.close()
    verdict("to_sql default / SQLTable.save", default / ours, ">= 10", default / ours >= 10)
    if multi:
        verdict("to_sql multi / SQLTable.save", many / ours, ">= 10", many / ours >= 10)
    verdict("SQLTable.save / hand-written COPY", ours / floor, "<= 1.3", ours / floor <= 1.3)


def bench_duckdb(frame: pl.DataFrame, repeat: int, directory: pathlib.Path) -> None:
    print("DuckDB (file in a temporary directory)")
    manager = DuckDBTable(database=str(directory / "ours.duckdb"))
    location = manager.default_location(directory, TABLE)
    ours = best(lambda: manager.save(frame, location), repeat)
    manager.client.close()
    con = duckdb.connect(str(directory / "theirs.duckdb"))

    def native() -> None:
        arrow_table = frame.to_arrow()
        con.register("arrow_table", arrow_table)
        con.execute(f"CREATE OR REPLACE TABLE {TABLE} AS SELECT * FROM arrow_table")
        con.unregister("arrow_table")

    theirs = best(native, repeat)
    con.close()
    report("DuckDBTable.save", ours)
    report("CREATE TABLE t AS SELECT * FROM arrow_table", theirs)
    verdict("DuckDBTable.save / DuckDB's own", ours / theirs, "<= 1.2", ours / theirs <= 1.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of the fast methods")
    parser.add_argument("--probe-rows", type=int, default=200_000,
                        help="rows for the first to_sql timing (scaled if the full run is too long)")
    parser.add_argument("--skip-multi", action="store_true", help='leave out to_sql(method="multi")')
    args = parser.parse_args()
    frame = make_frame(args.rows)
    print(f"{frame.height:,} rows x {frame.width} columns "
          f"({frame.estimated_size('mb'):.0f} MB in memory); best of {args.repeat} runs\n")
    bench_postgres(frame, args.repeat, min(args.probe_rows, args.rows), not args.skip_multi)
    print()
    with tempfile.TemporaryDirectory() as directory:
        bench_duckdb(frame, args.repeat, pathlib.Path(directory))


if __name__ == "__main__":
    main()
