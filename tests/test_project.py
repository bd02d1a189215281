"""The project: every command finds the same root, catalog and paths from any directory."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from assetry.catalog import Catalog
from assetry.cli.anchor import find_spec, locate
from assetry.cli.project import load_project, project_catalog
from assetry.errors import AssetError

PIPELINE = """
    import polars as pl
    from assetry import asset


    @asset
    def numbers() -> pl.DataFrame:
        return pl.DataFrame({"n": [1, 2, 3]})


    @asset
    def scaled(numbers: pl.DataFrame, factor: int = 2) -> pl.DataFrame:
        return numbers.with_columns(pl.col("n") * factor)
"""

#: Python's spellings of run options, which the command line never shows.
PYTHON_WORDS = re.compile(
    r"materialize\(\)|\b(select|config|force|root|catalog|partitions|clients)=(?!\w*\()"
)


def _write(path: pathlib.Path, source: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


def run(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """The command in a subprocess, from ``cwd`` (made if missing)."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "assetry", *args], check=False, cwd=cwd, capture_output=True,
        text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )


def _plan(stdout: str) -> dict[str, str]:
    """``asset -> plan`` from a status table."""
    rows = [line.split(None, 1) for line in stdout.splitlines()[1:-1]]
    return {row[0]: row[1] for row in rows}


def test_a_file_target_answers_the_same_from_any_directory(tmp_path) -> None:
    """status, list, plot, sql and logs of weather/pipeline.py read weather/data from anywhere."""
    pipeline = _write(tmp_path / "weather" / "pipeline.py", PIPELINE)
    done = run("materialize", "pipeline.py", cwd=tmp_path / "weather")
    assert done.returncode == 0, done.stderr
    for cwd, target in ((tmp_path, "weather/pipeline.py"),
                        (tmp_path / "elsewhere", str(pipeline)),
                        (tmp_path / "elsewhere", "../weather/pipeline.py")):
        status = run("status", target, cwd=cwd)
        assert status.returncode == 0, status.stderr
        assert _plan(status.stdout) == {"numbers": "fresh", "scaled": "fresh"}, status.stdout
        query = run("sql", "SELECT count(*) AS n FROM assets", target, "--format", "csv", cwd=cwd)
        assert query.stdout == "n\n2\n", query.stderr
        assert run("list", target, cwd=cwd).stdout.splitlines()[1].startswith("numbers")
        assert run("plot", target, "-o", "g.svg", cwd=cwd).returncode == 0
        assert 'data-state="fresh"' in (cwd / "g.svg").read_text()
    logs = run("logs", "../weather/pipeline.py", "scaled", cwd=tmp_path / "elsewhere")
    assert logs.returncode == 0 and "no materializations" not in logs.stderr, logs.stderr
    again = run("materialize", "weather/pipeline.py", cwd=tmp_path)
    assert "0 materialized, 2 skipped" in again.stderr, again.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "elsewhere" / "data").exists()


def test_the_spec_above_a_file_target_anchors_paths_and_defaults(tmp_path) -> None:
    """A spec in a parent directory gives root, catalog and config to a .py file target."""
    project = tmp_path / "weather"
    _write(project / "flows" / "pipeline.py", PIPELINE)
    _write(project / "assetry.yaml", """
        assets: [flows/pipeline.py]
        root: out
        catalog: out/meta.duckdb
        config:
          scaled: {factor: 5}
    """)
    done = run("materialize", "../weather/flows/pipeline.py", cwd=tmp_path / "elsewhere")
    assert done.returncode == 0, done.stderr
    catalog = Catalog(project / "out" / "meta.duckdb")
    assert catalog.load("scaled")["n"].to_list() == [5, 10, 15]
    assert (project / "out" / "scaled.parquet").is_file()
    # No TARGET: the spec found upward from a subdirectory, the same project.
    status = run("status", cwd=project / "flows")
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[-1] == "0 will run, 0 may run, 2 fresh"
    rows = run("sql", "SELECT count(*) AS n FROM materializations", "--format", "csv",
               cwd=project / "flows")
    assert rows.stdout == "n\n2\n", rows.stderr
    # Another file of the project: the spec's config of assets it does not hold is left out.
    _write(project / "flows" / "other.py", "from assetry import asset\n\n@asset\ndef lone() -> list:\n"
           "    return [1]\n")
    other = run("status", "../weather/flows/other.py", cwd=tmp_path / "elsewhere")
    assert other.returncode == 0, other.stderr
    assert _plan(other.stdout) == {"lone": "will run (never materialized)"}


def test_options_resolve_from_the_current_directory(tmp_path) -> None:
    """--root and --catalog given on the command line are relative to where it runs."""
    _write(tmp_path / "weather" / "pipeline.py", PIPELINE)
    here = tmp_path / "elsewhere"
    done = run("materialize", "../weather/pipeline.py", "--root", "out", cwd=here)
    assert done.returncode == 0, done.stderr
    assert (here / "out" / "catalog.duckdb").is_file()
    assert not (tmp_path / "weather" / "out").exists()
    query = run("sql", "SELECT count(*) AS n FROM assets", "--root", "out", "--format", "csv",
                cwd=here)
    assert query.stdout == "n\n2\n", query.stderr
    # A catalog alone: its last run says where the products are.
    status = run("status", "../weather/pipeline.py", "--catalog", "out/catalog.duckdb", cwd=here)
    assert _plan(status.stdout) == {"numbers": "fresh", "scaled": "fresh"}, status.stderr


def test_code_paths_resolve_from_the_project_not_the_command(tmp_path) -> None:
    """DuckDBClient('wh.duckdb') written in code is the project's file from any directory."""
    _write(tmp_path / "weather" / "pipeline.py", """
        from assetry import sql_asset
        from assetry.clients import DuckDBClient

        warehouse = DuckDBClient("wh.duckdb")


        @sql_asset(client=warehouse)
        def answer():
            return "SELECT 42 AS n"
    """)
    first = run("materialize", "weather/pipeline.py", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run("materialize", "../weather/pipeline.py", cwd=tmp_path / "elsewhere")
    assert "0 materialized, 1 skipped" in second.stderr, second.stderr
    assert (tmp_path / "weather" / "wh.duckdb").is_file()
    assert not (tmp_path / "wh.duckdb").exists()
    assert not (tmp_path / "elsewhere" / "wh.duckdb").exists()


def test_errors_show_paths_from_where_the_command_runs(tmp_path) -> None:
    """An import error names the file as the person typed it, not from the project."""
    _write(tmp_path / "weather" / "broken.py", "raise RuntimeError('bad at import')\n")
    done = run("status", "weather/broken.py", cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot import weather/broken.py:1: RuntimeError: bad at import" in done.stderr


def test_spec_search_stops_at_a_git_directory(tmp_path) -> None:
    """A spec above the repository holding .git is not the project's."""
    _write(tmp_path / "assetry.yaml", "assets: [pipeline.py]\n")
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "sub").mkdir()
    assert find_spec(tmp_path / "repo" / "sub") is None
    assert find_spec(tmp_path / "repo" / "sub" / "..") is None
    assert find_spec(tmp_path) == tmp_path / "assetry.yaml"
    done = run("status", cwd=tmp_path / "repo" / "sub")
    assert done.returncode == 2
    assert "no TARGET given, and no assetry.yaml in" in done.stderr


def test_locate_says_where_each_kind_of_target_belongs(tmp_path, monkeypatch) -> None:
    """Spec directory, else the file's or folder's directory, else the current directory."""
    _write(tmp_path / "plain" / "pipeline.py", PIPELINE)
    _write(tmp_path / "proj" / "assetry.yaml", "assets: [flows]\n")
    _write(tmp_path / "proj" / "flows" / "a.py", PIPELINE)
    monkeypatch.chdir(tmp_path / "plain")  # a dotted module belongs to the current directory
    assert locate(str(tmp_path / "plain" / "pipeline.py")).directory == tmp_path / "plain"
    assert locate(str(tmp_path / "plain")).directory == tmp_path / "plain"
    assert locate("pipeline").directory == tmp_path / "plain"
    found = locate(str(tmp_path / "proj" / "flows" / "a.py"))
    assert (found.kind, found.directory, found.found_spec) == ("path", tmp_path / "proj", True)
    assert locate(str(tmp_path / "proj")).kind == "spec"
    assert project_catalog(str(tmp_path / "plain" / "pipeline.py")) == (
        tmp_path / "plain" / "data" / "catalog.duckdb")
    project = load_project(str(tmp_path / "plain" / "pipeline.py"))
    assert (project.root, project.directory) == (tmp_path / "plain" / "data", tmp_path / "plain")


def test_no_target_and_no_spec_is_one_line(tmp_path, monkeypatch) -> None:
    """Without a TARGET or a spec upward the error says what a TARGET is."""
    (tmp_path / ".git").mkdir()  # the search stops here, whatever lies above tmp_path
    monkeypatch.chdir(tmp_path)
    assert find_spec(tmp_path) is None
    with pytest.raises(AssetError, match="no TARGET given, and no assetry.yaml"):
        locate(None)


def test_command_line_messages_use_the_command_lines_words(tmp_path) -> None:
    """A missing catalog, a selection missing its upstream, bad options: no Python spellings."""
    _write(tmp_path / "weather" / "pipeline.py", PIPELINE)
    here = tmp_path / "elsewhere"
    missing = run("sql", "SELECT 1", "../weather/pipeline.py", cwd=here)
    assert missing.returncode == 2 and "run 'assetry materialize' first" in missing.stderr
    upstream = run("materialize", "../weather/pipeline.py", "--select", "scaled", cwd=here)
    assert upstream.returncode == 1
    assert "select it too (--select +scaled)" in upstream.stderr
    config = run("materialize", "../weather/pipeline.py", "-c", "scaled.factor=many", cwd=here)
    assert config.returncode == 2 and "'factor'" in config.stderr
    unknown = run("status", "../weather/pipeline.py", "-c", "nosuch.factor=1", cwd=here)
    assert unknown.returncode == 2 and "'nosuch'" in unknown.stderr
    parts = run("materialize", "../weather/pipeline.py", "--partitions", "a", cwd=here)
    assert parts.returncode == 2 and "--partitions was given" in parts.stderr
    for done in (missing, upstream, config, unknown, parts):
        assert not PYTHON_WORDS.search(done.stderr), done.stderr
