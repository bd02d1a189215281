"""Drawing the asset graph as an SVG picture or a standalone HTML page.

It owns the markup: boxes sized to their labels, coloured by state, a legend,
Bézier edges. Where boxes go is :mod:`assetry.plot._layout` (layers by longest
path from the sources, a few barycenter sweeps against crossings). It is pure
Python: no Graphviz, no system binary. It knows nothing of
the catalog or the engine; the caller hands it :class:`PlotNode` values and
``(upstream, downstream)`` pairs.
"""

from __future__ import annotations

import collections
import html
import os
import pathlib
import unicodedata
from collections.abc import Iterable, Sequence

import attrs

from assetry.errors import AssetError
from assetry.plot._layout import LEGEND_H, MARGIN, Box, edge_path, edge_ports, place
from assetry.reporting import format_duration, format_rows

__all__ = ["STATES", "PlotNode", "render_html", "render_svg", "write_plot"]

#: Every state a node can be drawn in, with its (fill, stroke) colours, legend order.
STATES: dict[str, tuple[str, str]] = {
    "fresh": ("#dcfce7", "#16a34a"),
    "materialized": ("#dbeafe", "#2563eb"),
    "skipped": ("#f1f5f9", "#64748b"),
    "stale": ("#fef3c7", "#d97706"),
    "failed": ("#fee2e2", "#dc2626"),
    "blocked": ("#ede9fe", "#7c3aed"),
    "never run": ("#ffffff", "#9ca3af"),
}

_NAME_PX, _DETAIL_PX = 13, 11  # font sizes; both fonts are monospace, 0.6 em per character
_PAD_X, _MIN_W = 12, 96


def _check_state(_instance: object, _attribute: object, value: str) -> None:
    if value not in STATES:
        raise AssetError(
            f"plot node state {value!r} is unknown; use one of {', '.join(map(repr, STATES))}"
        )


@attrs.frozen
class PlotNode:
    """One asset as drawn: its name, state and last run figures.

    Examples:
        >>> PlotNode("delays", "fresh", duration_s=0.12, rows=336).state
        'fresh'
    """

    name: str
    state: str = attrs.field(validator=_check_state)
    duration_s: float | None = None
    rows: int | None = None
    kind: str = "asset"

    @property
    def detail(self) -> str:
        """The second line of the box: kind, then last duration and rows, or else the state."""
        figures = []
        if self.duration_s is not None:
            figures.append(format_duration(self.duration_s, unit_sep=" "))
        if self.rows is not None:
            figures.append(format_rows(self.rows))
        kind = [] if self.kind == "asset" else [self.kind]
        return " · ".join(kind + (figures or [self.state]))


def _text_width(text: str, px: int) -> float:
    wide = sum(1 for ch in text if unicodedata.east_asian_width(ch) in "WF")
    return (len(text) + wide) * px * 0.6


def _box_width(node: PlotNode) -> float:
    label = max(_text_width(node.name, _NAME_PX), _text_width(node.detail, _DETAIL_PX))
    return max(_MIN_W, label + 2 * _PAD_X)


def _validate(nodes: Sequence[PlotNode], edges: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    counts = collections.Counter(n.name for n in nodes)
    problems = [f"asset {name!r} is given twice" for name, n in counts.items() if n > 1]
    known = set(counts)
    unique = list(dict.fromkeys((str(u), str(d)) for u, d in edges))
    for up, down in unique:
        for end in (up, down):
            if end not in known:
                problems.append(f"edge {up!r} -> {down!r} names {end!r}, which is not a node")
    if problems:
        raise AssetError("cannot plot the graph:\n" + "\n".join(problems))
    return unique


_STYLE = """
  .name { font: 600 13px ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; fill: #111827; }
  .detail, .legend text { font: 11px ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; fill: #4b5563; }
  .edge { fill: none; stroke: #94a3b8; stroke-width: 1.5; }
  .node:hover rect { stroke-width: 3; }
"""


_ARROW = (
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
    'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#94a3b8"/></marker></defs>'
)


def _legend(states: list[str]) -> list[str]:
    out, x = ['<g class="legend">'], float(MARGIN)
    for state in states:
        fill, stroke = STATES[state]
        dash = ' stroke-dasharray="4 3"' if state == "never run" else ""
        out.append(
            f'<rect x="{x:.1f}" y="{MARGIN - 8}" width="14" height="14" rx="3" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>'
            f'<text x="{x + 20:.1f}" y="{MARGIN + 3}">{state}</text>'
        )
        x += 20 + _text_width(state, _DETAIL_PX) + 18
    out.append("</g>")
    return out


def _node_markup(node: PlotNode, box: Box) -> str:
    fill, stroke = STATES[node.state]
    dash = ' stroke-dasharray="5 3"' if node.state == "never run" else ""
    name, detail = html.escape(node.name), html.escape(node.detail)
    hover = html.escape(f"{node.name}\n{node.state} · {node.kind}\nlast run: {node.detail}")
    left, top = box.x - box.w / 2, box.y - box.h / 2
    return (
        f'<g class="node" data-name="{name}" data-state="{node.state}">'
        f"<title>{hover}</title>"
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>'
        f'<text class="name" x="{left + _PAD_X:.1f}" y="{top + 19:.1f}">{name}</text>'
        f'<text class="detail" x="{left + _PAD_X:.1f}" y="{top + 35:.1f}">{detail}</text></g>'
    )


def render_svg(nodes: Sequence[PlotNode], edges: Iterable[tuple[str, str]]) -> str:
    """Draw the graph left to right as one standalone SVG document.

    Args:
        nodes: The assets to draw, each with its state and last run figures.
        edges: ``(upstream, downstream)`` name pairs; both ends must be nodes.

    Returns:
        The SVG markup (``<svg xmlns=...>...</svg>``).

    Raises:
        AssetError: A name is given twice, an edge names an unknown node, or
            the edges form a cycle.

    Examples:
        >>> svg = render_svg([PlotNode("a", "fresh"), PlotNode("b", "stale")], [("a", "b")])
        >>> svg.startswith("<svg") and ">b</text>" in svg
        True
    """
    nodes = list(nodes)
    unique = _validate(nodes, edges)
    by_name = {n.name: n for n in nodes}
    boxes, chains = place({n: _box_width(node) for n, node in by_name.items()}, unique)
    width = max((b.x + b.w / 2 for b in boxes.values()), default=0.0) + MARGIN
    height = max((b.y + b.h / 2 for b in boxes.values()), default=0.0) + MARGIN
    states = [s for s in STATES if any(n.state == s for n in nodes)]
    width = max(width, MARGIN * 2 + sum(38 + _text_width(s, _DETAIL_PX) for s in states))
    height = max(height, MARGIN + LEGEND_H)
    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img">'
        ),
        f"<title>asset graph: {len(nodes)} assets, {len(unique)} edges</title>",
        f"<style>{_STYLE}</style>",
        _ARROW,
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
        *_legend(states),
    ]
    ports = edge_ports(chains, boxes)
    for (up, down), chain in chains.items():
        label = html.escape(f"{up} → {down}")
        d = edge_path(chain, boxes, ports[((up, down), 1)], ports[((up, down), -1)])
        out.append(
            f'<path class="edge" d="{d}" marker-end="url(#arrow)"><title>{label}</title></path>'
        )
    out += [_node_markup(node, boxes[name]) for name, node in by_name.items()]
    out.append("</svg>")
    return "\n".join(out)


def render_html(nodes: Sequence[PlotNode], edges: Iterable[tuple[str, str]]) -> str:
    """Draw the graph as a standalone HTML page that embeds the SVG.

    Examples:
        >>> page = render_html([PlotNode("a", "fresh")], [])
        >>> page.startswith("<!DOCTYPE html>") and "<svg" in page
        True
    """
    svg = render_svg(nodes, edges)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>assetry graph</title>\n<style>body { margin: 0; padding: 16px; "
        "background: #f8fafc; } svg { background: #fff; border: 1px solid #e2e8f0; "
        "border-radius: 8px; max-width: none; }</style>\n</head>\n<body>\n"
        f"{svg}\n</body>\n</html>\n"
    )


def write_plot(
    path: str | os.PathLike[str], nodes: Sequence[PlotNode], edges: Iterable[tuple[str, str]]
) -> pathlib.Path:
    """Write the graph to ``path``, as SVG or HTML by the file's extension.

    Returns:
        The path written.

    Raises:
        AssetError: The extension is neither ``.svg`` nor ``.html`` (or ``.htm``).

    Examples:
        >>> import tempfile
        >>> out = write_plot(tempfile.mkdtemp() + "/g.svg", [PlotNode("a", "fresh")], [])
        >>> out.suffix
        '.svg'
    """
    target = pathlib.Path(path)
    suffix = target.suffix.lower()
    if suffix == ".svg":
        text = render_svg(nodes, edges)
    elif suffix in (".html", ".htm"):
        text = render_html(nodes, edges)
    else:
        raise AssetError(
            f"cannot plot to {str(target)!r}: the file name must end in .svg or .html, "
            f"for example {str(target.with_suffix('.svg'))!r}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
