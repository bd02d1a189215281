"""The `assetry` command, run as a user runs it: a subprocess on each kind of TARGET."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from assetry.catalog import Catalog
from assetry.cli.commands import cli
from assetry.cli.project import parse_config, parse_partitions

SCRIPT = pathlib.Path(sys.executable).parent / "assetry"
SVG = "{http://www.w3.org/2000/svg}"

PIPELINE = """
    import polars as pl
    from assetry import asset

    import helpers


    @asset(description="Three numbers.")
    def numbers() -> pl.DataFrame:
        return pl.DataFrame({"n": [1, 2, 3]})


    @asset
    def scaled(numbers: pl.DataFrame, factor: int = 2) -> pl.DataFrame:
        \"\"\"Every number times ``factor``.\"\"\"
        return numbers.with_columns(pl.col("n") * helpers.FACTOR * factor)
"""

FAILING = """
    import polars as pl
    from assetry import asset


    @asset
    def good() -> pl.DataFrame:
        return pl.DataFrame({"n": [1]})


    @asset
    def boom(good: pl.DataFrame) -> pl.DataFrame:
        raise ValueError("the boom asset always fails")


    @asset
    def after(boom: pl.DataFrame) -> pl.DataFrame:
        return boom
"""


def _write(path: pathlib.Path, source: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


def _project(folder: pathlib.Path, name: str = "pipeline.py") -> pathlib.Path:
    _write(folder / "helpers.py", "FACTOR = 1\n")
    return _write(folder / name, PIPELINE)


def run(*args: str, cwd: pathlib.Path, script: bool = False, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run the command in a subprocess (output is a pipe, so logs are plain lines)."""
    command = [str(SCRIPT)] if script else [sys.executable, "-m", "assetry"]
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        command + list(args), check=False, cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=120,
    )


def test_dotted_module_runs_then_skips_with_plain_log_lines(tmp_path) -> None:
    """A dotted module target materializes, logs one plain line per asset, then skips all."""
    _project(tmp_path / "src", "mypipe.py")
    env = {"PYTHONPATH": str(tmp_path / "src")}
    first = run("materialize", "mypipe", "--root", "out", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    lines = first.stderr.splitlines()
    assert lines[0] == "assetry: materialized numbers (never materialized) " + lines[0].split(") ")[1]
    assert re.fullmatch(r"assetry: materialized numbers \(never materialized\) [\d.]+s 3 rows", lines[0])
    assert re.fullmatch(r"assetry: 2 materialized, 0 skipped, 0 failed, 0 blocked in [\d.]+s", lines[-1])
    assert "\x1b[" not in first.stderr and first.stdout == ""
    assert (tmp_path / "out" / "catalog.duckdb").is_file()
    second = run("materialize", "mypipe", "--root", "out", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "assetry: skipped scaled (up to date) 3 rows" in second.stderr.splitlines()


def test_py_file_with_the_console_script_status_list_and_config(tmp_path) -> None:
    """The `assetry` script runs a .py file; status says why; --config is YAML and wins."""
    pipeline = _project(tmp_path)
    assert run("materialize", str(pipeline), cwd=tmp_path, script=True).returncode == 0
    data = Catalog(tmp_path / "data" / "catalog.duckdb").load("scaled")
    assert data["n"].to_list() == [2, 4, 6]
    status = run("status", "pipeline.py", "-c", "scaled.factor=10", cwd=tmp_path, script=True)
    assert status.returncode == 0, status.stderr
    rows = [line.split(None, 1) for line in status.stdout.splitlines()]
    assert rows == [["asset", "plan"], ["numbers", "fresh"],
                    ["scaled", "will run (config changed: factor 2 -> 10)"],
                    ["1", "will run, 0 may run, 1 fresh"]]
    ran = run("materialize", "pipeline.py", "--config", "scaled.factor=10", cwd=tmp_path)
    assert "assetry: materialized scaled (config changed: factor 2 -> 10)" in ran.stderr
    assert Catalog(tmp_path / "data" / "catalog.duckdb").load("scaled")["n"].to_list() == [10, 20, 30]
    listed = run("list", "pipeline.py", cwd=tmp_path, script=True)
    assert listed.returncode == 0, listed.stderr
    table = [line.split(None, 1) for line in listed.stdout.splitlines()]
    assert [row[0] for row in table] == ["asset", "numbers", "scaled"]
    assert "Three numbers." in listed.stdout and "Every number times ``factor``." in listed.stdout
    assert table[2][1].split()[:2] == ["numbers", "Parquet(compression='zstd')"]


def test_directory_target_and_select(tmp_path) -> None:
    """A directory of .py files is a target; --select narrows the run."""
    _project(tmp_path / "flow")
    done = run("materialize", "flow", "--select", "numbers", "--executor", "sync", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 materialized" in done.stderr and "scaled" not in done.stderr


def test_spec_supplies_defaults_and_expands_env(tmp_path) -> None:
    """An assetry.yaml gives root (from ${ENV}), config and executor; command line flags win."""
    project = tmp_path / "project"
    _project(project)
    _write(project / "assetry.yaml", """
        assets: [pipeline.py]
        root: ${OUT_DIR}
        executor: sync
        config:
          scaled: {factor: 5}
    """)
    env = {"OUT_DIR": str(tmp_path / "from-env")}
    done = run("materialize", "project/assetry.yaml", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    catalog = Catalog(tmp_path / "from-env" / "catalog.duckdb")
    assert catalog.load("scaled")["n"].to_list() == [5, 10, 15]
    override = run("materialize", "project", "-c", "scaled.factor=1", "--root", "cli-root",
                   cwd=tmp_path, env=env)
    assert override.returncode == 0, override.stderr
    assert Catalog(tmp_path / "cli-root" / "catalog.duckdb").load("scaled")["n"].to_list() == [1, 2, 3]
    unset = run("status", "project/assetry.yaml", cwd=tmp_path)
    assert unset.returncode == 2 and "OUT_DIR" in unset.stderr and "Traceback" not in unset.stderr


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        (None, "no_such_module", "target 'no_such_module' is not an importable module"),
        (None, "missing.py", "does not exist"),
        ("import polars as pl\nraise RuntimeError('bad at import')\n", "broken.py",
         "cannot import broken.py:2: RuntimeError: bad at import"),
        ("from assetry import asset\n@asset\ndef a(nope):\n    return 1\n", "broken.py",
         "asset 'a' has parameter 'nope'"),
    ],
    ids=["unknown-module", "missing-file", "import-error", "graph-error"],
)
def test_bad_target_is_one_line_and_exit_2(tmp_path, source, target, expected) -> None:
    """A target that cannot be loaded or built gives `assetry: error: ...`, no traceback, 2."""
    if source is not None:
        _write(tmp_path / target, source)
    done = run("materialize", target, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("assetry: error: ")
    assert expected in done.stderr


def test_failing_asset_exits_1_and_plot_shows_states(tmp_path) -> None:
    """A failing asset is exit 1 with its error line; the plot colours failed and never run."""
    _write(tmp_path / "failing.py", FAILING)
    done = run("materialize", "failing.py", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert any(line.startswith("assetry: failed boom (never materialized)") and
               "ValueError: the boom asset always fails" in line for line in lines)
    assert "assetry: blocked after (upstream failed: boom)" in lines
    assert "1 materialized, 0 skipped, 1 failed, 1 blocked" in lines[-1]
    plotted = run("plot", "failing.py", "-o", "graph.svg", cwd=tmp_path)
    assert plotted.returncode == 0, plotted.stderr
    root = ET.parse(tmp_path / "graph.svg").getroot()
    states = {g.get("data-name"): g.get("data-state") for g in root.iter(f"{SVG}g")
              if g.get("class") == "node"}
    assert states == {"good": "fresh", "boom": "failed", "after": "blocked"}


def test_plot_before_any_run_and_html(tmp_path) -> None:
    """Without a catalog every node is drawn as never run; .html gives a page; .png is refused."""
    _project(tmp_path)
    done = run("plot", "pipeline.py", "-o", "out/graph.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "out" / "graph.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    for name in ("numbers", "scaled"):
        assert f'data-name="{name}" data-state="never run"' in page
    bad = run("plot", "pipeline.py", "-o", "graph.png", cwd=tmp_path)
    assert bad.returncode == 2 and "must end in .svg or .html" in bad.stderr


def test_plot_svg_names_every_node_of_the_demo(tmp_path) -> None:
    """The demo graph's SVG holds a box for each of its assets."""
    from assetry.demo import pipeline

    done = run("plot", "assetry.demo.pipeline", "-o", "dag.svg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    svg = (tmp_path / "dag.svg").read_text()
    names = [v.name for v in vars(pipeline).values() if type(v).__name__ == "Asset"]
    assert len(names) >= 5
    for name in names:
        assert f">{name}</text>" in svg


def test_sql_prints_a_table_csv_and_errors(tmp_path) -> None:
    """`sql` prints rows from the catalog; a bad query or catalog is one line and exit 2."""
    _project(tmp_path)
    assert run("materialize", "pipeline.py", cwd=tmp_path).returncode == 0
    query = "SELECT asset, status, rows FROM materializations ORDER BY asset"
    table = run("sql", query, "--catalog", "data/catalog.duckdb", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert [line.split() for line in table.stdout.splitlines()] == [
        ["asset", "status", "rows"], ["numbers", "materialized", "3"],
        ["scaled", "materialized", "3"], ["(2", "rows)"],
    ]
    default = run("sql", "SELECT count(*) AS n FROM assets", "--format", "csv", cwd=tmp_path)
    assert default.stdout == "n\n2\n"
    bad = run("sql", "SELECT nope FROM assets", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("assetry: error: query on catalog")
    missing = run("sql", "SELECT 1", "--catalog", "nowhere.duckdb", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_accept_records_a_harmless_change(tmp_path) -> None:
    """After a refactor, `accept` makes the asset fresh again without running it."""
    pipeline = _project(tmp_path)
    assert run("materialize", "pipeline.py", cwd=tmp_path).returncode == 0
    pipeline.write_text(pipeline.read_text().replace("factor)", "factor )").replace(
        '"n": [1, 2, 3]', '"n": [1, 2, 3][:3]'))
    before = run("status", "pipeline.py", cwd=tmp_path)
    assert "numbers  will run (code changed" in before.stdout
    accepted = run("accept", "pipeline.py", "--select", "numbers", cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    assert "1 accepted, 0 not accepted" in accepted.stdout
    after = run("status", "pipeline.py", cwd=tmp_path)
    assert "numbers  fresh" in after.stdout.splitlines()


def test_partitions_option(tmp_path) -> None:
    """--partitions narrows a run to those keys; on an unpartitioned graph it is an error."""
    _project(tmp_path)
    bad = run("materialize", "pipeline.py", "--partitions", "a,b", cwd=tmp_path)
    assert bad.returncode == 2 and "no selected asset is partitioned" in bad.stderr
    _write(tmp_path / "parts.py", """
        import polars as pl
        from assetry import StaticPartitions, asset


        @asset(partitions=StaticPartitions(["a", "b", "c"]))
        def letters(partition: str) -> pl.DataFrame:
            return pl.DataFrame({"letter": [partition]})
    """)
    done = run("materialize", "parts.py", "--partitions", "a, c", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "letters[a, c] (2)" in done.stderr  # one line per asset, partitions compressed
    assert "letters[b]" not in done.stderr and ", b" not in done.stderr


def test_rebuild_catalog_flag(tmp_path) -> None:
    """--rebuild-catalog moves a broken catalog aside, keeps the products, and runs."""
    _project(tmp_path)
    fresh = run("materialize", "pipeline.py", "--rebuild-catalog", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert "assetry: rebuilt catalog" in fresh.stderr and "2 materialized" in fresh.stderr
    (tmp_path / "data" / "catalog.duckdb").write_bytes(b"not a database")
    broken = run("materialize", "pipeline.py", cwd=tmp_path)
    assert broken.returncode == 2 and "--rebuild-catalog" in broken.stderr
    rebuilt = run("materialize", "pipeline.py", "--rebuild-catalog", cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "the old one is at" in rebuilt.stderr and "0 materialized, 2 skipped" in rebuilt.stderr


def test_demo_runs_twice_and_skips_the_second_time(tmp_path) -> None:
    """`assetry demo DIR` runs the flights pipeline, skips everything the second time."""
    done = run("demo", str(tmp_path / "demo"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "second run: skipped everything" in done.stdout
    assert f"catalog: {tmp_path / 'demo' / 'catalog.duckdb'}" in done.stdout


@pytest.mark.parametrize("command", ["materialize", "status", "accept", "list", "sql", "plot", "demo"])
def test_every_command_help_shows_an_example(command) -> None:
    """`--help` of every command has an Examples block that uses the command."""
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and f"assetry {command}" in result.output


def test_usage_errors_exit_2(tmp_path) -> None:
    """An unknown option, a bad choice and a malformed --config are usage errors."""
    runner = CliRunner()
    assert runner.invoke(cli, ["materialize", "x.py", "--nope"]).exit_code == 2
    assert runner.invoke(cli, ["materialize", "x.py", "--executor", "gpu"]).exit_code == 2
    _project(tmp_path)
    bad = runner.invoke(cli, ["status", str(tmp_path / "pipeline.py"), "-c", "factor=3"])
    assert bad.exit_code == 2 and "asset.param=value" in bad.output


def test_parse_config_and_partitions() -> None:
    """--config values are YAML; --partitions takes a range or comma-separated keys."""
    assert parse_config(["a.x=1", "a.y=[1, 2]", "b.z=true", "b.s=hello world"]) == {
        "a": {"x": 1, "y": [1, 2]}, "b": {"z": True, "s": "hello world"},
    }
    assert parse_partitions("2013-01-01..2013-01-03") == "2013-01-01..2013-01-03"
    assert parse_partitions("a,b") == ["a", "b"] and parse_partitions(None) is None


@pytest.mark.parametrize(("args", "says"), [
    (["materialize", "--forse", "x.py"], r"No such option '--forse'.*--force.*; see 'assetry materialize --help'$"),
    (["materialize"], r"no TARGET given, and no assetry.yaml in .* or a parent directory"),
    (["nosuch"], r"No such command 'nosuch'; see 'assetry --help'$"),
    (["materialize", "--executor", "bogus", "x.py"], r"'bogus' is not one of 'sync', 'threads', 'processes', 'dask'"),
], ids=["unknown-option", "missing-target", "unknown-command", "bad-choice"])
def test_usage_errors_are_one_line_with_a_hint(tmp_path, args, says) -> None:
    """Every usage error is one `assetry: error: ...` line naming where help is, exit code 2."""
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("assetry: error: ")
    assert re.search(says, lines[0]), lines[0]


def test_the_command_leaves_the_collector_out_of_its_exit(tmp_path) -> None:
    """The console script freezes the heap at exit (after the atexit functions registered
    during the command): the interpreter's closing passes walk nothing. A function
    registered before the command runs after the freeze and sees it."""
    probe = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "from assetry.cli import main\n"
        "print('frozen before:', gc.get_freeze_count() > 0)\n"
        "main(['--version'])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert "frozen before: False" in done.stdout and "frozen at exit: True" in done.stdout
