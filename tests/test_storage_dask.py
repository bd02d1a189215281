"""A Dask cluster that shares no disk: workers read and write products on the object store.

The workers are separate ``dask worker`` processes started in working
directories of their own, without any ``AWS_*`` variable in their environment:
the only way they reach the moto S3 server is the root URL and the storage
options that each task carries from the driver, in memory.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import distributed
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from s3_server import SECRET_KEY

from assetry import Catalog, materialize

PIPELINE = """
import os
import polars as pl
from assetry import asset

@asset
def raw() -> pl.DataFrame:
    return pl.DataFrame({"k": ["a", "b", "a"], "x": [1, 2, 3]})

@asset
def totals(raw: pl.LazyFrame) -> pl.DataFrame:
    return raw.group_by("k").agg(pl.col("x").sum()).sort("k").collect()

@asset
def by_key(raw: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {k: raw.filter(pl.col("k") == k) for k in sorted(set(raw["k"]))}

@asset
def where() -> dict:
    return {"pid": os.getpid(), "cwd": os.getcwd()}

@asset
def report(totals: pl.DataFrame, by_key: dict[str, pl.DataFrame], where: dict) -> dict:
    return {"groups": totals.height, "keys": sorted(by_key), "pid": os.getpid(),
            "cwd": os.getcwd()}
"""

EXPECTED = pl.DataFrame({"k": ["a", "b"], "x": [4, 2]})
ASSETS = ["by_key", "raw", "report", "totals", "where"]


class _Cluster:
    """A scheduler in this process and worker processes each in a directory of its own."""

    def __init__(self, base: pathlib.Path, n_workers: int = 2) -> None:
        self.scheduler = distributed.LocalCluster(
            n_workers=0, processes=True, dashboard_address=":0", host="127.0.0.1"
        )
        self.dirs = [base / f"worker-{i}" for i in range(n_workers)]
        self.logs = [base / f"worker-{i}.log" for i in range(n_workers)]
        # Nothing of the store's in the workers' environment: credentials come with the tasks.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.workers: list[subprocess.Popen[bytes]] = []
        for i, (folder, log) in enumerate(zip(self.dirs, self.logs, strict=True)):
            folder.mkdir(parents=True)
            with open(log, "wb") as out:
                self.workers.append(subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker",
                     self.scheduler.scheduler_address, "--nthreads", "1", "--no-nanny",
                     "--no-dashboard", "--name", f"w{i}", "--local-directory", str(folder)],
                    cwd=folder, env={**env, "ASSETRY_CACHE_DIR": str(folder / "cache")},
                    stdout=out, stderr=subprocess.STDOUT,
                ))
        self.client = distributed.Client(self.scheduler)
        self.client.wait_for_workers(n_workers, timeout=120)

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs)

    def close(self) -> None:
        self.client.close()
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.scheduler.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Cluster]:
    """Two ``dask worker`` processes, each in its own working directory, with no AWS variable."""
    found = _Cluster(tmp_path_factory.mktemp("dask"))
    try:
        yield found
    finally:
        found.close()


def _files_under(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _products_in(folder: pathlib.Path) -> list[pathlib.Path]:
    """Files under ``folder`` that hold product bytes (anything but Dask's own scratch files)."""
    return [p for p in _files_under(folder)
            if p.suffix in (".parquet", ".json", ".pkl", ".csv") or "s3:" in p.parts
            or p.name.startswith("_assetry")]


def test_dask_workers_read_and_write_products_on_the_store(files, s3, cluster, tmp_path):
    """Workers in their own directories write every product to the store; the driver's disk
    gets only its catalog, and a second run skips everything."""
    mod = files.module("pipe.py", PIPELINE)
    driver = tmp_path / "driver"
    catalog = driver / "catalog.duckdb"
    first = materialize(mod, root=s3.root, storage_options=s3.storage_options,
                        catalog=catalog, executor=cluster.client)
    assert sorted(first.materialized) == ASSETS

    where, report = first.load("where"), first.load("report")
    worker_dirs = {str(d) for d in cluster.dirs}
    assert where["cwd"] in worker_dirs and report["cwd"] in worker_dirs
    assert where["pid"] != os.getpid() and report["pid"] != os.getpid()
    assert report == {**report, "groups": 2, "keys": ["a", "b"]}
    assert_frame_equal(first.load("totals"), EXPECTED)

    stored = {p.removeprefix(f"{s3.name}/data/") for p in s3.fs.find(f"{s3.name}/data")}
    assert {"raw.parquet", "totals.parquet", "where.json", "report.json"} <= stored
    assert "by_key/_assetry_manifest.json" in stored
    assert any(p.startswith("by_key/") and p.endswith("/a.parquet") for p in stored)

    # The driver's side holds the catalog and its run lock, nothing else.
    left = [p for p in _files_under(driver)
            if not p.name.startswith("catalog.duckdb") and p.suffix != ".lock"]
    assert left == []
    assert not pathlib.Path("s3:").exists()  # no URL taken for a path relative to the driver's cwd
    for folder in cluster.dirs:  # their local-copy cache (ASSETRY_CACHE_DIR) included
        assert _products_in(folder) == []

    second = materialize(files.load("pipe.py"), root=s3.root, storage_options=s3.storage_options,
                         catalog=catalog, executor=cluster.client)
    assert second.materialized == [] and sorted(second.skipped) == ASSETS


def test_credentials_reach_workers_in_memory_only(files, s3, cluster, tmp_path):
    """The secret key reaches the workers only inside tasks: never the catalog, never their logs,
    even when a worker logs a task it could not load."""
    mod = files.module("trap.py", """
        import os
        from assetry import asset

        DRIVER = os.getpid()

        def _refuse(pid):
            if os.getpid() != pid:
                raise RuntimeError("this object loads only in the driver")
            return Trap()

        class Trap:
            def __reduce__(self):
                return (_refuse, (DRIVER,))

            def __repr__(self):
                return "Trap()"

        TRAP = Trap()

        @asset
        def fine() -> dict:
            return {"ok": True}

        @asset
        def trapped() -> dict:
            return {"trap": repr(TRAP)}
    """)
    catalog = tmp_path / "driver" / "catalog.duckdb"
    result = materialize(mod, root=s3.root, storage_options=s3.storage_options, catalog=catalog,
                         executor=cluster.client, raise_on_error=False)
    assert result.materialized == ["fine"] and result.failed == ["trapped"]
    assert "could not be loaded in the worker process" in result.errors["trapped"]
    assert s3.fs.exists(f"{s3.name}/data/fine.json")

    log = _wait_for(cluster.log_text, "Compute Failed")
    assert "run_packed(" in log and "this object loads only in the driver" in log
    assert SECRET_KEY not in log
    for path in catalog.parent.rglob("*"):
        if path.is_file():
            assert SECRET_KEY.encode() not in path.read_bytes(), path
    errors = Catalog(catalog).sql("SELECT error, traceback FROM materializations")
    assert not any(SECRET_KEY in (v or "") for col in errors.iter_columns() for v in col)


def _wait_for(read: Any, text: str, timeout: float = 30) -> str:
    """What ``read()`` returns once it contains ``text`` (a worker's log is written as it goes)."""
    deadline = time.monotonic() + timeout
    found = read()
    while text not in found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = read()
    assert text in found, found[-2000:]
    return str(found)


def test_a_logged_task_shows_no_credentials(s3):
    """A packed task holds the storage options, but the repr Dask logs of it shows its size only."""
    from dask._task_spec import Task as DaskTask

    from assetry.engine.executors.shipping import Sealed, pack, run_packed
    from assetry.storage import StorageOptions

    payload = pack(dict, storage=StorageOptions(s3.storage_options))
    assert SECRET_KEY.encode() in payload  # in memory, the worker needs it
    assert SECRET_KEY in repr(DaskTask("k", run_packed, payload))[:1000]  # what bare bytes show
    shown = repr(DaskTask("k", run_packed, Sealed(payload)))
    assert SECRET_KEY not in shown and f"<assetry task, {len(payload)} bytes>" in shown
