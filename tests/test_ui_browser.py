"""``assetry ui`` in a real browser: Debian's Chromium driven by Playwright, on the demo.

Each test starts ``assetry ui`` on a free port of 127.0.0.1, loads the pages,
clicks through graph -> asset -> run, and asserts on the rendered DOM (node
count and colours, the reason, the preview rows, the timeline bars), on the
browser console (no error), and on first paint. Screenshots go to the test's
tmp dir. Playwright's own browsers are never downloaded: Chromium is
/usr/bin/chromium, which .ci/run installs.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("starlette")
playwright_api = pytest.importorskip("playwright.sync_api")

from test_ui import WIDE, _serve, _stop

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
FRESH_FILL = "rgb(220, 252, 231)"
STALE_FILL = "rgb(254, 243, 199)"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
        reason="chromium is not installed (.ci/run installs it; in CI this test never skips)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """`assetry demo DIR`: the flights pipeline, 379 steps, run twice."""
    where = tmp_path_factory.mktemp("demo") / "flights"
    done = subprocess.run([sys.executable, "-m", "assetry", "demo", str(where)],
                          check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return where


class Watched:
    """A page whose console errors and uncaught exceptions are kept."""

    def __init__(self, browser: Any, shots: pathlib.Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.shots = shots

    def shot(self, name: str) -> pathlib.Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path

    def first_paint(self) -> float:
        """Milliseconds from the navigation's start to the first contentful paint."""
        return float(self.page.evaluate(
            "() => { const p = performance.getEntriesByName('first-contentful-paint')[0];"
            " return p ? p.startTime : performance.now(); }"))

    def fill(self, name: str) -> str:
        return str(self.page.evaluate(
            "n => getComputedStyle(document.querySelector(`g.node[data-name=\"${n}\"] rect.box`)).fill",
            name))


def test_click_through_graph_asset_and_run(demo: pathlib.Path, browser: Any,
                                           tmp_path: pathlib.Path) -> None:
    """The demo's graph, an asset and a run render right in Chromium, without console errors."""
    proc, url = _serve("--catalog", str(demo / "catalog.duckdb"))
    page = Watched(browser, tmp_path)
    try:
        page.page.goto(url + "/")
        page.page.wait_for_selector("svg.graph g.node")
        paint = page.first_paint()
        print(f"first paint of the demo's graph (379 steps): {paint:.0f} ms")
        assert paint < 2000
        nodes = page.page.locator("svg.graph g.node")
        assert nodes.count() == 15  # 12 Python assets and the 3 of the SQL stage
        states = page.page.eval_on_selector_all(
            "svg.graph g.node", "gs => gs.map(g => g.getAttribute('data-state'))")
        assert set(states) == {"fresh"}
        assert page.fill("flights") == FRESH_FILL
        assert page.page.inner_text("[data-count='fresh']") == "15"
        detail = page.page.text_content("g.node[data-name='daily_flights'] text.detail")
        assert detail == "365/365 fresh"  # a partitioned asset shows its partitions
        page.shot("graph")

        page.page.click("a.node-link:has(g[data-name='flights'])")
        page.page.wait_for_url("**/assets/flights")
        assert page.page.inner_text("#state") == "fresh"
        assert page.page.inner_text("#reason") == "up to date at its last run"
        assert page.page.locator("#preview table tbody tr").count() == 20
        assert page.page.locator("#schema tbody tr").count() >= 10
        assert page.page.locator(".facts a[href='/assets/flights_raw']").count() == 1
        assert page.page.locator("#checks tbody tr").count() == 3
        assert page.page.locator("svg.chart rect.bar").count() == 1
        page.shot("asset")

        page.page.click("#history tr:has(.badge[data-status='materialized']) a[href^='/runs/']")
        page.page.wait_for_url("**/runs/*")
        bars = page.page.locator("svg.gantt rect.gantt-bar")
        assert bars.count() == 379  # one bar per step that ran: 14 assets and 365 partitions
        assert page.page.locator("svg.gantt text.gantt-label").count() == 15
        page.shot("run")

        page.page.click("nav a[href='/runs']")
        page.page.wait_for_selector("#runs tbody tr")
        assert page.page.locator("#runs tbody tr").count() == 2
        assert page.errors == []
    finally:
        page.page.close()
        _stop(proc)


def test_with_a_target_stale_reasons_show_and_a_run_updates_the_page_live(
        demo: pathlib.Path, browser: Any, tmp_path: pathlib.Path) -> None:
    """A product changed outside assetry shows stale with status's reason; a run started from
    the page (with its token) turns it fresh on the open page, without a reload."""
    import polars as pl

    planes = demo / "planes.parquet"
    pl.read_parquet(planes).head(10).write_parquet(planes)  # modified outside assetry
    proc, url = _serve("assetry.demo.pipeline", "--root", str(demo))
    page = Watched(browser, tmp_path)
    try:
        page.page.goto(url + "/")
        page.page.wait_for_selector("svg.graph g.node")
        assert page.page.locator("svg.graph g.node").count() == 12
        assert page.page.get_attribute("g.node[data-name='planes']", "data-state") == "stale"
        assert page.fill("planes") == STALE_FILL
        row = page.page.locator("#unfresh tr[data-state='stale']:has(a[href='/assets/planes'])")
        assert row.locator("td.reason").inner_text() == "product modified outside assetry"
        downstream = page.page.locator("#unfresh tr:has(a[href='/assets/plane_age_delays'])")
        assert downstream.locator("td.reason").inner_text() == "upstream stale: planes"
        page.shot("stale")

        # The page's own form carries the token; a run starts, the page goes to /runs.
        page.page.click("form.action button")
        page.page.wait_for_url("**/runs")
        page.page.goto(url + "/")
        page.page.wait_for_function(
            "() => document.querySelector(\"g.node[data-name='planes']\")"
            ".getAttribute('data-state') === 'fresh'", timeout=120_000)
        page.page.wait_for_function(
            "() => document.querySelectorAll(\"svg.graph g.node[data-state='fresh']\").length === 12",
            timeout=120_000)
        assert page.page.inner_text("[data-count='stale']") == "0"
        assert page.errors == []
    finally:
        page.page.close()
        _stop(proc)


def test_a_2000_asset_graph_paints_within_2_seconds(browser: Any, tmp_path: pathlib.Path) -> None:
    """A generated graph of 2,000 assets: every node drawn, first paint under 2 s."""
    (tmp_path / "wide.py").write_text(WIDE.format(n=2000))
    done = subprocess.run([sys.executable, "-m", "assetry", "materialize", str(tmp_path / "wide.py"),
                           "--executor", "sync"], check=False, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    proc, url = _serve("--catalog", str(tmp_path / "data" / "catalog.duckdb"))
    page = Watched(browser, tmp_path)
    try:
        page.page.goto(url + "/")
        page.page.wait_for_selector("svg.graph g.node")
        paint = page.first_paint()
        assert page.page.locator("svg.graph g.node").count() == 2000
        print(f"first paint of 2,000 assets: {paint:.0f} ms")
        assert paint < 2000
        page.shot("graph-2000")
        assert page.errors == []
    finally:
        page.page.close()
        _stop(proc)
