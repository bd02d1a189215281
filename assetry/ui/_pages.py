"""The HTML pages: Jinja2 templates shipped in the wheel, autoescaped, filled from the board.

Every value from the catalog reaches the page through Jinja2's autoescaping
(an asset named ``<script>`` is text) or through :mod:`assetry.ui._svg`, which
escapes what it writes; the only markup inserted unescaped is that SVG. A page
can be rendered whole, or as a fragment (its ``<main>`` content only), which
the page's script swaps in when the catalog changes.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import pathlib
from typing import Any

from assetry.reporting import format_duration, format_rows
from assetry.ui._board import STATES, Board
from assetry.ui._detail import asset_detail, run_detail, runs
from assetry.ui._svg import GANTT_ROWS, asset_href, gantt_svg, graph_svg, history_svg

__all__ = ["Pages"]

TEMPLATES = pathlib.Path(__file__).parent / "templates"
#: Rows of a run's step table at most (the steps that did something come first).
STEP_ROWS = 1000
#: Rows of the graph page's table of assets that are not fresh.
UNFRESH_ROWS = 200


@functools.cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template is HTML: nothing from the catalog is markup
    )
    env.filters.update(
        when=_when, duration=_duration, rows=format_rows, asset_href=asset_href,
    )
    return env


class Pages:
    """Renders the pages of one board; ``token`` is set when the page may start runs."""

    def __init__(self, board: Board, token: str | None) -> None:
        self.board = board
        self.token = token if board.source.writable else None

    def version(self, value: Any = None, plan: int | None = None) -> str:
        """The catalog's version (``value``, else read now) and the plan's serial, as text:
        the page's script compares it with ``/api/version`` to know what changed."""
        return json.dumps([self.board.version() if value is None else value,
                           self.board.plan_serial if plan is None else plan], default=str)

    def _render(self, name: str, page: str, title: str, fragment: bool, seen: tuple[Any, Any, int],
                **values: Any) -> str:
        source = self.board.source
        context = {
            "page": page, "title": title, "fragment": fragment, "token": self.token,
            "writable": source.writable, "target": source.target,
            "catalog": str(source.catalog), "run": seen[1],
            "version": self.version(seen[0], seen[2]), "states": STATES, **values,
        }
        return str(_environment().get_template(name).render(**context))

    def _seen(self) -> tuple[Any, Any, int]:
        """The version, the run going on and the plan's serial, read before the content: a page
        never claims a version newer than what it shows (the script would miss the change)."""
        return self.board.version(), self.board.active_run(), self.board.plan_serial

    def graph(self, fragment: bool = False) -> str:
        """``/``: the graph, coloured by state, and the assets that are not fresh."""
        with self.board.reading():
            seen = self._seen()
        nodes, (names, edges, _, _) = self.board.snapshot()
        by_name = {n["asset"]: n for n in nodes}
        counts = {s: sum(1 for n in nodes if n["state"] == s) for s in STATES}
        unfresh = [n for n in nodes if n["state"] != "fresh"]
        return self._render(
            "graph.html", "graph", "graph", fragment, seen, nodes=nodes, counts=counts,
            svg=graph_svg(names, edges, by_name) if names else "",
            unfresh=unfresh[:UNFRESH_ROWS], unfresh_more=max(0, len(unfresh) - UNFRESH_ROWS),
            plan_error=self.board.plan_error(),
        )

    def asset(self, name: str, fragment: bool = False) -> str | None:
        """``/assets/<name>``; None when the asset is unknown."""
        with self.board.reading():
            seen = self._seen()
        detail = asset_detail(self.board, name)
        if detail is None:
            return None
        return self._render("asset.html", "asset", name, fragment, seen, a=detail,
                            chart_svg=history_svg(detail["chart"]))

    def runs(self, fragment: bool = False) -> str:
        """``/runs``: the latest runs."""
        with self.board.reading():
            seen = self._seen()
            found = runs(self.board)
        return self._render("runs.html", "runs", "runs", fragment, seen, runs=found)

    def run(self, run_id: str, fragment: bool = False) -> str | None:
        """``/runs/<run_id>``: a run's timeline and steps; None when the run is unknown."""
        with self.board.reading():
            seen = self._seen()
            detail = run_detail(self.board, run_id)
        if detail is None:
            return None
        svg, left_out = gantt_svg(detail["steps"], detail["started_at"])
        steps = sorted(detail["steps"], key=lambda s: s["status"] == "skipped")
        return self._render(
            "run.html", "run", f"run {run_id[:8]}", fragment, seen, r=detail, gantt_svg=svg,
            left_out=left_out, gantt_rows=GANTT_ROWS, steps=steps[:STEP_ROWS],
            steps_more=max(0, len(steps) - STEP_ROWS),
        )

    def missing(self, message: str) -> str:
        """A page for an unknown asset or run."""
        with self.board.reading():
            seen = self._seen()
        return self._render("missing.html", "missing", "not found", False, seen, message=message)


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def _duration(value: Any) -> str:
    return "" if value is None else format_duration(float(value), unit_sep=" ")
