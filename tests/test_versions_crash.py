"""A restore killed by SIGKILL at each point between its steps: the product stays whole, and the
next run is consistent (restores, then skips; nothing left behind)."""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
import textwrap

import duckdb
import pytest
from test_versions import calls, chain, directory, go, products, tree

from assetry import materialize

# The child runs the revert with one function of the store wrapped to SIGKILL itself just
# before or just after the real call: the points between a restore's steps.
CHILD = textwrap.dedent('''
    import importlib.util, os, signal, sys
    point, module_path, root = sys.argv[1:4]
    sys.path.insert(0, os.path.dirname(module_path))
    import assetry.clients.relations as relations
    import assetry.engine.restore as restore
    import assetry.io_managers.versions as store
    from assetry import materialize
    from assetry.io_managers.base import TEMP_MARKER

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def wrap(module, name, before=False, when=lambda *a: True):
        real = getattr(module, name)
        def wrapped(*args, **kwargs):
            if before and when(*args):
                die()
            out = real(*args, **kwargs)
            if when(*args):
                die()
            return out
        setattr(module, name, wrapped)

    beside = lambda src, dst: TEMP_MARKER in dst and "/.assetry/" not in dst
    {
        "kept": lambda: wrap(restore, "keep"),  # the current product linked into the store
        "linked": lambda: wrap(store, "_link_or_copy", when=beside),  # the version beside it
        "dir-linked": lambda: wrap(store, "_exchange", before=True),  # a linked copy, unswapped
        "dir-swapped": lambda: wrap(store, "_exchange"),  # swapped, the old one not yet removed
        "table-moved": lambda: wrap(relations, "_move_to_versions"),  # inside the transaction
    }[point]()
    spec = importlib.util.spec_from_file_location("crashing", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    materialize(module, root=root, executor="sync")
    print("not killed")
''')


def crash(files, point: str, module: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, point, str(files.dir / module), str(files.root)],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr


def no_temporaries(root: pathlib.Path) -> list[str]:
    return [str(p) for p in root.rglob("*.assetry-tmp-*")]


@pytest.mark.parametrize("point", ["kept", "linked"])
def test_a_killed_file_restore_leaves_the_product_and_the_next_run_consistent(files, point):
    """Killed after keeping the product or after linking the version beside it: the product is
    the one before the run; the next run restores without running anything, then skips."""
    go(files, chain(files, 1))
    original = products(files)
    go(files, chain(files, 2))
    edited = products(files)
    chain(files, 1)
    calls(files)
    crash(files, point, "pipe.py")
    assert products(files) == edited  # intact: nothing renamed over it
    back = go(files, chain(files, 1))
    assert calls(files) == [] and back.materialized == [] and back.success
    assert products(files) == original
    assert no_temporaries(files.root) == []
    again = go(files, chain(files, 1))
    assert len(again.skipped) == 10 and calls(files) == []


@pytest.mark.parametrize("point", ["dir-linked", "dir-swapped"])
def test_a_killed_directory_restore_never_leaves_half_a_directory(files, point):
    """A directory is swapped in one step: killed before, it is the old one whole; killed after,
    the restored one whole. The next run is consistent either way."""
    go(files, directory(files, 2))
    original = tree(files.root / "by_key")
    go(files, directory(files, 5))
    edited = tree(files.root / "by_key")
    directory(files, 2)
    calls(files)
    crash(files, point, "dirs.py")
    assert tree(files.root / "by_key") == (edited if point == "dir-linked" else original)
    back = go(files, directory(files, 2))
    assert calls(files) == [] and back.success
    assert tree(files.root / "by_key") == original
    assert no_temporaries(files.root) == []
    again = go(files, directory(files, 2))
    assert sorted(again.skipped) == ["by_key", "summary"]


TABLE = '''
import polars as pl
from assetry import asset
from assetry.io_managers import DuckDBTable

@asset(io=DuckDBTable(database={database!r}))
def numbers() -> pl.DataFrame:
    return pl.DataFrame({{"n": [{value}, 7]}})
'''


def test_a_killed_table_restore_rolls_back(files):
    """Killed inside the restore's transaction (after the current table was moved): DuckDB rolls
    it back, the table is the one before; the next run restores it."""
    database = str(files.dir.parent / "w.duckdb")

    def module(value):
        return files.module("table.py", TABLE.format(database=database, value=value))

    def run(value):
        mod = module(value)
        try:
            return materialize(mod, root=files.root, executor="sync")
        finally:  # let go of the warehouse file: the child process opens it
            mod.numbers.spec.io.client.close()

    def numbers():
        con = duckdb.connect(database, read_only=True)
        try:
            return sorted(con.execute("SELECT n FROM numbers").fetchall())
        finally:
            con.close()

    run(1)
    run(2)
    module(1)
    crash(files, "table-moved", "table.py")
    assert numbers() == [(2,), (7,)]
    back = run(1)
    assert back.restored == ["numbers"] and numbers() == [(1,), (7,)]
    assert run(1).skipped == ["numbers"]
