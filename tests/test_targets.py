"""Command line targets: modules, files, directories and specs become imported modules."""

from __future__ import annotations

import io
import pathlib
import sys
import textwrap

import cloudpickle
import pytest

from assetry.cli.targets import load_target
from assetry.errors import AssetError


@pytest.fixture(autouse=True)
def _restore_sys_path(monkeypatch) -> None:
    """Targets put their directories on sys.path; undo that after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def _write(path: pathlib.Path, source: str = "") -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


def _files(modules) -> list[str]:
    return [pathlib.Path(m.__file__).name for m in modules]


def test_py_file_is_imported_under_a_stable_registered_name(tmp_path) -> None:
    """A .py file gets a name derived from its path, is in sys.modules, and reloads afresh."""
    path = _write(tmp_path / "pipeline.py", "VALUE = 1\n")
    first = load_target(str(path)).modules[0]
    assert first.__name__.startswith("_assetry_pipeline_")
    assert sys.modules[first.__name__] is first and first.VALUE == 1
    _write(path, "VALUE = 2\n")
    second = load_target(path).modules[0]
    assert second.__name__ == first.__name__ and second.VALUE == 2


def test_helper_beside_a_file_is_importable(tmp_path) -> None:
    """`import helpers` works from a target file, and an edited helper is read afresh."""
    _write(tmp_path / "helpers.py", "K = 3\n")
    path = _write(tmp_path / "pipeline.py", "import helpers\nVALUE = helpers.K\n")
    assert load_target(path).modules[0].VALUE == 3
    _write(tmp_path / "helpers.py", "K = 4\n")
    assert load_target(path).modules[0].VALUE == 4


def test_a_namesake_helper_elsewhere_does_not_shadow(tmp_path) -> None:
    """Two targets with their own `helpers.py` each get their own helper."""
    for name, k in (("one", 1), ("two", 2)):
        _write(tmp_path / name / "helpers.py", f"K = {k}\n")
        _write(tmp_path / name / "pipeline.py", "import helpers\nVALUE = helpers.K\n")
    assert load_target(tmp_path / "one" / "pipeline.py").modules[0].VALUE == 1
    assert load_target(tmp_path / "two" / "pipeline.py").modules[0].VALUE == 2


def test_directory_means_its_py_files_in_name_order(tmp_path) -> None:
    """A directory stands for its .py files, sorted, not those of subdirectories."""
    _write(tmp_path / "b.py")
    _write(tmp_path / "a.py")
    _write(tmp_path / "_private.py")
    _write(tmp_path / "sub" / "c.py")
    _write(tmp_path / "__pycache__" / "d.py")
    assert _files(load_target(tmp_path).modules) == ["_private.py", "a.py", "b.py"]


def test_a_module_imported_by_a_sibling_is_the_same_object(tmp_path) -> None:
    """When a.py does `from b import X`, the target's b module is that same module."""
    _write(tmp_path / "a.py", "from b import X\n")
    _write(tmp_path / "b.py", "X = object()\n")
    a, b = load_target(tmp_path).modules
    assert a.X is b.X


def test_package_directory_supports_relative_imports(tmp_path) -> None:
    """A directory with __init__.py is a package: its files are submodules."""
    pkg = tmp_path / "pkg"
    _write(pkg / "__init__.py")
    _write(pkg / "util.py", "def f():\n    return 7\n")
    _write(pkg / "main.py", "from .util import f\nVALUE = f()\n")
    main, util = load_target(pkg).modules
    assert main.VALUE == 7 and main.f is util.f
    assert main.__name__.endswith(".main") and main.__name__.startswith("_assetry_pkg_")


def test_file_inside_a_package_keeps_relative_imports(tmp_path) -> None:
    """A single .py file inside a package is imported as its submodule."""
    _write(tmp_path / "pkg" / "__init__.py")
    _write(tmp_path / "pkg" / "util.py", "K = 5\n")
    main = _write(tmp_path / "pkg" / "main.py", "from .util import K\n")
    assert load_target(main).modules[0].K == 5


def test_init_only_package_is_the_package(tmp_path) -> None:
    """A package directory with only __init__.py stands for that module."""
    _write(tmp_path / "pkg" / "__init__.py", "VALUE = 9\n")
    (module,) = load_target(tmp_path / "pkg").modules
    assert module.VALUE == 9


def test_dotted_module_path(tmp_path, monkeypatch) -> None:
    """A dotted path is imported; a package brings its direct submodules."""
    monkeypatch.syspath_prepend(str(tmp_path))
    _write(tmp_path / "dotted_pkg_for_targets" / "__init__.py")
    _write(tmp_path / "dotted_pkg_for_targets" / "flights.py", "VALUE = 1\n")
    target = load_target("dotted_pkg_for_targets")
    names = [m.__name__ for m in target.modules]
    assert names == ["dotted_pkg_for_targets", "dotted_pkg_for_targets.flights"]
    assert target.spec is None


def test_spec_file_and_directory_holding_one(tmp_path) -> None:
    """A spec loads its assets entries; a directory with assetry.yaml means that spec."""
    _write(tmp_path / "assets" / "flights.py", "VALUE = 1\n")
    _write(tmp_path / "spec_dotted_for_targets.py", "VALUE = 2\n")
    _write(tmp_path / "assetry.yaml", "assets: [assets, spec_dotted_for_targets]\nexecutor: sync\n")
    for target in (tmp_path / "assetry.yaml", tmp_path):
        loaded = load_target(target)
        assert [m.VALUE for m in loaded.modules] == [1, 2]
        assert loaded.spec is not None and loaded.spec.executor == "sync"


def test_modules_are_pickled_by_value(tmp_path, monkeypatch) -> None:
    """A function of a target file unpickles where its module cannot be imported."""
    module = load_target(_write(tmp_path / "pipe.py", "def f(x):\n    return x + 1\n")).modules[0]
    blob = cloudpickle.dumps(module.f)
    monkeypatch.delitem(sys.modules, module.__name__)
    assert cloudpickle.loads(blob)(1) == 2


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\ny = undefined_name\n", r"pipeline\.py:2: NameError: name 'undefined_name'"),
        ("def f(:\n    pass\n", r"pipeline\.py:1: SyntaxError: "),
        ("import no_such_module_xyz\n", r"pipeline\.py:1: ModuleNotFoundError: No module named"),
        ("raise ValueError('bad\\nsecond')\n", r"pipeline\.py:1: ValueError: bad$"),
    ],
    ids=["name-error", "syntax-error", "missing-import", "multi-line-message"],
)
def test_import_failure_is_one_line_with_file_and_line(tmp_path, source, message) -> None:
    """A failing user file gives one line: the file, the line, the exception; no traceback."""
    path = _write(tmp_path / "pipeline.py", source)
    with pytest.raises(AssetError, match=message) as info:
        load_target(path)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
    assert not [m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == str(path)]


def test_failure_in_a_helper_names_the_helper_line(tmp_path) -> None:
    """An exception raised in a helper beside the file points at the helper's line."""
    _write(tmp_path / "helpers.py", "K = 1\nraise RuntimeError('no config')\n")
    path = _write(tmp_path / "pipeline.py", "import helpers\n")
    with pytest.raises(AssetError, match=r"helpers\.py:2: RuntimeError: no config"):
        load_target(path)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing.py", r"does not exist; check the path"),
        ("no_such_pkg_xyz.pipeline", r"'no_such_pkg_xyz.pipeline' is not an importable module"),
        ("not a target", r"does not exist; give a dotted module path, a \.py file"),
    ],
    ids=["missing-file", "missing-module", "nonsense"],
)
def test_bad_targets_say_what_a_target_is(tmp_path, target, message) -> None:
    """A target that names nothing is an AssetError that says what to give."""
    with pytest.raises(AssetError, match=message):
        load_target(str(tmp_path / target) if target.endswith(".py") else target)


def test_a_loaded_directory_runs_and_notices_a_helper_edit(tmp_path) -> None:
    """Assets loaded from a directory run, skip when reloaded, and rerun after a helper edit."""
    from assetry import materialize
    from assetry.reporting import PlainReporter

    pipe = tmp_path / "pipe"
    _write(pipe / "helpers.py", "def scale(x):\n    return x * 2\n")
    _write(
        pipe / "assets.py",
        """
        import polars as pl
        from assetry import asset
        import helpers

        @asset
        def numbers() -> pl.DataFrame:
            return pl.DataFrame({"n": [1, 2, 3]})

        @asset
        def scaled(numbers: pl.DataFrame) -> pl.DataFrame:
            return numbers.select(helpers.scale(pl.col("n")))
        """,
    )

    def run() -> list[str]:
        out = io.StringIO()
        modules = list(load_target(pipe).modules)
        materialize(modules, root=tmp_path / "data", executor="sync", reporter=PlainReporter(out))
        return [" ".join(line.split()[1:3]) for line in out.getvalue().splitlines()[:-1]]

    assert run() == ["materialized numbers", "materialized scaled"]
    assert run() == ["skipped numbers", "skipped scaled"]
    _write(pipe / "helpers.py", "def scale(x):\n    return x * 3\n")
    assert run() == ["skipped numbers", "materialized scaled"]


def test_a_target_is_imported_with_the_heap_frozen_and_given_back_after(tmp_path) -> None:
    """While the user's code imports, what was alive before sits in the collector's permanent
    generation, and the collector makes no pass (a module of thousands of declarations sets
    off passes at import; engine/heap.py); after the import it is given back, and the
    collector is on again."""
    import gc

    path = _write(tmp_path / "pipeline.py", """
        import gc
        FROZEN_AT_IMPORT = gc.get_freeze_count()
        ENABLED_AT_IMPORT = gc.isenabled()
    """)
    module = load_target(str(path)).modules[0]
    assert module.FROZEN_AT_IMPORT > 1000 and not module.ENABLED_AT_IMPORT
    assert gc.get_freeze_count() == 0 and gc.isenabled()
