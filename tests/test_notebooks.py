"""The example notebooks run top to bottom in a real kernel, and their asserts hold."""

from __future__ import annotations

import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


@pytest.mark.parametrize("name", ["quickstart.ipynb", "iterate.ipynb"], ids=lambda n: n[:-6])
def test_notebook_runs(tmp_path, name) -> None:
    """Every cell runs without error; temporary roots land in tmp_path, not the repository."""
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        book, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env={**os.environ, "TMPDIR": str(tmp_path)})
    errors = [
        output for cell in book.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.get("output_type") == "error"
    ]
    assert errors == []
    assert any(p.name.startswith("assetry-") for p in tmp_path.iterdir())


@pytest.mark.parametrize("name", ["quickstart.ipynb", "iterate.ipynb"], ids=lambda n: n[:-6])
def test_committed_notebook_has_no_outputs(name) -> None:
    """The notebooks are stored with outputs and execution counts cleared."""
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
