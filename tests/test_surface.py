"""Messages use the words of where the person is: Python or the command line, installed how."""

from __future__ import annotations

import pathlib
import subprocess
import sys

from assetry._surface import command_line, install_hint, run_hint, select_hint

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_python_and_command_line_spellings():
    """run_hint and select_hint say materialize()/select= in Python, the command's words in the CLI."""
    assert run_hint() == "run materialize() first"
    assert select_hint("scaled") == "select='+scaled'"
    with command_line():
        assert run_hint() == "run 'assetry materialize' first"
        assert select_hint("scaled") == "--select +scaled"
    assert run_hint() == "run materialize() first"


def test_install_hint_from_a_clone_names_the_clone():
    """This test suite runs on an editable install from the clone: the hint installs from it."""
    hint = install_hint("demo")
    assert hint == f"pip install -e '{ROOT}[demo]'"


def test_missing_catalog_from_the_command_line_uses_its_words(tmp_path):
    """`assetry sql` on a missing catalog says to run `assetry materialize`, not materialize()."""
    done = subprocess.run(
        [sys.executable, "-m", "assetry", "sql", "SELECT 1", "--catalog", str(tmp_path / "c.duckdb")],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 2
    assert "run 'assetry materialize' first" in done.stderr
    assert "materialize()" not in done.stderr
