"""A catalog that older DuckDB releases open: created in the storage format of STORAGE_VERSION.

The older release runs in a virtual environment of its own (made once, kept
under ``~/.cache/assetry-tests``), in a separate interpreter, as a user's
DuckDB CLI would open the file. Offline, point ``ASSETRY_TEST_OLD_DUCKDB_PYTHON``
at an interpreter that has an older ``duckdb`` installed.
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from assetry import materialize
from assetry.records import STORAGE_VERSION

#: A release from before the format the catalog is written in was set (v1.1.0):
#: DuckDB 1.1.3, November 2024. Every later release reads what it reads.
OLD_DUCKDB = "1.1.3"

READ_CATALOG = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
print(json.dumps({
    "version": duckdb.__version__,
    "runs": con.execute("SELECT run_id, status, n_materialized, n_failed FROM runs "
                        "ORDER BY started_at").fetchall(),
    "materializations": con.execute("SELECT run_id, asset, status, reason, error FROM "
                                    "materializations ORDER BY started_at, asset").fetchall(),
}))
"""

PIPELINE = """
import os, pathlib, time
from assetry import asset

@asset
def flights() -> dict:
    return {"carrier": ["AA", "UA"], "delay": [3.5, -1.0]}

@asset
def delays(flights: dict) -> dict:
    if os.environ.get("COMPAT_SLOW"):
        (pathlib.Path(__file__).parent / "in_delays").write_text("")
        time.sleep(60)
    return {"n": len(flights["carrier"])}

@asset
def broken(flights: dict) -> dict:
    raise ValueError("no such carrier: 'ZZ'")
"""


@pytest.fixture(scope="session")
def old_duckdb() -> pathlib.Path:
    """A Python interpreter with DuckDB OLD_DUCKDB, in a virtual environment made once and kept."""
    given = os.environ.get("ASSETRY_TEST_OLD_DUCKDB_PYTHON")
    if given:
        return pathlib.Path(given)
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    venv = cache / "assetry-tests" / f"duckdb-{OLD_DUCKDB}"
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"duckdb-{OLD_DUCKDB}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test session may be making it right now
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            for cmd in ([sys.executable, "-m", "venv", str(venv)],
                        [str(python), "-m", "pip", "install", "--quiet",
                         "--disable-pip-version-check", f"duckdb=={OLD_DUCKDB}"]):
                proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900)
                if proc.returncode != 0:
                    pytest.fail(
                        f"could not make a virtual environment with duckdb=={OLD_DUCKDB} "
                        f"({' '.join(cmd[-3:])}: {proc.stderr.strip()[-1500:]}); offline, set "
                        "ASSETRY_TEST_OLD_DUCKDB_PYTHON to a Python that has an older duckdb"
                    )
            (venv / ".complete").write_text(OLD_DUCKDB)
    return python


def _read_with(python: pathlib.Path | str, catalog: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", READ_CATALOG, str(catalog)], check=False,
                          capture_output=True, text=True, timeout=120)


def _read(python: pathlib.Path | str, catalog: pathlib.Path) -> dict:
    proc = _read_with(python, catalog)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_an_older_duckdb_reads_the_catalog(files, old_duckdb):
    """DuckDB 1.1 reads runs and materializations of a catalog the current DuckDB wrote."""
    module = files.module("pipeline.py", PIPELINE)
    materialize(module, root=files.root, raise_on_error=False)
    materialize(module, root=files.root, raise_on_error=False)  # skips, and the failure again

    old = _read(old_duckdb, files.catalog)
    assert old["version"] == OLD_DUCKDB
    assert old["version"] != duckdb.__version__
    assert old == {**_read(sys.executable, files.catalog), "version": OLD_DUCKDB}
    assert [(status, n, failed) for _, status, n, failed in old["runs"]] == [
        ("failed", 2, 1), ("failed", 0, 1),
    ]
    statuses = sorted((asset, status) for _, asset, status, _, _ in old["materializations"])
    assert statuses == [
        ("broken", "failed"), ("broken", "failed"), ("delays", "materialized"),
        ("delays", "skipped"), ("flights", "materialized"), ("flights", "skipped"),
    ]
    errors = {error for _, asset, _, _, error in old["materializations"] if asset == "broken"}
    assert len(errors) == 1 and "no such carrier: 'ZZ'" in errors.pop()


@pytest.mark.slow
def test_an_older_duckdb_reads_the_catalog_of_a_killed_run(files, old_duckdb):
    """After a SIGKILL the catalog's WAL is left behind; DuckDB 1.1 replays it too."""
    path = files.write("pipeline.py", PIPELINE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "assetry", "materialize", str(path), "--root", str(files.root)],
        env={**os.environ, "COMPAT_SLOW": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (files.dir / "in_delays").exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the run never reached delays"
            time.sleep(0.02)
        time.sleep(1.0)  # the writer commits what finished within a fraction of a second
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert files.catalog.with_name("catalog.duckdb.wal").exists()

    old = _read(old_duckdb, files.catalog)
    assert [status for _, status, _, _ in old["runs"]] == ["running"]
    statuses = sorted((asset, status) for _, asset, status, _, _ in old["materializations"])
    assert statuses == [("broken", "failed"), ("flights", "materialized")]


@pytest.mark.slow
def test_a_catalog_in_a_newer_format_keeps_working_and_converts(files, old_duckdb):
    """A newer-format catalog keeps working; the docs' recipe converts it with its history."""
    files.root.mkdir(parents=True)
    duckdb.connect(str(files.catalog)).close()  # as an assetry before STORAGE_VERSION made it
    module = files.module("pipeline.py", PIPELINE)
    materialize(module, root=files.root, raise_on_error=False)

    refused = _read_with(old_duckdb, files.catalog)
    assert refused.returncode != 0
    assert "version number" in refused.stderr

    # The recipe in docs/catalog.md, "Which DuckDB opens the catalog".
    con = duckdb.connect()
    con.execute(f"ATTACH '{files.catalog}' AS old (READ_ONLY)")
    con.execute(f"ATTACH '{files.root / 'catalog.new.duckdb'}' AS new "
                f"(STORAGE_VERSION '{STORAGE_VERSION}')")
    con.execute("COPY FROM DATABASE old TO new")
    con.close()
    files.catalog.rename(files.root / "catalog.duckdb.newer-format")
    (files.root / "catalog.new.duckdb").rename(files.catalog)

    old = _read(old_duckdb, files.catalog)
    assert [status for _, status, _, _ in old["runs"]] == ["failed"]
    again = materialize(module, root=files.root, raise_on_error=False)
    assert sorted(again.skipped) == ["delays", "flights"]
    assert [status for _, status, _, _ in _read(old_duckdb, files.catalog)["runs"]] == [
        "failed", "failed",
    ]
