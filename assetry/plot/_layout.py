"""Where the boxes of a graph go: layers, an order against crossings, coordinates, edge ports.

Layers are the longest path from the sources; a long edge gets a dummy point
in every layer it crosses; a few barycenter sweeps order each layer against
crossings, then an isotonic fit places each column near its neighbours. It
knows names, widths and edges only, never what a box shows.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import attrs

from assetry.errors import AssetError

__all__ = ["LEGEND_H", "MARGIN", "Box", "edge_path", "edge_ports", "place"]

#: Box height, gaps between columns and rows, a dummy point's height, the page margin.
BOX_H = 44
COL_GAP, ROW_GAP, DUMMY_H, MARGIN = 72, 18, 6, 20
LEGEND_H = 34
SWEEPS = 4


@attrs.frozen
class Box:
    """A placed node, or a dummy point of a long edge: its centre and size."""

    x: float
    y: float
    w: float
    h: float


def place(
    widths: dict[str, float], edges: list[tuple[str, str]]
) -> tuple[dict[str, Box], dict[tuple[str, str], list[str]]]:
    """Boxes for every name (and dummy point), and each edge's chain of points.

    Examples:
        >>> boxes, chains = place({"a": 100.0, "b": 100.0}, [("a", "b")])
        >>> boxes["a"].x < boxes["b"].x, chains[("a", "b")]
        (True, ['a', 'b'])
    """
    layer = _layers(list(widths), edges)
    rows, short, chains = _split_long_edges(layer, edges)
    rows = _order(rows, short)
    return _coordinates(rows, short, widths), chains


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
    for sweep in range(SWEEPS):
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
            acc += (heights[keys[i - 1]] + heights[key]) / 2 + ROW_GAP
        offsets.append(acc)
    fitted = _isotonic([want[k] - off for k, off in zip(keys, offsets)])
    for key, base, off in zip(keys, fitted, offsets):
        want[key] = base + off


def _coordinates(
    rows: list[list[str]], short: list[tuple[str, str]], widths: dict[str, float]
) -> dict[str, Box]:
    heights = {k: (BOX_H if k in widths else DUMMY_H) for row in rows for k in row}
    y: dict[str, float] = {}
    for row in rows:
        y.update({k: 0.0 for k in row})
        _place_column(row, heights, y)
    links: dict[str, list[str]] = {}
    for up, down in short:
        links.setdefault(up, []).append(down)
        links.setdefault(down, []).append(up)
    for sweep in range(SWEEPS):
        order = rows if sweep % 2 == 0 else rows[::-1]
        for row in order:
            for key in row:
                if links.get(key):
                    y[key] = sum(y[n] for n in links[key]) / len(links[key])
            _place_column(row, heights, y)
    top = min((y[k] - heights[k] / 2 for row in rows for k in row), default=0.0)
    boxes: dict[str, Box] = {}
    left = float(MARGIN)
    for row in rows:
        col_w = max((widths.get(k, 0.0) for k in row), default=0.0)
        for key in row:
            w = widths.get(key, col_w)
            cy = y[key] - top + MARGIN + LEGEND_H
            boxes[key] = Box(left + col_w / 2, cy, w, heights[key])
        left += col_w + COL_GAP
    return boxes


def edge_ports(
    chains: dict[tuple[str, str], list[str]], boxes: dict[str, Box]
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
        step = min(8.0, BOX_H * 0.6 / max(1, len(ends) - 1))
        for i, (_, edge) in enumerate(ends):
            ports[(edge, side)] = boxes[key].y + (i - (len(ends) - 1) / 2) * step
    return ports


def edge_path(chain: list[str], boxes: dict[str, Box], start_y: float, end_y: float) -> str:
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
