"""What an asset prints and logs is kept per materialization and shown by `assetry logs`;
assetry speaks through the `logging` module, and says nothing when logging is not configured."""

from __future__ import annotations

import logging
import os
import pathlib
import subprocess
import sys
import textwrap

import duckdb
import pytest

from assetry import Catalog, materialize

CHATTY = """
    import logging
    import sys
    import time

    import polars as pl
    from assetry import asset

    log = logging.getLogger("chatty")


    @asset
    def left() -> pl.DataFrame:
        for i in range(20):
            print(f"left says {i}")
            time.sleep(0.005)
        print("left warns", file=sys.stderr)
        log.warning("left logged")
        return pl.DataFrame({"n": [1]})


    @asset
    def right() -> pl.DataFrame:
        for i in range(20):
            print(f"right says {i}")
            time.sleep(0.005)
        log.error("right logged")
        return pl.DataFrame({"n": [2]})


    @asset
    def failing(left: pl.DataFrame) -> pl.DataFrame:
        print("about to fail")
        raise ValueError("failing failed")


    @asset
    def loud() -> pl.DataFrame:
        print("x" * 200_000)
        print("the very end")
        return pl.DataFrame({"n": [3]})
"""


def _logs(catalog: pathlib.Path) -> dict[str, str | None]:
    with duckdb.connect(str(catalog), read_only=True) as con:
        rows = con.execute("SELECT asset, logs FROM materializations").fetchall()
    return dict(rows)


@pytest.mark.parametrize("executor", ["sync", "threads", "processes"])
def test_each_asset_keeps_its_own_output_and_log_records(files, executor):
    """stdout, stderr and logging records are captured per asset, never mixed between threads."""
    mod = files.module("chatty.py", CHATTY)
    materialize(mod, root=files.root, executor=executor, raise_on_error=False,
                select=["left", "right", "failing"])
    logs = _logs(files.catalog)
    left, right = logs["left"], logs["right"]
    assert [f"left says {i}" for i in range(20)] == [x for x in left.splitlines() if "says" in x]
    assert "left warns" in left and "WARNING chatty: left logged" in left
    assert "right" not in left and "left" not in right
    assert "ERROR chatty: right logged" in right
    assert logs["failing"] == "about to fail\n"


def test_output_still_reaches_the_console(files, capsys):
    """Capturing is a copy: what an asset prints still appears where it would have."""
    mod = files.module("chatty.py", CHATTY)
    materialize(mod, root=files.root, executor="threads", select="left")
    out, err = capsys.readouterr()
    assert "left says 19" in out and "left warns" in err
    assert sys.stdout is not None and type(sys.stdout).__name__ != "_Tee"


def test_logs_are_bounded_to_the_first_and_last_32_kib(files):
    """A very chatty asset keeps the first and last 32 KiB, with a marker between them."""
    from assetry.engine.capture import HEAD, TAIL

    mod = files.module("chatty.py", CHATTY)
    materialize(mod, root=files.root, executor="threads", select="loud")
    logs = _logs(files.catalog)["loud"]
    assert len(logs) < HEAD + TAIL + 100
    assert logs.startswith("x" * 1000) and logs.endswith("the very end\n")
    assert "characters omitted ...]" in logs


def test_log_buffer_keeps_head_and_tail():
    """LogBuffer keeps exactly the head and the tail and counts what it dropped."""
    from assetry.engine.capture import LogBuffer

    buf = LogBuffer(head=5, tail=5)
    for chunk in ("abc", "defgh", "ijklmnop", "qrst"):
        buf.write(chunk)
    assert buf.text() == "abcde\n[... 10 characters omitted ...]\npqrst"
    assert LogBuffer().text() is None


def test_the_logs_command_shows_output_error_and_traceback(tmp_path):
    """`assetry logs TARGET ASSET` shows the newest output, error and traceback; --run picks a run."""
    (tmp_path / "chatty.py").write_text(textwrap.dedent(CHATTY))
    run = subprocess.run(
        [sys.executable, "-m", "assetry", "materialize", "chatty.py", "-s", "left", "-s", "failing"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 1
    shown = _cli("logs", "chatty.py", "failing", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert text.startswith("failing: failed (never materialized)")
    assert "error:\n  asset 'failing' (chatty.py:failing) raised ValueError: failing failed" in text
    assert 'raise ValueError("failing failed")' in text and "output:\n  about to fail" in text
    by_catalog = _cli("logs", "left", "--catalog", "data/catalog.duckdb", cwd=tmp_path)
    assert "left says 0" in by_catalog.stdout and "WARNING chatty: left logged" in by_catalog.stdout
    run_id = Catalog(tmp_path / "data" / "catalog.duckdb").logs("left")["run_id"][0]
    assert "left says 0" in _cli("logs", "chatty.py", "left", "--run", run_id[:8],
                                 cwd=tmp_path).stdout
    unknown = _cli("logs", "chatty.py", "nosuch", cwd=tmp_path)
    assert unknown.returncode == 2 and "asset 'nosuch' has no materializations" in unknown.stderr


def _cli(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assetry", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def test_catalog_logs_lists_materializations_that_left_something(files):
    """Catalog.logs(name) has the rows with output, an error or a traceback, newest first."""
    mod = files.module("chatty.py", CHATTY)
    materialize(mod, root=files.root, executor="sync", select="right")
    materialize(mod, root=files.root, executor="sync", select="right", force=True)
    frame = Catalog(files.catalog).logs("right")
    assert frame.height == 2 and frame["started_at"].is_sorted(descending=True)
    assert all("right says 3" in text for text in frame["logs"])


def test_the_assetry_logger_says_one_line_per_asset(files, caplog):
    """With logging configured, assetry logs one INFO line per asset (partitions counted in it)."""
    mod = files.module("parts.py", """
        import polars as pl
        from assetry import StaticPartitions, asset

        @asset
        def plain() -> pl.DataFrame:
            return pl.DataFrame({"n": [1]})

        @asset(partitions=StaticPartitions(["a", "b", "c"]))
        def parted(partition: str) -> pl.DataFrame:
            return pl.DataFrame({"p": [partition]})

        @asset
        def broken(plain: pl.DataFrame) -> pl.DataFrame:
            raise ValueError("nope")
    """)
    with caplog.at_level(logging.INFO, logger="assetry"):
        materialize(mod, root=files.root, executor="threads", raise_on_error=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "assetry"]
    assert any(x.startswith("materialized plain (never materialized)") for x in lines)
    assert any(x.startswith("materialized parted[a..c] (3) (never materialized)") for x in lines)
    failed = [r for r in caplog.records if r.getMessage().startswith("failed broken")]
    assert len(failed) == 1 and "ValueError: nope" in failed[0].getMessage()
    assert {r.levelno for r in caplog.records if r.name == "assetry"} == {logging.INFO}
    assert len(lines) == 4  # three assets and the closing count


SCRIPT = """
    import logging, sys
    import polars as pl
    from assetry import asset, materialize

    if "--log" in sys.argv:
        logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")

    @asset
    def numbers() -> pl.DataFrame:
        return pl.DataFrame({"n": [1, 2]})

    @asset
    def broken(numbers: pl.DataFrame) -> pl.DataFrame:
        raise ValueError("quietly broken")

    materialize([numbers, broken], root=sys.argv[1], raise_on_error=False)
"""


def test_a_plain_script_prints_nothing_unless_logging_is_configured(tmp_path):
    """materialize() in a script is silent; with logging configured it says one line per asset."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    quiet = subprocess.run([sys.executable, str(script), str(tmp_path / "a")], capture_output=True,
                           text=True, timeout=120, check=True, env=env)
    assert (quiet.stdout, quiet.stderr) == ("", "")
    loud = subprocess.run([sys.executable, str(script), str(tmp_path / "b"), "--log"],
                          capture_output=True, text=True, timeout=120, check=True, env=env)
    lines = loud.stderr.splitlines()
    assert any(x.startswith("assetry INFO materialized numbers (never materialized)") for x in lines)
    assert any(x.startswith("assetry INFO failed broken") and "quietly broken" in x for x in lines)
    assert lines[-1].startswith("assetry INFO 1 materialized, 0 skipped, 1 failed")
