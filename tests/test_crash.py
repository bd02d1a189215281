"""Crash safety: a run killed mid-asset leaves no partial product and no false record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import duckdb
from conftest import held_catalog

from assetry import materialize
from assetry.engine.roots import prepare_root
from assetry.records import lock_holders, pid_alive

PIPELINE = """
import json, os, pathlib, time
from typing import Any, ClassVar

import attrs
from assetry import asset
from assetry.io_managers.base import FileIOManager

MARKERS = pathlib.Path({markers!r})

def slow():
    return os.environ.get("CRASH_SLOW") == "1"

@attrs.frozen
class SlowText(FileIOManager):
    extension: ClassVar[str] = "txt"

    def write(self, value: Any, path: pathlib.Path):
        with open(path, "w") as f:
            f.write(value[: len(value) // 2])
            f.flush()
            if slow():
                (MARKERS / "in_write").write_text("")
                time.sleep(60)
            f.write(value[len(value) // 2 :])
        return None, None

    def load(self, location: str, annotation: Any = None) -> Any:
        return pathlib.Path(location).read_text()

@asset
def done() -> dict:
    return {{"done": True}}

@asset
def stuck_in_code(done: dict) -> dict:
    if slow():
        (MARKERS / "in_code").write_text("")
        time.sleep(60)
    return {{"finished": True}}

@asset(io=SlowText())
def stuck_in_write() -> str:
    return "x" * 100_000

@asset
def downstream(stuck_in_code: dict) -> dict:
    return stuck_in_code
"""

DRIVER = """
import importlib.util, sys
from assetry import materialize

spec = importlib.util.spec_from_file_location("crash_pipeline", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
materialize(mod, root=sys.argv[2], executor="threads", max_workers=4)
"""


def _wait_for(*paths, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, f"{[str(p) for p in paths]} never all appeared"
        time.sleep(0.02)


def test_sigkill_mid_asset_then_next_run_redoes_exactly_the_unfinished(files, tmp_path, monkeypatch):
    """SIGKILL mid-asset: no partial product, no success row; the next run redoes only those."""
    markers = tmp_path / "markers"
    markers.mkdir()
    module = files.write("crash.py", PIPELINE.format(markers=str(markers)))
    (tmp_path / "driver.py").write_text(DRIVER)
    root = files.root
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), str(module), str(root)],
        env={**os.environ, "CRASH_SLOW": "1"}, stderr=subprocess.PIPE,
    )
    try:
        _wait_for(markers / "in_code", markers / "in_write")
        time.sleep(0.5)  # the writer thread commits a finished asset within milliseconds
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    assert not (root / "stuck_in_write.txt").exists()
    assert not (root / "stuck_in_code.json").exists()
    leftovers = list(root.glob("*.assetry-tmp-*"))
    assert [p.name.split(".assetry-tmp-")[0] for p in leftovers] == ["stuck_in_write.txt"]
    con = duckdb.connect(str(files.catalog), read_only=True)
    assert con.execute("SELECT asset FROM assets").fetchall() == [("done",)]
    assert con.execute("SELECT status FROM runs").fetchall() == [("running",)]
    succeeded = con.execute("SELECT asset FROM materializations WHERE status = 'materialized'")
    assert succeeded.fetchall() == [("done",)]
    con.close()

    monkeypatch.delenv("CRASH_SLOW", raising=False)
    result = materialize(files.load("crash.py"), root=root)
    assert sorted(result.materialized) == ["downstream", "stuck_in_code", "stuck_in_write"]
    assert result.skipped == ["done"]
    assert result.load("stuck_in_write") == "x" * 100_000
    assert not list(root.glob("*.assetry-tmp-*"))
    con = duckdb.connect(str(files.catalog), read_only=True)
    runs = con.execute("SELECT status, pid FROM runs ORDER BY started_at").fetchall()
    con.close()
    assert runs == [("crashed", proc.pid), ("success", os.getpid())]


def _age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_prepare_root_removes_only_old_temporaries(tmp_path):
    """prepare_root removes names with the temporary marker older than the run, nothing else."""
    root = tmp_path / "data"
    (root / "part").mkdir(parents=True)
    old_file = root / "a.parquet.assetry-tmp-0123456789ab"
    old_file.write_text("partial")
    old_dir = root / "part" / "d.assetry-tmp-ba9876543210"
    old_dir.mkdir()
    (old_dir / "k.parquet").write_text("partial")
    for p in (old_file, old_dir / "k.parquet", old_dir):
        _age(p, 60)
    newer = root / "b.json.assetry-tmp-ffffffffffff"
    newer.write_text("being written")
    os.utime(newer, (time.time() + 60, time.time() + 60))  # written after this run started
    keep = root / "a.parquet"
    keep.write_text("product")
    hidden = root / ".git" / "x.assetry-tmp-0123456789ab"  # hidden directories are not searched
    hidden.parent.mkdir()
    hidden.write_text("not ours")
    for p in (keep, hidden):
        _age(p, 60)
    prepare_root(root)
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert names == [".git", str(hidden.relative_to(root)), "a.parquet", newer.name, "part"]


def test_prepare_root_keeps_temporaries_while_the_catalog_is_held(tmp_path):
    """While another process holds the root's catalog, its run's temporary files are safe."""
    root = tmp_path / "data"
    root.mkdir()
    temp = root / "a.parquet.assetry-tmp-0123456789ab"
    temp.write_text("partial")
    _age(temp, 60)
    catalog = root / "catalog.duckdb"
    with held_catalog(catalog) as holder:
        assert lock_holders(catalog) == {holder.pid}
        prepare_root(root)
        assert temp.exists()
    assert lock_holders(catalog) == set()
    prepare_root(root)
    assert not temp.exists()


def test_pid_alive_tells_the_living_from_the_dead():
    """pid_alive is True for this process and False for a reaped child."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert pid_alive(os.getpid())
    assert not pid_alive(child.pid)
