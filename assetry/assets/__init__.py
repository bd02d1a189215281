"""Assets: the decorator, the graph, fingerprints' use, the planner and the runner."""

from __future__ import annotations

from assetry.assets.decorator import Asset, AssetSpec, asset
from assetry.assets.graph import AssetGraph
from assetry.assets.result import AssetContext, MaterializeResult

__all__ = ["Asset", "AssetContext", "AssetGraph", "AssetSpec", "MaterializeResult", "asset"]
