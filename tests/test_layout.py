"""The layout's rules hold: import-linter's contracts, private modules, no package cycles.

The contracts live in pyproject.toml (``[tool.importlinter]``) and
docs/architecture.md explains them; these tests make CI fail when one breaks.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
import textwrap

import grimp
import pytest

import assetry

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "assetry"
LINT_IMPORTS = pathlib.Path(sys.executable).parent / "lint-imports"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("assetry", cache_dir=None)


def _lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def test_import_linter_contracts_are_kept():
    """Every contract in pyproject.toml is kept (lint-imports exits 0)."""
    done = _lint()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" not in done.stdout.lower().replace("0 broken", "")


def test_a_broken_contract_fails(tmp_path):
    """lint-imports really checks: a contract the code breaks makes it exit non-zero."""
    config = tmp_path / "broken.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_package = "assetry"

        [[tool.importlinter.contracts]]
        name = "the engine may not read the catalog file (false on purpose)"
        type = "forbidden"
        source_modules = ["assetry.engine"]
        forbidden_modules = ["assetry.records"]
    """))
    done = _lint(str(config))
    assert done.returncode != 0
    assert "BROKEN" in done.stdout


def _owner_of_private(module: str) -> str | None:
    """The package a private module belongs to (``a.b._c`` -> ``a.b``), else None."""
    parts = module.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def test_private_modules_are_imported_only_inside_their_package(graph):
    """Inside a package, ``_x.py`` is private: no module outside that package imports it."""
    offenders = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            owner = _owner_of_private(imported)
            if owner and module != owner and not module.startswith(owner + "."):
                offenders.append(f"{module} -> {imported}")
    assert offenders == []


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_import_cycles_between_packages(graph):
    """Collapsed to top-level packages and modules, the import graph has no cycle."""
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = _package(module), _package(imported)
            if a != b and b != "assetry" and a != "assetry":
                edges.setdefault(a, set()).add(b)
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_long_modules_say_why():
    """A module over 400 lines says why in its docstring ("Longer than 400 lines: ...")."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 400:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "Longer than 400 lines" not in doc:
                long.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert long == []


def test_every_module_says_what_it_owns():
    """Every module of the package opens with a docstring."""
    missing = [
        str(p.relative_to(ROOT)) for p in sorted(PACKAGE.rglob("*.py"))
        if p.stat().st_size and not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))
    ]
    assert missing == []


@pytest.mark.parametrize("path", [
    "assetry", "assetry.io_managers", "assetry.clients", "assetry.checks", "assetry.catalog",
    "assetry.cli", "assetry.errors", "assetry.partitions",
], ids=str)
def test_public_import_paths_still_work(path):
    """The public import paths of API.md import."""
    __import__(path)


def test_public_names_of_assetry_are_exactly_all():
    """vars(assetry) holds no public name that __all__ does not list (submodules aside)."""
    import types

    public = sorted(
        name for name, value in vars(assetry).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    )
    listed = sorted(n for n in assetry.__all__ if not isinstance(getattr(assetry, n), types.ModuleType))
    assert public == listed


def test_import_assetry_is_light():
    """``import assetry`` loads no pyarrow, duckdb, sqlalchemy, click, rich or yaml."""
    code = (
        "import sys, assetry\n"
        "heavy = ['pyarrow', 'duckdb', 'sqlalchemy', 'click', 'rich', 'yaml', 'pandas']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
