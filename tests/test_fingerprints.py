"""Fingerprints: canonical encoding, and code fingerprints that follow the live source."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import importlib
import importlib.util
import itertools
import json
import linecache
import os
import pathlib
import subprocess
import sys
import textwrap
import types
import uuid

import attrs
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assetry.fingerprints import (
    asset_fingerprint,
    changed_definitions,
    code_definitions,
    code_dependencies,
    code_fingerprint,
    code_info,
    config_fingerprint,
    encode,
    hash_bytes,
    hash_fields,
)

# A stand-in for ``@asset``: a wrapper with ``__wrapped__`` and ``spec``, as assetry's own.
DECORATOR = """
import functools

class Asset:
    def __init__(self, fn, spec):
        self.spec = spec
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        return self.__wrapped__(*args, **kwargs)

def asset(fn=None, **spec):
    if fn is None:
        return lambda f: Asset(f, spec)
    return Asset(fn, spec)
"""

BASE = """
import polars as pl
from {p}_deco import asset

def helper(x):
    return x + 1

@asset
def f(flights: pl.DataFrame, n: int = 3) -> pl.DataFrame:
    \"\"\"Count flights.\"\"\"
    total = helper(n)
    return flights.head(total)
"""

SAME = {
    "comment": BASE.replace("    total = helper(n)", "    # the cutoff\n    total = helper(n)  # why"),
    "blank lines": BASE.replace("    total = helper(n)", "\n\n    total = helper(n)\n"),
    "docstring": BASE.replace('"""Count flights."""', '"""Count the flights, differently."""'),
    "no docstring": BASE.replace('    """Count flights."""\n', ""),
    "moved": BASE.replace("@asset\ndef f", "\n\n\n\n@asset\ndef f").replace(
        "def helper(x):\n    return x + 1\n", ""
    ) + "\ndef helper(x):\n    return x + 1\n",
    "decorator args": BASE.replace("@asset\n", "@asset(description='flights', tags={'a': 1})\n"),
}

DIFFERENT = {
    "body": BASE.replace("flights.head(total)", "flights.tail(total)"),
    "signature": BASE.replace("n: int = 3", "n: int = 4"),
    "helper": BASE.replace("return x + 1", "return x + 2"),
}


@pytest.fixture(autouse=True)
def _no_bytecode(monkeypatch):
    """Modules are compiled from their files: a stale .pyc would hide a quick rewrite."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


@pytest.fixture
def project(tmp_path):
    """Build a fresh set of module files; return the fingerprint and dependencies of one function.

    Module names get a per-test prefix (``{p}`` in sources); every build imports
    from its own directory, so two builds may hold modules of the same names.
    """
    prefix = f"fp{uuid.uuid4().hex[:10]}"
    counter = itertools.count()

    def build(files: dict[str, str], entry: str = "main", attr: str = "f"):
        folder = tmp_path / f"v{next(counter)}"
        folder.mkdir()
        for name, source in {"deco": DECORATOR, **files}.items():
            text = textwrap.dedent(source).replace("{p}", prefix)
            (folder / f"{prefix}_{name}.py").write_text(text, encoding="utf-8")
        sys.path.insert(0, str(folder))
        importlib.invalidate_caches()
        try:
            fn = getattr(importlib.import_module(f"{prefix}_{entry}"), attr)
            deps = [d.removeprefix(f"{prefix}_") for d in code_dependencies(fn)]
            return code_fingerprint(fn), deps
        finally:
            sys.path.remove(str(folder))
            for name in [m for m in sys.modules if m.startswith(prefix)]:
                del sys.modules[name]

    return build


def _load(path: pathlib.Path, source: str, name: str | None = None) -> types.ModuleType:
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name or f"fp{uuid.uuid4().hex[:10]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _touch_later(path: pathlib.Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


@pytest.mark.parametrize("variant", list(SAME), ids=list(SAME))
def test_formatting_changes_keep_the_fingerprint(project, variant):
    """Comments, blank lines, docstrings, position and decorator arguments are not code."""
    assert project({"main": SAME[variant]})[0] == project({"main": BASE})[0]


@pytest.mark.parametrize("variant", list(DIFFERENT), ids=list(DIFFERENT))
def test_code_edits_change_the_fingerprint(project, variant):
    """An edit of the body, the signature or a helper in the same module is seen."""
    assert project({"main": DIFFERENT[variant]})[0] != project({"main": BASE})[0]


HELPERS = """
CONST = 10

def inner(x):
    return x * CONST

def outer(x):
    return inner(x) - 1

class Scaler:
    factor = 2

    def scale(self, x):
        return outer(x) * self.factor
"""

EDITS = {
    "helper in module": ("return inner(x) - 1", "return inner(x) - 2"),
    "helper of helper": ("return x * CONST", "return x * CONST * 1"),
    "module constant": ("CONST = 10", "CONST = 11"),
    "class method": ("return outer(x) * self.factor", "return outer(x) + self.factor"),
    "class attribute": ("factor = 2", "factor = 3"),
}

USERS = {
    "import module": "import {p}_helpers\n\ndef f(x):\n    return {p}_helpers.Scaler().scale(x)\n",
    "from import": "from {p}_helpers import Scaler\n\ndef f(x):\n    return Scaler().scale(x)\n",
}


@pytest.mark.parametrize("user", list(USERS), ids=list(USERS))
@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_edits_in_helper_modules_change_the_fingerprint(project, user, edit):
    """A helper, a helper's helper, a constant or a class in another user module counts."""
    before, after = EDITS[edit]
    first, deps = project({"main": USERS[user], "helpers": HELPERS})
    second, _ = project({"main": USERS[user], "helpers": HELPERS.replace(before, after)})
    assert first != second
    assert deps == ["helpers:CONST", "helpers:Scaler", "helpers:inner", "helpers:outer"]


def test_unrelated_edits_in_helper_modules_keep_the_fingerprint(project):
    """Code that the function does not reach does not count."""
    main = "from {p}_helpers import inner\n\ndef f(x):\n    return inner(x)\n"
    first, deps = project({"main": main, "helpers": HELPERS})
    second, _ = project({"main": main, "helpers": HELPERS.replace("- 1", "- 5")})
    assert (first, deps) == (second, ["helpers:CONST", "helpers:inner"])


def test_standard_library_and_packages_are_left_out(project):
    """json, os.path and polars are named, but only the user's helper enters the fingerprint."""
    main = """
    import json
    import os.path
    from json import dumps
    import polars as pl

    def helper(x):
        return json.dumps(x)

    def f(x):
        path = os.path.join("a", dumps(x))
        return pl.concat([pl.DataFrame({"p": [path]})]).with_columns(pl.col("p")), helper(x)
    """
    _, deps = project({"main": main})
    assert deps == ["main:helper"]


def test_locals_that_shadow_globals_are_not_dependencies(project):
    """A local variable named like a module-level function is not that function."""
    main = "def helper():\n    return 1\n\ndef f(x):\n    helper = x\n    return helper\n"
    assert project({"main": main})[1] == []


def test_assets_named_in_the_body_count_without_their_decorator(project):
    """Another asset called by name enters through its function; its decorator does not."""
    main = """
    from {p}_deco import asset

    @asset(description="one")
    def g(x):
        return x * 2

    @asset
    def f(x):
        return g(x) + 1
    """
    first, deps = project({"main": main})
    assert deps == ["main:g"]
    assert project({"main": main.replace('"one"', '"two"')})[0] == first
    assert project({"main": main.replace("x * 2", "x * 3")})[0] != first


def test_recursion_and_mutual_recursion_terminate(project):
    """Self-reference and cycles between helpers are followed once."""
    main = """
    def even(n):
        return True if n == 0 else odd(n - 1)

    def odd(n):
        return False if n == 0 else even(n - 1)

    def f(n):
        return f(n - 1) if n > 10 else even(n)
    """
    fingerprint, deps = project({"main": main})
    assert deps == ["main:even", "main:odd"]
    assert project({"main": main.replace("n == 0 else even", "n <= 0 else even")})[0] != fingerprint


def test_closures_are_followed(project):
    """Helpers and constants captured from an enclosing function count."""
    main = """
    def helper(x):
        return x

    def make(limit):
        def f(x):
            return helper(x) < limit
        return f

    f = make(5)
    """
    first, deps = project({"main": main})
    assert deps == ["main:helper", "main:limit"]
    assert project({"main": main.replace("make(5)", "make(6)")})[0] != first


def test_code_version_pins_the_fingerprint(tmp_path):
    """With a code_version, the body no longer matters; only the version does."""
    one = _load(tmp_path / "one.py", "def f(x):\n    return x\n")
    two = _load(tmp_path / "two.py", "def f(x):\n    return -x\n")
    assert code_fingerprint(one.f, "1") == code_fingerprint(two.f, "1")
    assert code_fingerprint(one.f, "1") != code_fingerprint(one.f, "2")
    assert code_fingerprint(one.f, "1") != code_fingerprint(one.f)


def test_reload_after_an_edit_gives_the_new_fingerprint(tmp_path, monkeypatch):
    """importlib.reload of an edited file changes the fingerprint; undoing the edit restores it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"fp{uuid.uuid4().hex[:10]}"
    path = tmp_path / f"{name}.py"
    path.write_text("def f(x):\n    return x + 1\n")
    module = importlib.import_module(name)
    monkeypatch.setitem(sys.modules, name, module)
    first = code_fingerprint(module.f)
    path.write_text("def f(x):\n    return x + 2\n")
    _touch_later(path)
    assert code_fingerprint(importlib.reload(module).f) != first
    path.write_text("def f(x):\n    return x + 1\n")
    _touch_later(path)
    assert code_fingerprint(importlib.reload(module).f) == first


def test_code_swap_like_autoreload_is_followed(tmp_path):
    """Assigning a recompiled ``__code__`` to the old function changes its fingerprint."""
    path = tmp_path / "swapped.py"
    old = _load(path, "def f(x):\n    return x + 1\n")
    fn, first = old.f, code_fingerprint(old.f)
    path.write_text("def f(x):\n    # edited\n    return x * 2\n")
    _touch_later(path)
    fresh = types.ModuleType("swapped_new")
    exec(compile(path.read_text(), str(path), "exec"), vars(fresh))  # noqa: S102 (what autoreload does)
    fn.__code__ = fresh.f.__code__
    assert code_fingerprint(fn) != first
    assert code_fingerprint(fn) == code_fingerprint(fresh.f)


def test_an_edit_without_reload_does_not_pass_for_the_running_code(tmp_path):
    """The fingerprint describes the code that runs, not a newer file that was never loaded."""
    source = "def f(x):\n    return x + 1\n\ndef g(x):\n    return x - 1\n"
    path = tmp_path / "stale.py"
    module = _load(path, source)
    before_f, before_g = code_fingerprint(module.f), code_fingerprint(_load(tmp_path / "g.py", source).g)
    path.write_text(source.replace("x + 1", "x + 3").replace("x - 1", "x - 3"))
    _touch_later(path)
    edited = _load(tmp_path / "edited.py", path.read_text())
    assert code_fingerprint(module.f) == before_f  # seen before the edit
    assert code_fingerprint(module.g) != code_fingerprint(edited.g)  # first seen after it
    path.write_text(source)
    _touch_later(path)
    assert code_fingerprint(module.g) == before_g


def test_a_rewrite_keeping_size_and_mtime_is_still_read(tmp_path):
    """A file rewritten within the clock's resolution (same size, same mtime) is re-read."""
    path = tmp_path / "tick.py"
    first = _load(path, "def f(x):\n    return x + 1\n")
    code_fingerprint(first.f)
    mtime = path.stat().st_mtime_ns
    second = _load(path, "def f(x):\n    return x + 2\n")
    os.utime(path, ns=(mtime, mtime))
    reference = _load(tmp_path / "reference.py", "def f(x):\n    # same code\n    return x + 2\n")
    assert code_fingerprint(second.f) == code_fingerprint(reference.f) != code_fingerprint(first.f)


def test_a_module_loaded_from_a_path_without_registration_works(tmp_path):
    """spec_from_file_location without sys.modules: helpers are found through __globals__."""
    module = _load(tmp_path / "loose.py", "K = 3\n\ndef h(x):\n    return x * K\n\n"
                   "def f(x):\n    return h(x)\n", name="loose_unregistered")
    assert code_dependencies(module.f) == ["loose_unregistered:K", "loose_unregistered:h"]


def test_notebook_cells_in_linecache_work():
    """A function whose source lives only in linecache (a Jupyter cell) is normalized."""
    names = []
    namespace = {"__name__": "__main__"}
    for source in ("SCALE = 3\ndef helper(x):\n    return x * SCALE\n",
                   "def f(x):\n    '''Doc.'''\n    return helper(x)  # comment\n",
                   "def f(x):\n    return helper(x)\n"):
        name = f"/tmp/ipykernel_0/{uuid.uuid4().hex}.py"
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        names.append(name)
        exec(compile(source, name, "exec"), namespace)  # noqa: S102 (what IPython does)
        if len(names) == 2:
            with_doc = namespace["f"]
    try:
        assert code_dependencies(with_doc) == ["__main__:SCALE", "__main__:helper"]
        assert code_fingerprint(with_doc) == code_fingerprint(namespace["f"])
    finally:
        for name in names:
            linecache.cache.pop(name, None)


def test_code_without_source_falls_back_to_bytecode():
    """A lambda built by exec is hashed from its code object: stable, and edits show."""
    one, same, other = (eval(s) for s in ("lambda x: x + 1", "lambda x: x + 1", "lambda x: x + 2"))
    assert code_fingerprint(one) == code_fingerprint(same) != code_fingerprint(other)
    assert code_fingerprint(len) == code_fingerprint(len) != code_fingerprint(sum)


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> list[str]:
    result = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                            check=True, env={**os.environ, **(env or {})})
    return result.stdout.split()


def test_functions_in_main_are_stable_across_processes(tmp_path):
    """A script's own functions, run as __main__, fingerprint the same in every process."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        from assetry.fingerprints import code_dependencies, code_fingerprint
        LIMITS = {"b": 2, "a": 1}

        def helper(x):
            return {x, "y", "z"} | set(LIMITS)

        def f(x):
            return helper(x)

        print(code_fingerprint(f), *code_dependencies(f))
    """))
    outputs = [_run(str(script), env={"PYTHONHASHSEED": seed}) for seed in ("1", "2", "3")]
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0][1:] == ["__main__:LIMITS", "__main__:helper"]


IPYTHON = """
import os, pathlib, sys
from IPython.core.interactiveshell import InteractiveShell
from assetry.fingerprints import code_dependencies, code_fingerprint

shell = InteractiveShell.instance()
folder = pathlib.Path(sys.argv[1])
sys.path.insert(0, str(folder))
(folder / "fp_autoreloaded.py").write_text("def g(x):\\n    return x + 1\\n")
cells = ["%load_ext autoreload", "%autoreload 2", "import fp_autoreloaded",
         "K = 2\\ndef helper(x):\\n    return x * K", "def f(x):\\n    return helper(x) + 1"]
for cell in cells:
    assert shell.run_cell(cell, store_history=True).success
f, g = shell.user_ns["f"], shell.user_ns["fp_autoreloaded"].g
before = code_fingerprint(g)
print(code_fingerprint(f), *code_dependencies(f))
assert shell.run_cell("def f(x):\\n    'Doc.'\\n    return helper(x) + 1  # c").success
print(code_fingerprint(shell.user_ns["f"]) == code_fingerprint(f))
path = folder / "fp_autoreloaded.py"
path.write_text("def g(x):\\n    return x + 2\\n")
stat = path.stat()
os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
assert shell.run_cell("pass", store_history=True).success  # autoreload runs before a cell
print(shell.user_ns["fp_autoreloaded"].g is g, code_fingerprint(g) != before)
"""


def test_ipython_cells_and_autoreload(tmp_path):
    """In IPython, cell functions are fingerprinted and %autoreload's code swap is followed."""
    import IPython  # noqa: F401  (installed with the test extras' ipykernel)
    script = tmp_path / "ipython_session.py"
    script.write_text(IPYTHON)
    out = _run(str(script), str(tmp_path))
    assert out[1:] == ["__main__:K", "__main__:helper", "True", "True", "True"]


def test_fingerprinting_a_thousand_functions_is_fast(tmp_path):
    """1,000 decorated functions of one module fingerprint in well under a second, fresh process."""
    lines = [DECORATOR, "import polars as pl", "SCALE = 3", "def helper(x):", "    return x * SCALE"]
    for i in range(1000):
        lines += ["", "@asset", f"def a_{i}(upstream: pl.DataFrame, n: int = {i}) -> pl.DataFrame:",
                  f'    """Asset {i}."""', "    return upstream.with_columns(pl.col('x') * helper(n))"]
    path = tmp_path / "fp_thousand.py"
    path.write_text("\n".join(lines) + "\n")
    old = path.stat().st_mtime_ns - 3_600 * 10**9  # written before the process, as usual
    os.utime(path, ns=(old, old))
    timer = tmp_path / "timer.py"
    timer.write_text(textwrap.dedent(f"""
        import sys, time
        from assetry.fingerprints import code_fingerprint
        sys.path.insert(0, {str(tmp_path)!r})
        import fp_thousand
        fns = [getattr(fp_thousand, f"a_{{i}}") for i in range(1000)]
        start = time.perf_counter()
        prints = {{code_fingerprint(f) for f in fns}}
        print(time.perf_counter() - start, len(prints))
    """))
    seconds, distinct = _run(str(timer))
    print(f"\nfingerprinted 1,000 functions in {float(seconds) * 1e3:.0f} ms (fresh process)")
    assert int(distinct) == 1000
    assert float(seconds) < 1.0


# --- encode -----------------------------------------------------------------------------

nested = st.recursive(
    st.integers() | st.text(max_size=5) | st.binary(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple),
    max_leaves=20,
)


@given(nested, nested)
def test_encode_is_equal_exactly_for_equal_values(a, b):
    """Two nested values of lists, tuples, str, bytes and ints encode alike only when equal."""
    assert (encode(a) == encode(b)) == (a == b)


@pytest.mark.parametrize(
    ("a", "b"),
    [(("a", "bc"), ("ab", "c")), (True, 1), (False, 0), ("1", 1), ([1], (1,)), (b"a", "a"),
     (None, ()), (1, 1.0), ([[1], 2], [1, [2]]), ({"a": "b"}, {"ab": ""}), (0.0, -0.0),
     (datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1)), ({1}, [1]), (pl.Int64, pl.Int32)],
    ids=repr,
)
def test_encode_separates_lookalikes(a, b):
    """Values that a delimiter-free join would confuse encode differently."""
    assert encode(a) != encode(b)


def test_hash_fields_keeps_field_boundaries():
    """A compensating change between two fields is seen (Dagster's blind spot)."""
    assert hash_fields(a="ab", b="c") != hash_fields(a="a", b="bc")
    assert hash_fields(a=1, b=2) == hash_fields(b=2, a=1)
    assert hash_bytes(b"x") == hash_bytes(b"x") != hash_bytes(b"y")


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@attrs.frozen
class Settings:
    compression: str = "zstd"
    level: int = 3


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


RICH = [
    None, True, 7, -(2**80), 1.5, 2j, "text", b"bytes", bytearray(b"ba"), (1, "a"), [1, "a"],
    {"k": [1, 2]}, {3, 1, 2}, frozenset({"a"}), datetime.date(2024, 1, 2),
    datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.UTC), datetime.time(1, 2),
    datetime.timedelta(days=1, seconds=2), decimal.Decimal("1.10"), pathlib.PurePosixPath("a/b"),
    Color.RED, Settings(), Point(1, 2), pl.Int64, pl.List(pl.String), pl.Datetime("us", "UTC"),
    pl.Schema({"a": pl.Int64, "b": pl.String}), json.JSONDecoder,
]


def test_every_supported_type_encodes_distinctly():
    """Each supported value encodes, deterministically, to bytes no other value shares."""
    encodings = [encode(v) for v in RICH]
    assert encodings == [encode(v) for v in RICH]
    assert len(set(encodings)) == len(RICH)


def test_containers_ignore_order_where_python_does():
    """Dicts and sets encode by content; lists, tuples and schemas keep their order."""
    assert encode({"a": 1, "b": 2}) == encode({"b": 2, "a": 1})
    assert encode({1, 2, 3}) == encode({3, 2, 1}) == encode(frozenset({2, 1, 3}))
    assert encode(pl.Schema({"a": pl.Int64, "b": pl.String})) != encode(
        pl.Schema({"b": pl.String, "a": pl.Int64}))
    assert encode(Settings(level=4)) != encode(Settings())
    assert encode(pl.Int64) == encode(pl.Int64())


def test_asset_fingerprint_combines_every_part():
    """Code, config, IO settings, upstream and extra each change it; upstream order does not."""
    parts = {"code": "c", "config": config_fingerprint({"n": 1}), "io": "p",
             "upstream": {"a": "1", "b": "2"}}
    base = asset_fingerprint(**parts)
    assert base == asset_fingerprint(**{**parts, "upstream": {"b": "2", "a": "1"}})
    assert base == asset_fingerprint(**parts, extra={})
    changes = [{"code": "d"}, {"config": config_fingerprint({"n": 2})}, {"io": "q"},
               {"upstream": {"a": "1", "b": "3"}}, {"upstream": {"a": "1"}}]
    assert all(asset_fingerprint(**{**parts, **c}) != base for c in changes)
    assert asset_fingerprint(**parts, extra={"partition": "2024-01-01"}) != base


# --- values: immutable by value, mutable by the source that builds them ----------------------


def test_a_helpers_default_argument_names_a_constant(project):
    """``def helper(x, n=LIMIT)``: LIMIT is evaluated where helper is defined, and counts."""
    main = "LIMIT = 3\n\ndef helper(x, n=LIMIT):\n    return x * n\n\ndef f(x):\n    return helper(x)\n"
    first, deps = project({"main": main})
    assert deps == ["main:LIMIT", "main:helper"]
    assert project({"main": main.replace("LIMIT = 3", "LIMIT = 4")})[0] != first


def test_a_mutable_value_counts_by_its_building_statements_not_its_contents(project):
    """Mutating a list at run time is not an edit; every statement that builds it is."""
    main = """
    ORDER = ["b"]
    ORDER.append("a")

    def f(x):
        ORDER.append(x)
        return ORDER
    """
    first, deps = project({"main": main})
    assert deps == ["main:ORDER"]
    assert project({"main": main.replace('append("a")', 'append("c")')})[0] != first
    assert project({"main": main.replace('ORDER = ["b"]', 'ORDER = ["b"]  # why')})[0] == first


def test_library_state_is_not_the_users_code(project):
    """A mutable value imported from the standard library or a package is left out."""
    main = "from os import environ\nfrom sys import path as search\n\n" \
           "def f(x):\n    return environ.get(x), search\n"
    assert project({"main": main})[1] == []


def test_a_container_imported_by_a_relative_import_is_followed(tmp_path, monkeypatch):
    """``from .helpers import STEPS`` in a package: the dict and its helper are in helpers.py."""
    package = tmp_path / f"fp{uuid.uuid4().hex[:10]}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("def scale(x):\n    return x * 2\n\nSTEPS = {'a': scale}\n")
    (package / "main.py").write_text("from .helpers import STEPS\n\ndef f(x):\n    return STEPS['a'](x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    main = importlib.import_module(f"{package.name}.main")
    try:
        assert code_dependencies(main.f) == [f"{package.name}.helpers:STEPS",
                                             f"{package.name}.helpers:scale"]
        labels = code_definitions(main.f)
        assert set(labels) == {f"f ({package.name}/main.py)", f"STEPS ({package.name}/helpers.py)",
                               f"scale ({package.name}/helpers.py)"}
    finally:
        for name in [m for m in sys.modules if m.startswith(package.name)]:
            del sys.modules[name]


def test_a_function_chosen_by_a_computed_name_is_not_followed(project):
    """The documented blind spot: ``getattr(module, name)`` names no helper the scan can see."""
    helpers = "def scale(x):\n    return x * 2\n"
    main = "import {p}_helpers\n\ndef f(x, name='scale'):\n    return getattr({p}_helpers, name)(x)\n"
    first, deps = project({"main": main, "helpers": helpers})
    assert deps == []
    assert project({"main": main, "helpers": helpers.replace("2", "3")})[0] == first


# --- per-definition digests, for reasons ---------------------------------------------------------


def test_code_info_gives_the_fingerprint_and_each_definition_from_one_walk(project, tmp_path):
    """``code_info`` is ``code_fingerprint`` plus a digest per definition; edits name the helper."""
    module = _load(tmp_path / "defs.py", HELPERS + "\ndef f(x):\n    return Scaler().scale(x)\n")
    info = code_info(module.f)
    assert info.fingerprint == code_fingerprint(module.f)
    assert set(info.definitions) == {"f (defs.py)", "CONST (defs.py)", "Scaler (defs.py)",
                                     "inner (defs.py)", "outer (defs.py)"}
    edited = _load(tmp_path / "defs.py", HELPERS.replace("x * CONST", "x * CONST * 2")
                   + "\ndef f(x):\n    return Scaler().scale(x)\n")
    assert changed_definitions(info.definitions, code_info(edited.f).definitions) == [
        "inner (defs.py)"]


def test_code_version_is_the_one_definition():
    """With a code_version, the version is what a reason can name."""
    assert code_info(len, "v1").definitions == {"code_version": code_fingerprint(len, "v1")}
    assert changed_definitions(code_definitions(len, "v1"), code_definitions(len, "v2")) == [
        "code_version"]


def test_changed_definitions_names_added_and_removed_ones_sorted():
    """A definition on one side only is named, and the names come sorted."""
    old = {"b (x.py)": "1", "a (x.py)": "2", "gone (y.py)": "3"}
    new = {"b (x.py)": "9", "a (x.py)": "2", "new (y.py)": "4"}
    assert changed_definitions(old, new) == ["b (x.py)", "gone (y.py)", "new (y.py)"]
    assert changed_definitions(old, dict(old)) == []
