"""Code reach, end to end: helpers held in containers, wrappers and objects, and runtime state.

Each case writes a real pipeline module, materializes it, edits one helper and
checks that exactly the asset reaching it reruns (``code changed``), and that
a comment-only edit reruns nothing (issue 10, cases 2 and 6).
"""

from __future__ import annotations

import pytest

from assetry import Catalog, materialize
from assetry.fingerprints import changed_definitions, code_info

PIPELINE = '''
import functools
from assetry import asset
{imports}

def scale(x):
    {comment}
    return x * {factor}


def unrelated(x):
    return x + 1

{setup}

@asset
def uses() -> dict:
    return {{"v": {call}}}


@asset
def other() -> dict:
    return {{"v": unrelated(1)}}
'''

# name -> (setup code, expression calling scale through it)
CASES = {
    "dict": ('STEPS = {"a": scale, "b": unrelated}', 'STEPS["a"](2)'),
    "list": ("STEPS = [scale, unrelated]", "STEPS[0](2)"),
    "tuple": ("STEPS = (scale, unrelated)", "STEPS[0](2)"),
    "set": ("STEPS = {scale}", "[f(2) for f in STEPS][0]"),
    "frozenset": ("STEPS = frozenset({scale})", "[f(2) for f in STEPS][0]"),
    "nested containers": ('STEPS = {"outer": [("a", scale)]}', 'STEPS["outer"][0][1](2)'),
    "partial": (
        "def times(x, k):\n    return scale(x) * k\n\n\nTRIPLE = functools.partial(times, k=3)",
        "TRIPLE(2)",
    ),
    "partial of the helper": ("TWICE = functools.partial(scale)", "TWICE(2)"),
    "closure": (
        ("def make(k):\n    def inner(x):\n        return scale(x) + k\n    return inner\n\n\n"
        "APPLY = make(1)"),
        "APPLY(2)",
    ),
    "closure over a function": (
        ("def make(op):\n    def inner(x):\n        return op(x)\n    return inner\n\n\n"
        "APPLY = make(scale)"),
        "APPLY(2)",
    ),
    "default argument": ("def run(x, op=scale):\n    return op(x)", "run(2)"),
    "keyword-only default": ("def run(x, *, op=scale):\n    return op(x)", "run(2)"),
    "functools.wraps": (
        ("def traced(fn):\n    @functools.wraps(fn)\n    def wrapper(*a):\n"
        "        return fn(*a)\n    return wrapper\n\n\n"
        "@traced\ndef helper(x):\n    return scale(x)"),
        "helper(2)",
    ),
    "lru_cache": ("@functools.lru_cache(maxsize=8)\ndef helper(x):\n    return scale(x)", "helper(2)"),
    "functools.cache": ("@functools.cache\ndef helper(x):\n    return scale(x)", "helper(2)"),
    "instance in a constant": (
        "class Scaler:\n    def apply(self, x):\n        return scale(x)\n\n\nSCALER = Scaler()",
        "SCALER.apply(2)",
    ),
    "instance holding the helper": (
        ("class Holder:\n    def __init__(self, op):\n        self.op = op\n\n\n"
        "HOLDER = Holder(scale)"),
        "HOLDER.op(2)",
    ),
    "bound method": (
        ("class Scaler:\n    def apply(self, x):\n        return scale(x)\n\n\n"
        "APPLY = Scaler().apply"),
        "APPLY(2)",
    ),
    "module-level lambda": ("double = lambda x: scale(x)", "double(2)"),
    "class attribute": ("class Ops:\n    step = staticmethod(scale)", "Ops.step(2)"),
    "class attribute dict": ('class Ops:\n    steps = {"a": scale}', 'Ops.steps["a"](2)'),
    "registry filled by a decorator": (
        ("REGISTRY = {}\n\n\ndef register(fn):\n    REGISTRY[fn.__name__] = fn\n    return fn\n\n\n"
        "@register\ndef helper(x):\n    return scale(x)"),
        'REGISTRY["helper"](2)',
    ),
}


def _write(files, case, factor=2, comment="pass", imports=""):
    setup, call = CASES[case]
    source = PIPELINE.format(setup=setup, call=call, factor=factor, comment=comment,
                             imports=imports)
    return files.module("pipe.py", source)


@pytest.mark.parametrize("case", list(CASES), ids=str)
def test_a_helper_reached_through_it_reruns_exactly_its_dependents(files, case):
    """Editing the helper reruns the asset reaching it, not the other; a comment reruns nothing."""
    first = materialize(_write(files, case), root=files.root)
    assert sorted(first.materialized) == ["other", "uses"]
    before = first.load("uses")

    comment = materialize(_write(files, case, comment="# only a comment\n    pass"),
                          root=files.root)
    assert comment.materialized == []

    edited = materialize(_write(files, case, factor=3), root=files.root)
    assert edited.materialized == ["uses"]
    assert edited.reasons["uses"].startswith("code changed")
    assert edited.reasons["other"] == "up to date"
    assert edited.load("uses") != before  # the stored product follows the helper


HELPERS = '''
def scale(x):
    {comment}
    return x * {factor}


STEPS = {{"a": scale}}
'''


def test_a_container_imported_from_another_module_is_followed(files):
    """``from helpers import STEPS``: the dict is built in helpers.py, and its helper counts."""
    def write(factor=2, comment="pass"):
        files.write("helpers.py", HELPERS.format(factor=factor, comment=comment))
        return files.module("pipe.py", PIPELINE.format(
            setup="", call='STEPS["a"](2)', factor=2, comment="pass",
            imports="from helpers import STEPS"))

    assert sorted(materialize(write(), root=files.root).materialized) == ["other", "uses"]
    assert materialize(write(comment="# a comment\n    pass"), root=files.root).materialized == []
    edited = materialize(write(factor=5), root=files.root)
    assert edited.materialized == ["uses"]
    assert edited.load("uses") == {"v": 10}


# --- runtime state is not code (issue 10, case 6) --------------------------------------------

STATE = '''
import os
from assetry import asset

CALLS = {calls}
MEMO = {{}}
SEEN = set()


@asset
def first() -> dict:
    CALLS.append("first")
    MEMO["first"] = len(CALLS)
    return {{"v": 1}}


@asset
def second(first: dict) -> dict:
    CALLS.append("second")
    SEEN.add(len(CALLS))
    return {{"v": first["v"] + MEMO.get("first", 0) * 0}}


@asset
def third(second: dict) -> dict:
    CALLS.append("third")
    return {{"v": second["v"] + len(SEEN) * 0}}
'''


def test_state_the_assets_append_to_is_not_a_code_change(files):
    """A call log, a memo dict and a set the assets fill make nothing stale, in any process."""
    module = files.module("state.py", STATE.format(calls="[]"))
    assert materialize(module, root=files.root).materialized == ["first", "second", "third"]
    assert module.CALLS == ["first", "second", "third"]
    again = materialize(module, root=files.root)  # same process: CALLS now holds three items
    assert again.materialized == []
    fresh = materialize(files.load("state.py"), root=files.root)  # a new process: CALLS is []
    assert fresh.materialized == []
    assert set(fresh.reasons.values()) == {"up to date"}


def test_editing_the_statement_that_builds_the_state_reruns_its_users(files):
    """The source that builds a mutable value is its code: editing the literal reruns."""
    materialize(files.module("state.py", STATE.format(calls="[]")), root=files.root)
    edited = materialize(files.module("state.py", STATE.format(calls='["start"]')),
                         root=files.root)
    assert edited.materialized == ["first", "second", "third"]
    assert all(edited.reasons[name].startswith("code changed") for name in edited.materialized)


ENVIRONMENT = '''
import os
from assetry import asset

N = int(os.environ["ASSETRY_TEST_N"])
COLS = os.environ["ASSETRY_TEST_COLS"].split(",")


@asset
def by_number() -> dict:
    return {"n": N}


@asset
def by_columns() -> dict:
    return {"cols": COLS}
'''


def test_immutable_values_count_by_value_and_mutable_ones_by_source(files, monkeypatch):
    """``N = int(os.environ[...])`` is seen when the variable changes; a list built from the
    environment is not (the documented blind spot: use config, or a tuple)."""
    monkeypatch.setenv("ASSETRY_TEST_N", "1")
    monkeypatch.setenv("ASSETRY_TEST_COLS", "a,b")
    materialize(files.module("env.py", ENVIRONMENT), root=files.root)
    monkeypatch.setenv("ASSETRY_TEST_N", "2")
    monkeypatch.setenv("ASSETRY_TEST_COLS", "a,b,c")
    result = materialize(files.load("env.py"), root=files.root)
    assert result.materialized == ["by_number"]
    assert result.reasons["by_number"].startswith("code changed")
    assert result.reasons["by_columns"] == "up to date"


# --- what a reason names (issue 10, case 7) --------------------------------------------------


def test_changed_definitions_name_the_edited_helper(files):
    """Per-definition digests, from the same walk as the fingerprint, name what was edited."""
    before = code_info(_write(files, "dict").uses)
    after = code_info(_write(files, "dict", factor=3).uses)
    assert before.fingerprint != after.fingerprint
    assert changed_definitions(before.definitions, after.definitions) == ["scale (pipe.py)"]
    assert set(before.definitions) == {"uses (pipe.py)", "STEPS (pipe.py)", "scale (pipe.py)",
                                       "unrelated (pipe.py)"}
    same = code_info(_write(files, "dict", comment="# a comment\n    pass").uses)
    assert same.fingerprint == before.fingerprint and same.definitions == before.definitions


def test_the_reason_names_the_changed_helper_before_and_during_a_run(files):
    """``code changed: scale (pipe.py)`` in status before the run, and in the run's reason."""
    materialize(_write(files, "dict"), root=files.root)
    module = _write(files, "dict", factor=3)
    status = Catalog(files.catalog).status(module)
    assert dict(zip(status["asset"], status["reason"], strict=True))["uses"] == (
        "code changed: scale (pipe.py)")
    edited = materialize(module, root=files.root)
    assert edited.reasons["uses"] == "code changed: scale (pipe.py)"
