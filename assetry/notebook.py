"""The asset graph as a person sees it: each asset's state and last figures, drawn inline.

It owns deciding how each asset is drawn: ``fresh`` or ``stale`` as
:meth:`Catalog.status <assetry.catalog.Catalog.status>` says, ``failed`` or
``blocked`` when its last attempt was, ``never run``, and the duration and rows
of its last materialization from the catalog. ``assetry plot`` draws the same
nodes to a file; :func:`draw` shows them in a notebook. The drawing itself is
:mod:`assetry.plot`'s; nothing here runs an asset or writes the catalog.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any

import attrs

__all__ = ["Picture", "draw", "graph_nodes"]

_LAST_ATTEMPT = """
SELECT asset, arg_max(status, started_at) FROM materializations
WHERE status IN ('materialized', 'failed', 'blocked') GROUP BY asset
"""
# Duration: the asset's last materializing run (summed over its partitions); rows: as stored now.
_LAST_FIGURES = """
WITH done AS (SELECT * FROM materializations WHERE status = 'materialized'),
latest AS (SELECT asset, arg_max(run_id, started_at) AS run_id FROM done GROUP BY asset),
took AS (SELECT asset, sum(duration_s) AS seconds FROM done JOIN latest USING (asset, run_id)
         GROUP BY asset),
held AS (SELECT asset, sum(rows) AS n FROM assets GROUP BY asset)
SELECT coalesce(took.asset, held.asset), took.seconds, held.n
FROM took FULL JOIN held ON took.asset = held.asset
"""


@attrs.frozen
class Picture:
    """An SVG picture that Jupyter shows inline.

    Examples:
        >>> Picture("<svg><title>asset graph: 1 assets, 0 edges</title></svg>")
        <Picture asset graph: 1 assets, 0 edges>
    """

    svg: str

    def __repr__(self) -> str:
        title = re.search(r"<title>(.*?)</title>", self.svg)
        return f"<Picture {title.group(1) if title else 'svg'}>"

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Write the SVG to ``path``; returns the path."""
        target = pathlib.Path(path)
        target.write_text(self.svg, encoding="utf-8")
        return target


def graph_nodes(
    assets: Any, catalog: Any, *, config: dict[str, Any] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> tuple[list[Any], list[tuple[str, str]]]:
    """The :class:`~assetry.plot.PlotNode` of every asset and the ``(upstream, asset)`` edges.

    Args:
        assets: An asset, a module holding assets, or a list of these.
        catalog: A :class:`~assetry.catalog.Catalog` (its file need not exist yet).
        config: Config overrides, as for ``materialize``; they decide what is stale.
        root: Where the products are; by default the catalog's last run's root.

    Examples:
        >>> nodes, edges = graph_nodes(pipeline, Catalog("data/catalog.duckdb"))  # doctest: +SKIP
    """
    from assetry.assets.graph import AssetGraph
    from assetry.plot import PlotNode

    graph = AssetGraph.build(assets)
    fresh: dict[str, bool] = {}
    reason: dict[str, str] = {}
    for row in catalog.status(assets, config=config, root=root).iter_rows(named=True):
        fresh[row["asset"]] = fresh.get(row["asset"], True) and bool(row["fresh"])
        reason.setdefault(row["asset"], row["reason"])
    last, figures = _history(catalog)
    nodes = []
    for name in graph.order:
        if fresh.get(name):
            state = "fresh"
        elif last.get(name) in ("failed", "blocked"):
            state = last[name]
        elif name not in last and reason.get(name) == "never materialized":
            state = "never run"
        else:
            state = "stale"
        duration, rows = figures.get(name, (None, None))
        kind = graph.specs[name].kind
        nodes.append(PlotNode(name, state, duration_s=duration, rows=rows,
                              kind="asset" if kind == "python" else kind))
    edges = [(up, name) for name in graph.order for up in graph.upstream[name]]
    return nodes, edges


def _history(catalog: Any) -> tuple[dict[str, str], dict[str, tuple[float | None, int | None]]]:
    """Per asset: the status of its last attempt, and its last duration and stored rows."""
    if not catalog.path.exists():
        return {}, {}
    last = dict(catalog.sql(_LAST_ATTEMPT).iter_rows())
    figures = {
        name: (seconds, int(rows) if rows is not None else None)
        for name, seconds, rows in catalog.sql(_LAST_FIGURES).iter_rows()
    }
    return last, figures


def draw(
    assets: Any, catalog: str | os.PathLike[str] | Any = "data/catalog.duckdb", *,
    config: dict[str, Any] | None = None, root: str | os.PathLike[str] | None = None,
) -> Picture:
    """Draw the asset graph, coloured by state; a notebook shows the result inline.

    Args:
        assets: An asset, a module holding assets, or a list of these.
        catalog: The catalog file, or a :class:`~assetry.catalog.Catalog`.
        config: Config overrides; they decide what is stale.
        root: Where the products are; by default the catalog's last run's root.

    Examples:
        >>> from assetry.notebook import draw
        >>> draw(pipeline, catalog="data/catalog.duckdb")  # doctest: +SKIP
    """
    from assetry.catalog import Catalog
    from assetry.plot import render_svg

    cat = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
    nodes, edges = graph_nodes(assets, cat, config=config, root=root)
    return Picture(render_svg(nodes, edges))
