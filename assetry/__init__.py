"""assetry: typed assets on dataframes, incremental and exact about what is stale.

Examples:
    >>> import polars as pl
    >>> from assetry import asset, materialize
    >>> @asset
    ... def numbers() -> pl.DataFrame:
    ...     return pl.DataFrame({"n": [1, 2, 3]})
    >>> materialize([numbers], root="data").materialized  # doctest: +SKIP
    ['numbers']
"""

import os as _os
import typing as _typing

from assetry import checks, io_managers
from assetry.assets import Asset, asset, source, sql_asset, sql_dump
from assetry.catalog import Catalog
from assetry.engine import AssetContext, MaterializeResult, materialize
from assetry.errors import (
    AssetError,
    AssetGraphError,
    AssetTypeError,
    CatalogError,
    CheckError,
    ClientError,
    MaterializeError,
    SchemaError,
    StorageError,
)
from assetry.partitions import DailyPartitions, StaticPartitions
from assetry.records import DEFAULT_CATALOG as _DEFAULT_CATALOG

__version__ = "0.1.0"


def load(name: str, catalog: str | _os.PathLike[str] = f"data/{_DEFAULT_CATALOG}", *,
         partition: str | None = None, as_type: _typing.Any = None) -> _typing.Any:
    """The latest stored value of an asset, one call away (handy in notebooks).

    Examples:
        >>> import polars as pl
        >>> delays = load("delays", catalog="data/catalog.duckdb", as_type=pl.LazyFrame)  # doctest: +SKIP
    """
    return Catalog(catalog).load(name, partition, as_type=as_type)


__all__ = [
    "Asset",
    "AssetContext",
    "AssetError",
    "AssetGraphError",
    "AssetTypeError",
    "Catalog",
    "CatalogError",
    "CheckError",
    "ClientError",
    "DailyPartitions",
    "MaterializeError",
    "MaterializeResult",
    "SchemaError",
    "StaticPartitions",
    "StorageError",
    "asset",
    "checks",
    "io_managers",
    "load",
    "materialize",
    "source",
    "sql_asset",
    "sql_dump",
]
