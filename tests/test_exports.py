"""The public names are pinned: assetry.__all__ is the contract."""

from __future__ import annotations

import assetry


def test_public_names_are_exported():
    """Every name of the contract is importable from assetry."""
    for name in [
        "asset", "materialize", "Catalog", "load", "AssetError", "AssetGraphError",
        "AssetTypeError", "SchemaError", "MaterializeError", "io_managers",
    ]:
        assert name in assetry.__all__, name
        assert hasattr(assetry, name), name


def test_all_is_sorted_and_complete():
    """__all__ is sorted and every entry exists."""
    assert list(assetry.__all__) == sorted(assetry.__all__)
    assert all(hasattr(assetry, n) for n in assetry.__all__)


def test_io_managers_are_exported():
    """The IO managers of the contract live in assetry.io_managers."""
    from assetry import io_managers

    for name in ["Parquet", "CSV", "JSON", "Pickle", "Directory"]:
        assert hasattr(io_managers, name)
