"""Versions: earlier file and directory products kept as hard links, restored on a matching fingerprint."""

from __future__ import annotations

import os
import pathlib

import duckdb
import polars as pl
import pytest

from assetry import AssetGraphError, asset, materialize

HELPERS = '''
def bump(expr):
    return expr + {delta}
'''

CHAIN_HEAD = '''
import polars as pl
from assetry import asset
from helpers import bump

CALLS = {calls!r}

def called(name):
    with open(CALLS, "a") as f:
        f.write(name + "\\n")

@asset(versions={versions})
def a0() -> pl.DataFrame:
    called("a0")
    return pl.DataFrame({{"n": [1, 2, 3]}}).with_columns(m=bump(pl.col("n")))
'''

CHAIN_LINK = '''
@asset(versions={versions})
def a{i}(a{j}: pl.DataFrame) -> pl.DataFrame:
    called("a{i}")
    return a{j}.with_columns(m=pl.col("m") * 2 + {i})
'''

NAMES = [f"a{i}" for i in range(10)]


def chain(files, delta, versions=3):
    files.write("helpers.py", HELPERS.format(delta=delta))
    calls = str(files.dir.parent / "calls.txt")
    source = CHAIN_HEAD.format(calls=calls, versions=versions) + "".join(
        CHAIN_LINK.format(i=i, j=i - 1, versions=versions) for i in range(1, 10)
    )
    return files.module("pipe.py", source)


def calls(files) -> list[str]:
    path = files.dir.parent / "calls.txt"
    if not path.exists():
        return []
    names = path.read_text().split()
    path.unlink()
    return names


def products(files, names=NAMES) -> dict[str, bytes]:
    return {n: (files.root / f"{n}.parquet").read_bytes() for n in names}


def statuses(files, run_id) -> dict[str, tuple[str, str]]:
    con = duckdb.connect(str(files.catalog), read_only=True)
    try:
        rows = con.execute(
            "SELECT asset, status, reason FROM materializations WHERE run_id = ?", [run_id]
        ).fetchall()
    finally:
        con.close()
    return {a: (s, r) for a, s, r in rows}


def go(files, mod, **kw):
    return materialize(mod, root=files.root, executor="sync", **kw)


def test_reverting_a_helper_edit_restores_a_chain_of_ten_without_running_anything(files):
    """Edit a helper, run, revert, run: no function runs, every product is byte-identical, restored."""
    first = go(files, chain(files, 1))
    assert sorted(calls(files)) == sorted(NAMES)
    before = products(files)
    edited = go(files, chain(files, 2))
    assert sorted(edited.materialized) == sorted(NAMES)
    assert sorted(calls(files)) == sorted(NAMES)
    assert products(files) != before
    back = go(files, chain(files, 1))
    assert calls(files) == []
    assert back.materialized == [] and back.success
    assert products(files) == before
    recorded = statuses(files, back.run_id)
    short = first.run_id[:8]
    for name in NAMES:
        status, reason = recorded[name]
        assert status == "restored"
        assert reason.startswith("restored: version of ") and reason.endswith(f"(run {short})")
    # The restored products are fresh: the next run skips them all.
    again = go(files, chain(files, 1))
    assert sorted(again.skipped) == sorted(NAMES) and calls(files) == []
    # And forward again: the edited products come back the same way.
    forward = go(files, chain(files, 2))
    assert calls(files) == [] and forward.materialized == []
    assert {s for s, _ in statuses(files, forward.run_id).values()} == {"restored"}


def test_versions_are_hard_links_of_the_replaced_products(files):
    """A kept version shares the replaced product's inode: keeping it copied nothing."""
    go(files, chain(files, 1))
    inode = os.stat(files.root / "a0.parquet").st_ino
    go(files, chain(files, 2))
    kept = list((files.root / ".assetry" / "versions" / "a0").glob("*/a0.parquet"))
    assert [os.stat(p).st_ino for p in kept] == [inode]


DIRECTORY = '''
import polars as pl
from assetry import asset

CALLS = {calls!r}

@asset
def by_key() -> dict[str, pl.DataFrame]:
    with open(CALLS, "a") as f:
        f.write("by_key\\n")
    return {{"x": pl.DataFrame({{"v": [1, {value}]}}), "y": pl.DataFrame({{"v": [{value}]}})}}

@asset
def summary(by_key: dict[str, pl.DataFrame]) -> pl.DataFrame:
    with open(CALLS, "a") as f:
        f.write("summary\\n")
    return pl.concat(by_key.values()).select(pl.col("v").sum())
'''


def directory(files, value):
    return files.module("dirs.py", DIRECTORY.format(calls=str(files.dir.parent / "calls.txt"),
                                                    value=value))


def tree(path: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_directory_asset_is_restored_whole(files):
    """A directory product comes back file for file, and its downstream is restored too."""
    go(files, directory(files, 2))
    calls(files)
    before = tree(files.root / "by_key"), (files.root / "summary.parquet").read_bytes()
    go(files, directory(files, 5))
    assert sorted(calls(files)) == ["by_key", "summary"]
    back = go(files, directory(files, 2))
    assert calls(files) == []
    assert (tree(files.root / "by_key"), (files.root / "summary.parquet").read_bytes()) == before
    assert {s for s, _ in statuses(files, back.run_id).values()} == {"restored"}
    assert back.load("by_key")["y"]["v"].to_list() == [2]


def test_retention_keeps_the_newest_versions_and_zero_keeps_none(files):
    """With versions=1 only the newest earlier product stays; versions=0 keeps nothing."""
    for delta in (1, 2, 3):
        go(files, chain(files, delta, versions=1))
    kept = files.root / ".assetry" / "versions" / "a0"
    assert len(list(kept.iterdir())) == 1
    con = duckdb.connect(str(files.catalog), read_only=True)
    rows = con.execute(
        "SELECT kept FROM versions WHERE asset = 'a0' ORDER BY created_at"
    ).fetchall()
    con.close()
    assert rows == [(False,), (True,)]  # the oldest went, the newer stays
    calls(files)
    back = go(files, chain(files, 2, versions=1))  # the one kept: restored
    assert calls(files) == [] and back.materialized == []
    oldest = go(files, chain(files, 1, versions=1))  # removed: runs again
    assert sorted(oldest.materialized) == sorted(NAMES)


def test_versions_zero_keeps_none(files):
    """materialize(versions=0) keeps no earlier product, so going back runs again."""
    mod = chain(files, 1, versions="None")
    go(files, mod, versions=0)
    go(files, chain(files, 2, versions="None"), versions=0)
    assert not (files.root / ".assetry" / "versions").exists()
    back = go(files, chain(files, 1, versions="None"), versions=0)
    assert sorted(back.materialized) == sorted(NAMES)


def test_a_forced_run_never_restores(files):
    """force= runs the function even when a kept version matches."""
    go(files, chain(files, 1))
    go(files, chain(files, 2))
    calls(files)
    back = go(files, chain(files, 1), force=["a0"])
    assert calls(files)[0] == "a0"
    assert "a0" in back.materialized


def test_bad_versions_option_is_refused():
    """versions must be a whole number >= 0, on @asset and on materialize()."""
    with pytest.raises(AssetGraphError, match=r"versions=-1"):
        @asset(versions=-1)
        def nothing() -> pl.DataFrame:
            return pl.DataFrame()
    with pytest.raises(AssetGraphError, match=r"versions='3'"):
        materialize([], versions="3")  # type: ignore[arg-type]


class _Facts:
    """Planner facts without files: a recorded product at fingerprint 'f-new'."""

    def intent(self, name, upstream):
        from assetry.engine.planner import Intent
        return Intent("c-old", "k", "io", upstream, "f-old")

    def record(self, name, partition=None):
        from assetry.engine.planner import Record
        return Record("f-new", "c-new", "k", "io", {}, "d-new")

    def observe(self, name, partition=None):
        from assetry.io_managers.base import Observation
        return Observation("d-new")


@pytest.mark.parametrize(
    ("kwargs", "action"),
    [({}, "restored"), ({"forced": True}, "run"), ({"cache": False}, "run")],
    ids=["matching-version", "forced", "cache-off"],
)
def test_planner_restores_a_matching_kept_version(kwargs, action):
    """A stale step whose fingerprint is a kept version's is planned 'restored', unless forced."""
    import datetime as dt

    from assetry.engine.planner import UpstreamState, plan_step
    from assetry.engine.restore import Kept

    kept = Kept("a", None, "d-old", "f-old", "0123456789ab", dt.datetime(2026, 12, 1, 14, 3),
                3, 100, "v")
    plan = plan_step(("a", None), UpstreamState({}), _Facts(), versions={"f-old": kept}, **kwargs)
    assert plan.action == action
    if action == "restored":
        assert plan.reason == "restored: version of 2026-12-01 14:03 (run 01234567)"
        assert plan.stale_reason.startswith("code changed")
        assert plan.run_instead().action == "run"


def test_catalog_lists_versions_and_loads_earlier_ones(files):
    """Catalog.versions lists the kept products; load(version=-1/-2/prefix) reads them."""
    from polars.testing import assert_frame_equal

    from assetry import Catalog

    frames = []
    for delta in (1, 2, 3):
        go(files, chain(files, delta))
        frames.append(pl.read_parquet(files.root / "a0.parquet"))
    cat = Catalog(files.catalog)
    versions = cat.versions("a0")
    assert versions.columns == ["data_fingerprint", "fingerprint", "run_id", "created_at", "rows",
                                "bytes", "kept"]
    assert versions.height == 2 and versions["kept"].to_list() == [True, True]
    assert_frame_equal(cat.load("a0", version=-1), frames[1])
    assert_frame_equal(cat.load("a0", version=-2), frames[0])
    prefix = versions["data_fingerprint"][1][:10]
    assert_frame_equal(cat.load("a0", version=prefix), frames[0])
    assert_frame_equal(cat.load("a0"), frames[2])
    with pytest.raises(Exception, match=r"version=-3 names none"):
        cat.load("a0", version=-3)


def test_cli_restore_makes_the_previous_version_current_and_gc_keeps_the_current(files):
    """`assetry restore` puts the previous product back (recorded 'restored'); `gc` never
    removes the current product."""
    from click.testing import CliRunner

    from assetry.cli import cli

    for delta in (1, 2, 3):
        go(files, chain(files, delta))
    first_two = [(files.root / "a0.parquet").read_bytes()]
    target = str(files.dir / "pipe.py")
    runner = CliRunner()
    where = ["--root", str(files.root)]
    done = runner.invoke(cli, ["restore", target, "a0", *where], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert done.output.startswith("a0: restored: version of ")
    restored = (files.root / "a0.parquet").read_bytes()
    assert restored != first_two[0]
    con = duckdb.connect(str(files.catalog), read_only=True)
    last = con.execute("SELECT status FROM materializations WHERE asset = 'a0' "
                       "ORDER BY started_at DESC LIMIT 1").fetchall()
    con.close()
    assert last == [("restored",)]
    gone = runner.invoke(cli, ["gc", target, "--keep", "0", *where], catch_exceptions=False)
    assert gone.exit_code == 0, gone.output
    assert (files.root / "a0.parquet").read_bytes() == restored  # the current product stays
    from assetry import Catalog

    current = Catalog(files.catalog).records()[("a0", None)]["data_fingerprint"]
    left = Catalog(files.catalog).versions("a0").filter(pl.col("kept"))
    assert left["data_fingerprint"].to_list() == [current]  # only the current data: free
    bad = runner.invoke(cli, ["restore", target, "a0", "--version", "-1", *where])
    assert bad.exit_code != 0 and "version" in bad.output


def test_a_version_deleted_from_disk_falls_back_to_running(files):
    """When a kept version's folder is gone, the step runs with its ordinary reason."""
    import shutil

    go(files, chain(files, 1))
    go(files, chain(files, 2))
    shutil.rmtree(files.root / ".assetry" / "versions" / "a0")
    calls(files)
    back = go(files, chain(files, 1))
    assert calls(files)[0] == "a0"
    assert back.reasons["a0"].startswith("code changed")
    assert "a1" not in back.materialized  # a0's data is the old data again: a1 is restored
    assert statuses(files, back.run_id)["a1"][0] == "restored"


PARTS = '''
import polars as pl
from assetry import StaticPartitions, asset

FACTOR = {factor}

@asset(partitions=StaticPartitions(["x", "y"]))
def part(partition: str) -> pl.DataFrame:
    return pl.DataFrame({{"k": [partition], "v": [FACTOR]}})
'''


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_partitions_are_restored_one_by_one(files, executor):
    """Each partition keeps and restores its own versions, whatever the executor."""
    go(files, files.module("parts.py", PARTS.format(factor=1)))
    paths = {p.parent.name: p for p in (files.root / "part").rglob("*.parquet")}
    assert len(paths) == 2
    old = {k: p.read_bytes() for k, p in paths.items()}
    materialize(files.module("parts.py", PARTS.format(factor=2)), root=files.root,
                executor=executor)
    back = materialize(files.module("parts.py", PARTS.format(factor=1)), root=files.root,
                       executor=executor)
    assert back.materialized == []
    assert {k: p.read_bytes() for k, p in paths.items()} == old
    assert {s for s, _ in statuses(files, back.run_id).values()} == {"restored"}


def test_a_restore_that_fails_midway_leaves_the_product_and_the_next_run_consistent(files, monkeypatch):
    """The rename that puts a version in place fails: the product is untouched, the step runs,
    no temporary is left, and the run after that is a no-op."""
    import assetry.io_managers.versions as store

    go(files, chain(files, 1))
    go(files, chain(files, 2))
    product = files.root / "a0.parquet"
    real = os.replace

    def failing(src, dst):
        if pathlib.Path(dst) == product:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    class _Os:  # the store's os, with a rename of the product that fails (a full disk)
        replace = staticmethod(failing)

        def __getattr__(self, name):
            return getattr(os, name)

    monkeypatch.setattr(store, "os", _Os())
    calls(files)
    back = go(files, chain(files, 1))
    monkeypatch.undo()
    assert calls(files)[0] == "a0" and "a0" in back.materialized
    assert not [p for p in files.root.iterdir() if ".assetry-tmp-" in p.name]
    again = go(files, chain(files, 1))
    assert sorted(again.skipped) == sorted(NAMES) and calls(files) == []


def test_gc_older_than_removes_old_versions_only(files):
    """`assetry gc --older-than` removes versions made before the age; recent ones stay."""
    from click.testing import CliRunner

    from assetry import Catalog
    from assetry.cli import cli

    go(files, chain(files, 1))
    go(files, chain(files, 2))
    target, where = str(files.dir / "pipe.py"), ["--root", str(files.root)]
    kept = CliRunner().invoke(cli, ["gc", target, "--older-than", "1d", *where])
    assert kept.exit_code == 0 and kept.output.strip() == "0 version(s) removed"
    gone = CliRunner().invoke(cli, ["gc", target, "--older-than", "0m", *where])
    assert gone.output.strip() == "10 version(s) removed"
    assert not any(Catalog(files.catalog).versions("a5")["kept"])
    assert not list((files.root / ".assetry" / "versions").glob("*/*"))
    bad = CliRunner().invoke(cli, ["gc", target, "--older-than", "soon", *where])
    assert bad.exit_code == 2 and "30d" in bad.output


def test_status_predicts_restored_and_the_run_counts_them(files):
    """`status` says each asset will be restored (downstream too); the result, the summary line,
    `status` and `list` count restored assets and the bytes versions hold."""
    import io

    from click.testing import CliRunner

    from assetry import Catalog
    from assetry.cli import cli
    from assetry.reporting import PlainReporter

    go(files, chain(files, 1))
    go(files, chain(files, 2))
    mod = chain(files, 1)
    frame = Catalog(files.catalog).status(mod)
    assert frame["fresh"].to_list() == [False] * 10
    assert all(r.startswith("restored: version of ") for r in frame["reason"])
    target, where = str(files.dir / "pipe.py"), ["--root", str(files.root)]
    shown = CliRunner().invoke(cli, ["status", target, *where], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].split() == ["asset", "plan", "versions"]
    assert "will restore (version of " in lines[1] and lines[1].rstrip().endswith("B")
    assert lines[-1] == "0 will run, 0 may run, 0 fresh, 10 will restore"
    out = io.StringIO()
    back = materialize(mod, root=files.root, executor="sync", reporter=PlainReporter(out))
    assert sorted(back.restored) == sorted(NAMES) and "10 restored" in repr(back)
    assert out.getvalue().splitlines()[-1].startswith(
        "assetry: 0 materialized, 10 restored, 0 skipped, 0 failed, 0 blocked in ")
    listed = CliRunner().invoke(cli, ["list", target, *where], catch_exceptions=False)
    header, first = listed.output.splitlines()[:2]
    assert header.split()[-1] == "versions"
    # a0's kept versions: the edited product (its own bytes) and the current data (a link: free)
    size = (files.root / "a0.parquet").stat().st_size
    assert first.rstrip().endswith(f"2 kept, {size} B")


def test_gc_without_options_keeps_each_assets_own_number(files):
    """`assetry gc TARGET` keeps as many versions per asset as its versions= says."""
    from click.testing import CliRunner

    from assetry import Catalog
    from assetry.cli import cli

    for delta in (1, 2, 3):
        go(files, chain(files, delta, versions=3))
    assert Catalog(files.catalog).versions("a0")["kept"].to_list() == [True, True]
    chain(files, 3, versions=1)  # the code now asks for one earlier version per asset
    target, where = str(files.dir / "pipe.py"), ["--root", str(files.root)]
    done = CliRunner().invoke(cli, ["gc", target, *where], catch_exceptions=False)
    assert done.output.strip() == "10 version(s) removed"
    assert Catalog(files.catalog).versions("a0")["kept"].to_list() == [True, False]
