"""What the per-step fast paths of a run must keep exact: fingerprints, catalog rows, the collector.

Each fast path (issue 13) replaces a general computation by a cheaper one that
must give the very same result: the asset fingerprint encoded once per asset,
a batch of catalog rows sent with its constant columns as scalars, a run that
leaves objects alive before it out of the collector's passes.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import threading

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assetry import asset, materialize
from assetry.engine.heap import frozen_heap
from assetry.errors import CatalogError
from assetry.fingerprints import asset_fingerprint, asset_fingerprinter
from assetry.records import TABLES, CatalogWriter, connect

_TEXT = st.text(max_size=40)


@settings(max_examples=200, deadline=None)
@given(code=_TEXT, config=_TEXT, io=_TEXT, upstream=st.dictionaries(_TEXT, _TEXT, max_size=5))
def test_the_fingerprinter_gives_asset_fingerprint_exactly(code, config, io, upstream):
    """Records written before the fast path stay fresh: the same bytes, the same fingerprint."""
    of = asset_fingerprinter(code=code, config=config, io=io)
    assert of(upstream) == asset_fingerprint(code=code, config=config, io=io, upstream=upstream)
    assert of(dict(reversed(list(upstream.items())))) == of(upstream)


def test_the_fingerprinter_tells_every_part_apart():
    base = asset_fingerprinter(code="c", config="k", io="p")
    seen = {base({"a": "1"}), base({"a": "2"}), base({"b": "1"}), base({}),
            asset_fingerprinter(code="c2", config="k", io="p")({"a": "1"}),
            asset_fingerprinter(code="c", config="k2", io="p")({"a": "1"}),
            asset_fingerprinter(code="c", config="k", io="p2")({"a": "1"})}
    assert len(seen) == 7


def _written(tmp_path, table, rows):
    con = connect(tmp_path / "catalog.duckdb")
    writer = CatalogWriter(con)
    for row in rows:
        writer.put(table, row)
    writer.close()
    con.close()
    columns = list(TABLES[table])
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as db:
        found = db.execute(f'SELECT * FROM "{table}"').fetchall()
    return [dict(zip(columns, r, strict=True)) for r in found]


def test_constant_and_null_columns_are_written_as_given(tmp_path):
    """A batch of skips: the run's id, status and reason are one value, the error NULL."""
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 678901)
    rows = [{"run_id": "r1", "asset": f"a{i}", "partition": None, "status": "skipped",
             "reason": "up to date", "started_at": at + dt.timedelta(seconds=i), "rows": 10,
             "bytes": 100 + i, "error": None, "attempts": 0, "duration_s": 0.5}
            for i in range(5)]
    found = sorted(_written(tmp_path, "materializations", rows), key=lambda r: r["asset"])
    assert len(found) == 5
    for want, got in zip(rows, found, strict=True):
        assert {k: got[k] for k in want} == want
        assert got["traceback"] is None and got["logs"] is None


def test_identical_rows_are_each_written(tmp_path):
    """Every column constant: still one row per row put, not one in all."""
    rows = [{"asset": "report", "upstream": "flights"}] * 3
    assert _written(tmp_path, "dependencies", rows) == rows


def test_a_column_mixing_types_keeps_each_value(tmp_path):
    """``1`` and ``True`` compare equal; a column of both is sent as a list, value by value."""
    rows = [{"run_id": "r", "asset": "a", "check": "c1", "passed": True, "blocking": 1},
            {"run_id": "r", "asset": "a", "check": "c2", "passed": True, "blocking": True},
            {"run_id": "r", "asset": "a", "check": "c3", "passed": False, "blocking": 0}]
    found = sorted(_written(tmp_path, "checks", rows), key=lambda r: r["check"])
    assert [(r["passed"], r["blocking"]) for r in found] == [(True, True), (True, True),
                                                           (False, False)]


def test_assets_rows_still_replace_their_key(tmp_path):
    rows = [{"asset": "a", "partition": None, "fingerprint": "1"},
            {"asset": "a", "partition": "p", "fingerprint": "2"},
            {"asset": "a", "partition": None, "fingerprint": "3"}]
    found = _written(tmp_path, "assets", rows)
    assert sorted((r["partition"] or "", r["fingerprint"]) for r in found) == [("", "3"), ("p", "2")]


def test_rows_given_by_column_are_the_rows_put_one_by_one(tmp_path):
    """put_columns: a list per column, or one value for every row; NULL lists and assets too."""
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 678901)
    rows = [{"run_id": "r1", "asset": f"raw_{i}", "partition": None, "status": "observed",
             "reason": "up to date", "started_at": at, "location": f"/data/{i}.csv",
             "data_fingerprint": f"fp{i}", "attempts": 0, "rows": None} for i in range(4)]
    con = connect(tmp_path / "catalog.duckdb")
    writer = CatalogWriter(con)
    writer.put("assets", {"asset": "raw_0", "partition": None, "fingerprint": "old"})
    writer.put_columns("materializations", {
        "run_id": "r1", "asset": [r["asset"] for r in rows], "partition": [None] * 4,
        "status": "observed", "reason": "up to date", "started_at": at,
        "location": [r["location"] for r in rows],
        "data_fingerprint": [r["data_fingerprint"] for r in rows], "attempts": 0,
        "rows": [None] * 4}, 4)
    writer.put_columns("assets", {"asset": ["raw_0", "raw_1"], "partition": None,
                                  "fingerprint": ["new", "one"]}, 2)
    writer.put_columns("checks", {"run_id": [], "asset": []}, 0)
    with pytest.raises(CatalogError, match="has 2 values for 3 rows"):
        writer.put_columns("dependencies", {"asset": ["a", "b"], "upstream": "c"}, 3)
    writer.close()
    con.close()
    columns = list(TABLES["materializations"])
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as db:
        found = [dict(zip(columns, r, strict=True))
                 for r in db.execute("SELECT * FROM materializations ORDER BY asset").fetchall()]
        assets = db.execute("SELECT asset, fingerprint FROM assets ORDER BY asset").fetchall()
    assert [{k: got[k] for k in want} for want, got in zip(rows, found, strict=True)] == rows
    assert len(found) == 4 and assets == [("raw_0", "new"), ("raw_1", "one")]


@pytest.fixture
def collector():
    was = gc.isenabled()
    gc.enable()
    yield
    gc.unfreeze()
    if not was:
        gc.disable()


def test_objects_alive_before_a_run_are_left_out_of_its_collections(collector):
    before = gc.get_freeze_count()
    assert before == 0
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with frozen_heap():  # a run inside a hook, or in another thread: one freeze
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == 0


def test_a_process_that_froze_objects_itself_is_left_as_it_is(collector):
    gc.freeze()
    mine = gc.get_freeze_count()
    with frozen_heap():
        assert gc.get_freeze_count() == mine
    assert gc.get_freeze_count() == mine  # not unfrozen behind its back


def test_garbage_made_during_a_run_is_collected(collector, tmp_path):
    """Cycles the run's own objects form are collected as usual; the freeze ends with the run."""
    collected = []

    class Node:
        def __init__(self):
            self.me = self

        def __del__(self):
            collected.append(1)

    @asset
    def cycles() -> pl.DataFrame:
        for _ in range(10):
            Node()
        gc.collect()
        return pl.DataFrame({"n": [len(collected)]})

    result = materialize([cycles], root=tmp_path / "data", executor="sync")
    assert result.materialized == ["cycles"]
    assert pl.read_parquet(tmp_path / "data" / "cycles.parquet")["n"][0] == 10
    assert gc.get_freeze_count() == 0


@pytest.fixture
def while_building(monkeypatch):
    """What the collector was like each time a run built its graph: (freeze count, enabled)."""
    from assetry.assets.graph import AssetGraph

    seen: list[tuple[int, bool]] = []
    build = AssetGraph.build.__func__  # type: ignore[attr-defined]

    def watched(cls, objs):
        seen.append((gc.get_freeze_count(), gc.isenabled()))
        return build(cls, objs)

    monkeypatch.setattr(AssetGraph, "build", classmethod(watched))
    return seen


def test_the_freeze_covers_building_the_graph(collector, tmp_path, while_building):
    """Building and expanding a graph of thousands of declarations allocates enough to set off
    a pass over every module's objects: the freeze begins before it, with the run's call."""

    @asset
    def one() -> dict:
        return {"n": 1}

    assert materialize([one], root=tmp_path / "data", executor="sync").materialized == ["one"]
    assert while_building and while_building[0][0] > 0
    assert gc.get_freeze_count() == 0


def test_the_collector_pauses_while_a_run_plans_and_passes_again_for_its_tasks(
        collector, tmp_path, while_building):
    """No pass while the graph is built and planned (objects by the thousand, no garbage);
    the first task, user code, runs with the collector on, and so do the run's hooks;
    after the run it is on and nothing is frozen."""
    in_task, in_hook = [], []

    @asset
    def first() -> dict:
        in_task.append(gc.isenabled())
        return {"n": 1}

    for executor in ("sync", "threads"):
        materialize([first], root=tmp_path / executor, executor=executor,
                    on_finish=lambda result: in_hook.append(gc.isenabled()))
    assert [enabled for _, enabled in while_building] == [False, False]
    assert in_task == [True, True] and in_hook == [True, True]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    materialize([first], root=tmp_path / "sync", executor="sync",  # a no-op run: no task
                on_finish=lambda result: in_hook.append(gc.isenabled()))
    assert in_hook[-1] is True and gc.isenabled() and gc.get_freeze_count() == 0


def test_a_run_leaves_a_disabled_collector_disabled(collector, tmp_path):
    @asset
    def one() -> dict:
        return {"n": gc.isenabled()}

    gc.disable()
    materialize([one], root=tmp_path / "data", executor="sync")
    assert not gc.isenabled() and gc.get_freeze_count() == 0
    gc.enable()


def test_threads_run_a_lone_step_here_and_ready_steps_together(tmp_path):
    """Under threads, two steps ready at once still run at once (they meet at a barrier); a step
    that is the only one able to run (a chain) runs in the calling thread, sparing two thread
    switches."""
    barrier = threading.Barrier(2, timeout=30)

    @asset
    def left() -> dict:
        barrier.wait()
        return {"thread": threading.current_thread().name}

    @asset
    def right() -> dict:
        barrier.wait()
        return {"thread": threading.current_thread().name}

    @asset
    def after(left: dict, right: dict) -> dict:
        return {"thread": threading.current_thread().name, "pool": [left["thread"], right["thread"]]}

    result = materialize([left, right, after], root=tmp_path / "data", executor="threads")
    assert set(result.materialized) == {"left", "right", "after"}
    stored = json.loads((tmp_path / "data" / "after.json").read_text())
    assert stored["thread"] == threading.current_thread().name
    assert all(name.startswith("assetry") for name in stored["pool"])


EDGES = '''
from assetry import asset

@asset
def a() -> dict:
    return {"a": 1}

@asset
def c() -> dict:
    return {"c": 1}

@asset
def b(a: dict, OTHER: dict) -> dict:
    return {**a, **OTHER}
'''


def test_the_graphs_edges_follow_the_graph_written_where_they_changed(files):
    """`dependencies` holds the graph's edges: a removed edge goes, a new one comes, the rest stay."""
    def edges():
        with duckdb.connect(str(files.catalog), read_only=True) as db:
            return db.execute("SELECT asset, upstream FROM dependencies ORDER BY ALL").fetchall()

    module = files.module("pipe.py", EDGES.replace("OTHER", "c"))
    materialize(module, root=files.root)
    assert edges() == [("b", "a"), ("b", "c")]
    materialize(module, root=files.root)
    assert edges() == [("b", "a"), ("b", "c")]
    module = files.module("pipe.py", EDGES.replace("OTHER", "d").replace("def c()", "def d()"))
    materialize(module, root=files.root)
    assert edges() == [("b", "a"), ("b", "d")]


def test_graphs_sharing_a_catalog_in_turn_each_leave_their_own_edges(files):
    """Each run leaves its graph's edges, whatever graph, of the same names or of others,
    wrote `dependencies` before it; the edges of other names stay."""
    def edges():
        with duckdb.connect(str(files.catalog), read_only=True) as db:
            return db.execute("SELECT asset, upstream FROM dependencies ORDER BY ALL").fetchall()

    one = files.module("one.py", EDGES.replace("OTHER", "c"))
    same_names = files.module("same.py", EDGES.replace("a: dict, OTHER: dict", "c: dict")
                              .replace("**a, **OTHER", "**c"))
    others = files.module("others.py", EDGES.replace("def a()", "def x()").replace(
        "def b(a: dict, OTHER: dict)", "def y(x: dict, OTHER: dict)").replace("**a,", "**x,")
        .replace("OTHER", "c"))
    materialize(one, root=files.root)
    assert edges() == [("b", "a"), ("b", "c")]
    materialize(same_names, root=files.root)
    assert edges() == [("b", "c")]
    materialize(one, root=files.root)
    assert edges() == [("b", "a"), ("b", "c")]
    materialize(others, root=files.root)
    assert edges() == [("b", "a"), ("b", "c"), ("y", "c"), ("y", "x")]
    materialize(one, root=files.root)
    assert edges() == [("b", "a"), ("b", "c"), ("y", "c"), ("y", "x")]


def test_a_run_of_an_unchanged_graph_leaves_its_edges_to_no_statement(files, monkeypatch):
    """The edges are read with the run's other reads; when they are the graph's, the writer's
    thread neither reads nor writes them (in one timed run of 1,000 edges, they took 36 ms of
    its first batch's 78, starved of the GIL by the main thread). A changed graph still writes."""
    from assetry.engine import recording

    calls = []
    real = recording._write_edges
    monkeypatch.setattr(recording, "_write_edges", lambda *a: (calls.append(a[1]), real(*a)))
    one = files.module("one.py", EDGES.replace("OTHER", "c"))
    materialize(one, root=files.root)
    assert calls == [[("b", "a"), ("b", "c")]]  # a new catalog: written
    materialize(one, root=files.root)
    assert len(calls) == 1  # the same graph: nothing to do
    same_names = files.module("same.py", EDGES.replace("a: dict, OTHER: dict", "c: dict")
                              .replace("**a, **OTHER", "**c"))
    materialize(same_names, root=files.root)
    assert calls[-1] == [("b", "c")]
    with duckdb.connect(str(files.catalog), read_only=True) as db:
        assert db.execute("SELECT asset, upstream FROM dependencies").fetchall() == [("b", "c")]


class _Releasing:
    """A connection whose file can be let go between batches, counting the times it is."""

    released = False
    path = None

    def __init__(self) -> None:
        self.releases = 0

    def execute(self, *args: object) -> None:
        return None

    def release(self) -> None:
        self.releases += 1


@pytest.mark.parametrize("closing", [False, True])
def test_a_close_during_a_batch_keeps_the_file_for_the_last_batch(closing):
    """Held past the release interval, the writer lets the file go after a batch; not when a
    close came in during that batch (its own batch follows at once: a release would cost a
    checkpoint and a reattach for nothing)."""
    import threading
    import time

    con = _Releasing()
    writer = CatalogWriter(con)
    writer._held_since = time.monotonic() - 60  # held long enough to be let go
    in_batch, go_on = threading.Event(), threading.Event()

    def slow(_con: object) -> None:
        in_batch.set()
        go_on.wait(5)

    writer.call(slow)
    assert in_batch.wait(5)
    if closing:
        closer = threading.Thread(target=writer.close)
        closer.start()
        deadline = time.monotonic() + 5
        while not writer._stopping and time.monotonic() < deadline:
            time.sleep(0.001)
        go_on.set()
        closer.join(5)
        assert con.releases == 0
    else:
        go_on.set()
        writer.flush()
        assert con.releases == 1
        writer.close()


@pytest.mark.parametrize("fold", [False, True])
def test_a_fold_checkpoints_after_its_batch_while_the_writer_goes_on(tmp_path, fold):
    """writer.fold(): the batch's rows are in the file, not the log, once it commits; the
    writer still takes rows. Without it the log waits for the close."""
    from assetry.records._runlock import wal_bytes

    path = tmp_path / "catalog.duckdb"
    con = connect(path)
    writer = CatalogWriter(con)
    writer.sql("INSERT INTO dependencies SELECT 'a' || i, 'b' || i FROM range(2000) t(i)")
    if fold:
        writer.fold()
    writer.flush()
    assert (wal_bytes(path) == 0) is fold
    writer.put("dependencies", {"asset": "late", "upstream": "row"})
    writer.close()
    con.close()
    assert wal_bytes(path) == 0
    with duckdb.connect(str(path), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM dependencies").fetchall() == [(2001,)]


def test_a_fold_writes_its_rows_at_once_not_after_the_linger(tmp_path, monkeypatch):
    """The rows to fold are queued: the writer commits and checkpoints them at once, where a
    row alone waits for company (the linger, here made 5 s) before its commit."""
    from assetry.records import _writer

    monkeypatch.setattr(_writer, "_LINGER_S", 5.0)
    folded = threading.Event()
    real = _writer.CatalogWriter._checkpoint
    monkeypatch.setattr(_writer.CatalogWriter, "_checkpoint",
                        lambda self: (real(self), folded.set())[0])
    con = connect(tmp_path / "catalog.duckdb")
    writer = CatalogWriter(con)
    writer.sql("INSERT INTO dependencies SELECT 'a' || i, 'b' || i FROM range(2000) t(i)")
    writer.fold()
    assert folded.wait(2.5), "the fold waited for the linger"
    writer.close()
    con.close()


def test_a_no_op_run_of_unchanged_sources_folds_their_rows_before_its_end(files, monkeypatch):
    """The `observed` rows of unchanged sources are checkpointed by the writer while the run
    goes on (the fold), so the run's closing checkpoint is left with the rest; a run that
    ends first leaves them to its close."""
    from assetry.records import _writer

    folds = []
    real = _writer.CatalogWriter._checkpoint
    monkeypatch.setattr(_writer.CatalogWriter, "_checkpoint",
                        lambda self: (folds.append(self._stopping), real(self))[1])
    module = files.module("pipe.py", "\n".join(
        ["import time\nfrom assetry import asset, source\n",
         "@asset(cache=False)\ndef slow() -> dict:\n    time.sleep(0.5)\n    return {}\n"]
        + [f"raw_{i} = source('raw_{i}', 'raw/{i}.csv')\n\n@asset\ndef a_{i}(raw_{i}: dict) -> dict:\n"
           f"    return {{'i': {i}}}\n" for i in range(3)]))
    for i in range(3):
        (files.dir / "raw").mkdir(exist_ok=True)
        (files.dir / "raw" / f"{i}.csv").write_text("x\n1\n")
    materialize(module, root=files.root)
    assert folds == []  # a first run observes every source anew: nothing to fold early
    noop = materialize(module, root=files.root)
    assert sorted(noop.observed) == ["raw_0", "raw_1", "raw_2"]
    assert folds == [False]  # once, before any close was asked for


def test_the_catalog_is_written_without_fsst(tmp_path):
    """The writer's checkpoints compress no string with FSST, whose training was two thirds
    of a checkpoint's CPU: its string columns use the other methods, and the file reads as any."""
    path = tmp_path / "catalog.duckdb"
    con = connect(path)
    writer = CatalogWriter(con)
    n = 5000
    writer.put_columns("materializations", {
        "run_id": "r1", "asset": [f"asset_number_{i}" for i in range(n)], "status": "skipped",
        "reason": [f"code changed: helper_{i % 97} (pipeline/helpers.py)" for i in range(n)],
        "location": [f"/srv/data/warehouse/products/asset_number_{i}.parquet" for i in range(n)],
    }, n)
    writer.close()
    con.close()
    with duckdb.connect(str(path), read_only=True) as db:
        methods = {m for (m,) in db.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('materializations')").fetchall()}
        assert db.execute("SELECT count(*) FROM materializations").fetchall() == [(n,)]
    assert "Uncompressed" in methods or "Dictionary" in methods
    assert "FSST" not in methods
