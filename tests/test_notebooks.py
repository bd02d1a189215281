"""The example notebooks run top to bottom in a real kernel, and their asserts hold."""

from __future__ import annotations

import os
import pathlib

import ipykernel  # noqa: F401  (the kernel the notebooks run on: part of the test extras)
import nbclient
import nbformat
import pytest

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
    if name == "quickstart.ipynb":  # the graph is drawn inline
        kinds = {k for cell in book.cells for o in cell.get("outputs", []) for k in o.get("data", {})}
        assert "image/svg+xml" in kinds
    assert any(p.name.startswith("assetry-") for p in tmp_path.iterdir())


@pytest.mark.parametrize("name", ["quickstart.ipynb", "iterate.ipynb"], ids=lambda n: n[:-6])
def test_committed_notebook_has_no_outputs(name) -> None:
    """The notebooks are stored with outputs and execution counts cleared."""
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_draw_shows_states_inline(tmp_path) -> None:
    """`draw` colours each asset from the catalog and is shown as SVG by Jupyter."""
    import polars as pl

    from assetry import asset, materialize
    from assetry.notebook import Picture, draw

    @asset
    def source() -> pl.DataFrame:
        return pl.DataFrame({"n": [1, 2]})

    @asset
    def doubled(source: pl.DataFrame) -> pl.DataFrame:
        return source * 2

    catalog = tmp_path / "catalog.duckdb"
    before = draw([source, doubled], catalog=catalog)
    assert 'data-name="doubled" data-state="never run"' in before.svg
    materialize([source, doubled], root=tmp_path, catalog=catalog)
    after = draw([source, doubled], catalog=catalog)
    assert isinstance(after, Picture) and after._repr_svg_() == after.svg
    assert 'data-name="doubled" data-state="fresh"' in after.svg and "2 rows" in after.svg
    assert repr(after) == "<Picture asset graph: 2 assets, 1 edges>"
    assert after.save(tmp_path / "g.svg").read_text() == after.svg
