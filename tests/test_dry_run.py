"""An honest plan: `will run`, `may run (upstream will rerun: x)`, and `--dry-run` writes nothing."""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from assetry import materialize
from assetry.catalog import Catalog
from assetry.cli.targets import load_target
from assetry.engine.status import dry_run, plan_counts, plan_text, plan_word

CHAIN = """
    import polars as pl
    from assetry import asset


    @asset
    def a() -> pl.DataFrame:
        return pl.DataFrame({"n": [1, 2, 3]})


    @asset
    def b(a: pl.DataFrame) -> pl.DataFrame:
        return a.with_columns(pl.col("n") * 2)


    @asset
    def c(b: pl.DataFrame) -> pl.DataFrame:
        return b.select(pl.col("n").sum())


    @asset
    def d() -> pl.DataFrame:
        return pl.DataFrame({"x": [1]})
"""


def _write(path: pathlib.Path, source: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


def run(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "assetry", *args], check=False, cwd=cwd, capture_output=True,
        text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )


def _table(stdout: str) -> tuple[dict[str, str], str]:
    lines = stdout.splitlines()
    assert lines[0].split() == ["asset", "plan"], stdout
    return dict(line.split(None, 1) for line in lines[1:-1]), lines[-1]


def _snapshot(folder: pathlib.Path) -> dict[str, tuple[int, str]]:
    """Every file under ``folder``: its mtime and content digest."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def chain(tmp_path) -> pathlib.Path:
    """The chain a -> b -> c and d, materialized once; returns the project folder."""
    project = tmp_path / "weather"
    _write(project / "pipeline.py", CHAIN)
    assert run("materialize", "pipeline.py", cwd=project).returncode == 0
    return project


def test_a_deleted_product_is_one_will_run_and_its_downstream_may_run(chain, tmp_path) -> None:
    """status says what will run for sure and what only may, and counts each."""
    (chain / "data" / "a.parquet").unlink()
    status = run("status", "../weather/pipeline.py", cwd=tmp_path / "elsewhere")
    assert status.returncode == 0, status.stderr
    plan, counts = _table(status.stdout)
    assert plan == {
        "a": "will run (product missing)",
        "b": "may run (upstream will rerun: a)",
        "c": "may run (upstream will rerun: b)",
        "d": "fresh",
    }
    assert counts == "1 will run, 2 may run, 1 fresh"
    # The run confirms it: a reruns to the same data, so b and c stay skipped (early cutoff).
    done = run("materialize", "../weather/pipeline.py", cwd=tmp_path / "elsewhere")
    assert "1 materialized, 3 skipped" in done.stderr, done.stderr


def test_dry_run_prints_the_plan_and_writes_nothing(chain, tmp_path) -> None:
    """--dry-run leaves the catalog and every product byte for byte, with the same mtimes."""
    (chain / "data" / "a.parquet").unlink()
    before = _snapshot(chain)
    done = run("materialize", "../weather/pipeline.py", "--dry-run", cwd=tmp_path / "elsewhere")
    assert done.returncode == 0, done.stderr
    plan, counts = _table(done.stdout)
    assert plan["a"] == "will run (product missing)" and counts == "1 will run, 2 may run, 1 fresh"
    assert done.stderr == ""
    assert _snapshot(chain) == before
    assert not (chain / "data" / "a.parquet").exists()
    assert sorted(os.listdir(tmp_path / "elsewhere")) == []


def test_dry_run_of_a_new_project_creates_no_root(tmp_path) -> None:
    """Before the first run, --dry-run plans everything and makes no directory or catalog."""
    _write(tmp_path / "fresh" / "pipeline.py", CHAIN)
    done = run("materialize", "fresh/pipeline.py", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    plan, counts = _table(done.stdout)
    assert set(plan.values()) == {"will run (never materialized)"}
    assert counts == "4 will run, 0 may run, 0 fresh"
    assert sorted(os.listdir(tmp_path / "fresh")) == ["pipeline.py"]


def test_dry_run_follows_the_runs_selection_and_force(chain, tmp_path) -> None:
    """--select plans only the selected steps (upstream taken as is); --force makes them run."""
    here = tmp_path / "elsewhere"
    forced = run("materialize", "../weather/pipeline.py", "--select", "b+", "--force",
                 "--dry-run", cwd=here)
    plan, counts = _table(forced.stdout)
    assert plan == {"b": "will run (forced)", "c": "will run (forced)"}, forced.stderr
    assert counts == "2 will run, 0 may run, 0 fresh"
    (chain / "data" / "a.parquet").unlink()
    alone = run("materialize", "../weather/pipeline.py", "--select", "b", "--dry-run", cwd=here)
    plan, counts = _table(alone.stdout)
    assert plan == {"b": "will fail (upstream missing)"}
    assert counts == "0 will run, 0 may run, 0 fresh, 1 will fail"
    refused = run("materialize", "../weather/pipeline.py", "--dry-run", "--rebuild-catalog",
                  cwd=here)
    assert refused.returncode == 2 and "--dry-run" in refused.stderr


def test_dry_run_in_python_matches_what_the_run_does(tmp_path) -> None:
    """engine.status.dry_run plans like materialize: its will-run assets are the ones that run."""
    _write(tmp_path / "p" / "pipeline.py", CHAIN)
    modules = list(load_target(tmp_path / "p" / "pipeline.py").modules)
    root = tmp_path / "data"
    materialize(modules, root=root)
    catalog = Catalog(root / "catalog.duckdb")
    planned = dry_run(modules, catalog=catalog, root=root, force=["c"])
    assert planned.columns == ["asset", "fresh", "reason"]
    assert dict(zip(planned["asset"], planned["reason"])) == {
        "a": "up to date", "b": "up to date", "c": "forced", "d": "up to date"}
    assert materialize(modules, root=root, force=["c"]).materialized == ["c"]


@pytest.mark.parametrize(("fresh", "reason", "word", "text"), [
    (True, "up to date", "fresh", "fresh"),
    (False, "code changed: helper (pipeline.py)", "will run", "will run (code changed: helper (pipeline.py))"),
    (False, "upstream stale: a, b", "may run", "may run (upstream will rerun: a, b)"),
    (False, "upstream changed: a", "will run", "will run (upstream changed: a)"),
    (False, "3 fresh, 2 upstream stale", "may run", "may run (3 fresh, 2 upstream stale)"),
    (False, "3 fresh, 1 missing, 2 upstream stale", "will run", "will run (3 fresh, 1 missing, 2 upstream stale)"),
    (False, "upstream failed: raw", "blocked", "blocked (upstream failed: raw)"),
    (False, "source changed", "changed", "changed (source changed)"),
], ids=["fresh", "code", "upstream-stale", "upstream-changed", "partitions-may", "partitions-will",
        "blocked", "source"])
def test_plan_words(fresh, reason, word, text) -> None:
    """A status row's reason becomes the honest plan's word and text."""
    assert plan_word(fresh, reason) == word
    assert plan_text(fresh, reason) == text


def test_plan_counts_always_name_the_three_fates() -> None:
    """will run, may run and fresh are always counted; other fates only when present."""
    assert plan_counts([]) == "0 will run, 0 may run, 0 fresh"
    assert plan_counts(["fresh", "blocked", "will run"]) == "1 will run, 0 may run, 1 fresh, 1 blocked"
