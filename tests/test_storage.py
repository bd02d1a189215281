"""Products on object storage: every test talks HTTP to a real moto S3 server on 127.0.0.1.

The ``s3`` fixture (tests/s3_server.py) gives each test its own bucket; the
server counts requests and response bytes, so request costs and transferred
bytes are measured, not assumed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from s3_server import SECRET_KEY

from assetry import Catalog, materialize
from assetry.errors import StorageError

PIPELINE = """
import pathlib
import polars as pl
import pyarrow as pa
from assetry import asset, DailyPartitions
from assetry.io_managers import CSV, JSON, Pickle, Directory

@asset
def frame() -> pl.DataFrame:
    return pl.DataFrame({"carrier": ["AA", "UA", "DL"], "delay": [1.0, 2.0, 3.5]})

@asset(io=CSV())
def table(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(n=pl.lit(1))

@asset
def summary(table: pl.DataFrame) -> dict:
    return {"rows": table.height, "carriers": sorted(table["carrier"].to_list())}

@asset
def blob(summary: dict) -> set:
    return set(summary["carriers"])

@asset
def parts(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {c: frame.filter(pl.col("carrier") == c) for c in frame["carrier"]}

@asset
def lazy_sum(frame: pl.LazyFrame, parts: dict[str, pl.LazyFrame]) -> pl.DataFrame:
    together = pl.concat([p.collect() for p in parts.values()])
    return frame.select(pl.col("delay").sum()).collect().with_columns(n=pl.lit(together.height))

@asset
def as_arrow(frame: pa.Table, blob: set) -> pl.DataFrame:
    return pl.from_arrow(frame).with_columns(k=pl.lit(len(blob)))

@asset
def from_path(frame: pathlib.Path, parts: pathlib.Path) -> dict:
    return {"file": frame.is_file(), "size": frame.stat().st_size,
            "parts": sorted(p.name for p in parts.iterdir())}
"""

ALL = ["frame", "table", "summary", "blob", "parts", "lazy_sum", "as_arrow", "from_path"]


def run(s3, module, tmp_path, **kw):
    kw.setdefault("root", s3.root)
    kw.setdefault("storage_options", s3.storage_options)
    kw.setdefault("catalog", tmp_path / "catalog.duckdb")
    return materialize(module, **kw)


def keys(s3) -> list[str]:
    prefix = f"{s3.name}/data/"
    return sorted(k[len(prefix):] for k in s3.fs.find(f"{s3.name}/data"))


def test_every_file_manager_and_directories_round_trip_on_s3(s3, files, tmp_path):
    """Parquet, CSV, JSON, Pickle and Directory products live in the bucket and load back."""
    mod = files.module("pipe.py", PIPELINE)
    result = run(s3, mod, tmp_path)
    assert sorted(result.materialized) == sorted(ALL)
    stored = keys(s3)
    for name in ("frame.parquet", "table.csv", "summary.json", "blob.pkl",
                 "parts/_assetry_manifest.json"):
        assert name in stored
    assert len([k for k in stored if k.startswith("parts/_v-")]) == 3
    assert not list(tmp_path.joinpath("data").glob("*.parquet"))  # nothing local
    assert_frame_equal(result.load("frame"), mod.frame())
    assert result.load("summary") == {"rows": 3, "carriers": ["AA", "DL", "UA"]}
    assert result.load("blob") == {"AA", "DL", "UA"}
    assert sorted(result.load("parts")) == ["AA", "DL", "UA"]
    assert result.load("lazy_sum")["delay"][0] == 6.5
    assert result.load("as_arrow")["k"][0] == 3
    assert result.load("from_path") == {
        "file": True, "size": s3.fs.info(f"{s3.name}/data/frame.parquet")["size"],
        "parts": ["AA.parquet", "DL.parquet", "UA.parquet"]}
    assert Catalog(tmp_path / "catalog.duckdb").load("table")["n"].to_list() == [1, 1, 1]
    row = duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True).execute(
        "SELECT location FROM assets WHERE asset = 'frame'").fetchone()
    assert row == (f"{s3.root}/frame.parquet",)


def test_a_no_op_run_lists_the_root_once_and_downloads_nothing(s3, files, tmp_path):
    """Every product fresh: one LIST of the root (which also proves the bucket there), no HEAD,
    no object read."""
    mod = files.module("pipe.py", PIPELINE)
    run(s3, mod, tmp_path)
    s3.reset()
    result = run(s3, mod, tmp_path)
    assert result.materialized == [] and sorted(result.skipped) == sorted(ALL)
    counts = s3.counts()
    assert counts["requests"] == {"GET": 1}, counts  # ListObjectsV2 is a GET
    assert counts["received"] == 0


CHAIN = """
import polars as pl
from assetry import asset

@asset
def a0() -> pl.DataFrame:
    return pl.DataFrame({"x": [1, 2, 3]})

@asset
def a1(a0: pl.DataFrame) -> pl.DataFrame:
    return a0.with_columns(pl.col("x") + 1)

@asset
def a2(a1: pl.DataFrame) -> dict:
    return {"total": int(a1["x"].sum())}

@asset
def a3(a2: dict) -> set:
    return {a2["total"]}

@asset
def a4(a1: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {"low": a1.filter(pl.col("x") < 3), "high": a1.filter(pl.col("x") >= 3)}
"""


def test_a_cold_run_makes_no_head_request_per_asset(s3, files, tmp_path):
    """Cold run of a small chain, counted at the server: the LIST of the root (also the check
    that the bucket is there), one PUT per file product, one GET per upstream read; a directory
    product adds a LIST of its prefix and the PUT of its manifest. No HEAD at all: reads do not
    ask for the size first, uploads answer their ETag, an empty prefix is listed once."""
    mod = files.module("chain.py", CHAIN)
    s3.reset()
    result = run(s3, mod, tmp_path)
    assert sorted(result.materialized) == ["a0", "a1", "a2", "a3", "a4"]
    counts = s3.counts()["requests"]
    # GET: 1 LIST of the root + 4 reads (a1<-a0, a2<-a1, a3<-a2, a4<-a1) + 1 LIST of a4/.
    # PUT: a0..a3, a4's two files and its manifest.
    assert counts == {"GET": 6, "PUT": 7}, counts
    assert result.load("a3") == {9}
    s3.reset()
    assert run(s3, mod, tmp_path).materialized == []
    assert s3.counts()["requests"] == {"GET": 1}


def test_code_change_deleted_and_overwritten_products_are_noticed(s3, files, tmp_path):
    """code changed, product missing and product modified outside assetry, as on local disk."""
    mod = files.module("pipe.py", PIPELINE)
    run(s3, mod, tmp_path)
    s3.fs.rm(f"{s3.name}/data/blob.pkl")
    s3.fs.pipe_file(f"{s3.name}/data/summary.json", b'{"rows": 99}')
    mod = files.module("pipe.py", PIPELINE.replace("n=pl.lit(1)", "n=pl.lit(1) + 0"))
    result = run(s3, mod, tmp_path)
    reasons = {s[0]: st.reason for s, st in result.states.items()}
    assert reasons["table"].startswith("code changed")
    assert reasons["summary"] == "product modified outside assetry"
    assert reasons["blob"] == "product missing"
    assert reasons["frame"] == "up to date"
    assert result.load("summary") == {"rows": 3, "carriers": ["AA", "DL", "UA"]}
    assert result.load("blob") == {"AA", "DL", "UA"}
    again = run(s3, mod, tmp_path)
    assert again.materialized == []


def test_a_directory_changed_or_removed_outside_assetry_is_stale(s3, files, tmp_path):
    """A file of the current generation rewritten: modified; the manifest gone: missing."""
    mod = files.module("pipe.py", PIPELINE)
    run(s3, mod, tmp_path)
    manifest = json.loads(s3.fs.cat_file(f"{s3.name}/data/parts/_assetry_manifest.json"))
    one = f"{s3.name}/data/parts/{manifest['generation']}/AA.parquet"
    buffer = __import__("io").BytesIO()
    pl.DataFrame({"carrier": ["ZZ"], "delay": [0.0]}).write_parquet(buffer)
    s3.fs.pipe_file(one, buffer.getvalue())
    result = run(s3, mod, tmp_path, select="parts")
    assert result.states[("parts", None)].reason == "product modified outside assetry"
    assert sorted(result.load("parts")) == ["AA", "DL", "UA"]
    assert result.load("parts")["AA"]["carrier"].to_list() == ["AA"]
    s3.fs.rm(f"{s3.name}/data/parts/_assetry_manifest.json")
    assert run(s3, mod, tmp_path, select="parts").states[("parts", None)].reason == "product missing"
    # Only the current generation and the one it replaced are left in the bucket.
    generations = {k.split("/")[1] for k in keys(s3) if k.startswith("parts/_v-")}
    assert len(generations) <= 2


PARTITIONED = """
import datetime
import pathlib
import polars as pl
from assetry import asset, DailyPartitions

@asset(partitions=DailyPartitions(start="2013-01-01", end="2013-01-03"))
def daily(partition: datetime.date) -> pl.DataFrame:
    return pl.DataFrame({"date": [partition], "n": [partition.day]})

@asset
def total(daily: pl.LazyFrame) -> pl.DataFrame:
    return daily.select(pl.col("n").sum()).collect()

@asset
def copies(daily: dict[str, pathlib.Path]) -> dict:
    return {k: p.is_file() for k, p in daily.items()}

@asset
def one_folder(daily: pathlib.Path) -> int:
    return 1
"""


def test_partitions_are_stored_in_hive_layout_in_the_bucket(s3, files, tmp_path):
    """Each partition is <root>/<asset>/date=<key>/data.parquet; a new run skips them all."""
    mod = files.module("parts.py", PARTITIONED)
    result = run(s3, mod, tmp_path, raise_on_error=False)
    assert keys(s3) == ["copies.json", "daily/date=2013-01-01/data.parquet",
                        "daily/date=2013-01-02/data.parquet", "daily/date=2013-01-03/data.parquet",
                        "total.parquet"]
    assert result.load("total")["n"][0] == 6
    assert result.load("copies") == {"2013-01-01": True, "2013-01-02": True, "2013-01-03": True}
    assert result.failed == ["one_folder"]
    error = result.errors["one_folder"]
    assert "on an object store" in error and "dict[str, pathlib.Path]" in error
    s3.fs.rm(f"{s3.name}/data/daily/date=2013-01-02/data.parquet")
    again = run(s3, mod, tmp_path, select=["daily", "total"])
    assert again.materialized == ["daily[2013-01-02]"]
    assert again.states[("daily", "2013-01-02")].reason == "product missing"


BIG = """
import numpy as np
import polars as pl
from assetry import asset

@asset
def big(rows: int = 200_000) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame({f"c{i}": rng.random(rows) for i in range(5)})

@asset
def one_column(big: pl.LazyFrame) -> pl.DataFrame:
    return big.select(pl.col("c3").mean()).collect()
"""


def test_a_lazy_frame_reads_one_column_of_five_for_a_fraction_of_the_bytes(s3, files, tmp_path):
    """pl.LazyFrame of a remote Parquet product is a ranged scan: 1 of 5 columns, < 30% of bytes."""
    mod = files.module("big.py", BIG)
    run(s3, mod, tmp_path, select="big")
    size = s3.fs.info(f"{s3.name}/data/big.parquet")["size"]
    s3.reset()
    result = run(s3, mod, tmp_path, select="one_column")
    sent = s3.counts()["sent"]
    assert result.materialized == ["one_column"]
    assert result.load("one_column")["c3"][0] == pytest.approx(result.load("big")["c3"].mean())
    assert sent < 0.3 * size, (sent, size)


def test_credentials_are_never_in_the_catalog_logs_or_errors(s3, files, tmp_path, caplog, monkeypatch):
    """The secret key reaches the store only: not the catalog file, a log line or a message."""
    mod = files.module("pipe.py", PIPELINE + textwrap.dedent("""
        import logging

        @asset
        def chatty(frame: pl.DataFrame) -> pl.DataFrame:
            logging.getLogger("user").warning("storing %d rows", frame.height)
            return frame
        """))
    with caplog.at_level(logging.DEBUG):
        run(s3, mod, tmp_path)
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        bad = dict(s3.storage_options, client_kwargs={"endpoint_url": "http://127.0.0.1:9"},
                   config_kwargs={"retries": {"max_attempts": 1}})  # nothing listens there
        with pytest.raises(StorageError) as info:
            run(s3, mod, tmp_path, storage_options=bad)
    assert "cannot be reached" in str(info.value)
    assert SECRET_KEY not in str(info.value) and SECRET_KEY not in repr(info.value)
    assert SECRET_KEY not in caplog.text
    catalog = tmp_path / "catalog.duckdb"
    assert SECRET_KEY.encode() not in catalog.read_bytes()
    con = duckdb.connect(str(catalog), read_only=True)
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    for table in tables:
        for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
            assert SECRET_KEY not in repr(row), table
    with pytest.raises(StorageError) as info:
        run(s3, mod, tmp_path, root=f"s3://AKID:{SECRET_KEY}@{s3.name}/data")
    assert SECRET_KEY not in str(info.value)


def test_the_environment_alone_gives_endpoint_and_credentials(s3, files, tmp_path, monkeypatch):
    """No storage_options: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY apply;
    without a catalog the catalog is catalog.duckdb in the current directory."""
    monkeypatch.chdir(tmp_path)
    mod = files.module("pipe.py", PIPELINE)
    result = materialize(mod, root=s3.root, select="frame")
    assert result.materialized == ["frame"]
    assert (tmp_path / "catalog.duckdb").is_file()
    assert (tmp_path / ".assetry" / "runs").is_dir()  # the run's lock is local, beside the catalog
    assert not (tmp_path / "s3:").exists()


def test_a_file_url_root_is_the_local_fast_path(files, tmp_path):
    """file:// roots are plain local directories."""
    mod = files.module("pipe.py", PIPELINE)
    result = materialize(mod, root=f"file://{tmp_path}/local", select="frame")
    assert result.materialized == ["frame"]
    assert (tmp_path / "local" / "frame.parquet").is_file()
    assert (tmp_path / "local" / "catalog.duckdb").is_file()


def test_process_workers_get_the_credentials_from_the_task(s3, files, tmp_path, monkeypatch):
    """A worker process reads and writes the bucket with the run's storage_options."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var)
    mod = files.module("pipe.py", PIPELINE)
    result = run(s3, mod, tmp_path, executor="processes", max_workers=2,
                 select=["frame", "table", "summary"])
    assert sorted(result.materialized) == ["frame", "summary", "table"]
    assert result.load("summary")["rows"] == 3


def test_a_missing_library_names_the_cloud_extra(monkeypatch, tmp_path):
    """Without fsspec, a remote root fails with the install command of the cloud extra."""
    from assetry.storage import _fsspec

    monkeypatch.setitem(sys.modules, "fsspec", None)
    monkeypatch.setattr(_fsspec, "_FILESYSTEMS", {})
    with pytest.raises(StorageError, match=r"pip install .*\[cloud\]"):
        materialize([], root="s3://nobucket/data", catalog=tmp_path / "c.duckdb")


def test_import_assetry_loads_no_object_store_library():
    """fsspec and s3fs are imported on first use of a remote location only."""
    code = ("import sys, assetry, assetry.io_managers, assetry.storage; "
            "print(sorted(m for m in ('fsspec', 's3fs', 'botocore') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


WRITER = """
import importlib.util, sys
from assetry import materialize
spec = importlib.util.spec_from_file_location("killed_pipeline", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
materialize(module, root=sys.argv[2], catalog=sys.argv[3], executor="sync",
            config={sys.argv[4]: {"size": 40 << 20}})
"""

KILLED = """
import os
import polars as pl
from assetry import asset
from assetry.io_managers import Directory, Pickle

@asset
def blob(size: int = 10) -> bytes:
    return os.urandom(size)

@asset(io=Directory(format=Pickle()))
def pieces(size: int = 10) -> dict:
    return {"a": os.urandom(size), "b": os.urandom(size), "c": os.urandom(size)}
"""


def _kill_mid_upload(s3, path, tmp_path, asset, key_part):
    """Run a writer process that replaces ``asset`` by a 40 MiB one; SIGKILL it mid-upload."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), s3.root, str(tmp_path / "catalog.duckdb"), asset],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            uploads = s3.fs.call_s3("list_multipart_uploads", Bucket=s3.name).get("Uploads", [])
            if any(key_part in u["Key"] for u in uploads):
                break
            assert writer.poll() is None, writer.stderr.read().decode()  # type: ignore[union-attr]
            time.sleep(0.005)
        else:
            pytest.fail("the writer never started its upload")
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    assert writer.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_a_writer_killed_mid_upload_leaves_the_previous_products(s3, files, tmp_path):
    """SIGKILL during an upload: a reader and the next run see the previous file and directory."""
    mod = files.module("killed.py", KILLED)
    run(s3, mod, tmp_path)
    before_blob = Catalog(tmp_path / "catalog.duckdb").load("blob")
    before_pieces = Catalog(tmp_path / "catalog.duckdb").load("pieces")
    assert len(before_blob) == 10
    _kill_mid_upload(s3, files.dir / "killed.py", tmp_path, "blob", "blob.pkl")
    assert Catalog(tmp_path / "catalog.duckdb").load("blob") == before_blob
    _kill_mid_upload(s3, files.dir / "killed.py", tmp_path, "pieces", "/b.pkl")
    assert Catalog(tmp_path / "catalog.duckdb").load("pieces") == before_pieces
    # The second writer swept the first one's lock; its own is left, as a killed run leaves it.
    assert len(list((tmp_path / ".assetry" / "runs").glob("*.lock"))) == 1
    again = run(s3, mod, tmp_path)
    assert sorted(again.skipped) == ["blob", "pieces"]
    assert {st.reason for st in again.states.values()} == {"up to date"}
    assert list((tmp_path / ".assetry" / "runs").glob("*.lock")) == []  # swept, as dead


class _RootWithOptions:
    """A root object as ``upath.UPath`` is: its ``str()`` is the URL, it carries its options."""

    def __init__(self, url, storage_options):
        self.url, self.storage_options = url, storage_options

    def __str__(self):
        return self.url


def test_a_root_object_carries_its_storage_options(s3, files, tmp_path, monkeypatch):
    """root=<an object with storage_options> (a UPath) needs no storage_options= of its own."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var)
    mod = files.module("pipe.py", PIPELINE)
    root = _RootWithOptions(f"s3://{s3.name}/other", s3.storage_options)
    result = materialize(mod, root=root, select="frame", catalog=tmp_path / "c.duckdb")
    assert result.materialized == ["frame"]
    assert s3.fs.exists(f"{s3.name}/other/frame.parquet")


def test_a_save_for_a_dead_run_is_never_uploaded(s3):
    """As on local disk, the product of a run whose driver is gone does not replace anything."""
    from assetry import storage
    from assetry.io_managers import JSON
    from assetry.io_managers.base import run_scope

    storage.register(s3.root, s3.storage_options)
    location = f"{s3.root}/late.json"
    JSON().save({"v": 1}, location)
    with run_scope("0" * 32, lambda: False), pytest.raises(StorageError, match="no longer alive"):
        JSON().save({"v": 2}, location)
    assert JSON().load(location) == {"v": 1}


def test_status_and_accept_of_a_remote_run_read_the_bucket(s3, files, tmp_path):
    """Catalog.status after a remote run observes the products in the bucket, not a local path."""
    mod = files.module("pipe.py", PIPELINE)
    run(s3, mod, tmp_path)
    catalog = Catalog(tmp_path / "catalog.duckdb")
    assert catalog.root == s3.root
    assert catalog.status(mod)["fresh"].all()
    s3.fs.rm(f"{s3.name}/data/blob.pkl")
    reasons = dict(catalog.status(mod).select("asset", "reason").iter_rows())
    assert reasons["blob"] == "product missing"


def test_a_local_run_imports_no_object_store_library(tmp_path):
    """Local roots take the local paths only: fsspec is never imported."""
    code = textwrap.dedent(f"""
        import sys, polars as pl
        from assetry import asset, materialize
        @asset
        def a() -> pl.DataFrame:
            return pl.DataFrame({{"x": [1]}})
        @asset
        def b(a: pl.LazyFrame) -> dict[str, pl.DataFrame]:
            return {{"one": a.collect()}}
        materialize([a, b], root={str(tmp_path / "data")!r})
        materialize([a, b], root={str(tmp_path / "data")!r})
        print(sorted(m for m in ("fsspec", "s3fs", "botocore") if m in sys.modules))
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_store_without_atomic_uploads_writes_a_temporary_key_then_moves_it(files, tmp_path,
                                                                             monkeypatch):
    """memory:// (any fsspec store but S3, GCS and Azure): temporary key, then a move; no leftover."""
    import fsspec

    monkeypatch.setenv("ASSETRY_CACHE_DIR", str(tmp_path / "object-cache"))

    mod = files.module("pipe.py", PIPELINE)
    root = f"memory://assetry-test-{tmp_path.name}/data"
    result = materialize(mod, root=root, catalog=tmp_path / "c.duckdb")
    assert sorted(result.materialized) == sorted(ALL)
    fs = fsspec.filesystem("memory")
    names = fs.find(root.removeprefix("memory://"))
    assert not [n for n in names if ".assetry-tmp-" in n]
    assert materialize(mod, root=root, catalog=tmp_path / "c.duckdb").materialized == []
    fs.pipe_file(root.removeprefix("memory://") + "/summary.json", b'{"rows": 0}')
    again = materialize(mod, root=root, catalog=tmp_path / "c.duckdb")
    assert again.states[("summary", None)].reason == "product modified outside assetry"
    fs.rm(root.removeprefix("memory://"), recursive=True)


def test_the_command_line_takes_a_bucket_as_root(s3, files, tmp_path):
    """assetry materialize/status --root s3://...: credentials from the environment, catalog local."""
    path = files.write("pipe.py", PIPELINE)
    for command, expected in (("materialize", "8 materialized"), ("materialize", "8 skipped"),
                              ("status", "8 fresh")):
        out = subprocess.run([sys.executable, "-m", "assetry", command, str(path), "--root", s3.root],
                             capture_output=True, text=True, cwd=tmp_path, check=False)
        assert out.returncode == 0, out.stderr
        assert expected in out.stdout + out.stderr
    assert "frame.parquet" in keys(s3)
    assert (files.dir / "data" / "catalog.duckdb").is_file()  # in the project, never on the store


def test_one_listing_answers_every_look_up_under_its_prefix_only(s3):
    """listing(prefix): one LIST; a key under it is found or missing without a request; a key
    of a sibling prefix (data2/ beside data/) is not under it and is asked for on its own."""
    from assetry import storage

    for key in ("data/x", "data/sub/y", "data2/z", "datax"):
        s3.fs.pipe_file(f"{s3.name}/{key}", b"1")
    storage.register(s3.root, s3.storage_options)
    assert sorted(storage.list_under(s3.root)) == [f"{s3.root}/sub/y", f"{s3.root}/x"]
    s3.reset()
    with storage.listing(s3.root):
        assert storage.stat(f"{s3.root}/x").size == 1
        assert storage.stat(f"{s3.root}/missing") is None
        assert s3.counts()["requests"] == {"GET": 1}
        assert storage.stat(f"s3://{s3.name}/data2/z") is not None
    assert s3.counts()["requests"] == {"GET": 1, "HEAD": 1}


def test_a_missing_bucket_is_refused_by_the_roots_one_list(s3, tmp_path):
    """The LIST of the root is the run's check: a bucket that is not there fails before the run."""
    s3.reset()
    with pytest.raises(StorageError, match=r"cannot be reached .*check that bucket") as info:
        materialize([], root=f"s3://{s3.name}-missing/data", storage_options=s3.storage_options,
                    catalog=tmp_path / "catalog.duckdb")
    assert f"{s3.name}-missing" in str(info.value)
    assert s3.counts()["requests"] == {"GET": 1}


def test_ranged_reads_share_the_processs_one_s3_client(s3):
    """arrow_filesystem (pl.LazyFrame, SQL upstreams) goes through the same file system
    instance, so the same S3 client, as every other request; its files read by range, with
    one HEAD per file opened."""
    from assetry import storage
    from assetry.storage import _fsspec

    storage.register(s3.root, s3.storage_options)
    location = f"{s3.root}/x.bin"
    storage.put_bytes(location, b"0123456789")
    fs, path = storage.arrow_filesystem(location)
    assert fs.handler.fs._fs is _fsspec.filesystem(location)
    with fs.handler.fs.open(path, "rb") as f:
        assert f.blocksize == _fsspec.READ_BLOCK
    s3.reset()
    with fs.open_input_file(path) as f:
        f.seek(3)
        assert f.read(4) == b"3456"
    counts = s3.counts()
    # pyarrow's isfile before the open (1 HEAD, whose answer the open uses), the 4 bytes read.
    assert counts["requests"] == {"HEAD": 1, "GET": 1} and counts["sent"] == 4, counts
