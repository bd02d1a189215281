"""The graph picture: layout, markup, colours, and what a browser makes of it."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from assetry.errors import AssetError
from assetry.plot import STATES, PlotNode, render_html, render_svg, write_plot

SVG = "{http://www.w3.org/2000/svg}"

NODES = [
    PlotNode("flights", "fresh", duration_s=0.5, rows=336_776),
    PlotNode("weather", "materialized", duration_s=0.12, rows=26_115),
    PlotNode("planes", "stale"),
    PlotNode("airports", "never run"),
    PlotNode("delays", "failed", duration_s=0.03),
    PlotNode("carrier_stats", "blocked", kind="sql"),
    PlotNode("daily<flights>&", "skipped", duration_s=1.2, rows=365),
    PlotNode("report", "never run"),
]
EDGES = [
    ("flights", "delays"),
    ("weather", "delays"),
    ("planes", "carrier_stats"),
    ("delays", "carrier_stats"),
    ("flights", "daily<flights>&"),
    ("daily<flights>&", "report"),
    ("carrier_stats", "report"),
    ("airports", "report"),
    ("flights", "report"),
]


def _node_groups(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.get("data-name"): g for g in root.iter(f"{SVG}g") if g.get("class") == "node"}


def _rect(group: ET.Element) -> tuple[float, float, float, float]:
    rect = group.find(f"{SVG}rect")
    assert rect is not None
    return tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def test_every_node_name_is_text_with_its_hover_title() -> None:
    """Each node shows its (escaped) name as text and has a <title> for hover."""
    groups = _node_groups(render_svg(NODES, EDGES))
    assert set(groups) == {n.name for n in NODES}
    for name, group in groups.items():
        texts = [t.text for t in group.iter(f"{SVG}text")]
        assert texts[0] == name
        title = group.find(f"{SVG}title")
        assert title is not None and title.text.startswith(name)


def test_second_line_shows_duration_and_rows() -> None:
    """The second line reads like '0.50 s · 336,776 rows', else the kind or the state."""
    groups = _node_groups(render_svg(NODES, EDGES))
    detail = {name: [t.text for t in g.iter(f"{SVG}text")][1] for name, g in groups.items()}
    assert detail["flights"] == "0.50 s · 336,776 rows"
    assert detail["delays"] == "0.03 s"
    assert detail["planes"] == "stale"
    assert detail["carrier_stats"] == "sql · blocked"


def test_one_path_with_an_arrowhead_per_edge() -> None:
    """Every edge is one Bézier path ending in the arrow marker; duplicates are drawn once."""
    root = ET.fromstring(render_svg(NODES, EDGES + [("flights", "delays")]))
    paths = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert len(paths) == len(EDGES)
    assert all(p.get("marker-end") == "url(#arrow)" and " C" in p.get("d") for p in paths)


def test_nodes_are_coloured_by_state_with_a_legend() -> None:
    """A node's box has its state's colours, and the legend lists each state present."""
    svg = render_svg(NODES, EDGES)
    for node in NODES:
        rect = _node_groups(svg)[node.name].find(f"{SVG}rect")
        assert (rect.get("fill"), rect.get("stroke")) == STATES[node.state]
    legend = next(g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "legend")
    assert [t.text for t in legend.iter(f"{SVG}text")] == [
        s for s in STATES if any(n.state == s for n in NODES)
    ]


def test_layout_flows_left_to_right_without_overlaps() -> None:
    """Every edge points rightwards and no two boxes overlap."""
    boxes = {name: _rect(g) for name, g in _node_groups(render_svg(NODES, EDGES)).items()}
    for up, down in EDGES:
        assert boxes[up][0] + boxes[up][2] < boxes[down][0]
    items = list(boxes.values())
    for i, (x, y, w, h) in enumerate(items):
        for x2, y2, w2, h2 in items[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y


def test_boxes_fit_their_labels() -> None:
    """A long name gets a wider box than a short one."""
    groups = _node_groups(render_svg([PlotNode("a", "fresh"), PlotNode("b" * 60, "fresh")], []))
    assert _rect(groups["b" * 60])[2] > 60 * 7 > _rect(groups["a"])[2]


def test_barycenter_ordering_removes_avoidable_crossings() -> None:
    """Two parallel chains given in crossed order are drawn without crossing."""
    nodes = [PlotNode(n, "fresh") for n in ("a", "b", "x", "y")]
    groups = _node_groups(render_svg(nodes, [("a", "y"), ("b", "x")]))
    ys = {name: _rect(g)[1] for name, g in groups.items()}
    assert (ys["a"] < ys["b"]) == (ys["y"] < ys["x"])


def test_two_hundred_nodes_lay_out_in_under_a_second() -> None:
    """A random 200-node graph with long edges renders in less than a second."""
    rng = random.Random(7)
    names = [f"asset_{i}" for i in range(200)]
    edges = {(names[rng.randrange(i)], names[i]) for i in range(1, 200) for _ in range(2)}
    nodes = [
        PlotNode(n, rng.choice(list(STATES)), rng.random(), rng.randrange(10**6)) for n in names
    ]
    start = time.perf_counter()
    svg = render_svg(nodes, sorted(edges))
    assert time.perf_counter() - start < 1.0
    assert len(_node_groups(svg)) == 200


def test_html_is_a_standalone_page_embedding_the_svg() -> None:
    """The HTML page holds the same SVG, with a doctype and a charset."""
    page = render_html(NODES, EDGES)
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert render_svg(NODES, EDGES) in page


def test_write_plot_picks_the_format_by_extension(tmp_path) -> None:
    """.svg writes SVG, .html writes HTML, into a directory made on demand."""
    svg = write_plot(tmp_path / "out" / "graph.svg", NODES, EDGES)
    html = write_plot(tmp_path / "graph.HTML", NODES, EDGES)
    assert svg.read_text(encoding="utf-8").startswith("<svg")
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_write_plot_rejects_other_extensions(tmp_path) -> None:
    """An unknown extension is an AssetError that suggests a .svg name."""
    with pytest.raises(AssetError, match=r"must end in \.svg or \.html.*graph\.svg"):
        write_plot(tmp_path / "graph.png", NODES, EDGES)
    assert not (tmp_path / "graph.png").exists()


@pytest.mark.parametrize(
    ("nodes", "edges", "message"),
    [
        ([PlotNode("a", "fresh")], [("a", "b")], r"names 'b', which is not a node"),
        ([PlotNode("a", "fresh"), PlotNode("a", "stale")], [], r"'a' is given twice"),
        ([PlotNode("a", "fresh"), PlotNode("b", "fresh")], [("a", "b"), ("b", "a")], "cycle"),
    ],
    ids=["unknown-edge-end", "duplicate-name", "cycle"],
)
def test_invalid_graphs_are_rejected(nodes, edges, message) -> None:
    """Unknown edge ends, duplicate names and cycles are AssetErrors."""
    with pytest.raises(AssetError, match=message):
        render_svg(nodes, edges)


def test_unknown_state_is_rejected() -> None:
    """A node state outside the known set is an AssetError listing the valid ones."""
    with pytest.raises(AssetError, match=r"state 'ok' is unknown; use one of 'fresh'"):
        PlotNode("a", "ok")


def test_empty_graph_is_a_valid_picture() -> None:
    """No nodes still gives a well-formed SVG."""
    root = ET.fromstring(render_svg([], []))
    assert float(root.get("width")) > 0


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),
    reason="chromium is not installed (.ci/run installs it; in CI this test never skips)",
)
def test_chromium_renders_the_svg_to_a_png(tmp_path) -> None:
    """Headless Chromium renders the written SVG to a non-trivial PNG."""
    svg = write_plot(tmp_path / "graph.svg", NODES, EDGES)
    png = tmp_path / "graph.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={png}",
            "--window-size=900,400",
            svg.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000
