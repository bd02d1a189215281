"""What a user declares: ``@asset``, ``sql_asset``, ``sql_dump``, ``source`` and the graph they form.

Declarations only: nothing here reads a product, opens the catalog or runs an
asset (that is :mod:`assetry.engine`).
"""

from __future__ import annotations

from assetry.assets.decorator import Asset, AssetSpec, asset
from assetry.assets.graph import AssetGraph
from assetry.assets.source import SourceAsset, is_source, source
from assetry.assets.sql import sql_asset, sql_dump

__all__ = [
    "Asset", "AssetGraph", "AssetSpec", "SourceAsset", "asset", "is_source", "source",
    "sql_asset", "sql_dump",
]
