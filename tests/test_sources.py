"""Source assets: data assetry did not write, observed on every run, never written.

Every form of ``source()`` (a file, a folder, a relation, a version token, a
partitioned file) with real files in ``tmp_path`` and real DuckDB and SQLite
tables: an edit reruns the downstream (``upstream changed: raw``), a touch
without a change reruns nothing, a missing source fails and blocks its
downstream while other branches run.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import subprocess
import sys
import time

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from assetry import AssetGraphError, Catalog, DailyPartitions, asset, materialize, source
from assetry.errors import AssetError, MaterializeError, StorageError

FILE_PIPELINE = '''
import pathlib
import polars as pl
import pyarrow as pa
from assetry import asset, source

raw = source("raw", "raw/flights.csv", description="Flights as the airline sends them.")

@asset
def flights(raw: pl.LazyFrame) -> pl.DataFrame:
    return raw.filter(pl.col("delay") > 0).collect()

@asset
def total(flights: pl.DataFrame) -> dict:
    return {"n": flights.height}

@asset
def kinds(raw: pl.DataFrame) -> dict:
    return {"eager": type(raw).__name__}

@asset
def as_arrow(raw: pa.Table) -> dict:
    return {"arrow": type(raw).__name__, "rows": raw.num_rows}

@asset
def where(raw: pathlib.Path) -> dict:
    return {"path": str(raw)}

@asset
def other() -> dict:
    return {"x": 1}
'''

CSV = "carrier,delay\nAA,5\nUA,-3\nDL,12\n"


def _csv(files, text: str = CSV, name: str = "raw/flights.csv") -> pathlib.Path:
    path = files.dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _statuses(files, run_id: str) -> dict[str, tuple[str, str]]:
    frame = Catalog(files.catalog).sql(
        "SELECT asset, status, reason FROM materializations WHERE run_id = ?", [run_id])
    return {a: (s, r) for a, s, r in frame.iter_rows()}


def test_file_edit_reruns_downstream_and_a_touch_reruns_nothing(files):
    """Edit: downstream reruns (`upstream changed: raw`); touch with the same bytes: nothing reruns."""
    path = _csv(files)
    module = files.module("pipe.py", FILE_PIPELINE)
    first = materialize(module, root=files.root)
    assert first.observed == ["raw"] and first.reasons["raw"] == "source changed"
    assert first.load("total") == {"n": 2}
    assert materialize(module, root=files.root).materialized == []

    path.write_text(CSV + "B6,7\n")
    edited = materialize(module, root=files.root)
    assert sorted(edited.materialized) == ["as_arrow", "flights", "kinds", "total", "where"]
    assert edited.reasons["raw"] == "source changed"
    assert edited.reasons["flights"] == "upstream changed: raw"
    assert edited.reasons["total"] == "upstream changed: flights"
    assert edited.reasons["other"] == "up to date"

    later = time.time() + 5
    os.utime(path, (later, later))  # mtime moves, content stays
    touched = materialize(module, root=files.root)
    assert touched.materialized == [] and touched.reasons["raw"] == "up to date"
    rows = _statuses(files, touched.run_id)
    assert rows["raw"] == ("observed", "up to date") and rows["flights"] == ("skipped", "up to date")


def test_each_annotation_loads_the_source_its_way(files):
    """pl.LazyFrame is a real CSV scan; pl.DataFrame, pa.Table and Path as annotated."""
    path = _csv(files)
    seen = {}

    @asset
    def lazy(raw: pl.LazyFrame) -> dict:
        seen["plan"] = raw.explain()
        return {"n": raw.select(pl.len()).collect().item()}

    module = files.module("pipe.py", FILE_PIPELINE)
    result = materialize([module, lazy], root=files.root, executor="sync")
    assert "SCAN" in seen["plan"].upper() and "CSV" in seen["plan"].upper()
    assert result.load("lazy") == {"n": 3}
    assert result.load("kinds") == {"eager": "DataFrame"}
    assert result.load("as_arrow") == {"arrow": "Table", "rows": 3}
    assert result.load("where") == {"path": str(path)}
    assert_frame_equal(result.load("raw"), pl.read_csv(path))
    assert isinstance(result.load("raw", pa.Table), pa.Table)


def test_the_assets_row_holds_the_last_observation(files):
    """The `assets` row of a source has kind 'source' and the observed data fingerprint."""
    path = _csv(files)
    module = files.module("pipe.py", FILE_PIPELINE)
    materialize(module, root=files.root)
    catalog = Catalog(files.catalog)
    row = catalog.sql("SELECT kind, location, data_fingerprint FROM assets WHERE asset = 'raw'")
    assert row.row(0)[:2] == ("source", str(path))
    observed = catalog.sql(
        "SELECT data_fingerprint FROM materializations WHERE asset = 'raw' AND status = 'observed'")
    assert observed["data_fingerprint"].to_list() == [row["data_fingerprint"].item()]
    kinds = catalog.sql("SELECT DISTINCT kind FROM assets WHERE asset <> 'raw'")["kind"].to_list()
    assert kinds == ["asset"]


def test_a_missing_source_fails_blocks_downstream_and_other_branches_run(files):
    """Deleted: `source missing: raw/flights.csv`, downstream blocked, `other` runs, products kept."""
    path = _csv(files)
    module = files.module("pipe.py", FILE_PIPELINE)
    materialize(module, root=files.root)
    path.unlink()
    with pytest.raises(MaterializeError, match="source 'raw' is missing") as caught:
        materialize(module, root=files.root, force=["other"])
    assert isinstance(caught.value, StorageError)
    result = caught.value.result
    assert result.failed == ["raw"]
    assert result.reasons["raw"] == "source missing: raw/flights.csv"
    assert sorted(result.blocked) == ["as_arrow", "flights", "kinds", "total", "where"]
    assert result.reasons["flights"] == "upstream failed: raw"
    assert result.materialized == ["other"]
    assert Catalog(files.catalog).load("total") == {"n": 2}  # the previous good product stays
    status = Catalog(files.catalog).status(module)
    reasons = dict(zip(status["asset"], status["reason"], strict=True))
    assert reasons["raw"] == "source missing: raw/flights.csv"
    assert reasons["flights"] == "upstream failed: raw"


def test_assetry_never_writes_a_source(files):
    """A source's bytes, mtime and inode are what the user left, run after run."""
    path = _csv(files)
    before = path.stat()
    module = files.module("pipe.py", FILE_PIPELINE)
    materialize(module, root=files.root)
    materialize(module, root=files.root, force=True)
    after = path.stat()
    assert (after.st_mtime_ns, after.st_ino, path.read_text()) == (before.st_mtime_ns, before.st_ino, CSV)
    assert sorted(p.name for p in path.parent.iterdir()) == ["flights.csv"]


def test_status_gives_the_run_words_before_the_run(files):
    """Catalog.status observes sources: `source changed` and `upstream changed: raw`, as the run says."""
    path = _csv(files)
    module = files.module("pipe.py", FILE_PIPELINE)
    materialize(module, root=files.root)
    path.write_text(CSV.replace("12", "13"))
    status = Catalog(files.catalog).status(module)
    reasons = dict(zip(status["asset"], status["reason"], strict=True))
    assert reasons["raw"] == "source changed" and reasons["flights"] == "upstream changed: raw"
    assert reasons["total"] == "upstream stale: flights"
    run = materialize(module, root=files.root)
    assert run.reasons["flights"] == reasons["flights"]
    assert dict(zip(status["asset"], status["fresh"], strict=True))["other"] is True


def test_a_selection_observes_the_sources_it_reads(files):
    """select='flights' observes raw (which flights reads) and nothing else runs."""
    path = _csv(files)
    module = files.module("pipe.py", FILE_PIPELINE)
    materialize(module, root=files.root)
    path.write_text(CSV + "WN,1\n")
    result = materialize(module, root=files.root, select="flights")
    assert result.observed == ["raw"] and result.materialized == ["flights"]
    assert result.reasons["flights"] == "upstream changed: raw"


def test_relative_path_resolves_from_the_declaring_module_not_the_cwd(files, tmp_path, monkeypatch):
    """`raw/flights.csv` is next to the module that declares it, wherever the process runs."""
    path = _csv(files)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    module = files.module("pipe.py", FILE_PIPELINE)
    assert module.raw.spec.io.locate(None) == str(path)
    assert materialize(module, root=files.root).load("total") == {"n": 2}


def test_each_source_of_a_long_module_names_its_own_line(files):
    """A module of hundreds of sources (its code too long for ``f_lineno`` to be cheap, so
    the line comes from a table of the module's code): every source names the line that
    declares it, a call spread over lines and one inside an ``if`` alike."""
    lines = ["from assetry import source"]
    expected = {}
    for i in range(400):
        if i % 50 == 0:
            lines += [f"if {i} >= 0:", f'    s_{i} = source("s_{i}", "raw/{i}.csv")']
        elif i % 7 == 0:
            lines += [f"s_{i} = source(", f'    "s_{i}",', f'    "raw/{i}.csv",', ")"]
        else:
            lines.append(f's_{i} = source("s_{i}", "raw/{i}.csv")')
        expected[f"s_{i}"] = next(n for n, text in enumerate(lines, 1) if f"s_{i} = source(" in text)
    module = files.module("many.py", "\n".join(lines) + "\n")
    # Pickled (a spec shipped to a worker) before its line was asked for, a declaration keeps
    # its line, not the module's code.
    shipped = pickle.dumps(module.s_7.spec.fn.__assetry_declared__)
    assert len(shipped) < 1000
    declared = pickle.loads(shipped)
    assert (declared.file, declared.line) == (str(files.dir / "many.py"), expected["s_7"])
    found = {name: getattr(module, name).spec.location_hint for name in expected}
    assert found == {name: f"{files.dir / 'many.py'}:{line}" for name, line in expected.items()}
    assert module.s_7.spec.fn.__code__.co_filename == str(files.dir / "many.py")
    assert module.s_7.spec.io.locate(None) == str(files.dir / "raw" / "7.csv")


FOLDER_PIPELINE = '''
import polars as pl
from assetry import asset, source

days = source("days", "raw/days", glob="*.csv")

@asset
def per_file(days: dict[str, pl.DataFrame]) -> dict:
    return {stem: frame.height for stem, frame in days.items()}

@asset
def combined(days: pl.LazyFrame) -> dict:
    return {"rows": days.select(pl.len()).collect().item()}
'''


def test_folder_source_adding_a_file_reruns(files):
    """A folder loads as {stem: frame} or one lazy frame; a new matching file reruns both."""
    _csv(files, "n\n1\n2\n", "raw/days/2013-01-01.csv")
    _csv(files, "n\n3\n", "raw/days/2013-01-02.csv")
    _csv(files, "not data", "raw/days/README.txt")
    module = files.module("pipe.py", FOLDER_PIPELINE)
    first = materialize(module, root=files.root)
    assert first.load("per_file") == {"2013-01-01": 2, "2013-01-02": 1}
    assert first.load("combined") == {"rows": 3}
    assert materialize(module, root=files.root).materialized == []

    _csv(files, "more text", "raw/days/notes.txt")  # not matched by the glob
    assert materialize(module, root=files.root).materialized == []

    _csv(files, "n\n4\n5\n6\n", "raw/days/2013-01-03.csv")
    added = materialize(module, root=files.root)
    assert sorted(added.materialized) == ["combined", "per_file"]
    assert added.reasons["per_file"] == "upstream changed: days"
    assert added.load("combined") == {"rows": 6}


def test_folder_touch_rehashes_nothing_and_reruns_nothing(files):
    """A folder's stat key keeps each file's digest: a touched file is re-read, nothing reruns."""
    _csv(files, "n\n1\n", "raw/days/a.csv")
    path = _csv(files, "n\n2\n", "raw/days/b.csv")
    module = files.module("pipe.py", FOLDER_PIPELINE)
    materialize(module, root=files.root)
    later = time.time() + 5
    os.utime(path, (later, later))
    result = materialize(module, root=files.root)
    assert result.materialized == [] and result.reasons["days"] == "up to date"


def test_an_empty_folder_is_a_missing_source(files):
    """No file matches the glob: `source missing: raw/days/*.csv`."""
    (files.dir / "raw" / "days").mkdir(parents=True)
    module = files.module("pipe.py", FOLDER_PIPELINE)
    result = materialize(module, root=files.root, raise_on_error=False)
    assert result.reasons["days"] == "source missing: raw/days/*.csv"
    assert sorted(result.blocked) == ["combined", "per_file"]


PARTITIONED_PIPELINE = '''
import datetime
import polars as pl
from assetry import DailyPartitions, asset, source

DAYS = DailyPartitions("2013-01-01", "{end}")

daily_raw = source("daily_raw", "raw/days/{{partition}}.csv", partitions=DAYS)

@asset(partitions=DAYS)
def daily(partition: datetime.date, daily_raw: pl.DataFrame) -> pl.DataFrame:
    return daily_raw.with_columns(day=pl.lit(partition))

@asset
def summary(daily: pl.DataFrame) -> dict:
    return {{"rows": daily.height}}
'''


def test_partitioned_source_a_new_days_file_runs_that_day_only(files):
    """A new day's file runs exactly that day's partition (and the summary), nothing else."""
    for day, n in (("2013-01-01", 1), ("2013-01-02", 2)):
        _csv(files, "n\n" + "\n".join(map(str, range(n))) + "\n", f"raw/days/{day}.csv")
    module = files.module("pipe.py", PARTITIONED_PIPELINE.format(end="2013-01-02"))
    first = materialize(module, root=files.root)
    assert sorted(first.observed) == ["daily_raw[2013-01-01]", "daily_raw[2013-01-02]"]
    assert first.load("summary") == {"rows": 3}

    _csv(files, "n\n7\n8\n9\n", "raw/days/2013-01-03.csv")
    module = files.module("pipe.py", PARTITIONED_PIPELINE.format(end="2013-01-03"))
    result = materialize(module, root=files.root)
    assert result.materialized == ["daily[2013-01-03]", "summary"]
    assert result.reasons["daily[2013-01-03]"] == "never materialized"
    assert result.reasons["daily[2013-01-01]"] == "up to date"
    assert result.load("summary") == {"rows": 6}

    _csv(files, "n\n0\n5\n", "raw/days/2013-01-02.csv")  # one day's file edited
    edited = materialize(module, root=files.root)
    assert edited.materialized == ["daily[2013-01-02]", "summary"]
    assert edited.reasons["daily[2013-01-02]"] == "upstream changed: daily_raw"


def test_partitioned_source_a_missing_day_blocks_that_day_only(files):
    """A declared day without its file fails that partition; the other days run."""
    _csv(files, "n\n1\n", "raw/days/2013-01-01.csv")
    module = files.module("pipe.py", PARTITIONED_PIPELINE.format(end="2013-01-02"))
    result = materialize(module, root=files.root, raise_on_error=False)
    assert result.failed == ["daily_raw[2013-01-02]"]
    assert result.reasons["daily_raw[2013-01-02]"] == "source missing: raw/days/2013-01-02.csv"
    assert "daily[2013-01-01]" in result.materialized
    assert set(result.blocked) == {"daily[2013-01-02]", "summary"}
    status = Catalog(files.catalog).status(module)
    assert dict(zip(status["asset"], status["reason"], strict=True))["daily_raw"] == (
        "1 fresh, 1 source missing")

    _csv(files, "n\n2\n", "raw/days/2013-01-02.csv")
    fixed = materialize(module, root=files.root)
    assert fixed.materialized == ["daily[2013-01-02]", "summary"]


RELATION_PIPELINE = '''
import polars as pl
from assetry import asset, source
from assetry.clients import {client}
from assetry.io_managers import SQLTable

warehouse = {client}({target!r})
stations = source("stations", io=SQLTable(warehouse, schema={schema!r}, table="stations"))

@asset
def names(stations: pl.DataFrame) -> dict:
    return {{"names": sorted(stations["name"].to_list())}}
'''


def _duckdb_table(path: pathlib.Path, rows: list[str]) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE OR REPLACE TABLE stations (name VARCHAR)")
        for name in rows:
            con.execute("INSERT INTO stations VALUES (?)", [name])
    finally:
        con.close()


def _sqlite_table(path: pathlib.Path, rows: list[str]) -> None:
    import sqlite3

    con = sqlite3.connect(path)
    try:
        con.execute("DROP TABLE IF EXISTS stations")
        con.execute("CREATE TABLE stations (name TEXT)")
        con.executemany("INSERT INTO stations VALUES (?)", [(r,) for r in rows])
        con.commit()
    finally:
        con.close()


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_relation_source_is_observed_through_its_io_manager(files, tmp_path, backend):
    """A table assetry did not write: a new row reruns the downstream; unchanged, nothing reruns."""
    if backend == "duckdb":
        db = tmp_path / "warehouse.duckdb"
        fill, client, target, schema = _duckdb_table, "DuckDBClient", str(db), "main"
    else:
        db = tmp_path / "warehouse.sqlite"
        fill, client, target, schema = _sqlite_table, "SQLAlchemyClient", f"sqlite:///{db}", None
    fill(db, ["JFK", "EWR"])
    source_text = RELATION_PIPELINE.format(client=client, target=target, schema=schema)
    module = files.module("pipe.py", source_text)
    first = materialize(module, root=files.root, executor="sync")
    assert first.load("names") == {"names": ["EWR", "JFK"]}
    assert first.reasons["stations"] == "source changed"
    module = files.module("pipe.py", source_text)
    again = materialize(module, root=files.root, executor="sync")
    assert again.materialized == [] and again.reasons["stations"] == "up to date"

    fill(db, ["JFK", "EWR", "LGA"])
    module = files.module("pipe.py", source_text)
    changed = materialize(module, root=files.root, executor="sync")
    assert changed.materialized == ["names"]
    assert changed.reasons["names"] == "upstream changed: stations"
    assert changed.load("names") == {"names": ["EWR", "JFK", "LGA"]}


def test_relation_source_missing_table_fails(files, tmp_path):
    """A relation that does not exist is a missing source."""
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    module = files.module("pipe.py", RELATION_PIPELINE.format(
        client="DuckDBClient", target=str(db), schema="main"))
    result = materialize(module, root=files.root, executor="sync", raise_on_error=False)
    assert result.failed == ["stations"] and result.blocked == ["names"]
    assert result.reasons["stations"].startswith("source missing: ")


TOKEN_PIPELINE = '''
import json, pathlib
from assetry import asset, source

TAG = pathlib.Path(__file__).parent / "release.json"

def read_release_tag():
    return json.loads(TAG.read_text())

release = source("release", observe=read_release_tag)

@asset(deps=[release])
def report() -> dict:
    return read_release_tag()

@asset
def with_token(release: dict) -> dict:
    return {"got": release["tag"]}
'''


def test_token_source_reruns_its_downstream_when_the_token_changes(files):
    """observe= returns a token (encoded canonically): a new token reruns deps=[release]."""
    tag = files.dir / "release.json"
    tag.write_text('{"tag": "v1", "build": 3}')
    module = files.module("pipe.py", TOKEN_PIPELINE)
    first = materialize(module, root=files.root)
    assert first.load("with_token") == {"got": "v1"}
    tag.write_text('{"build": 3,   "tag": "v1"}')  # the same value, other bytes
    assert materialize(module, root=files.root).materialized == []
    tag.write_text('{"tag": "v2", "build": 4}')
    changed = materialize(module, root=files.root)
    assert sorted(changed.materialized) == ["report", "with_token"]
    assert changed.reasons["report"] == "upstream changed: release"


def test_a_raising_observe_fails_the_source_only(files):
    """observe() raising is a failed source step naming the error; its downstream is blocked."""
    module = files.module("pipe.py", TOKEN_PIPELINE)  # release.json does not exist
    result = materialize(module, root=files.root, raise_on_error=False)
    assert result.failed == ["release"]
    assert result.reasons["release"].startswith("source unreadable: ")
    assert "FileNotFoundError" in result.errors["release"]
    assert sorted(result.blocked) == ["report", "with_token"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: source("raw", "a.csv", cache=False), "a source is never run or cached"),
    (lambda: source("raw"), "needs exactly one of a path, io= or observe="),
    (lambda: source("raw", "a.csv", observe=lambda: 1), "but got a path and observe="),
    (lambda: source("raw", glob="*.csv", observe=lambda: 1), "glob='\\*.csv' but no folder"),
    (lambda: source("raw", "d/{partition}.csv"), "no partitions="),
    (lambda: source("raw", "d.csv", partitions=DailyPartitions("2013-01-01", "2013-01-02")),
     "no \\{partition\\} in its path"),
    (lambda: source("raw", "a.csv", io="csv"), "exactly one of"),
    (lambda: source("raw-data", "a.csv"), "is not a valid name"),
    (lambda: source("raw", "a.csv", schedule="daily"), "unknown option"),
], ids=["cache", "nothing", "two-kinds", "glob-without-path", "placeholder-without-partitions",
        "partitions-without-placeholder", "io-and-path", "bad-name", "unknown-option"])
def test_a_bad_declaration_is_refused(call, message):
    """Every malformed source() is an AssetGraphError saying how to fix it."""
    with pytest.raises(AssetGraphError, match=message):
        call()


def test_a_source_is_not_callable_and_reads_as_a_source():
    """Calling a source says it is data; its repr names where the data is."""
    raw = source("raw", "/data/raw.csv")
    assert repr(raw) == "<source 'raw' (/data/raw.csv)>"
    with pytest.raises(AssetError, match="is data, not a function"):
        raw()


def test_two_sources_of_one_name_are_a_duplicate(tmp_path):
    """Two declarations of one name: the graph error names both places."""
    a = source("raw", tmp_path / "a.csv")
    b = source("raw", tmp_path / "b.csv")
    line = sys._getframe().f_lineno  # the line after b's
    with pytest.raises(AssetGraphError, match=(
            rf"'raw' is defined twice: .*test_sources.py:{line - 2} and .*test_sources.py:{line - 1}")):
        materialize([a, b], root=tmp_path / "data")


def test_config_for_a_source_is_refused(files):
    """A source has no config parameters."""
    _csv(files)
    module = files.module("pipe.py", FILE_PIPELINE)
    with pytest.raises(AssetGraphError, match="no such config parameter"):
        materialize(module, root=files.root, config={"raw": {"sep": ";"}})


def test_cli_list_and_status_show_sources(files):
    """`assetry list` names a source's data; `assetry status` shows its observation."""
    path = _csv(files)
    files.write("pipe.py", FILE_PIPELINE)
    target = str(files.dir / "pipe.py")
    env = {**os.environ, "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "assetry", *args, "--root", str(files.root)]
                              if args[0] != "list" else [sys.executable, "-m", "assetry", *args],
                              capture_output=True, text=True, env=env, check=False, timeout=120)

    listed = cli("list", target)
    assert listed.returncode == 0, listed.stderr
    line = next(text for text in listed.stdout.splitlines() if text.startswith("raw "))
    assert "source raw/flights.csv" in line and "Flights as the airline sends them." in line
    done = cli("materialize", target)
    assert done.returncode == 0, done.stderr
    path.write_text(CSV + "B6,1\n")
    status = cli("status", target)
    assert status.returncode == 0, status.stderr
    lines = {text.split()[0]: text for text in status.stdout.splitlines() if text.strip()}
    assert "source changed" in lines["raw"]
    assert "upstream changed: raw" in lines["flights"]


MANY_PIPELINE = '''
import polars as pl
from assetry import asset, source
''' + "".join(f'''
raw_{i} = source("raw_{i}", "raw/{i}.csv")

@asset
def a_{i}(raw_{i}: pl.DataFrame) -> dict:
    return {{"i": {i}, "n": raw_{i}.height}}
''' for i in range(12))


def test_one_changed_source_among_many_unchanged_reruns_exactly_its_downstream(files):
    """The unchanged sources of a run (observed in bulk) keep their `observed` rows and fingerprints;
    the one edited reruns its downstream alone, `upstream changed: raw_5`; a touch reruns nothing."""
    paths = [_csv(files, f"x\n{i}\n", f"raw/{i}.csv") for i in range(12)]
    module = files.module("pipe.py", MANY_PIPELINE)
    materialize(module, root=files.root)
    paths[5].write_text("x\n5\n55\n")
    later = time.time() + 5
    os.utime(paths[8], (later, later))  # a new stat, the same bytes
    result = materialize(module, root=files.root)
    assert result.materialized == ["a_5"] and result.load("a_5") == {"i": 5, "n": 2}
    assert result.reasons["a_5"] == "upstream changed: raw_5"
    assert result.reasons["raw_5"] == "source changed"
    assert sorted(result.observed) == sorted(f"raw_{i}" for i in range(12))
    assert all(result.reasons[f"raw_{i}"] == "up to date" for i in range(12) if i != 5)
    assert sorted(result.skipped) == sorted(f"a_{i}" for i in range(12) if i != 5)
    catalog = Catalog(files.catalog)
    rows = catalog.sql(
        "SELECT m.asset, m.status, m.reason, m.partition, m.location, m.fingerprint, "
        "m.data_fingerprint = a.data_fingerprint AS same, m.code_fingerprint, m.attempts "
        "FROM materializations m JOIN assets a USING (asset) "
        "WHERE m.run_id = ? AND m.asset LIKE 'raw_%'", [result.run_id])
    assert rows.height == 12
    by_name = {r["asset"]: r for r in rows.iter_rows(named=True)}
    for i in range(12):
        row = by_name[f"raw_{i}"]
        assert (row["status"], row["reason"]) == (
            "observed", "source changed" if i == 5 else "up to date")
        assert row["partition"] is None and row["location"] == str(paths[i])
        assert row["same"] and row["code_fingerprint"] == "source" and row["attempts"] == 0
    assert by_name["raw_0"]["fingerprint"] == catalog.sql(
        "SELECT data_fingerprint FROM assets WHERE asset = 'raw_0'").item()
    again = materialize(module, root=files.root)  # raw_8's new stat was kept: nothing to hash
    assert again.materialized == [] and len(again.observed) == 12
    assert {again.reasons[f"raw_{i}"] for i in range(12)} == {"up to date"}


def test_a_touched_source_keeps_its_whole_row(files):
    """A run reads a source's row narrow; a touch (same bytes) updates its stat key alone: the
    manager's class and settings, the run that observed it, and its data stay in the row."""
    path = _csv(files)
    module = files.module("pipe.py", FILE_PIPELINE)
    materialize(module, root=files.root)
    columns = "io, io_class, io_settings, run_id, updated_at, data_fingerprint, kind, stat_key"
    query = f"SELECT {columns} FROM assets WHERE asset = 'raw'"
    before = Catalog(files.catalog).sql(query).row(0, named=True)
    later = time.time() + 5
    os.utime(path, (later, later))
    assert materialize(module, root=files.root).reasons["raw"] == "up to date"
    after = Catalog(files.catalog).sql(query).row(0, named=True)
    assert after["stat_key"] != before["stat_key"]
    assert {k: v for k, v in after.items() if k != "stat_key"} == {
        k: v for k, v in before.items() if k != "stat_key"}
    assert all(after[k] is not None for k in ("io", "io_class", "io_settings", "run_id"))


@pytest.mark.parametrize("partitioned", [False, True])
def test_an_unchanged_source_is_recorded_as_its_row_says(files, partitioned):
    """A no-op run's `observed` rows carry the source's recorded fingerprint, location, rows and
    bytes (one per partition of a partitioned source), for this run, and nothing else's."""
    if partitioned:
        for day in ("2013-01-01", "2013-01-02"):
            _csv(files, "n\n1\n2\n", f"raw/days/{day}.csv")
        module = files.module("pipe.py", PARTITIONED_PIPELINE.format(end="2013-01-02"))
        name = "daily_raw"
    else:
        _csv(files)
        module = files.module("pipe.py", FILE_PIPELINE)
        name = "raw"
    materialize(module, root=files.root)
    noop = materialize(module, root=files.root)
    assert noop.materialized == []
    catalog = Catalog(files.catalog)
    observed = catalog.sql(
        "SELECT m.partition, m.status, m.reason, m.fingerprint, m.data_fingerprint, "
        "m.code_fingerprint, m.location, m.rows, m.bytes, m.attempts, m.started_at, "
        "a.data_fingerprint AS recorded, a.location AS recorded_location, "
        "a.rows AS recorded_rows, a.bytes AS recorded_bytes "
        "FROM materializations m JOIN assets a ON a.asset = m.asset "
        "AND a.partition IS NOT DISTINCT FROM m.partition "
        "WHERE m.run_id = ? AND m.asset = ? ORDER BY m.partition", [noop.run_id, name])
    expected = ["2013-01-01", "2013-01-02"] if partitioned else [None]
    assert observed["partition"].to_list() == expected
    for row in observed.iter_rows(named=True):
        assert (row["status"], row["reason"], row["code_fingerprint"]) == (
            "observed", "up to date", "source")
        assert row["fingerprint"] == row["data_fingerprint"] == row["recorded"] is not None
        assert row["location"] == row["recorded_location"] is not None
        assert (row["rows"], row["bytes"]) == (row["recorded_rows"], row["recorded_bytes"])
        assert row["attempts"] == 0 and row["started_at"] is not None
    every = catalog.sql("SELECT count(*) AS n FROM materializations WHERE run_id = ? "
                        "AND status = 'observed'", [noop.run_id])["n"][0]
    assert every == len(expected)


TWO_SOURCES = """
from assetry import asset, source

raw_a = source("raw_a", "raw/a.csv")
raw_b = source("raw_b", "raw/b.csv")

@asset
def a(raw_a: dict) -> dict:
    return {"a": 1}

@asset
def b(raw_b: dict) -> dict:
    return {"b": 1}
"""


def test_a_selection_records_its_own_unchanged_sources_and_no_other(files):
    """The catalog holds two sources; a no-op run of one's downstream records that source's
    `observed` row only, and a run of the whole graph both."""
    _csv(files, name="raw/a.csv")
    _csv(files, name="raw/b.csv")
    module = files.module("pipe.py", TWO_SOURCES.replace(": dict) -> dict", ": pl.DataFrame) -> dict")
                          .replace("from assetry", "import polars as pl\nfrom assetry"))
    materialize(module, root=files.root)
    selected = materialize(module, root=files.root, select="a")
    assert selected.observed == ["raw_a"] and selected.skipped == ["a"]
    assert _statuses(files, selected.run_id) == {"raw_a": ("observed", "up to date"),
                                                 "a": ("skipped", "up to date")}
    whole = materialize(module, root=files.root)
    assert sorted(whole.observed) == ["raw_a", "raw_b"]
    assert {k: v for k, v in _statuses(files, whole.run_id).items() if v[0] == "observed"} == {
        "raw_a": ("observed", "up to date"), "raw_b": ("observed", "up to date")}
