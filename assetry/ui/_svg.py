"""The pictures of the page, as inline SVG: the graph, an asset's history, a run's timeline.

The graph is :func:`assetry.plot.render_svg`'s layout (the same boxes and
edges as ``assetry plot``), rewritten so each box is a link to its asset's
page and carries its state as a ``data-state`` attribute that the page's
style sheet colours (so the script can recolour it live). The layout depends
only on the names and edges, and is cached. Every text from the catalog is
escaped here; the markup carries no script and no inline style.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from assetry.reporting import format_duration, format_rows

__all__ = ["gantt_svg", "graph_svg", "history_svg", "node_detail"]

#: A box's second line holds this many characters (its width is fixed: the layout is cached).
DETAIL_CHARS = 20
_PAD = "x" * (DETAIL_CHARS - len(" · fresh"))

_NODE = re.compile(
    r'<g class="node" data-name="[^"]*" data-state="[^"]*"><title>.*?</title>'
    r'<rect (x="[^"]*" y="[^"]*" width="[^"]*" height="[^"]*")[^>]*/>'
    r'<text class="name" (x="[^"]*" y="[^"]*")>.*?</text>'
    r'<text class="detail" (x="[^"]*" y="[^"]*")>.*?</text></g>',
    re.DOTALL,
)
_LEGEND = re.compile(r'<g class="legend">.*?</g>', re.DOTALL)
_STYLE = re.compile(r"<style>.*?</style>", re.DOTALL)


def esc(value: Any) -> str:
    """Text for HTML or SVG, every ``<``, ``&`` and quote escaped."""
    return html.escape("" if value is None else str(value), quote=True)


def asset_href(name: str) -> str:
    """The page of an asset: its name percent-encoded as one path segment."""
    return "/assets/" + quote(name, safe="")


def node_detail(node: dict[str, Any]) -> str:
    """The second line of a box: partition counts, else last duration and rows, else the state.

    Examples:
        >>> node_detail({"state": "fresh", "partitions": None, "duration_s": 0.5, "rows": 3})
        '0.50 s · 3 rows'
        >>> node_detail({"state": "running", "partitions": {"total": 365, "running": 12}})
        '12/365 running'
    """
    parts = node.get("partitions")
    if parts:
        total = parts["total"]
        for state in ("failed", "running", "blocked"):
            if parts.get(state):
                return _fit(f"{parts[state]}/{total} {state}")
        return _fit(f"{parts.get('fresh', 0)}/{total} fresh")
    state = node["state"]
    figures = []
    if state in ("fresh", "stale"):
        if node.get("duration_s") is not None:
            figures.append(format_duration(node["duration_s"], unit_sep=" "))
        if node.get("rows") is not None:
            figures.append(format_rows(node["rows"]))
    return _fit(" · ".join(figures) or state)


def _fit(text: str) -> str:
    return text if len(text) <= DETAIL_CHARS + 2 else text[: DETAIL_CHARS + 1] + "…"


def graph_svg(names: Sequence[str], edges: Sequence[tuple[str, str]],
              nodes: dict[str, dict[str, Any]]) -> str:
    """The graph: ``assetry plot``'s layout, each box a link, its state in ``data-state``."""
    boxes = _layout(tuple(names), tuple(edges))
    out = []
    last = 0
    for match, name in zip(_NODE.finditer(boxes), names):
        out.append(boxes[last:match.start()])
        out.append(_node(name, nodes.get(name), match.group(1), match.group(2), match.group(3)))
        last = match.end()
    out.append(boxes[last:])
    return "".join(out)


@functools.lru_cache(maxsize=8)
def _layout(names: tuple[str, ...], edges: tuple[tuple[str, str], ...]) -> str:
    """``render_svg`` of the graph with placeholder boxes (every box as wide as the widest
    second line), without its legend and style: the page has its own."""
    from assetry.plot import PlotNode, render_svg

    svg = render_svg([PlotNode(n, "fresh", kind=_PAD) for n in names], edges)
    svg = _LEGEND.sub("", _STYLE.sub("", svg, count=1), count=1)
    return svg.replace('role="img"', 'role="img" class="graph"', 1)


def _node(name: str, node: dict[str, Any] | None, rect: str, name_at: str, detail_at: str) -> str:
    state = node["state"] if node else "never materialized"
    reason = node["reason"] if node else ""
    detail = node_detail(node) if node else state
    return (
        f'<a class="node-link" href="{esc(asset_href(name))}">'
        f'<g class="node" data-name="{esc(name)}" data-state="{esc(state)}">'
        f"<title>{esc(name)}: {esc(state)} ({esc(reason)})</title>"
        f'<rect class="box" {rect} rx="6"/>'
        f'<text class="name" {name_at}>{esc(name)}</text>'
        f'<text class="detail" {detail_at}>{esc(detail)}</text></g></a>'
    )


# -- an asset's history ----------------------------------------------------------------------


def history_svg(points: Sequence[dict[str, Any]], width: int = 640, height: int = 150) -> str:
    """Duration (bars) and rows (a line) of an asset's materializing runs, oldest first.

    Examples:
        >>> svg = history_svg([{"started_at": dt.datetime(2024, 1, 1), "duration_s": 1.0,
        ...                     "rows": 10, "run_id": "r1"}])
        >>> svg.count('class="bar"'), 'class="rows"' in svg
        (1, True)
    """
    if not points:
        return ""
    left, right, top, bottom = 56, 56, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = min(plot_w / len(points), 48.0)  # a few runs: narrow bars from the left, not slabs
    max_d = max((p["duration_s"] or 0.0) for p in points) or 1.0
    max_r = max((p["rows"] or 0) for p in points) or 1
    out = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" role="img"><title>duration and rows per run</title>'),
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>',
        (f'<text class="label" x="{left - 6}" y="{top + 10}" text-anchor="end">'
         f"{esc(format_duration(max_d, unit_sep=' '))}</text>"),
        f'<text class="label rows-label" x="{left + plot_w + 6}" y="{top + 10}">{max_r:,}</text>',
        f'<text class="label" x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    line = []
    for i, p in enumerate(points):
        d = p["duration_s"] or 0.0
        h = plot_h * d / max_d
        x = left + i * slot
        tip = (f"run {p['run_id']} · {_when(p['started_at'])} · "
               f"{format_duration(d, unit_sep=' ')} · {p['rows'] if p['rows'] is not None else '?'} rows")
        out.append(
            f'<rect class="bar" x="{x + slot * 0.15:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{max(slot * 0.7, 1):.1f}" height="{max(h, 0.5):.1f}"><title>{esc(tip)}</title></rect>'
        )
        if p["rows"] is not None:
            line.append(f"{x + slot / 2:.1f},{top + plot_h - plot_h * p['rows'] / max_r:.1f}")
    if line:
        out.append(f'<polyline class="rows" points="{" ".join(line)}"/>')
        for xy in line:
            cx, cy = xy.split(",")
            out.append(f'<circle class="rows-dot" cx="{cx}" cy="{cy}" r="2.5"/>')
    out.append(f'<text class="label" x="{left}" y="{height - 8}">{esc(_when(points[0]["started_at"]))}</text>')
    if len(points) > 1:
        out.append(f'<text class="label" x="{left + plot_w}" y="{height - 8}" text-anchor="end">'
                   f'{esc(_when(points[-1]["started_at"]))}</text>')
    out.append("</svg>")
    return "\n".join(out)


# -- a run's timeline ------------------------------------------------------------------------

#: At most this many rows (assets) in a timeline; the longest-running are kept.
GANTT_ROWS = 300


def gantt_svg(steps: Sequence[dict[str, Any]], started: dt.datetime | None,
              width: int = 960) -> tuple[str, int]:
    """A timeline of a run: one row per asset, one bar per step that took time.

    Returns the SVG and how many assets were left out (beyond :data:`GANTT_ROWS`).

    Examples:
        >>> t0 = dt.datetime(2024, 1, 1)
        >>> svg, left_out = gantt_svg([{"asset": "a", "partition": None, "status": "materialized",
        ...     "reason": "forced", "started_at": t0, "duration_s": 2.0}], t0)
        >>> svg.count('class="gantt-bar"'), left_out
        (1, 0)
    """
    timed = [s for s in steps if s.get("duration_s") is not None and s.get("started_at") is not None]
    if not timed:
        return "", 0
    t0 = min([s["started_at"] for s in timed] + ([started] if started else []))
    end = max((s["started_at"] - t0).total_seconds() + s["duration_s"] for s in timed) or 1.0
    rows: dict[str, list[dict[str, Any]]] = {}
    for s in sorted(timed, key=lambda s: s["started_at"]):
        rows.setdefault(s["asset"], []).append(s)
    names = list(rows)
    left_out = 0
    if len(names) > GANTT_ROWS:
        busy = sorted(names, key=lambda n: -sum(s["duration_s"] for s in rows[n]))[:GANTT_ROWS]
        keep = set(busy)
        left_out = len(names) - GANTT_ROWS
        names = [n for n in names if n in keep]
    label_w, row_h, top = 190, 20, 26
    plot_w = width - label_w - 16
    height = top + row_h * len(names) + 8
    out = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" role="img"><title>timeline: {len(names)} assets</title>')
    ]
    for i in range(5):
        x = label_w + plot_w * i / 4
        out.append(f'<line class="tick" x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 4}"/>'
                   f'<text class="label" x="{x:.1f}" y="{top - 10}" text-anchor="middle">'
                   f"{esc(format_duration(end * i / 4, unit_sep=' '))}</text>")
    for row, name in enumerate(names):
        y = top + row * row_h
        label = name if len(name) <= 26 else name[:25] + "…"
        out.append(f'<a href="{esc(asset_href(name))}"><text class="gantt-label" x="{label_w - 8}" '
                   f'y="{y + 14}" text-anchor="end">{esc(label)}</text></a>')
        for s in rows[name]:
            x = label_w + plot_w * (s["started_at"] - t0).total_seconds() / end
            w = max(plot_w * s["duration_s"] / end, 1.5)
            step = name if s.get("partition") is None else f"{name}[{s['partition']}]"
            tip = f"{step} · {s['status']} · {s.get('reason') or ''} · {format_duration(s['duration_s'], unit_sep=' ')}"
            out.append(
                f'<rect class="gantt-bar" data-status="{esc(s["status"])}" x="{x:.1f}" y="{y + 3}" '
                f'width="{w:.1f}" height="{row_h - 6}" rx="2"><title>{esc(tip)}</title></rect>'
            )
    out.append("</svg>")
    return "\n".join(out), left_out


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)
