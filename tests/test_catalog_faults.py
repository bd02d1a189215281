"""Faults around the catalog: bad settings, killed runs, a catalog that stops taking writes.

Real processes, real signals and real write failures: a run's file-size limit
(``RLIMIT_FSIZE``) makes DuckDB's own writes to the WAL fail with ``File too
large`` exactly as a full disk makes them fail with ``No space left``, without
root or a special file system.
"""

from __future__ import annotations

import json
import os
import pathlib
import resource
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from assetry import materialize
from assetry.records import CatalogWriter, connect, wait_seconds

N_ASSETS = 300

#: ``N_ASSETS`` independent assets, and ``last``, which needs them all and never caches:
#: it runs after every other asset is planned (skipped, on a rerun), and sleeps when told.
WIDE_PIPELINE = f"""
import os, pathlib, time
from assetry import asset

HERE = pathlib.Path(__file__).parent

def make(i):
    def f() -> dict:
        if os.environ.get("WIDE_WORK"):
            time.sleep(0.02)
            with open(HERE / "executed.log", "a") as log:
                log.write(f"a{{i:03d}}\\n")
        return {{"i": i}}
    return asset(name=f"a{{i:03d}}", code_version="1")(f)

for _i in range({N_ASSETS}):
    globals()[f"a{{_i:03d}}"] = make(_i)

@asset(deps=[f"a{{i:03d}}" for i in range({N_ASSETS})], cache=False)
def last() -> dict:
    if os.environ.get("WIDE_SLOW"):
        (HERE / "last_started").write_text("")
        time.sleep(60)
    return {{"done": True}}
"""


def _cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assetry", *args], check=False, capture_output=True, text=True,
        env={**os.environ, "ASSETRY_CACHE_DIR": "off", **(env or {})}, timeout=300, **kwargs,
    )


def _wait_for(path: pathlib.Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended early: {proc.stderr.read() if proc.stderr else ''}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _rows(catalog: pathlib.Path, query: str) -> list[tuple]:
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


# -- ASSETRY_CATALOG_WAIT (issue 12, fault 9) ----------------------------------------------


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "-1", "1e400"],
                         ids=["text", "nan", "inf", "negative", "overflow"])
def test_bad_catalog_wait_is_one_error_line_and_exit_2(files, value):
    """A bad ASSETRY_CATALOG_WAIT is one `assetry: error:` line naming it, its value and the fix."""
    path = files.write("pipeline.py", """
        from assetry import asset

        @asset
        def one() -> dict:
            return {"one": 1}
    """)
    materialize(files.load("pipeline.py"), root=files.root)
    proc = _cli("status", str(path), "--root", str(files.root),
                env={"ASSETRY_CATALOG_WAIT": value})
    assert proc.returncode == 2, proc.stderr
    expected = (
        f"assetry: error: environment variable ASSETRY_CATALOG_WAIT is {value!r}, not a number of "
        "seconds; set it to a finite number >= 0 (such as 120, the default) or unset it"
    )
    assert proc.stderr.splitlines() == [expected]


def test_bad_catalog_wait_stops_materialize_before_anything_runs(files):
    """`assetry materialize` refuses a bad wait before it creates a catalog or runs an asset."""
    path = files.write("pipeline.py", """
        from assetry import asset

        @asset
        def one() -> dict:
            return {"one": 1}
    """)
    proc = _cli("materialize", str(path), "--root", str(files.root),
                env={"ASSETRY_CATALOG_WAIT": "soon"})
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].startswith(
        "assetry: error: environment variable ASSETRY_CATALOG_WAIT is 'soon'"
    )
    assert not files.catalog.exists()
    assert not (files.root / "one.json").exists()


def test_good_catalog_wait_values_are_accepted(monkeypatch):
    """A good ASSETRY_CATALOG_WAIT (spaces, 0, a fraction) is accepted; an empty one means 120."""
    for raw, expected in [(" 0 ", 0.0), ("2.5", 2.5), ("", 120.0)]:
        monkeypatch.setenv("ASSETRY_CATALOG_WAIT", raw)
        assert wait_seconds() == expected
    monkeypatch.delenv("ASSETRY_CATALOG_WAIT")
    assert wait_seconds() == 120.0


# -- records lost on a kill (issue 12, fault 11) ---------------------------------------------

WRITER_THEN_SLEEP = """
import pathlib, sys, time
from assetry.records import CatalogWriter, connect

catalog, marker, n = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
writer = CatalogWriter(connect(catalog))
writer.put("runs", {"run_id": "killed", "status": "running"})
for i in range(n):
    writer.put("materializations", {"run_id": "killed", "asset": f"a{i:03d}",
                                    "status": "skipped", "reason": "up to date"})
marker.write_text("")
time.sleep(60)
"""


def test_writer_commits_every_kind_of_row_on_a_time_bound(tmp_path):
    """Rows put, skips included, are committed within a second although nothing flushes them."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER_THEN_SLEEP)
    catalog, marker = tmp_path / "catalog.duckdb", tmp_path / "queued"
    proc = subprocess.Popen([sys.executable, str(script), str(catalog), str(marker), "300"],
                            stderr=subprocess.PIPE)
    try:
        _wait_for(marker, proc)
        time.sleep(1.0)  # the bound is a tenth of a second plus one commit
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _rows(catalog, "SELECT count(*) FROM materializations WHERE status = 'skipped'") == [
        (300,)
    ]


def test_writer_batches_a_stream_of_rows_into_few_transactions(tmp_path):
    """A burst of 5,000 rows (a wide no-op run's skips) costs a handful of commits, not 5,000."""

    class CountingWriter(CatalogWriter):
        commits = 0

        def _write(self, items):
            if items:
                CountingWriter.commits += 1
            super()._write(items)

    con = connect(tmp_path / "catalog.duckdb")
    writer = CountingWriter(con)
    started = time.perf_counter()
    for i in range(5000):
        writer.put("materializations", {"run_id": "r", "asset": f"a{i}", "status": "skipped"})
    queued_s = time.perf_counter() - started
    writer.close()
    count = con.execute("SELECT count(*) FROM materializations").fetchone()[0]
    con.close()
    assert count == 5000
    assert CountingWriter.commits <= 5 + int(queued_s / 0.1)


@pytest.mark.slow
def test_killed_run_keeps_its_skip_rows(files, tmp_path):
    """SIGKILL after a rerun skipped 300 assets: the catalog has those 300 skip rows."""
    path = files.write("wide.py", WIDE_PIPELINE)
    first = _cli("materialize", str(path), "--root", str(files.root))
    assert first.returncode == 0, first.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "assetry", "materialize", str(path), "--root", str(files.root)],
        env={**os.environ, "ASSETRY_CACHE_DIR": "off", "WIDE_SLOW": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        _wait_for(files.dir / "last_started", proc)
        time.sleep(1.0)  # the writer commits within a tenth of a second plus one commit
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed = _rows(files.catalog, f"SELECT run_id FROM runs WHERE pid = {proc.pid}")
    assert len(killed) == 1
    skipped = _rows(files.catalog, "SELECT count(*) FROM materializations "
                                   f"WHERE run_id = '{killed[0][0]}' AND status = 'skipped'")
    assert skipped == [(N_ASSETS,)]


# -- a catalog that stops taking writes (issue 12, fault 10) ---------------------------------

WRITER_UNDER_LIMIT = """
import json, os, resource, sys, time
from assetry import CatalogError
from assetry.records import CatalogWriter, connect

catalog = sys.argv[1]
con = connect(catalog)
writer = CatalogWriter(con)
writer.put("runs", {"run_id": "r1", "status": "running"})
writer.flush()
# From now on no file of this process may grow past 1 MB: the WAL fills up like a full disk.
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, resource.RLIM_INFINITY))
out = {"put": 0, "raised": None}
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        writer.put("materializations", {"run_id": "r1", "asset": f"a{out['put']:05d}",
                                        "status": "materialized", "error": "x" * 10_000})
    except CatalogError as exc:
        out["raised"] = str(exc)
        break
    out["put"] += 1
    time.sleep(0.001)
out["failed"] = writer.failed
out["error_is_raised"] = str(writer.error) == out["raised"]
for call in ("flush", "check", "close"):
    try:
        getattr(writer, call)()
        out[call] = None
    except CatalogError as exc:
        out[call] = str(exc)
out["salvaged"] = writer.salvage("UPDATE runs SET status = 'failed' WHERE run_id = 'r1'")
con.close()
print(json.dumps(out))
"""


def test_writer_surfaces_the_first_write_failure(tmp_path):
    """A write the disk refuses stops the writer: failed, put/flush/close raise, the file is intact."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER_UNDER_LIMIT)
    catalog = tmp_path / "catalog.duckdb"
    proc = subprocess.run([sys.executable, str(script), str(catalog)], check=False,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    raised = out["raised"]
    assert raised is not None, "put() never raised though the catalog could not grow"
    assert raised.startswith(f"writing the catalog {str(catalog)!r} failed (")
    assert "File too large" in raised
    assert raised.endswith("make the catalog's disk or file writable and run again")
    assert out["failed"] and out["error_is_raised"]
    assert out["flush"] == out["check"] == out["close"] == raised
    # The catalog is not damaged: what was committed before the failure is all there.
    recorded = _rows(catalog, "SELECT count(*) FROM materializations")[0][0]
    assert 0 < recorded < out["put"]
    status = "failed" if out["salvaged"] else "running"
    assert _rows(catalog, "SELECT status FROM runs") == [(status,)]


def _run_under_file_limit(path: pathlib.Path, root: pathlib.Path) -> subprocess.CompletedProcess:
    """`assetry materialize` where no file may grow past 64 kB: the WAL fills up mid-run."""
    return _cli(
        "materialize", str(path), "--root", str(root), "--workers", "4",
        env={"WIDE_WORK": "1", "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=lambda: resource.setrlimit(
            resource.RLIMIT_FSIZE, (64_000, resource.RLIM_INFINITY)
        ),
    )


@pytest.mark.slow
def test_run_stops_at_the_first_catalog_write_failure(files):
    """The catalog's WAL fills up mid-run: the run stops at once, exit 2, the next run redoes the rest."""
    path = files.write("wide.py", WIDE_PIPELINE)
    proc = _run_under_file_limit(path, files.root)
    assert proc.returncode == 2, proc.stderr[-2000:]
    error = proc.stderr.splitlines()[-1]
    assert error.startswith(f"assetry: error: writing the catalog {str(files.catalog)!r} failed (")
    assert "File too large" in error
    executed = (files.dir / "executed.log").read_text().split()
    recorded = {a for (a,) in _rows(
        files.catalog, "SELECT asset FROM materializations WHERE status = 'materialized'"
    )}
    assert recorded and recorded <= set(executed)
    # Stopped at once: at most the last batch and the assets already running went unrecorded.
    assert len(executed) <= len(recorded) + 60 < N_ASSETS

    again = materialize(files.load("wide.py"), root=files.root)
    names = {f"a{i:03d}" for i in range(N_ASSETS)}
    assert set(again.materialized) == (names - recorded) | {"last"}
    assert set(again.skipped) == recorded


@pytest.mark.parametrize("when", ["during the run", "in the last batch"])
def test_run_whose_catalog_fails_is_recorded_failed(files, monkeypatch, when):
    """A run stopped by a catalog write failure marks its runs row failed, if the catalog takes it:
    here a batch fails once (a transient error), during the run or in the last batch (the one
    that holds the run's end), and the catalog takes the last word."""
    import assetry.records._writer as writer_module
    from assetry import CatalogError

    module = files.module("slow_enough.py", """
import time
from assetry import asset

def make(i):
    def f() -> dict:
        time.sleep(0.01)  # a run long enough for batches before its end
        return {"i": i}
    return asset(name=f"a{i:02d}", code_version="1")(f)

for _i in range(40):
    globals()[f"a{_i:02d}"] = make(_i)
""")
    real_insert, real_close = writer_module.insert_batches, writer_module.CatalogWriter.close
    closing, failed = [], []

    def failing_once(con, batch):
        due = not failed and (bool(closing) if when == "in the last batch"
                              else "materializations" in batch and not closing)
        if due:
            failed.append("at close" if closing else "mid-run")
            raise duckdb.IOException("IO Error: a transient failure")
        return real_insert(con, batch)

    def close(self):
        closing.append(1)
        return real_close(self)

    monkeypatch.setattr(writer_module, "insert_batches", failing_once)
    monkeypatch.setattr(writer_module.CatalogWriter, "close", close)
    with pytest.raises(CatalogError, match="a transient failure"):
        materialize(module, root=files.root, executor="sync")
    assert failed == ["mid-run" if when == "during the run" else "at close"]
    assert _rows(files.catalog, "SELECT status FROM runs") == [("failed",)]


def test_run_whose_catalog_is_full_is_never_left_running(files):
    """When the catalog's file cannot grow at all (a file size limit), even the last word may not
    fit: the run is then left ``running`` only until the next open marks it ``crashed``."""
    path = files.write("wide.py", WIDE_PIPELINE)
    proc = _run_under_file_limit(path, files.root)
    assert proc.returncode == 2
    (status,) = _rows(files.catalog, "SELECT status FROM runs")[0]
    assert status in ("failed", "running")
    connect(files.catalog).close()  # the next writer's open (a run, accept, ...)
    assert _rows(files.catalog, "SELECT status FROM runs") == [
        ("failed",) if status == "failed" else ("crashed",)]
