"""Drawing the asset graph as an SVG picture or a standalone HTML page.

It owns the layout (layers by longest path from the sources, a few barycenter
sweeps against crossings, boxes sized to their labels, Bézier edges) and the
markup. It is pure Python: no Graphviz, no system binary. It knows nothing of
the catalog or the engine; the caller hands it :class:`PlotNode` values and
``(upstream, downstream)`` pairs.
"""

from __future__ import annotations

import collections
import html
import itertools
import os
import pathlib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

import attrs

from assetry.errors import AssetError
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
_PAD_X, _BOX_H, _MIN_W = 12, 44, 96
_COL_GAP, _ROW_GAP, _DUMMY_H, _MARGIN = 72, 18, 6, 20
_LEGEND_H = 34
_SWEEPS = 4


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


@attrs.frozen
class _Box:
    """A placed node, or a dummy point of a long edge: its centre and size."""

    x: float
    y: float
    w: float
    h: float


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


def _layers(names: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Layer of each node: the length of the longest path reaching it from a source."""
    downstream: dict[str, list[str]] = {n: [] for n in names}
    indegree = dict.fromkeys(names, 0)
    for up, down in edges:
        downstream[up].append(down)
        indegree[down] += 1
    layer = dict.fromkeys(names, 0)
    ready = [n for n in names if indegree[n] == 0]
    done = 0
    while ready:
        node = ready.pop()
        done += 1
        for down in downstream[node]:
            layer[down] = max(layer[down], layer[node] + 1)
            indegree[down] -= 1
            if indegree[down] == 0:
                ready.append(down)
    if done < len(names):
        stuck = sorted(n for n in names if indegree[n] > 0)
        raise AssetError(f"cannot plot a graph with a cycle through {', '.join(map(repr, stuck))}")
    return layer


def _split_long_edges(
    layer: dict[str, int], edges: list[tuple[str, str]]
) -> tuple[list[list[str]], list[tuple[str, str]], dict[tuple[str, str], list[str]]]:
    """Rows per layer, and edges between adjacent layers only (long ones via dummies)."""
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for name, idx in layer.items():
        rows[idx].append(name)
    short: list[tuple[str, str]] = []
    chains: dict[tuple[str, str], list[str]] = {}
    for up, down in edges:
        chain = [up]
        for idx in range(layer[up] + 1, layer[down]):
            dummy = f"\0{up}\0{down}\0{idx}"  # NUL never appears in a name shown to a person
            rows[idx].append(dummy)
            chain.append(dummy)
        chain.append(down)
        short.extend(itertools.pairwise(chain))
        chains[(up, down)] = chain
    return rows, short, chains


def _crossings(rows: list[list[str]], short: list[tuple[str, str]]) -> int:
    pos = {key: i for row in rows for i, key in enumerate(row)}
    total = 0
    by_layer: dict[int, list[tuple[int, int]]] = {}
    layer_of = {key: idx for idx, row in enumerate(rows) for key in row}
    for up, down in short:
        by_layer.setdefault(layer_of[up], []).append((pos[up], pos[down]))
    for pairs in by_layer.values():
        pairs.sort()
        ends = [d for _, d in pairs]
        for i, end in enumerate(ends):
            total += sum(1 for other in ends[:i] if other > end)
    return total


def _by_barycenter(
    row: list[str], ref_row: list[str], neighbours: dict[str, list[str]]
) -> list[str]:
    """``row`` sorted by the mean position of each key's neighbours in ``ref_row``."""
    ref = {key: i for i, key in enumerate(ref_row)}
    keyed = []
    for i, key in enumerate(row):
        around = [ref[k] for k in neighbours.get(key, ()) if k in ref]
        keyed.append((sum(around) / len(around) if around else float(i), i, key))
    return [key for _, _, key in sorted(keyed)]


def _order(rows: list[list[str]], short: list[tuple[str, str]]) -> list[list[str]]:
    """Reorder each layer by the barycenter of its neighbours; keep the best ordering seen."""
    ups: dict[str, list[str]] = {}
    downs: dict[str, list[str]] = {}
    for up, down in short:
        ups.setdefault(down, []).append(up)
        downs.setdefault(up, []).append(down)
    best, best_cost = [list(r) for r in rows], _crossings(rows, short)
    for sweep in range(_SWEEPS):
        forward = sweep % 2 == 0
        span = range(1, len(rows)) if forward else range(len(rows) - 2, -1, -1)
        neighbours = ups if forward else downs
        for idx in span:
            rows[idx] = _by_barycenter(rows[idx], rows[idx - 1 if forward else idx + 1], neighbours)
        cost = _crossings(rows, short)
        if cost < best_cost:
            best, best_cost = [list(r) for r in rows], cost
    return best


def _isotonic(values: list[float]) -> list[float]:
    """Closest non-decreasing sequence (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, count]
    for value in values:
        blocks.append([value, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            prev = blocks[-1]
            prev[0] = (prev[0] * prev[1] + mean * count) / (prev[1] + count)
            prev[1] += count
    return [mean for mean, count in blocks for _ in range(int(count))]


def _place_column(keys: list[str], heights: Mapping[str, float], want: dict[str, float]) -> None:
    """Move a column's centres towards ``want`` keeping its order and the row gap."""
    offsets, acc = [], 0.0
    for i, key in enumerate(keys):
        if i:
            acc += (heights[keys[i - 1]] + heights[key]) / 2 + _ROW_GAP
        offsets.append(acc)
    fitted = _isotonic([want[k] - off for k, off in zip(keys, offsets)])
    for key, base, off in zip(keys, fitted, offsets):
        want[key] = base + off


def _coordinates(
    rows: list[list[str]], short: list[tuple[str, str]], widths: dict[str, float]
) -> dict[str, _Box]:
    heights = {k: (_BOX_H if k in widths else _DUMMY_H) for row in rows for k in row}
    y: dict[str, float] = {}
    for row in rows:
        y.update({k: 0.0 for k in row})
        _place_column(row, heights, y)
    links: dict[str, list[str]] = {}
    for up, down in short:
        links.setdefault(up, []).append(down)
        links.setdefault(down, []).append(up)
    for sweep in range(_SWEEPS):
        order = rows if sweep % 2 == 0 else rows[::-1]
        for row in order:
            for key in row:
                if links.get(key):
                    y[key] = sum(y[n] for n in links[key]) / len(links[key])
            _place_column(row, heights, y)
    top = min((y[k] - heights[k] / 2 for row in rows for k in row), default=0.0)
    boxes: dict[str, _Box] = {}
    left = float(_MARGIN)
    for row in rows:
        col_w = max((widths.get(k, 0.0) for k in row), default=0.0)
        for key in row:
            w = widths.get(key, col_w)
            cy = y[key] - top + _MARGIN + _LEGEND_H
            boxes[key] = _Box(left + col_w / 2, cy, w, heights[key])
        left += col_w + _COL_GAP
    return boxes


def _ports(
    chains: dict[tuple[str, str], list[str]], boxes: dict[str, _Box]
) -> dict[tuple[tuple[str, str], int], float]:
    """Where each edge leaves its upstream and enters its downstream, spread along the side.

    Edges at a side are ordered by the height of their other end, so they do not cross there.
    """
    sides: dict[tuple[str, int], list[tuple[float, tuple[str, str]]]] = {}
    for edge, chain in chains.items():
        sides.setdefault((chain[0], 1), []).append((boxes[chain[1]].y, edge))
        sides.setdefault((chain[-1], -1), []).append((boxes[chain[-2]].y, edge))
    ports: dict[tuple[tuple[str, str], int], float] = {}
    for (key, side), ends in sides.items():
        ends.sort()
        step = min(8.0, _BOX_H * 0.6 / max(1, len(ends) - 1))
        for i, (_, edge) in enumerate(ends):
            ports[(edge, side)] = boxes[key].y + (i - (len(ends) - 1) / 2) * step
    return ports


def _edge_path(chain: list[str], boxes: dict[str, _Box], start_y: float, end_y: float) -> str:
    """A path through the chain: a curve between columns, a straight run across a dummy's."""
    first, last = boxes[chain[0]], boxes[chain[-1]]
    x, y = first.x + first.w / 2, start_y
    parts = [f"M{x:.1f},{y:.1f}"]
    for key in chain[1:]:
        box = boxes[key]
        nx, ny = box.x - box.w / 2, box.y
        if box is last:
            nx, ny = nx - 1, end_y
        mid = (x + nx) / 2
        parts.append(f"C{mid:.1f},{y:.1f} {mid:.1f},{ny:.1f} {nx:.1f},{ny:.1f}")
        x, y = box.x + box.w / 2, ny
        if box is not last:
            parts.append(f"L{x:.1f},{y:.1f}")
    return " ".join(parts)


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
    out, x = ['<g class="legend">'], float(_MARGIN)
    for state in states:
        fill, stroke = STATES[state]
        dash = ' stroke-dasharray="4 3"' if state == "never run" else ""
        out.append(
            f'<rect x="{x:.1f}" y="{_MARGIN - 8}" width="14" height="14" rx="3" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>'
            f'<text x="{x + 20:.1f}" y="{_MARGIN + 3}">{state}</text>'
        )
        x += 20 + _text_width(state, _DETAIL_PX) + 18
    out.append("</g>")
    return out


def _node_markup(node: PlotNode, box: _Box) -> str:
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
    layer = _layers(list(by_name), unique)
    rows, short, chains = _split_long_edges(layer, unique)
    rows = _order(rows, short)
    boxes = _coordinates(rows, short, {n: _box_width(node) for n, node in by_name.items()})
    width = max((b.x + b.w / 2 for b in boxes.values()), default=0.0) + _MARGIN
    height = max((b.y + b.h / 2 for b in boxes.values()), default=0.0) + _MARGIN
    states = [s for s in STATES if any(n.state == s for n in nodes)]
    width = max(width, _MARGIN * 2 + sum(38 + _text_width(s, _DETAIL_PX) for s in states))
    height = max(height, _MARGIN + _LEGEND_H)
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
    ports = _ports(chains, boxes)
    for (up, down), chain in chains.items():
        label = html.escape(f"{up} → {down}")
        d = _edge_path(chain, boxes, ports[((up, down), 1)], ports[((up, down), -1)])
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
