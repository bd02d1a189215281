"""The catalog under concurrency: one writer at a time, the others wait, readers never break a run."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import duckdb
import pytest
from conftest import held_catalog

from assetry import Catalog, CatalogError, materialize
from assetry.records import SCHEMA_VERSION

DRIVER = """
import importlib.util, json, sys
from assetry import materialize

path, root = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("pipeline_under_test", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
if len(sys.argv) > 3:
    open(sys.argv[3], "w").close()  # tell the running pipeline we are about to start
result = materialize(mod, root=root, executor="threads")
print(json.dumps({"materialized": sorted(result.materialized), "skipped": sorted(result.skipped)}))
"""

READER = """
import json, sys, time
import duckdb, polars  # imported before asking: the answer's time is the query's alone
from assetry import Catalog

open(sys.argv[2], "w").close()  # tell the running pipeline we are about to ask
t0 = time.time()
n = Catalog(sys.argv[1]).sql("SELECT count(*) AS n FROM runs").item()
print(json.dumps({"n": n, "asked": t0, "answered": time.time()}))
"""

SLOW = """
import pathlib, time
from assetry import asset

MARKER = pathlib.Path({marker!r})
GO = pathlib.Path({go!r})

@asset
def slow_a() -> dict:
    MARKER.write_text("started")
    deadline = time.monotonic() + 30
    while not GO.exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # until the other process is about to open the catalog
    time.sleep(0.5)
    return {{"a": 1}}

@asset
def slow_b(slow_a: dict) -> dict:
    return {{"b": slow_a["a"] + 1}}
"""

QUICK = """
from assetry import asset

@asset
def quick_a() -> dict:
    return {"q": 1}

@asset
def quick_b(quick_a: dict) -> dict:
    return {"q": quick_a["q"] * 2}
"""


@pytest.fixture
def project(tmp_path):
    """Pipeline files, a driver script and a shared root in tmp_path."""
    marker, go = tmp_path / "marker", tmp_path / "go"
    (tmp_path / "slow.py").write_text(SLOW.format(marker=str(marker), go=str(go)))
    (tmp_path / "quick.py").write_text(QUICK)
    (tmp_path / "driver.py").write_text(DRIVER)
    (tmp_path / "reader.py").write_text(READER)
    return tmp_path


def _start(project, *args):
    return subprocess.Popen(
        [sys.executable, str(project / args[0]), *map(str, args[1:])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _result(proc):
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _wait_for(path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_two_runs_of_different_assets_both_land(project):
    """A second materialize() process waits for the first; every record of both lands."""
    root = project / "data"
    first = _start(project, "driver.py", project / "slow.py", root)
    _wait_for(project / "marker")
    second = _start(project, "driver.py", project / "quick.py", root, project / "go")
    assert _result(first)["materialized"] == ["slow_a", "slow_b"]
    assert _result(second)["materialized"] == ["quick_a", "quick_b"]
    cat = Catalog(root / "catalog.duckdb")
    runs = cat.sql("SELECT status, started_at, finished_at FROM runs ORDER BY started_at")
    assert runs["status"].to_list() == ["success", "success"]
    assert runs["started_at"][1] >= runs["finished_at"][0]  # one writer at a time
    assets = cat.sql("SELECT asset FROM assets ORDER BY asset")["asset"].to_list()
    assert assets == ["quick_a", "quick_b", "slow_a", "slow_b"]
    assert cat.sql("SELECT count(*) FROM materializations WHERE status = 'materialized'").item() == 4


def test_two_runs_of_the_same_assets_run_once(project):
    """Two processes materializing the same assets at once: one runs them, the other skips."""
    root = project / "data"
    first = _start(project, "driver.py", project / "slow.py", root)
    _wait_for(project / "marker")
    second = _start(project, "driver.py", project / "slow.py", root, project / "go")
    assert _result(first) == {"materialized": ["slow_a", "slow_b"], "skipped": []}
    assert _result(second) == {"materialized": [], "skipped": ["slow_a", "slow_b"]}
    counts = Catalog(root / "catalog.duckdb").sql(
        "SELECT status, count(*) AS n FROM materializations GROUP BY status ORDER BY status"
    )
    assert counts.rows() == [("materialized", 2), ("skipped", 2)]
    assert not list(root.glob("*.assetry-tmp-*"))


def test_reader_during_a_run_answers_at_once(project):
    """Catalog.sql from another process during a run answers within a second, breaking nothing."""
    root = project / "data"
    run = _start(project, "driver.py", project / "slow.py", root)
    _wait_for(project / "marker")
    reader = _start(project, "reader.py", root / "catalog.duckdb", project / "go")
    assert _result(run)["materialized"] == ["slow_a", "slow_b"]
    seen = _result(reader)
    assert seen["n"] == 1
    status, finished = Catalog(root / "catalog.duckdb").sql(
        "SELECT status, epoch(finished_at) FROM runs"
    ).row(0)
    assert status == "success"
    # It asked and was answered during the run (the run releases the file between batches).
    assert seen["asked"] < seen["answered"] < finished
    assert seen["answered"] - seen["asked"] < 1.0


def test_held_catalog_times_out_naming_the_holder(files, tmp_path, monkeypatch):
    """A catalog held past ASSETRY_CATALOG_WAIT is a CatalogError naming the holder's PID."""
    path = tmp_path / "held.duckdb"
    with held_catalog(path) as holder:
        monkeypatch.setenv("ASSETRY_CATALOG_WAIT", "0.3")
        mod = files.module("quick.py", QUICK)
        with pytest.raises(CatalogError, match=rf"held by process {holder.pid} and did not free"):
            materialize(mod, root=files.root, catalog=path)


def test_reader_inside_the_running_process_shares_the_catalog(files):
    """Catalog.sql in a hook of the process that holds the catalog reads it, read-only."""
    mod = files.module("hooked.py", f"""
        from assetry import Catalog, asset

        SEEN = []

        def peek(context):
            cat = Catalog({str(files.catalog)!r})
            SEEN.append(cat.sql("SELECT value FROM meta").item())
            try:
                cat.sql("DELETE FROM runs")
            except Exception as exc:
                SEEN.append(type(exc).__name__)

        @asset(on_finish=peek)
        def one() -> dict:
            return {{"x": 1}}
    """)
    result = materialize(mod, root=files.root, executor="sync")
    assert result.materialized == ["one"]
    assert mod.SEEN == [str(SCHEMA_VERSION), "CatalogError"]
    con = duckdb.connect(str(files.catalog), read_only=True)
    assert con.execute("SELECT count(*) FROM runs").fetchall() == [(1,)]
    con.close()


def test_runs_in_two_threads_of_one_process_take_turns(files):
    """Two threads materializing on one catalog take turns: one runs, the other skips."""
    mod = files.module("quick.py", QUICK)
    results: list[list[str]] = []

    def run():
        results.append(sorted(materialize(mod, root=files.root, executor="sync").materialized))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [[], ["quick_a", "quick_b"]]
    statuses = Catalog(files.catalog).sql("SELECT status FROM runs")["status"].to_list()
    assert statuses == ["success", "success"]


def test_catalog_open_read_only_in_this_process_is_named(files):
    """A run while this process holds the catalog open read-only fails saying so."""
    mod = files.module("quick.py", QUICK)
    materialize(mod, root=files.root)
    con = duckdb.connect(str(files.catalog), read_only=True)
    try:
        with pytest.raises(CatalogError, match="open read-only in this process"):
            materialize(mod, root=files.root)
    finally:
        con.close()
    assert materialize(mod, root=files.root).skipped == ["quick_a", "quick_b"]
