"""Executors: processes and Dask run the same pipelines as threads, and fail clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assetry import AssetError, Catalog, MaterializeError, materialize

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
def where() -> dict:
    return {"pid": os.getpid()}

@asset
def report(totals: pl.DataFrame, where: dict) -> dict:
    return {"groups": totals.height, "pid": os.getpid()}
"""

EXPECTED = pl.DataFrame({"k": ["a", "b"], "x": [4, 2]})


def test_processes_run_assets_in_other_processes_and_skip_next_time(files):
    """executor='processes' runs a module loaded by path in workers; a second run skips all."""
    mod = files.module("pipe.py", PIPELINE)
    first = materialize(mod, root=files.root, executor="processes", max_workers=2)
    assert sorted(first.materialized) == ["raw", "report", "totals", "where"]
    assert_frame_equal(first.load("totals"), EXPECTED)
    assert first.load("where")["pid"] != os.getpid()
    assert first.load("report")["pid"] != os.getpid()
    second = materialize(files.load("pipe.py"), root=files.root, executor="processes")
    assert second.materialized == [] and len(second.skipped) == 4


def test_assets_defined_in_main_run_under_processes(tmp_path):
    """A script defining its assets in __main__, with no main guard, runs under processes."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(f"""
        import json, os
        from assetry import asset, materialize

        OFFSET = 40

        def helper(x):
            return x + OFFSET

        @asset
        def answer() -> dict:
            return {{"value": helper(2), "pid": os.getpid()}}

        result = materialize([answer], root={str(tmp_path / "data")!r}, executor="processes")
        print(json.dumps({{"stored": result.load("answer"), "driver": os.getpid()}}))
    """))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["stored"]["value"] == 42
    assert seen["stored"]["pid"] != seen["driver"]


DYING = """
import os, signal, time
from assetry import asset

@asset
def fine() -> dict:
    time.sleep(0.2)
    return {"ok": 1}

@asset
def exits() -> dict:
    time.sleep(0.1)
    os._exit(3)

@asset
def killed() -> dict:
    time.sleep(0.1)
    os.kill(os.getpid(), signal.SIGKILL)

@asset
def after(killed: dict) -> dict:
    return killed

@asset
def also_fine(fine: dict) -> dict:
    return {"ok": fine["ok"] + 1}
"""


def test_a_dying_worker_fails_only_its_asset(files):
    """os._exit() or SIGKILL inside an asset fails that asset clearly; the others finish."""
    mod = files.module("dying.py", DYING)
    result = materialize(
        mod, root=files.root, executor="processes", max_workers=2, raise_on_error=False
    )
    assert sorted(result.failed) == ["exits", "killed"]
    assert result.blocked == ["after"]
    assert sorted(result.materialized) == ["also_fine", "fine"]
    assert "worker process running asset 'killed'" in result.errors["killed"]
    assert "died abruptly" in result.errors["exits"]
    assert not (files.root / "killed.json").exists()


def test_retries_under_processes(files, tmp_path):
    """@asset(retries=2) retries inside the worker; the catalog records the attempts."""
    counter = tmp_path / "attempts.txt"
    mod = files.module("flaky.py", f"""
        import pathlib
        from assetry import asset

        COUNTER = pathlib.Path({str(counter)!r})

        @asset(retries=2)
        def flaky() -> dict:
            n = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
            COUNTER.write_text(str(n))
            if n < 3:
                raise ConnectionError(f"attempt {{n}} failed")
            return {{"attempts": n}}
    """)
    result = materialize(mod, root=files.root, executor="processes")
    assert result.load("flaky") == {"attempts": 3}
    rows = Catalog(files.catalog).sql("SELECT status, attempts FROM materializations")
    assert rows.rows() == [("materialized", 3)]


def test_unpicklable_task_fails_clearly_under_processes(files):
    """An asset whose code holds an unpicklable object cannot be shipped, and says so."""
    mod = files.module("lock.py", """
        import threading
        from assetry import asset

        LOCK = threading.Lock()

        @asset
        def guarded() -> dict:
            with LOCK:
                return {"x": 1}

        @asset
        def free() -> dict:
            return {"y": 2}
    """)
    with pytest.raises(MaterializeError, match="asset 'guarded'.*cannot be sent to a worker "
                       "process.*use executor='threads'") as info:
        materialize(mod, root=files.root, executor="processes")
    assert info.value.result.materialized == ["free"]


def test_unknown_executor_is_rejected(files):
    """An executor name that is not known is an AssetError listing the choices."""
    mod = files.module("pipe.py", PIPELINE)
    with pytest.raises(AssetError, match="executor 'gpu' is not one of 'sync', 'threads'"):
        materialize(mod, root=files.root, executor="gpu")


@pytest.mark.parametrize("name", ["sync", "threads", "processes"])
def test_every_executor_is_a_concurrent_futures_executor(name):
    """make_executor gives a concurrent.futures.Executor: submit(fn, *args, **kwargs), shutdown."""
    import concurrent.futures as cf

    from assetry.engine.executors import make_executor

    executor = make_executor(name, max_workers=2)
    assert isinstance(executor, cf.Executor)
    assert executor.name == name
    try:
        assert executor.submit(max, 1, -5, key=abs).result(timeout=60) == -5
        assert list(executor.map(abs, [-1, -2])) == [1, 2]
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def test_a_concurrent_futures_executor_runs_the_pipeline(files):
    """Any concurrent.futures.Executor runs a pipeline; the run shuts it down at the end."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=2)
    mod = files.module("pipe.py", PIPELINE)
    result = materialize(mod, root=files.root, executor=pool)
    assert sorted(result.materialized) == ["raw", "report", "totals", "where"]
    assert Catalog(files.catalog).sql("SELECT executor FROM runs")["executor"].to_list() == [
        "ThreadPoolExecutor"]  # its class name, not its repr
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        pool.submit(print)


def test_dask_string_starts_and_closes_a_local_cluster(files):
    """executor='dask' runs on a fresh local cluster of worker processes, closed afterwards."""
    from assetry.engine.executors import make_executor

    executor = make_executor("dask", max_workers=1)
    mod = files.module("pipe.py", PIPELINE)
    result = materialize(mod, root=files.root, executor=executor)
    assert sorted(result.materialized) == ["raw", "report", "totals", "where"]
    assert result.load("where")["pid"] != os.getpid()
    assert executor.client.status == "closed"


def test_dask_missing_names_the_extra(files, monkeypatch):
    """executor='dask' without dask.distributed installed names pip install 'assetry[dask]'."""
    monkeypatch.setitem(sys.modules, "distributed", None)
    mod = files.module("pipe.py", PIPELINE)
    with pytest.raises(AssetError, match=r"pip install 'assetry\[dask\]'"):
        materialize(mod, root=files.root, executor="dask")


# -- Dask ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_clients():
    """One in-process and one two-process LocalCluster, shared by the Dask tests."""
    import distributed
    clusters = {
        "threads": distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
        ),
        "processes": distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ),
    }
    clients = {k: distributed.Client(c) for k, c in clusters.items()}
    yield clients
    for k, client in clients.items():
        client.close()
        clusters[k].close()


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_dask_client_runs_the_pipeline(files, dask_clients, kind):
    """A dask.distributed Client runs every asset on the cluster; a second run skips all."""
    mod = files.module("pipe.py", PIPELINE)
    client = dask_clients[kind]
    first = materialize(mod, root=files.root, executor=client)
    assert sorted(first.materialized) == ["raw", "report", "totals", "where"]
    assert_frame_equal(first.load("totals"), EXPECTED)
    if kind == "processes":
        assert first.load("where")["pid"] != os.getpid()
    second = materialize(files.load("pipe.py"), root=files.root, executor=client)
    assert second.materialized == []
    runs = Catalog(files.catalog).sql("SELECT executor FROM runs")
    assert runs["executor"].to_list() == ["dask", "dask"]  # not the Client's repr


def test_dask_failure_is_recorded_and_blocks_downstream(files, dask_clients):
    """An asset raising on a Dask worker fails with its message; downstream is blocked."""
    mod = files.module("fail.py", """
        from assetry import asset

        @asset
        def bad() -> dict:
            raise ValueError("no good")

        @asset
        def child(bad: dict) -> dict:
            return bad

        @asset
        def good() -> dict:
            return {"x": 1}
    """)
    result = materialize(
        mod, root=files.root, executor=dask_clients["processes"], raise_on_error=False
    )
    assert result.failed == ["bad"] and result.blocked == ["child"]
    assert result.materialized == ["good"]
    assert "ValueError: no good" in result.errors["bad"]
