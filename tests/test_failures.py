"""A failing asset points at the user: its traceback is kept and shown, its exception is chained,
the debugger opens in its frame, and messages name the user's code and stored inputs."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import traceback

import duckdb
import pytest

from assetry import MaterializeError, materialize

FAILING = """
    import pathlib
    import threading

    import polars as pl
    from assetry import asset


    def helper(frame):
        return frame["n"].sum() / 0 if False else int("not a number")


    @asset
    def good() -> pl.DataFrame:
        return pl.DataFrame({"n": [1, 2, 3]})


    @asset
    def boom(good: pl.DataFrame) -> pl.DataFrame:
        some_local = "the value of some_local"
        return helper(good)


    @asset
    def after(boom: pl.DataFrame) -> pl.DataFrame:
        return boom


    class HoldsALock(Exception):
        def __init__(self, lock):
            super().__init__("an exception that does not pickle")
            self.lock = lock


    @asset
    def unpicklable() -> pl.DataFrame:
        raise HoldsALock(threading.Lock())
"""


def _rows(catalog: pathlib.Path, asset: str) -> list[tuple]:
    with duckdb.connect(str(catalog), read_only=True) as con:
        return con.execute(
            "SELECT status, error, traceback FROM materializations WHERE asset = ? "
            "ORDER BY started_at DESC", [asset]).fetchall()


def _cli(*args: str, cwd: pathlib.Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assetry", *args], cwd=cwd, input=stdin, capture_output=True,
        text=True, timeout=120, check=False, env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.parametrize("executor", ["sync", "threads", "processes"])
def test_the_whole_traceback_is_kept_with_the_users_frames(files, executor):
    """materializations.traceback holds the user's frames (asset and helper); assetry's are folded."""
    mod = files.module("failing.py", FAILING)
    result = materialize(mod, root=files.root, executor=executor, raise_on_error=False,
                         select=["good", "boom"])
    assert result.failed == ["boom"]
    status, error, tb = _rows(files.catalog, "boom")[0]
    assert status == "failed" and "invalid literal for int()" in error
    assert tb.startswith("Traceback (most recent call last):")
    assert f'File "{files.dir / "failing.py"}", line 20, in boom' in tb
    assert "return helper(good)" in tb and "in helper" in tb
    assert tb.rstrip().endswith("ValueError: invalid literal for int() with base 10: 'not a number'")
    assert "assetry/engine/task.py" not in tb and "run_task" not in tb


def test_materialize_error_chains_the_assets_own_exception(files):
    """MaterializeError.__cause__ is the user's exception, with a traceback down to the user's frame."""
    mod = files.module("failing.py", FAILING)
    with pytest.raises(MaterializeError) as info:
        materialize(mod, root=files.root, executor="threads", select=["good", "boom"])
    cause = info.value.__cause__
    assert type(cause) is ValueError and "not a number" in str(cause)
    frames = traceback.extract_tb(cause.__traceback__)
    assert [f.name for f in frames][-2:] == ["boom", "helper"]
    assert frames[-2].filename == str(files.dir / "failing.py")


def test_under_processes_the_cause_is_a_real_exception_with_the_worker_traceback(files):
    """From a worker process the cause is the user's exception type, noted with the worker's traceback."""
    mod = files.module("failing.py", FAILING)
    with pytest.raises(MaterializeError) as info:
        materialize(mod, root=files.root, executor="processes", select=["good", "boom"])
    cause = info.value.__cause__
    assert type(cause) is ValueError
    notes = "\n".join(getattr(cause, "__notes__", []))
    assert "traceback in the worker:" in notes and "in boom" in notes


def test_an_exception_that_cannot_travel_comes_back_as_a_remote_error(files):
    """An unpicklable exception raised in a worker becomes a RemoteError with its type and traceback."""
    from assetry.errors import RemoteError

    mod = files.module("failing.py", FAILING)
    with pytest.raises(MaterializeError, match="HoldsALock") as info:
        materialize(mod, root=files.root, executor="processes", select="unpicklable")
    cause = info.value.__cause__
    assert isinstance(cause, RemoteError)
    assert cause.kind.endswith("HoldsALock") and "does not pickle" in str(cause)
    assert "raise HoldsALock(threading.Lock())" in cause.traceback


def test_the_first_failure_is_the_cause_when_several_fail(files):
    """With several failures, __cause__ is the first that failed."""
    mod = files.module("two.py", """
        from assetry import asset

        @asset
        def first() -> list:
            raise KeyError("first")

        @asset
        def second(first: list) -> list:
            return first

        @asset
        def third() -> list:
            raise OSError("third")
    """)
    with pytest.raises(MaterializeError) as info:
        materialize(mod, root=files.root, executor="sync")
    assert isinstance(info.value.__cause__, (KeyError, OSError))
    assert str(info.value.__cause__) in ("'first'", "third")
    assert info.value.result.exception is info.value.__cause__


def test_cli_verbose_prints_tracebacks_and_otherwise_points_to_logs(tmp_path):
    """`materialize -v` prints each failure's traceback; without it one line says `assetry logs ...`."""
    (tmp_path / "failing.py").write_text(textwrap.dedent(FAILING))
    quiet = _cli("materialize", "failing.py", "-s", "good", "-s", "boom", cwd=tmp_path)
    assert quiet.returncode == 1
    assert "Traceback" not in quiet.stderr
    assert "assetry: traceback and output: assetry logs failing.py boom" in quiet.stderr
    loud = _cli("materialize", "failing.py", "-s", "good", "-s", "boom", "--force", "-v",
                cwd=tmp_path)
    assert loud.returncode == 1
    assert "    Traceback (most recent call last):" in loud.stderr
    assert "in helper" in loud.stderr and "assetry logs" not in loud.stderr
    shown = _cli("logs", "failing.py", "boom", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "boom: failed" in shown.stdout and "return helper(good)" in shown.stdout


def test_pdb_opens_in_the_failing_assets_frame(tmp_path):
    """`--pdb` runs sync and opens a post-mortem debugger where the asset raised."""
    (tmp_path / "x.py").write_text(textwrap.dedent("""
        from assetry import asset

        @asset
        def broken() -> list:
            some_local = 41 + 1
            raise RuntimeError("look at some_local")
    """))
    done = _cli("materialize", "x.py", "--pdb", cwd=tmp_path, stdin="p some_local\nq\n")
    assert done.returncode == 1, done.stderr
    assert "(Pdb)" in done.stdout and "\n42\n" in done.stdout.replace("(Pdb) ", "\n")
    assert "post-mortem of broken" in done.stderr


def test_pdb_with_another_executor_is_a_usage_error(tmp_path):
    """`--pdb --executor threads` is one usage-error line, exit 2."""
    done = _cli("materialize", "x.py", "--pdb", "--executor", "threads", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("assetry: error: --pdb") and done.stderr.count("\n") == 1


SQL = """
    import pathlib

    import polars as pl
    from assetry import asset, sql_asset
    from assetry.clients import DuckDBClient

    warehouse = DuckDBClient(pathlib.Path(__file__).parent / "warehouse.duckdb")


    @asset
    def monthly_stats() -> pl.DataFrame:
        return pl.DataFrame({"month": list(range(1, 13)), "rain": [1.0] * 12})


    @sql_asset(client=warehouse)
    def yearly_rain(monthly_stats):
        return "SELECT sum(no_such_column) AS rain FROM {monthly_stats}"


    bad_file = sql_asset.from_file("sql/bad_file.sql", client=warehouse)


    @asset
    def by_path(monthly_stats: pathlib.Path) -> pl.DataFrame:
        raise ValueError("cannot use " + monthly_stats.name)
"""


def _sql_project(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "bad_file.sql").write_text(
        "SELECT month,\n       nothing_here\nFROM {monthly_stats}\n")
    (tmp_path / "pipe.py").write_text(textwrap.dedent(SQL))
    return tmp_path


def test_a_failing_sql_asset_names_the_users_function_and_sql_file(tmp_path):
    """A SQL asset's failure names pipe.py:yearly_rain (not sql.py) and the .sql file and line."""
    _sql_project(tmp_path)
    done = _cli("materialize", "pipe.py", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    rain = next(line for line in lines if line.startswith("assetry: failed yearly_rain"))
    assert "(pipe.py:yearly_rain)" in rain and "sql.py" not in rain
    from_file = next(line for line in lines if line.startswith("assetry: failed bad_file"))
    assert f"({os.path.join('sql', 'bad_file.sql')}:2)" in from_file


def test_inputs_are_summarised_by_where_they_are_stored(tmp_path):
    """Input summaries name the stored file (relative to the current directory), never PosixPath."""
    _sql_project(tmp_path)
    done = _cli("materialize", "pipe.py", "--select", "monthly_stats", "--select", "by_path",
                cwd=tmp_path)
    line = next(x for x in done.stderr.splitlines() if x.startswith("assetry: failed by_path"))
    assert "inputs: monthly_stats=data/monthly_stats.parquet" in line
    assert "PosixPath" not in done.stderr
    rain = _cli("materialize", "pipe.py", "--select", "yearly_rain", cwd=tmp_path)
    assert "inputs: monthly_stats=data/monthly_stats.parquet" in rain.stderr


def test_processes_with_a_duckdb_warehouse_suggest_threads(tmp_path):
    """Under processes, DuckDB's lock error names the fix: the threads executor; the location
    is the user's function, not <dynamic-code>."""
    _sql_project(tmp_path)
    done = _cli("materialize", "pipe.py", "--executor", "processes", "-s", "monthly_stats",
                "-s", "yearly_rain", cwd=tmp_path)
    assert done.returncode == 1
    line = next(x for x in done.stderr.splitlines() if x.startswith("assetry: failed yearly_rain"))
    assert "Could not set lock on file" in line
    assert "with the threads executor (executor='threads', --executor threads)" in line
    assert "(pipe.py:yearly_rain)" in line and "<dynamic-code>" not in done.stderr
