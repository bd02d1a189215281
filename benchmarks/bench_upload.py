"""Upload: a whole assetry run of a 1M-row SQLTable asset against the usual ways to load a frame.

    python benchmarks/bench_upload.py [--rows 1000000] [--probe-rows 100000] [--reps 3]

It needs the PostgreSQL server of ``ASSETRY_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Each figure is a fresh
process that builds the frame first (not timed) and then times one thing:

- ``assetry``: ``materialize()`` of one asset returning the frame with
  ``io=SQLTable(SQLAlchemyClient(url))``: what a run does, the upload AND the
  data fingerprint of the stored table, the catalog included, with the modules
  the run imports loaded before the clock starts. The same process then times a
  no-op rerun (information: it proves the table unchanged by its stamp instead
  of reading it back) and checks that the catalog holds the upload's stamp;
- ``copy``: a hand-written COPY that streams: ``CREATE TABLE``, then polars'
  CSV of 100,000-row slices into ``COPY ... FROM STDIN``, one transaction;
- ``to_sql``: ``pandas.DataFrame.to_sql`` (``method=None``) through SQLAlchemy
  and psycopg, timed on ``--probe-rows`` rows and scaled linearly to ``--rows``
  (the output says so) because it takes minutes at 1M rows (``--probe-rows``
  equal to ``--rows`` times it on every row).

The three run interleaved, one of each per round, ``--reps`` rounds; each
figure is the median.

DuckDB, for information: ``DuckDBTable.save`` against DuckDB's own
``CREATE TABLE t AS SELECT * FROM arrow_table``, in this process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import pathlib
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PG_DSN = os.environ.get("ASSETRY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TABLE = "bench_upload"
SLICE = 100_000
#: What an assetry run into PostgreSQL imports after ``import assetry``, loaded before the clock.
RUN_IMPORTS = ("duckdb", "sqlalchemy", "sqlalchemy.dialects.postgresql.psycopg", "psycopg",
               "pyarrow", "pyarrow.compute", "pyarrow.csv", "pyarrow.parquet")


def make_frame(rows: int):
    """``rows`` x 6 columns: int, float with nulls, text, bool, date, timestamp."""
    import numpy as np
    import polars as pl

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
            "at": pl.Series([start + dt.timedelta(seconds=int(s))
                             for s in rng.integers(0, 10**8, rows)]),
        }
    ).with_columns(pl.when(pl.col("id") % 17 == 0).then(None).otherwise(pl.col("amount"))
                   .alias("amount"))


# -- the children: one timed operation each, in a fresh process ------------------------------


def child(mode: str, rows: int, probe: int, workdir: str) -> None:
    import importlib
    import json

    frame = make_frame(rows)
    import psycopg

    conn = psycopg.connect(PG_DSN)
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    conn.commit()
    figures: dict[str, object] = {}
    if mode == "assetry":
        import polars as pl

        from assetry import asset, materialize
        from assetry.clients import SQLAlchemyClient
        from assetry.io_managers import SQLTable

        for name in RUN_IMPORTS:
            importlib.import_module(name)
        before = set(sys.modules)

        @asset(io=SQLTable(SQLAlchemyClient(PG_DSN), table=TABLE))
        def bench_upload() -> pl.DataFrame:
            return frame

        began = time.perf_counter()
        result = materialize([bench_upload], root=workdir, executor="sync")
        figures["run_s"] = time.perf_counter() - began
        figures["imported"] = sorted({m.split(".")[0] for m in set(sys.modules) - before})
        figures["duration_s"] = result.record("bench_upload").duration_s
        began = time.perf_counter()
        again = materialize([bench_upload], root=workdir, executor="sync")
        figures["noop_s"] = time.perf_counter() - began
        figures["noop_reason"] = again.reasons["bench_upload"]
        from assetry import Catalog

        key = Catalog(pathlib.Path(workdir) / "catalog.duckdb").sql(
            "SELECT stat_key FROM assets WHERE asset = 'bench_upload'")["stat_key"][0]
        figures["stamped"] = str(key).startswith("rows:")
    elif mode == "copy":
        began = time.perf_counter()
        hand_copy(frame, conn)
        figures["run_s"] = time.perf_counter() - began
    else:
        import sqlalchemy as sa

        small = frame.head(probe).to_pandas()
        engine = sa.create_engine(PG_DSN.replace("postgresql://", "postgresql+psycopg://", 1))
        began = time.perf_counter()
        small.to_sql(TABLE, engine, if_exists="replace", index=False)
        probe_s = time.perf_counter() - began
        figures["probe_s"] = probe_s
        figures["run_s"] = probe_s * rows / len(small)
        engine.dispose()
    count = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    figures["stored_rows"] = count
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    conn.commit()
    conn.close()
    print(json.dumps(figures))


def hand_copy(frame, conn) -> None:
    """CREATE TABLE, then COPY of polars' CSV, streamed slice by slice, in one transaction."""
    conn.execute(
        f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id BIGINT, amount DOUBLE PRECISION, "
        "carrier TEXT, late BOOLEAN, day DATE, at TIMESTAMP)"
    )
    with conn.cursor().copy(f"COPY {TABLE} FROM STDIN (FORMAT CSV)") as copy:
        for part in frame.iter_slices(SLICE):
            buffer = io.BytesIO()
            part.write_csv(buffer, include_header=False)
            copy.write(buffer.getbuffer())
    conn.commit()


# -- the parent: interleaved fresh processes, medians, target lines ---------------------------


def bench_postgres(rows: int, probe: int, reps: int) -> None:
    from _common import median, run_child, target

    print(f"\n== upload of {rows:,} rows x 6 columns into PostgreSQL "
          f"({PG_DSN.rsplit('@', 1)[-1]}), fresh processes, median of {reps}", flush=True)
    # Interleaved, one of each per round, so a noisy neighbour hurts every side alike.
    figures: dict[str, list[dict]] = {"assetry": [], "copy": [], "to_sql": []}
    with tempfile.TemporaryDirectory() as work:
        for rep in range(reps):
            for mode, runs in figures.items():
                root = str(pathlib.Path(work) / f"{mode}-{rep}")
                out = run_child(__file__, "--child", mode, "--rows", rows, "--probe-rows", probe,
                                "--workdir", root)
                wanted = rows if mode != "to_sql" else min(probe, rows)
                if out["stored_rows"] != wanted:
                    raise RuntimeError(f"{mode} stored {out['stored_rows']} rows, not {wanted}")
                runs.append(out)
    ours = median([f["run_s"] for f in figures["assetry"]])
    copy = median([f["run_s"] for f in figures["copy"]])
    to_sql = median([f["run_s"] for f in figures["to_sql"]])
    probe_s = median([f["probe_s"] for f in figures["to_sql"]])
    how = (f"scaled linearly from {probe:,} rows in {probe_s:.1f} s, as the full "
           f"{rows:,} take minutes" if probe < rows else "measured on every row")
    print("  each round (s): " + " | ".join(
        f"{mode} " + " ".join(f"{f['run_s']:.2f}" for f in runs) for mode, runs in figures.items()))
    left = sorted({m for f in figures["assetry"] for m in f["imported"]})
    if left:
        print(f"  note: the run still imported {', '.join(left)}")
    print(f"  the asset's own duration_s (save + fingerprint): "
          f"{median([f['duration_s'] for f in figures['assetry']]):.2f} s of the {ours:.2f} s run")
    stamped = all(f["stamped"] for f in figures["assetry"])
    print(f"  fingerprinted on the way in (the catalog holds the upload's stamp, no read-back): "
          f"{'yes' if stamped else 'NO'}")
    reasons = sorted({f["noop_reason"] for f in figures["assetry"]})
    target(f"no-op rerun after the upload of {rows:,} rows (same process)",
           f"{median([f['noop_s'] for f in figures['assetry']]):.3f} s",
           f"reason {', '.join(reasons)}", "-", "(information)", None)
    target(f"upload {rows:,} rows: run vs pandas.to_sql", f"{ours:.2f} s",
           f"to_sql {to_sql:.1f} s ({how})", f"{to_sql / ours:.1f}x faster", ">= 10x faster",
           to_sql / ours >= 10)
    target(f"upload {rows:,} rows: run vs streaming COPY", f"{ours:.2f} s",
           f"hand-written COPY {copy:.2f} s", f"{ours / copy:.2f}x", "<= 1.30x",
           ours / copy <= 1.3)


def bench_duckdb(rows: int) -> None:
    import duckdb
    from _common import target

    from assetry.io_managers import DuckDBTable

    frame = make_frame(rows)
    with tempfile.TemporaryDirectory() as directory:
        manager = DuckDBTable(database=str(pathlib.Path(directory) / "ours.duckdb"))
        location = manager.default_location(pathlib.Path(directory), TABLE)
        con = duckdb.connect(str(pathlib.Path(directory) / "theirs.duckdb"))

        def native() -> None:
            arrow_table = frame.to_arrow()
            con.register("arrow_table", arrow_table)
            con.execute(f"CREATE OR REPLACE TABLE {TABLE} AS SELECT * FROM arrow_table")
            con.unregister("arrow_table")

        ours, theirs = [], []
        for _ in range(3):
            began = time.perf_counter()
            manager.save(frame, location)
            ours.append(time.perf_counter() - began)
            began = time.perf_counter()
            native()
            theirs.append(time.perf_counter() - began)
        manager.client.close()
        con.close()
    target(f"DuckDBTable.save of {rows:,} rows", f"{min(ours):.2f} s",
           f"DuckDB's own CTAS from Arrow {min(theirs):.2f} s",
           f"{min(ours) / min(theirs):.2f}x", "(information)", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--probe-rows", type=int, default=100_000,
                        help="rows for the to_sql timing, scaled linearly to --rows")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one run each")
    parser.add_argument("--child", choices=["assetry", "copy", "to_sql"], default=None)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.probe_rows, args.reps = 100_000, 20_000, 1
    if args.child:
        child(args.child, args.rows, args.probe_rows, args.workdir)
        return
    bench_postgres(args.rows, min(args.probe_rows, args.rows), args.reps)
    bench_duckdb(args.rows)


if __name__ == "__main__":
    main()
