"""``assetry ui``: the JSON API, the safety rules, live state, and reading while a run writes.

Real servers (``assetry ui`` in a subprocess on a free port of 127.0.0.1), real
runs and real catalogs; the browser tests are in tests/test_ui_browser.py.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from typing import Any

import duckdb
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from assetry import Catalog, materialize

PIPELINE = """
import pathlib
import polars as pl
from assetry import asset, checks

GATE = pathlib.Path(__file__).with_name("gate")

@asset(checks=[checks.row_count(min=1)])
def raw() -> pl.DataFrame:
    return pl.DataFrame({"id": list(range(100)), "<script>": ["<img src=x onerror=alert(1)>"] * 100})

@asset
def doubled(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.with_columns(pl.col("id") * 2)

@asset
def broken(raw: pl.DataFrame) -> pl.DataFrame:
    raise ValueError("<script>alert('boom')</script>")

@asset
def after_broken(broken: pl.DataFrame) -> pl.DataFrame:
    return broken

@asset
def gated(doubled: pl.DataFrame) -> pl.DataFrame:
    # Waits while the gate file exists: a run the tests can watch going.
    import time
    deadline = time.monotonic() + 60
    while GATE.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return doubled.head(5)
"""


def _serve(*args: str, cwd: pathlib.Path | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start ``assetry ui ARGS --port 0``; return the process and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "assetry", "ui", *args, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
    if not found:
        proc.kill()
        raise AssertionError(f"assetry ui did not start: {line}{proc.communicate()[1]}")
    return proc, found.group(1)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def _json(url: str) -> Any:
    status, body = _get(url)
    assert status == 200, body
    return json.loads(body)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def _token(html: str) -> str:
    found = re.search(r'<meta name="assetry-token" content="([^"]+)">', html)
    assert found, "the page carries no token"
    return found.group(1)


def _until(check: Any, timeout: float = 30.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(every)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A pipeline materialized once: raw, doubled fresh; broken failed; after_broken blocked;
    an asset named ``<script>`` and one stored outside the roots, written into the catalog."""
    here = tmp_path_factory.mktemp("ui")
    (here / "pipeline.py").write_text(PIPELINE)
    subprocess.run([sys.executable, "-m", "assetry", "materialize", str(here / "pipeline.py"),
                    "--executor", "sync"], check=False, capture_output=True,
                   timeout=300)
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.csv"
    outside.write_text("secret\nTOP-SECRET-VALUE\n")
    con = duckdb.connect(str(here / "data" / "catalog.duckdb"))
    try:
        run = con.execute("SELECT run_id FROM runs ORDER BY started_at LIMIT 1").fetchone()[0]
        con.execute(
            "INSERT INTO materializations (run_id, asset, status, reason, started_at, duration_s, "
            "error) VALUES (?, '<script>', 'failed', '<b>never</b>', now()::TIMESTAMP, 0.1, ?)",
            [run, "<script>alert('x')</script>"])
        con.execute("INSERT INTO dependencies VALUES ('<script>', 'raw')")
        con.execute(
            "INSERT INTO assets (asset, location, io, rows, updated_at, run_id) "
            "VALUES ('outside', ?, 'CSV()', 1, now()::TIMESTAMP, ?)", [str(outside), run])
        con.execute(
            "INSERT INTO materializations (run_id, asset, status, reason, started_at, duration_s) "
            "VALUES (?, 'outside', 'materialized', 'forced', now()::TIMESTAMP, 0.1)", [run])
    finally:
        con.close()
    return here


@pytest.fixture(scope="module")
def read_only(project: pathlib.Path) -> Any:
    """``assetry ui --catalog FILE``: no TARGET, read-only."""
    proc, url = _serve("--catalog", str(project / "data" / "catalog.duckdb"))
    yield url
    _stop(proc)


def test_api_assets_says_each_state_and_reason_without_a_target(read_only: str) -> None:
    """/api/assets lists every asset with asset, state, fresh, reason, from the catalog alone."""
    nodes = {n["asset"]: n for n in _json(read_only + "/api/assets")}
    assert {"raw", "doubled", "broken", "after_broken", "gated", "<script>", "outside"} <= set(nodes)
    for node in nodes.values():
        assert {"asset", "state", "fresh", "reason"} <= set(node)
        assert node["fresh"] == (node["state"] == "fresh")
    assert nodes["raw"]["state"] == "fresh"
    assert nodes["broken"]["state"] == "failed"
    assert "boom" in nodes["broken"]["error"]
    assert nodes["after_broken"]["state"] == "blocked"
    assert nodes["gated"]["state"] == "fresh"  # broken blocks its own downstream only
    assert nodes["<script>"]["state"] == "failed"
    assert set(nodes["raw"]["downstream"]) >= {"broken", "doubled", "<script>"}


def test_api_asset_run_and_runs(read_only: str) -> None:
    """/api/assets/<name>, /api/runs and /api/runs/<id> give the page's data as JSON."""
    raw = _json(read_only + "/api/assets/raw")
    assert raw["state"] == "fresh"
    assert [c["name"] for c in raw["schema"]] == ["id", "<script>"]
    assert len(raw["preview"]["rows"]) == 20  # the first rows only, of 100
    assert raw["checks"][0]["check"] == "row_count(min=1)" and raw["checks"][0]["passed"] == 1
    assert raw["history"][0]["status"] == "materialized"
    broken = _json(read_only + "/api/assets/broken")
    assert "ValueError" in broken["last_error"]["traceback"]
    runs = _json(read_only + "/api/runs")
    assert runs and runs[0]["status"] == "failed"
    run = _json(read_only + f"/api/runs/{runs[-1]['run_id']}")
    assert {s["asset"] for s in run["steps"]} >= {"raw", "doubled", "broken", "after_broken"}
    assert _get(read_only + "/api/assets/nope")[0] == 404
    assert _get(read_only + "/api/runs/nope")[0] == 404
    assert _get(read_only + "/assets/nope")[0] == 404


def test_every_catalog_value_is_escaped(read_only: str) -> None:
    """An asset, error, reason, column or cell holding markup renders as text, never as markup."""
    pages = [
        _get(read_only + "/")[1],
        _get(read_only + "/assets/%3Cscript%3E")[1],
        _get(read_only + "/assets/broken")[1],
        _get(read_only + "/assets/raw")[1],
    ]
    runs = _json(read_only + "/api/runs")
    pages += [_get(read_only + f"/runs/{r['run_id']}")[1] for r in runs]
    for html in pages:
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "<b>never</b>" not in html
        assert not re.search(r"<script(?! src=\"/static/ui\.js\" defer>)", html)
    assert "&lt;script&gt;" in pages[1] and "&lt;b&gt;never&lt;/b&gt;" in pages[1]
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[3]  # a preview cell
    assert "&lt;script&gt;alert(&#39;boom&#39;)&lt;/script&gt;" in pages[2]


def test_every_response_forbids_foreign_scripts_and_framing(read_only: str) -> None:
    """Pages carry a Content-Security-Policy (scripts from /static only) and refuse framing."""
    with urllib.request.urlopen(read_only + "/", timeout=30) as response:
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"


def test_a_product_outside_the_roots_is_never_read(read_only: str) -> None:
    """A catalog row pointing outside every root is not previewed, and no route serves files."""
    outside = _json(read_only + "/api/assets/outside")
    assert "outside the catalog's roots" in outside["preview"]["note"]
    assert "TOP-SECRET-VALUE" not in _get(read_only + "/assets/outside")[1]
    for path in ("/static/../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
                 "/static/..%2f..%2f..%2fetc%2fpasswd", "/../../etc/passwd"):
        status, body = _get(read_only + path)
        assert status == 404 and "root:" not in body


def test_a_foreign_host_name_is_refused(read_only: str) -> None:
    """A request naming another host (DNS rebinding) is refused."""
    assert _get(read_only + "/api/assets", {"Host": "evil.example"})[0] == 400


def test_a_read_only_page_starts_no_run(read_only: str) -> None:
    """Without a TARGET the page carries no token and every action is refused."""
    html = _get(read_only + "/")[1]
    assert 'name="assetry-token"' not in html and "Materialize" not in html
    status, body = _post(read_only + "/api/materialize", b"{}",
                         {"Content-Type": "application/json", "X-Assetry-Token": "guess"})
    assert status == 403 and "read-only" in body


@pytest.fixture
def writable(project: pathlib.Path) -> Any:
    """``assetry ui TARGET``: the plan in status's words, and the action."""
    proc, url = _serve(str(project / "pipeline.py"))
    yield url
    _stop(proc)


def test_with_a_target_reasons_are_status_words(project: pathlib.Path, writable: str) -> None:
    """With a TARGET a stale asset's reason is the words of `assetry status`."""
    product = project / "data" / "doubled.parquet"
    saved = product.read_bytes()
    product.unlink()
    try:
        # The plan is recomputed when the catalog changes, or within PLAN_TTL_S.
        nodes = _until(lambda: {n["asset"]: n for n in _json(writable + "/api/assets")
                                if n["asset"] == "doubled" and n["state"] == "stale"}, timeout=20)
        assert nodes["doubled"]["reason"] == "product missing"
        status = subprocess.run([sys.executable, "-m", "assetry", "status",
                                 str(project / "pipeline.py")], check=False, capture_output=True, text=True)
        assert "product missing" in status.stdout
    finally:
        product.write_bytes(saved)


def test_a_page_that_only_polls_the_version_still_gets_a_new_plan(tmp_path: pathlib.Path) -> None:
    """The plan is made again when it is due, though no page asks for the assets: a page asks
    for them only when ``/api/version`` changes, and the plan's serial is part of it. A run
    from elsewhere changed the catalog and a product went missing: the version a page polls
    must move past the run's own change, and the assets then say ``product missing``."""
    (tmp_path / "pipeline.py").write_text(
        "from assetry import asset\n\n@asset\ndef a() -> dict:\n    return {'x': 1}\n\n"
        "@asset\ndef b() -> dict:\n    return {'y': 2}\n")
    command = [sys.executable, "-m", "assetry", "materialize", str(tmp_path / "pipeline.py")]
    assert subprocess.run(command, check=False, capture_output=True, timeout=300).returncode == 0
    proc, url = _serve(str(tmp_path / "pipeline.py"))
    try:
        assert {n["asset"]: n["state"] for n in _json(url + "/api/assets")} == {
            "a": "fresh", "b": "fresh"}
        serial = json.loads(_json(url + "/api/version")["version"])[1]
        time.sleep(1.2)  # the plan is older than PLAN_MIN_S
        (tmp_path / "data" / "a.json").unlink()
        done = subprocess.run([*command, "--select", "b", "--force"], check=False,
                              capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr
        # Only /api/version, as a page that saw nothing change does; well before PLAN_TTL_S.
        _until(lambda: json.loads(_json(url + "/api/version")["version"])[1] > serial,
               timeout=8, every=0.2)
        nodes = {n["asset"]: n for n in _json(url + "/api/assets")}
        assert (nodes["a"]["state"], nodes["a"]["reason"]) == ("stale", "product missing")
    finally:
        _stop(proc)


def test_a_run_needs_the_pages_token(project: pathlib.Path, writable: str) -> None:
    """POST without the token, with a wrong one, or from another site is refused; with it, runs."""
    html = _get(writable + "/")[1]
    token = _token(html)
    url = writable + "/api/materialize"
    body = json.dumps({"select": "doubled"}).encode()
    plain = {"Content-Type": "application/json"}
    assert _post(url, body, plain)[0] == 403
    assert _post(url, body, {**plain, "X-Assetry-Token": token[:-1] + "x"})[0] == 403
    cross = {**plain, "X-Assetry-Token": token, "Origin": "http://evil.example"}
    assert _post(url, body, cross)[0] == 403
    form = b"token=nope&select=doubled"
    assert _post(writable + "/actions/materialize", form,
                 {"Content-Type": "application/x-www-form-urlencoded"})[0] == 403
    before = {r["run_id"] for r in _json(writable + "/api/runs")}
    status, answer = _post(url, body, {**plain, "X-Assetry-Token": token})
    assert status == 202, answer
    assert json.loads(answer)["select"] == "doubled"
    finished = _until(lambda: [r for r in _json(writable + "/api/runs")
                               if r["run_id"] not in before and r["status"] == "success"], timeout=120)
    steps = _json(writable + f"/api/runs/{finished[0]['run_id']}")["steps"]
    assert [s["asset"] for s in steps] == ["doubled"]


def test_the_page_follows_a_run_live(project: pathlib.Path, writable: str) -> None:
    """While a run goes, /api/assets shows its asset running and /api/version the run; then fresh."""
    gate = project / "gate"
    gate.write_text("wait")
    (project / "data" / "gated.parquet").unlink()  # stale: the run will run it
    token = _token(_get(writable + "/")[1])
    try:
        status, answer = _post(writable + "/api/materialize", json.dumps({"select": "gated"}).encode(),
                               {"Content-Type": "application/json", "X-Assetry-Token": token})
        assert status == 202, answer
        running = _until(lambda: [n for n in _json(writable + "/api/assets")
                                  if n["asset"] == "gated" and n["state"] == "running"], timeout=60)
        assert running
        t0 = time.monotonic()
        assert _json(writable + "/api/version")["run"] is not None
        assert time.monotonic() - t0 < 1.0  # reading never waits for the run
        assert _post(writable + "/api/materialize", b"{}",
                     {"Content-Type": "application/json", "X-Assetry-Token": token})[0] == 409
    finally:
        gate.unlink()
    _until(lambda: [n for n in _json(writable + "/api/assets")
                    if n["asset"] == "gated" and n["state"] == "fresh"], timeout=60)
    assert _json(writable + "/api/version")["run"] is None


def test_a_missing_extra_is_one_line_naming_the_install(tmp_path: pathlib.Path) -> None:
    """Without starlette, `assetry ui` prints one error line naming pip install ...[ui]."""
    script = textwrap.dedent("""
        import sys
        sys.modules["starlette"] = None  # as if the extra were not installed
        from assetry.cli import main
        main(["ui", "--catalog", "nowhere.duckdb"])
    """)
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("assetry: error: ")
    assert "pip install" in lines[0] and "[ui]" in lines[0]


# -- reading while a run writes ----------------------------------------------------------------

#: 2,000 tiny assets in 40 layers of 50 (each needs the one 50 before it): the runner records
#: a layer as it finishes, so a reader can see the run's progress, batch by batch.
WIDE = """
from assetry import asset

def make(i):
    def f() -> dict:
        return {{"i": i}}
    deps = [f"a{{i - 50:04d}}"] if i >= 50 else []
    return asset(name=f"a{{i:04d}}", code_version="1", deps=deps)(f)

for _i in range({n}):
    globals()[f"a{{_i:04d}}"] = make(_i)
"""

def test_the_boards_live_reads_agree_with_a_full_read(tmp_path: pathlib.Path) -> None:
    """While a run goes, the page reads only the run's rows (and keeps the rest from when it
    saw the run begin): at every poll, and after the run, its states and figures are what a
    page opened at that moment, reading everything, shows."""
    from assetry.ui._board import Board, Source

    (tmp_path / "wide.py").write_text(WIDE.format(n=600))
    root = tmp_path / "data"
    catalog = root / "catalog.duckdb"
    command = [sys.executable, "-m", "assetry", "materialize", str(tmp_path / "wide.py"),
               "--root", str(root), "--executor", "sync"]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    board = Board(Source(catalog=catalog))
    board.assets()
    full_reads = []
    last_attempts = board._last_attempts
    board._last_attempts = lambda: full_reads.append(1) or last_attempts()  # type: ignore[method-assign]
    compared, during, missed = 0, 0, 0
    # Every asset materialized again; then every one skipped; then, only if the polls caught
    # fewer than two moments of a run going (a fast machine), forced runs again.
    for i, extra in enumerate((["--force"], [], ["--force"], ["--force"])):
        if i >= 2 and during >= 2:
            break
        run = subprocess.Popen(command + extra, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        seen = during
        while True:
            ended = run.poll() is not None
            with board.reading():  # the file held: the catalog stays as it is for both reads
                version, live = board.version(), board.active_run()
                mine = board._nodes(None, live, board._read(version, live))
                fresh = Board(Source(catalog=catalog))
                full = fresh._nodes(None, live, fresh._read(version, live))
            assert mine == full
            compared += 1
            during += live is not None
            if ended:
                break
            time.sleep(0.02)
        assert run.returncode == 0
        missed += during == seen  # a run that began and ended between two polls
    assert during >= 2  # some of them while a run went
    assert compared > during
    # Only a run never seen going (it began and ended between two polls) is read whole.
    assert len(full_reads) <= missed, "the page read everything again while a run went"


#: ``assetry ui``'s page, as a process: what ``static/ui.js`` does, at its pace. It asks for
#: ``/api/version`` every POLL_MS (the script's interval: a poll still under way skips a beat),
#: and for ``/api/assets`` when the version changed (the graph page recolours its boxes).
PAGE = """
import json, pathlib, sys, time, urllib.request

url, stop, ready, every = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]), float(sys.argv[4])
get = lambda path: json.loads(urllib.request.urlopen(url + path, timeout=60).read())
version = get("/api/version")["version"]
get("/api/assets")  # the page as loaded before the run
ready.write_text("ready")
waits, seen, due = [], [], time.monotonic()
while not stop.exists():
    t0 = time.perf_counter()
    polled = get("/api/version")
    waits.append(time.perf_counter() - t0)
    if polled["version"] != version:
        version = polled["version"]
        t0 = time.perf_counter()
        get("/api/assets")
        waits.append(time.perf_counter() - t0)
    seen.append(polled["run"]["recorded"] if polled["run"] else None)
    due = max(due + every, time.monotonic())
    time.sleep(max(0.0, due - time.monotonic()))
print(json.dumps({"waits": waits, "seen": seen}))
"""

#: ``Catalog.sql`` polled every 50 ms (``assetry status`` and ``assetry sql`` read the same way).
READER = """
import json, pathlib, sys, time
import duckdb, polars  # imported before the first read: a wait is the read's alone
from assetry import Catalog

cat, stop, ready = Catalog(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
ready.write_text("ready")
waits, seen = [], []
while not stop.exists():
    t0 = time.perf_counter()
    seen.append(cat.sql("SELECT count(*) FROM materializations").item())
    waits.append(time.perf_counter() - t0)
    time.sleep(0.05)
print(json.dumps({"waits": waits, "seen": seen}))
"""


def _page_poll_s() -> float:
    """The page's polling interval, read from the script it ships."""
    script = pathlib.Path(__file__).parents[1] / "assetry" / "ui" / "static" / "ui.js"
    found = re.search(r"var POLL_MS = (\d+);", script.read_text())
    assert found, "ui.js no longer says POLL_MS"
    return int(found.group(1)) / 1000


def _with_reader(tmp_path: pathlib.Path, script: str, *args: str) -> tuple[Any, Any]:
    """Start a reader process and wait until it is ready; return it and its stop file."""
    stop, ready = tmp_path / "stop", tmp_path / "ready"
    stop.unlink(missing_ok=True)
    ready.unlink(missing_ok=True)
    path = tmp_path / "reader.py"
    path.write_text(script)
    reader = subprocess.Popen([sys.executable, str(path), args[0], str(stop), str(ready), *args[1:]],
                              stdout=subprocess.PIPE, text=True)
    _until(ready.exists, timeout=120, every=0.01)
    return reader, stop


def _finish(reader: Any, stop: pathlib.Path) -> dict[str, Any]:
    stop.write_text("")
    out, _ = reader.communicate(timeout=120)
    assert reader.returncode == 0
    return json.loads(out)  # type: ignore[no-any-return]


#: What the page may cost a run of 2,000 tiny assets (each takes a millisecond, so the
#: catalog's writing is most of what the run does), best run against best run: the best of
#: three is what a neighbour's load disturbs least. On a busy machine the bound widens by the
#: noise it measures (``_bound``); benchmarks/bench_ui.py measures the median over eight
#: rounds in fresh processes with PASS or FAIL at 10 % (docs/ui.md).
SLOWDOWN_MAX = float(os.environ.get("ASSETRY_READ_SLOWDOWN_MAX", "0.10"))


def _bound(alone: list[float]) -> float:
    """SLOWDOWN_MAX, plus what this machine's noise leaves unresolved: how far apart the runs
    alone are (a few % on a quiet CI machine; tens of % on one shared with other work)."""
    return SLOWDOWN_MAX + (max(alone) / min(alone) - 1)


@pytest.mark.slow
def test_reading_never_waits_for_a_run_of_2000_assets(tmp_path: pathlib.Path) -> None:
    """The page polling `assetry ui` through a 2,000-asset run costs the run at most 10 %
    (interleaved runs without and with it, in this test: best against best of three, or of six
    on a busy machine), never waits 1 s, and sees the run's progress; Catalog.sql polled every
    50 ms never waits 1 s either; no record is lost."""
    (tmp_path / "wide.py").write_text(WIDE.format(n=2000))
    from assetry.cli.targets import load_target

    modules = list(load_target(str(tmp_path / "wide.py")).modules)
    root = tmp_path / "data"
    catalog = root / "catalog.duckdb"
    materialize(modules, root=root, executor="sync")  # warm: imports, the scan cache
    server, url = _serve("--catalog", str(catalog))
    runs = 1

    def timed() -> float:
        nonlocal runs
        t0 = time.perf_counter()
        materialize(modules, root=root, executor="sync", force=True)
        runs += 1
        return time.perf_counter() - t0

    alone: list[float] = []
    read: list[float] = []
    waits: list[float] = []
    progress: list[list[int]] = []
    try:
        for pair in range(6):  # alone, page; page, alone; ...: drift cancels out
            if pair == 3 and min(read) / min(alone) - 1 <= _bound(alone):
                break  # three of each settle it; a busy machine gets three more of each
            for with_page in ((False, True) if pair % 2 == 0 else (True, False)):
                if not with_page:
                    alone.append(timed())
                    continue
                reader, stop = _with_reader(tmp_path, PAGE, url, str(_page_poll_s()))
                read.append(timed())
                out = _finish(reader, stop)
                waits += out["waits"]
                progress.append(out["seen"])
    finally:
        _stop(server)
    reader, stop = _with_reader(tmp_path, READER, str(catalog))
    timed()
    sql = _finish(reader, stop)
    slowdown = min(read) / min(alone) - 1
    print(f"alone {alone}, with the page {read}, slowdown {slowdown:.1%} (best against best, "
          f"bound {_bound(alone):.1%}; "
          f"medians {statistics.median(read) / statistics.median(alone) - 1:.1%}), "
          f"{len(waits)} requests, longest {max(waits):.3f}s, median {statistics.median(waits):.3f}s; Catalog.sql: {len(sql['waits'])} "
          f"reads, longest {max(sql['waits']):.3f}s, median {statistics.median(sql['waits']):.3f}s")
    assert max(waits) < 1.0, f"the page waited {max(waits):.2f}s for an answer"
    assert max(sql["waits"]) < 1.0, f"Catalog.sql waited {max(sql['waits']):.2f}s"
    assert any(0 < (n or 0) < 2000 for seen in progress for n in seen)  # it saw the run go on
    assert len(set(sql["seen"])) > 4  # and Catalog.sql saw it, batch by batch
    count = Catalog(catalog).sql(
        "SELECT count(*) FROM materializations WHERE status = 'materialized'").item()
    assert count == 2000 * runs  # not a record lost
    assert slowdown <= _bound(alone), f"the run slowed by {slowdown:.1%} with the page polling"
