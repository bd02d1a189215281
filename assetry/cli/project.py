"""A project as the command line sees it: a loaded TARGET under the spec's defaults.

It owns merging an ``assetry.yaml`` spec's defaults with the command line's
options (the command line wins) and parsing ``--config`` and ``--partitions``.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

import attrs

from assetry.catalog import Catalog
from assetry.cli.targets import load_target
from assetry.errors import AssetError
from assetry.records import DEFAULT_CATALOG

__all__ = ["DEFAULT_ROOT", "Project", "load_project", "parse_config", "parse_partitions"]

#: Where file products go when neither the command line nor a spec says.
DEFAULT_ROOT = "data"


@attrs.frozen
class Project:
    """A loaded TARGET, the spec's defaults overlaid by the command line's options.

    ``root`` is None when neither gave one; ``catalog`` is always set (given,
    else ``<root>/catalog.duckdb``); ``config`` is ``{asset: {param: value}}``.
    """

    modules: tuple[Any, ...]
    root: pathlib.Path | None
    catalog: pathlib.Path
    config: dict[str, dict[str, Any]]
    executor: str | None = None
    max_workers: int | None = None

    def catalog_object(self) -> Any:
        """A :class:`~assetry.catalog.Catalog` for this project's catalog file."""
        return Catalog(self.catalog, root=self.root)


def load_project(
    target: str, *, root: str | None = None, catalog: str | None = None,
    config: Sequence[str] = (), executor: str | None = None, workers: int | None = None,
) -> Project:
    """Load ``target`` and merge the spec's defaults under the command line's options.

    Raises:
        AssetError: The target cannot be loaded or a ``--config`` entry is malformed.

    Examples:
        >>> load_project("json").catalog  # doctest: +SKIP
        PosixPath('data/catalog.duckdb')
    """
    loaded = load_target(target)
    spec = loaded.spec
    root_path = pathlib.Path(root) if root else (spec.root if spec else None)
    catalog_path = (
        pathlib.Path(catalog) if catalog
        else spec.catalog if spec and spec.catalog
        else (root_path or pathlib.Path(DEFAULT_ROOT)) / DEFAULT_CATALOG
    )
    merged = {k: dict(v) for k, v in (spec.config.items() if spec else ())}
    for asset_name, values in parse_config(config).items():
        merged.setdefault(asset_name, {}).update(values)
    return Project(
        modules=loaded.modules, root=root_path, catalog=catalog_path, config=merged,
        executor=executor or (spec.executor if spec else None),
        max_workers=workers or (spec.max_workers if spec else None),
    )


def parse_config(entries: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Turn ``asset.param=value`` entries into a config mapping; values are read as YAML.

    Examples:
        >>> parse_config(["delays.min_flights=10", "report.title=Delays 2013"])
        {'delays': {'min_flights': 10}, 'report': {'title': 'Delays 2013'}}
    """
    import yaml

    config: dict[str, dict[str, Any]] = {}
    for entry in entries:
        key, sep, text = entry.partition("=")
        asset_name, dot, param = key.strip().partition(".")
        if not sep or not dot or not asset_name or not param:
            raise AssetError(
                f"--config {entry!r} is not of the form asset.param=value; "
                "write for example --config delays.min_flights=10"
            )
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise AssetError(f"--config {entry!r}: the value is not valid YAML ({exc})") from exc
        config.setdefault(asset_name, {})[param] = value
    return config


def parse_partitions(text: str | None) -> Any:
    """``--partitions``: a ``first..last`` range as is, else comma-separated keys.

    Examples:
        >>> parse_partitions("2013-01-01..2013-01-31"), parse_partitions("a, b")
        ('2013-01-01..2013-01-31', ['a', 'b'])
    """
    if text is None:
        return None
    if ".." in text:
        return text.strip()
    return [key.strip() for key in text.split(",") if key.strip()]
