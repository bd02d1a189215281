"""Ctrl-C and SIGTERM, sent for real to `assetry materialize`: the run stops scheduling, gives
running assets a grace period, records what finished, marks the run interrupted, and exits
130 / 143; the next run redoes exactly the unfinished assets."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import duckdb
import pytest

from assetry import materialize

PIPELINE = """
    import os
    import pathlib
    import time

    import polars as pl
    from assetry import asset

    HERE = pathlib.Path(__file__).parent


    @asset
    def first() -> pl.DataFrame:
        return pl.DataFrame({"n": [1]})


    @asset
    def slow(first: pl.DataFrame) -> pl.DataFrame:
        (HERE / "started").write_text(str(os.getpid()))
        for _ in range(int(os.environ.get("SLOW_TICKS", "600"))):
            time.sleep(0.05)
        return first


    @asset
    def after(slow: pl.DataFrame) -> pl.DataFrame:
        return slow
"""


def _start(tmp_path: pathlib.Path, executor: str, *, session: bool = False,
           **env: str) -> subprocess.Popen[str]:
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    (tmp_path / "started").unlink(missing_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "assetry", "materialize", "pipeline.py", "--executor", executor],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env}, start_new_session=session,
    )


def _when_started(tmp_path: pathlib.Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the slow asset never started"
        time.sleep(0.05)


def _last_run(tmp_path: pathlib.Path) -> tuple[str, dict[str, tuple[str, str | None]]]:
    with duckdb.connect(str(tmp_path / "data" / "catalog.duckdb"), read_only=True) as con:
        run_id, status = con.execute(
            "SELECT run_id, status FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        rows = con.execute("SELECT asset, status, error FROM materializations WHERE run_id = ?",
                           [run_id]).fetchall()
    return status, {asset: (st, error) for asset, st, error in rows}


def _rerun(tmp_path: pathlib.Path, executor: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assetry", "materialize", "pipeline.py", "--executor", executor],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "SLOW_TICKS": "1"},
    )


@pytest.mark.parametrize("executor", ["sync", "threads", "processes"])
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_interrupts_the_run_and_the_next_run_redoes_the_rest(tmp_path, executor, sig, code):
    """The running asset is interrupted (after the grace period), recorded 'interrupted' without a
    product, the run is 'interrupted', the exit code is 128 + the signal; the next run reruns
    exactly the unfinished assets."""
    proc = _start(tmp_path, executor, ASSETRY_GRACE_S="0.5")
    _when_started(tmp_path, proc)
    t0 = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert time.monotonic() - t0 < 20  # the asset would take 30 s
    status, rows = _last_run(tmp_path)
    assert status == "interrupted"
    assert rows["first"] == ("materialized", None)
    assert rows["slow"] == ("interrupted", f"interrupted by {sig.name}")
    assert "after" not in rows
    assert not (tmp_path / "data" / "slow.parquet").exists()
    assert f"interrupted by {sig.name}" in err.splitlines()[-1]
    assert not [p for p in (tmp_path / "data").rglob("*") if ".assetry-tmp-" in p.name]
    again = _rerun(tmp_path, executor)
    assert again.returncode == 0, again.stderr
    status, rows = _last_run(tmp_path)
    assert status == "success"
    assert {a: s for a, (s, _) in rows.items()} == {
        "first": "skipped", "slow": "materialized", "after": "materialized"}


def test_running_assets_finish_within_the_grace_period(tmp_path):
    """Under threads, the first Ctrl-C lets the running asset finish and records it; only the
    downstream asset, never started, is left for the next run."""
    proc = _start(tmp_path, "threads", ASSETRY_GRACE_S="30", SLOW_TICKS="20")
    _when_started(tmp_path, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    status, rows = _last_run(tmp_path)
    assert status == "interrupted"
    assert rows["slow"] == ("materialized", None) and "after" not in rows
    again = _rerun(tmp_path, "threads")
    _, rows = _last_run(tmp_path)
    assert {a: s for a, (s, _) in rows.items()} == {
        "first": "skipped", "slow": "skipped", "after": "materialized"}, again.stderr


def test_ctrl_c_in_a_terminal_reaches_workers_but_they_leave_it_to_the_driver(tmp_path):
    """Ctrl-C in a terminal signals the whole process group: worker processes ignore it, so the
    running asset still gets its grace period and finishes."""
    proc = _start(tmp_path, "processes", session=True, ASSETRY_GRACE_S="30", SLOW_TICKS="30")
    _when_started(tmp_path, proc)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    status, rows = _last_run(tmp_path)
    assert status == "interrupted" and rows["slow"] == ("materialized", None), err


def test_a_second_signal_stops_at_once(tmp_path):
    """A second Ctrl-C does not wait for the grace period."""
    proc = _start(tmp_path, "processes", ASSETRY_GRACE_S="60")
    _when_started(tmp_path, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - t0 < 15
    status, rows = _last_run(tmp_path)
    assert status == "interrupted" and rows["slow"][0] == "interrupted"


def test_materialize_reraises_keyboard_interrupt_after_recording(tmp_path):
    """From Python, materialize() records the interrupted run, then raises KeyboardInterrupt."""
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        import pipeline
        from assetry import materialize
        try:
            materialize(pipeline, root=sys.argv[1] + "/data", executor="sync")
        except KeyboardInterrupt as exc:
            print("raised", exc.signum)
    """))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _when_started(tmp_path, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert out == f"raised {int(signal.SIGINT)}\n", err
    status, rows = _last_run(tmp_path)
    assert status == "interrupted" and rows["slow"][0] == "interrupted"


def test_materialize_in_another_thread_installs_no_handlers(files):
    """Signal handlers exist only in the main thread: a run in another thread leaves them alone."""
    mod = files.module("one.py", """
        from assetry import asset

        @asset
        def one() -> list:
            return [1]
    """)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    results = []
    worker = threading.Thread(target=lambda: results.append(materialize(mod, root=files.root)))
    worker.start()
    worker.join(60)
    assert results and results[0].materialized == ["one"]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
