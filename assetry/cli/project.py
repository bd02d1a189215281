"""A project as the command line sees it: a loaded TARGET under the spec's defaults.

It owns the project rule for paths, merging an ``assetry.yaml`` spec's
defaults with the command line's options (the command line wins), resolving
the clients that assets name, and parsing ``--config`` and ``--partitions``.

The rule, in one sentence: the root, the catalog and every relative path of
the spec resolve from the project directory (the spec's directory, found
in the target's directory or a parent; else a file or folder target's
directory; else the current directory), while paths given as command-line
options resolve from the current directory, as any command's do. So
``assetry status weather/pipeline.py`` gives the same answer from any directory.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from assetry.assets.binding import bind_clients
from assetry.assets.graph import collect
from assetry.catalog import Catalog
from assetry.cli.anchor import find_spec, locate
from assetry.cli.spec import Spec
from assetry.cli.targets import load_target
from assetry.errors import AssetError
from assetry.records import DEFAULT_CATALOG

__all__ = [
    "DEFAULT_ROOT", "Project", "load_project", "parse_config", "parse_partitions",
    "project_catalog",
]

#: Where file products go, under the project directory, when neither the command line nor a spec says.
DEFAULT_ROOT = "data"


@attrs.frozen
class Project:
    """A loaded TARGET, the spec's defaults overlaid by the command line's options.

    ``root`` and ``catalog`` are absolute (a root given as a URL stays as
    given). ``root`` is None when only a catalog was given: reading commands
    then take the root its last run recorded, and a run :attr:`run_root`.
    ``config`` is ``{asset: {param: value}}``. ``assets`` is what a run takes:
    the modules, or their specs with the clients they name resolved from the
    spec's ``clients:``.
    """

    modules: tuple[Any, ...]
    root: pathlib.Path | str | None
    catalog: pathlib.Path
    config: dict[str, dict[str, Any]]
    executor: str | None = None
    max_workers: int | None = None
    versions: int | None = None
    #: The project directory (see the module docstring).
    directory: pathlib.Path = attrs.field(factory=pathlib.Path.cwd)
    #: The modules, or their specs with named clients resolved: what the engine is given.
    assets: Any = None
    #: The spec's clients by name, built when first looked up.
    clients: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def run_root(self) -> pathlib.Path | str:
        """Where a run puts file products: ``root``, else ``data/`` in the project directory."""
        return self.root if self.root is not None else self.directory / DEFAULT_ROOT

    def catalog_object(self) -> Any:
        """A :class:`~assetry.catalog.Catalog` for this project's catalog file."""
        return Catalog(self.catalog, root=self.root)


def load_project(
    target: str | None = None, *, root: str | None = None, catalog: str | None = None,
    config: Sequence[str] = (), executor: str | None = None, workers: int | None = None,
) -> Project:
    """Load ``target`` and merge the spec's defaults under the command line's options.

    ``target`` None is the spec found from the current directory upward. A
    spec found above a file, folder or module target gives its defaults too;
    its ``config:`` entries for assets the target does not hold are left out.

    Raises:
        AssetError: The target cannot be loaded, an asset names an unknown
            client, or a ``--config`` entry is malformed.

    Examples:
        >>> load_project("json").catalog.name  # doctest: +SKIP
        'catalog.duckdb'
    """
    loaded = load_target(target)
    spec = loaded.spec
    directory = loaded.directory or pathlib.Path.cwd()
    root_path, catalog_path = _places(spec, directory, root, catalog)
    merged = {k: dict(v) for k, v in (spec.config.items() if spec else ())}
    if loaded.found_spec:
        names = {s.name for s in collect(list(loaded.modules))}
        merged = {k: v for k, v in merged.items() if k in names}
    for asset_name, values in parse_config(config).items():
        merged.setdefault(asset_name, {}).update(values)
    clients = spec.named_clients() if spec else {}
    return Project(
        modules=loaded.modules, root=root_path, catalog=catalog_path, config=merged,
        executor=executor or (spec.executor if spec else None),
        max_workers=workers or (spec.max_workers if spec else None),
        versions=spec.versions if spec else None,
        directory=directory, assets=bind_clients(list(loaded.modules), clients), clients=clients,
    )


def project_catalog(
    target: str | None = None, *, root: str | None = None, catalog: str | None = None,
) -> pathlib.Path:
    """The catalog file of ``target``'s project, found without importing its code.

    Without a target, the spec found from the current directory upward; without
    one either, ``data/catalog.duckdb`` under the current directory.

    Examples:
        >>> project_catalog(catalog="build/catalog.duckdb").name
        'catalog.duckdb'
    """
    if catalog is not None:
        return _given(catalog)  # type: ignore[return-value]
    if target is None and find_spec(pathlib.Path.cwd()) is None:
        spec, directory = None, pathlib.Path.cwd()
    else:
        anchor = locate(target)
        spec, directory = anchor.spec, anchor.directory
    return _places(spec, directory, root, None)[1]


def _places(spec: Spec | None, directory: pathlib.Path, root: str | None,
            catalog: str | None) -> tuple[Any, pathlib.Path]:
    """The root and catalog: options from the current directory, the rest from the project.

    The root is None when only a catalog is named (by the option or the spec).
    """
    spec_root = spec.root if spec is not None else None
    spec_catalog = spec.catalog if spec is not None else None
    root_path = _given(root) if root else spec_root
    if catalog:
        catalog_path = _given(catalog)
    elif spec_catalog is not None:
        catalog_path = spec_catalog
    elif isinstance(root_path, pathlib.Path):
        catalog_path = root_path / DEFAULT_CATALOG
    else:  # no root, or a URL: the catalog is a local file, in the project
        catalog_path = directory / DEFAULT_ROOT / DEFAULT_CATALOG
    if root_path is None and not catalog and spec_catalog is None:
        root_path = directory / DEFAULT_ROOT
    return root_path, catalog_path  # type: ignore[return-value]


def _given(text: str) -> pathlib.Path | str:
    """A path from the command line, made absolute from the current directory; a URL as it is."""
    if "://" in text:
        return text
    return pathlib.Path(os.path.abspath(os.path.expanduser(text)))


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
