"""The disk cache of scanned sources: same fingerprints, never stale, never required."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import importlib.util, sys
    from assetry import fingerprints
    spec = importlib.util.spec_from_file_location("mod_under_test", sys.argv[1])
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    print(fingerprints.code_fingerprint(mod.f), *fingerprints.code_dependencies(mod.f))
""")


def _fingerprint(path, cache) -> str:
    env = {**os.environ, "ASSETRY_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_cache_gives_the_same_fingerprint_and_follows_edits(tmp_path):
    """A cached scan gives the parsed fingerprint; an edited file is not served from cache."""
    src = tmp_path / "m.py"
    src.write_text("def helper(x):\n    return x + 1\n\ndef f():\n    return helper(1)\n")
    uncached = _fingerprint(src, "off")
    cache = tmp_path / "cache"
    assert _fingerprint(src, cache) == uncached
    assert list(cache.rglob("*.pickle"))
    assert _fingerprint(src, cache) == uncached  # now served from the cache
    src.write_text("def helper(x):\n    return x + 2\n\ndef f():\n    return helper(1)\n")
    assert _fingerprint(src, cache) != uncached


def test_unwritable_cache_is_not_an_error(tmp_path):
    """A cache directory that cannot be created only costs a re-parse."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    return 1\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert _fingerprint(src, blocker / "cache") == _fingerprint(src, "off")


REACHING = """\
import functools

def scale(x):
    return x * 2

STEPS = {"a": scale}
STEPS["b"] = functools.partial(scale)

class Doubler:
    def go(self, x):
        return scale(x)

DOUBLE = Doubler()

def f():
    return STEPS["a"](1) + DOUBLE.go(2)
"""


def test_cache_gives_the_same_reach_through_bindings_and_classes(tmp_path):
    """What a cached scan holds as plain tuples (bindings, classes, definitions) reaches the
    same helpers as a parse: the same fingerprint and dependencies, before and after an edit."""
    src = tmp_path / "m.py"
    src.write_text(REACHING)
    uncached = _fingerprint(src, "off")
    assert uncached.split()[1:] == ["mod_under_test:DOUBLE", "mod_under_test:Doubler",
                                   "mod_under_test:STEPS", "mod_under_test:scale"]
    cache = tmp_path / "cache"
    assert _fingerprint(src, cache) == uncached
    assert _fingerprint(src, cache) == uncached  # now served from the cache
    src.write_text(REACHING.replace("x * 2", "x * 3"))
    edited = _fingerprint(src, "off")
    assert edited != uncached
    assert _fingerprint(src, cache) == edited
    assert _fingerprint(src, cache) == edited
