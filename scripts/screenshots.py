"""Take the README's screenshots of ``assetry ui``: the graph page and an asset page, on the demo.

Runs ``assetry demo`` into a temporary directory, serves it with ``assetry ui``
on a free port of 127.0.0.1, and photographs the pages with Debian's Chromium
through Playwright (the test extra brings Playwright; Chromium is
/usr/bin/chromium):

    python scripts/screenshots.py            # writes docs/ui-graph.png and docs/ui-asset.png
    python scripts/screenshots.py --out /tmp
"""

from __future__ import annotations

import argparse
import pathlib
import re
import signal
import subprocess
import sys
import tempfile

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=DOCS, help="where the PNGs go")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--asset", default="daily_flights", help="the asset page to photograph")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        demo = pathlib.Path(tmp) / "assetry-demo"
        subprocess.run([sys.executable, "-m", "assetry", "demo", str(demo)], check=True,
                       stdout=subprocess.DEVNULL)
        server = subprocess.Popen(
            [sys.executable, "-m", "assetry", "ui", "--catalog", str(demo / "catalog.duckdb"),
             "--port", "0"], stdout=subprocess.PIPE, text=True,
        )
        try:
            line = server.stdout.readline() if server.stdout else ""
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            if not found:
                raise SystemExit(f"assetry ui did not start: {line}")
            for path in shoot(found.group(0), args.out, args.chromium, args.asset):
                print(f"wrote {path}")
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=10)


def shoot(url: str, out: pathlib.Path, chromium: str, asset: str) -> list[pathlib.Path]:
    """Photograph ``/`` and ``/assets/<asset>`` of the server at ``url``."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 760}, device_scale_factor=1)
        page.goto(url + "/")
        page.wait_for_selector("svg.graph g.node")
        written.append(out / "ui-graph.png")
        page.screenshot(path=str(written[-1]))
        page.goto(f"{url}/assets/{asset}")
        page.wait_for_selector("#history")
        written.append(out / "ui-asset.png")
        page.screenshot(path=str(written[-1]))
        browser.close()
    return written


if __name__ == "__main__":
    main()
