"""Faults of issue 12: nothing false in the catalog, nothing a user had is lost.

One test per fault (#1, #2, #5, #6, #7), each with real processes, real signals
and real files, no mocks; and the durability setting of products (fsync).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import duckdb
import polars as pl
import pytest

from assetry import AssetGraphError, Catalog, StorageError, materialize
from assetry.records import pid_alive

DRIVER = """
import importlib.util, json, sys
from assetry import materialize

path, root, catalog, select, executor, force = sys.argv[1:7]
spec = importlib.util.spec_from_file_location("pipeline_under_test", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
result = materialize(mod, root=root, catalog=None if catalog == "-" else catalog,
                     select=None if select == "-" else select, executor=executor, max_workers=1, force=force == "force")
print(json.dumps({"materialized": sorted(result.materialized)}))
"""


def _driver(tmp_path, module, root, *, catalog="-", select="-", executor="threads",
            force=False, env=None):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    args = [sys.executable, str(script), str(module), str(root), str(catalog), select, executor,
            "force" if force else "-"]
    return subprocess.Popen(args, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: pathlib.Path, proc: subprocess.Popen | None = None, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the driver ended before {path.name}: {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children...), read from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


# -- 1: workers die with their driver, and a dead run never replaces a newer product ---------

ORPHAN = """
import os, pathlib, time
from assetry import asset

MARKERS = pathlib.Path({markers!r})

@asset
def slow() -> dict:
    if os.environ.get("ORPHAN_SLOW") == "1":
        (MARKERS / "worker.pid").write_text(str(os.getpid()))
        time.sleep(4)
        return {{"from": "the killed run"}}
    return {{"from": "the next run"}}
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_orphaned_workers_die_with_their_driver_and_never_replace_a_newer_product(files, tmp_path):
    """#1: SIGKILL the driver of executor='processes' mid-asset: its worker, fork server and
    resource tracker are gone within seconds, and the next run's product stays in place."""
    markers = tmp_path / "markers"
    markers.mkdir()
    module = files.write("orphan.py", ORPHAN.format(markers=str(markers)))
    driver = _driver(tmp_path, module, files.root, executor="processes",
                     env={"ORPHAN_SLOW": "1"})
    try:
        _wait_for(markers / "worker.pid", driver)
        worker = int((markers / "worker.pid").read_text())
        started = time.monotonic()
        helpers = _descendants(driver.pid)  # the fork server, the resource tracker, the worker
        assert worker in helpers and len(helpers) >= 2
    finally:
        driver.kill()  # SIGKILL: no handler, no cleanup
        driver.wait()

    deadline = time.monotonic() + 5
    while any(pid_alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in helpers if pid_alive(p)], "processes outlived their driver"

    result = materialize(files.load("orphan.py"), root=files.root)
    assert result.materialized == ["slow"]
    time.sleep(max(0.0, started + 6 - time.monotonic()))  # past the killed run's rename
    assert json.loads((files.root / "slow.json").read_text()) == {"from": "the next run"}
    status = Catalog(files.catalog).status(files.load("orphan.py"))
    assert status.filter(pl.col("asset") == "slow")["fresh"].to_list() == [True]
    assert not list(files.root.glob("*.assetry-tmp-*"))


def test_a_save_for_a_dead_run_never_replaces_the_product(tmp_path):
    """#1, the second line: a save made for a run whose driver was SIGKILLed is refused at the
    rename, and the product in place is kept; while the driver lives, the same save lands."""
    root = tmp_path / "data"
    root.mkdir()
    product = root / "t.json"
    product.write_text('"newer"')
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from assetry.engine.roots import RunLock\n"
        f"lock = RunLock({str(root)!r}, 'a' * 32)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )], stdout=subprocess.PIPE, text=True)
    save = (
        "import sys\n"
        "from assetry.engine.roots import run_alive\n"
        "from assetry.errors import StorageError\n"
        "from assetry.io_managers import JSON\n"
        "from assetry.io_managers.base import run_scope\n"
        f"with run_scope('a' * 32, lambda: run_alive({str(root)!r}, 'a' * 32)):\n"
        "    try:\n"
        f"        JSON().save(sys.argv[1], {str(product)!r})\n"
        "    except StorageError as exc:\n"
        "        print(exc)\n"
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        out = subprocess.run([sys.executable, "-c", save, "while alive"], capture_output=True,
                             text=True, check=True).stdout
        assert out == "" and product.read_text() == '"while alive"'
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    out = subprocess.run([sys.executable, "-c", save, "after its death"], capture_output=True,
                         text=True, check=True).stdout
    assert "is no longer alive" in out and "a" * 32 in out
    assert product.read_text() == '"while alive"'
    assert not list(root.glob("*.assetry-tmp-*"))


# -- 2: the sweep of temporaries spares every live run, whatever its catalog -----------------

SLOW_WRITE = """
import os, pathlib, time
from typing import Any, ClassVar

import attrs
from assetry import asset
from assetry.io_managers.base import FileIOManager

MARKERS = pathlib.Path({markers!r})

@attrs.frozen
class SlowText(FileIOManager):
    extension: ClassVar[str] = "txt"

    def write(self, value: Any, path: pathlib.Path):
        with open(path, "w") as f:
            f.write(value[:10])
            f.flush()
            if os.environ.get("SLOW_WRITE") == "1":
                (MARKERS / "in_write").write_text("")
                deadline = time.time() + 60
                while not (MARKERS / "go").exists() and time.time() < deadline:
                    time.sleep(0.02)
            f.write(value[10:])
        return None, None

    def load(self, location: str, annotation: Any = None) -> Any:
        return pathlib.Path(location).read_text()

@asset(io=SlowText())
def slow() -> str:
    return "x" * 1000

@asset
def quick() -> dict:
    return {{"quick": True}}
"""


def test_the_sweep_spares_live_runs_of_other_catalogs_and_removes_killed_ones(files, tmp_path):
    """#2: two concurrent runs on one root with different catalogs both succeed (the second's
    sweep keeps the first's temporary); a killed run's temporaries go at the next run."""
    markers = tmp_path / "markers"
    markers.mkdir()
    module = files.write("two.py", SLOW_WRITE.format(markers=str(markers)))
    root, cat_a, cat_b = files.root, tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    a = _driver(tmp_path, module, root, catalog=cat_a, select="slow", env={"SLOW_WRITE": "1"})
    try:
        _wait_for(markers / "in_write", a)
        time.sleep(0.05)  # its temporary is older than the next run's start
        (temp,) = root.glob("slow.txt.assetry-tmp-*")
        b = materialize(files.load("two.py"), root=root, catalog=cat_b, select="quick")
        assert b.materialized == ["quick"]
        assert temp.exists(), "a live run's temporary was swept"
        (markers / "go").write_text("")
        out, err = a.communicate(timeout=60)
    finally:
        a.kill()
    assert a.returncode == 0, err
    assert json.loads(out) == {"materialized": ["slow"]}
    assert (root / "slow.txt").read_text() == "x" * 1000

    # A run killed mid-write leaves a temporary; the next run, of another catalog, removes it.
    (markers / "in_write").unlink()
    (markers / "go").unlink()
    killed = _driver(tmp_path, module, root, catalog=cat_a, select="slow", force=True,
                     env={"SLOW_WRITE": "1"})
    try:
        _wait_for(markers / "in_write", killed)
    finally:
        killed.kill()
        killed.wait()
    assert len(list(root.glob("slow.txt.assetry-tmp-*"))) == 1
    materialize(files.load("two.py"), root=root, catalog=cat_b, select="quick", force=True)
    assert not list(root.glob("*.assetry-tmp-*"))
    assert (root / "slow.txt").read_text() == "x" * 1000  # the product in place is untouched
    assert not list((root / ".assetry" / "runs").glob("*.lock"))


# -- 5: a warehouse that is the catalog file is refused ---------------------------------------

WAREHOUSE = """
from assetry import asset, sql_asset
from assetry.clients import DuckDBClient
from assetry.io_managers import DuckDBTable

@asset
def flights() -> dict:
    return {{"n": 1}}

@sql_asset(client=DuckDBClient({catalog!r}), kind="table")
def runs():
    return "SELECT 1 AS x"

@asset(io=DuckDBTable(database={default!r}))
def assets() -> dict:
    return {{"n": 2}}
"""


def test_a_warehouse_that_is_the_catalog_file_is_refused_before_the_run(files, tmp_path):
    """#5: SQL assets named ``runs`` or ``assets`` in the catalog's own DuckDB file are refused
    before anything runs, naming both files and the way out; the history stays intact."""
    catalog = tmp_path / "both.duckdb"
    link = tmp_path / "link.duckdb"  # the same file by another name
    mod = files.module("wh.py", WAREHOUSE.format(catalog=str(link),
                                                 default=str(files.root / "catalog.duckdb")))
    first = materialize(mod, root=files.root, catalog=catalog, select="flights")
    link.symlink_to(catalog)
    with pytest.raises(AssetGraphError) as info:
        materialize(mod, root=files.root, catalog=catalog, select="runs")
    message = str(info.value)
    assert "'runs'" in message and str(catalog) in message and "warehouse" in message
    with pytest.raises(AssetGraphError, match="'assets'"):
        materialize(mod, root=files.root, select="assets")  # the default catalog, <root>/catalog.duckdb
    runs = Catalog(catalog).sql("SELECT run_id, status FROM runs")
    assert runs.rows() == [(first.run_id, "success")]
    assert Catalog(catalog).sql("SELECT asset FROM assets").rows() == [("flights",)]
    con = duckdb.connect(str(catalog), read_only=True)
    assert con.execute("SELECT count(*) FROM materializations").fetchone() == (1,)
    con.close()


# -- 6: a deleted directory product is an error naming its location ---------------------------

DIRECTORY = """
import pathlib, shutil
import polars as pl
from assetry import asset

@asset
def parts() -> dict[str, pl.DataFrame]:
    return {{"a": pl.DataFrame({{"x": [1]}}), "b": pl.DataFrame({{"x": [2]}})}}

@asset(deps=["parts"], cache=False)
def vandal() -> dict:
    if {vandal!r}:
        shutil.rmtree(pathlib.Path({root!r}) / "parts")  # another process deletes it
    return {{}}

@asset(deps=["vandal"])
def count(parts: dict[str, pl.DataFrame]) -> dict:
    return {{"parts": len(parts)}}
"""


def test_loading_a_deleted_directory_product_names_the_missing_location(files):
    """#6: Catalog.load and a downstream asset fail on a deleted directory, naming it; not {}."""
    root = files.root
    mod = files.module("dirs.py", DIRECTORY.format(root=str(root), vandal=False))
    assert sorted(materialize(mod, root=root).materialized) == ["count", "parts", "vandal"]
    assert Catalog(files.catalog).load("count") == {"parts": 2}
    shutil.rmtree(root / "parts")
    with pytest.raises(StorageError, match=str(root / "parts")):
        Catalog(files.catalog).load("parts")

    mod = files.module("dirs.py", DIRECTORY.format(root=str(root), vandal=True))
    result = materialize(mod, root=root, force="count", raise_on_error=False)
    assert result.failed == ["count"]
    (record,) = [r for r in result.records if r.asset == "count"]
    assert str(root / "parts") in record.error and "does not exist" in record.error
    assert Catalog(files.catalog).load("count") == {"parts": 2}  # the good product is kept


# -- 7: what assetry could not read back is never stored --------------------------------------

UNREADABLE = """
import polars as pl
import pyarrow as pa
from assetry import asset

@asset
def dup() -> pa.Table:
    return pa.table([pa.array([1, 2]), pa.array([3, 4])], names=["a", {second!r}])

@asset
def after_dup(dup: pl.DataFrame) -> pl.DataFrame:
    return dup

@asset(io="csv")
def nocols() -> pl.DataFrame:
    return pl.DataFrame({{"a": [1, 2]}}).select({keep})

@asset
def after_nocols(nocols: pl.DataFrame) -> pl.DataFrame:
    return nocols
"""


def test_products_assetry_cannot_read_back_are_refused_before_storing(files):
    """#7: an Arrow table with duplicate column names (Parquet) and a frame without columns
    (CSV) fail their asset, naming it; nothing is stored, downstream is blocked; fixed, all run."""
    root = files.root
    mod = files.module("bad.py", UNREADABLE.format(second="a", keep=[]))
    result = materialize(mod, root=root, raise_on_error=False)
    assert sorted(result.failed) == ["dup", "nocols"]
    assert sorted(result.blocked) == ["after_dup", "after_nocols"]
    errors = {r.asset: r.error for r in result.records if r.status == "failed"}
    assert "'dup'" in errors["dup"] and "duplicate column" in errors["dup"] and "'a'" in errors["dup"]
    assert "'nocols'" in errors["nocols"] and "no columns" in errors["nocols"]
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["catalog.duckdb"]
    assert Catalog(files.catalog).sql("SELECT count(*) FROM assets").item() == 0

    mod = files.module("bad.py", UNREADABLE.format(second="b", keep=["a"]))
    fixed = materialize(mod, root=root)
    assert sorted(fixed.materialized) == ["after_dup", "after_nocols", "dup", "nocols"]
    assert fixed.load("after_dup").columns == ["a", "b"]
    assert fixed.load("after_nocols")["a"].to_list() == [1, 2]


# -- durability: ASSETRY_FSYNC=1 flushes a product before its rename, its directory after ----

DURABLE = """
import polars as pl
from assetry import asset

@asset
def one() -> dict:
    return {"one": 1}

@asset
def parts() -> dict[str, pl.DataFrame]:
    return {"a": pl.DataFrame({"x": [1]}), "b": pl.DataFrame({"x": [2]})}
"""


def _syscalls(trace: pathlib.Path) -> list[tuple[str, str]]:
    """(call, first argument as a path) of each fsync and rename in an ``strace -y`` output."""
    calls = []
    for line in trace.read_text().splitlines():
        rest = line.split(None, 1)[-1]  # "<pid>  <call>(<args>) = <result>"
        call, _, args = rest.partition("(")
        if call in ("fsync", "fdatasync"):
            calls.append((call, args.partition("<")[2].partition(">")[0]))
        elif call.startswith("rename"):
            quoted = args.split('"')
            calls.append(("rename", quoted[1] + " -> " + quoted[3]))
    return calls


@pytest.mark.skipif(shutil.which("strace") is None and not os.environ.get("CI"),
                    reason="needs strace (.ci/run installs it; in CI this test never skips)")
def test_durable_products_are_flushed_before_their_rename_and_their_directory_after(files, tmp_path):
    """With ASSETRY_FSYNC=1 a file product is fsynced before its rename and its directory after
    (a directory product: every file, then the parent after the swap); unset, none is."""
    module = files.write("durable.py", DURABLE)
    (tmp_path / "driver.py").write_text(DRIVER)
    calls = {}
    for setting in ("1", "0"):
        root, trace = tmp_path / f"data{setting}", tmp_path / f"trace{setting}.txt"
        proc = subprocess.run(
            ["strace", "-f", "-qq", "-y", "-o", str(trace),
             "-e", "trace=fsync,fdatasync,rename,renameat,renameat2",
             sys.executable, str(tmp_path / "driver.py"), str(module), str(root), "-", "-",
             "threads", "-"],
            env={**os.environ, "ASSETRY_FSYNC": setting}, capture_output=True, text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        calls[setting] = [(c, a) for c, a in _syscalls(trace) if a.startswith(str(root))]

    root, durable = tmp_path / "data1", calls["1"]
    rename = next(i for i, (c, a) in enumerate(durable)
                  if c == "rename" and a.endswith(f" -> {root / 'one.json'}"))
    temp = durable[rename][1].partition(" -> ")[0]
    assert ("fsync", temp) in durable[:rename]
    assert ("fsync", str(root)) in durable[rename:]
    swap = next(i for i, (c, a) in enumerate(durable)
                if c == "rename" and a.endswith(f" -> {root / 'parts'}"))
    inside = durable[swap][1].partition(" -> ")[0]
    assert {a.rpartition(".assetry-tmp-")[0] for c, a in durable[:swap]
            if c == "fsync" and a.startswith(inside + "/")} >= {f"{inside}/a.parquet",
                                                                 f"{inside}/b.parquet"}
    assert ("fsync", str(root)) in durable[swap:]

    products = [a for c, a in calls["0"] if c == "fsync" and "catalog.duckdb" not in a
                and "/.assetry/" not in a]
    assert products == []
    assert any(c == "rename" for c, _ in calls["0"])


def test_a_bad_fsync_setting_is_refused_before_anything_runs(files, monkeypatch):
    """ASSETRY_FSYNC must be 0 or 1 (true/false, yes/no, on/off): another value stops the run
    before a root, a catalog or a product is made."""
    mod = files.module("durable.py", DURABLE)
    monkeypatch.setenv("ASSETRY_FSYNC", "sometimes")
    with pytest.raises(StorageError, match="ASSETRY_FSYNC is 'sometimes'"):
        materialize(mod, root=files.root)
    assert not files.root.exists()
