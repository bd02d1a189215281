"""What planning needs to know about each asset in one run (or one status call).

:class:`RunContext` gathers the graph, config values, root and the catalog's
records, and answers per asset: which IO manager and location, what the
product looks like now, and the fingerprint it would have now (an
:class:`~assetry.engine.planner.Intent`): it is where the planner's
:class:`~assetry.engine.planner.Facts` come from, and the only part of planning
that reads products. It caches per run; it writes nothing.
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Mapping
from typing import Any

import attrs

from assetry import fingerprints
from assetry.assets.graph import AssetGraph
from assetry.engine.planner import Intent, Record
from assetry.errors import AssetGraphError, StorageError
from assetry.fingerprints import partition_fingerprint
from assetry.io_managers import IOManager, default_for_annotation
from assetry.io_managers.base import Observation
from assetry.io_managers.catalog_form import CatalogForm

__all__ = ["RunContext", "resolve_config"]

AUTO_IO = "auto"

#: Marks a cache entry not looked up yet (None is a valid answer: no record).
_UNSEEN: Any = object()


def resolve_config(graph: AssetGraph, config: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Each asset's config values: defaults overridden by ``config``; unknown names are errors."""
    values = {name: dict(defaults) for name, defaults in graph.config.items()}
    problems = []
    for name, overrides in (config or {}).items():
        if name not in graph.specs:
            problems.append(f"config names asset {name!r}, which is not in the graph")
            continue
        for param, value in dict(overrides).items():
            if param not in values[name]:
                known = ", ".join(sorted(values[name])) or "none"
                problems.append(
                    f"config gives {param!r} for asset {name!r}, which has no such config "
                    f"parameter (its config parameters: {known})"
                )
            else:
                values[name][param] = value
    if problems:
        raise AssetGraphError("\n".join(problems))
    return values


@attrs.define
class RunContext:
    """Per-run answers about assets: IO manager, location, observation, intent."""

    graph: AssetGraph
    values: dict[str, dict[str, Any]]
    root: pathlib.Path
    rows: dict[tuple[str, str | None], dict[str, Any]]
    _code: dict[str, str] = attrs.field(factory=dict)
    _io: dict[tuple[str, str | None], tuple[IOManager | None, str | None]] = attrs.field(factory=dict)
    _declared: dict[str, IOManager | None] = attrs.field(factory=dict)
    _io_fp: dict[str, str] = attrs.field(factory=dict)
    _rebuilt: dict[CatalogForm, IOManager] = attrs.field(factory=dict)
    _parts: dict[str, tuple[str, str, str, str | None]] = attrs.field(factory=dict)
    _records: dict[tuple[str, str | None], Record | None] = attrs.field(factory=dict)

    def declared_io(self, name: str) -> IOManager | None:
        """The IO manager from ``io=`` or the return annotation; None when the value decides."""
        if name not in self._declared:
            spec = self.graph.specs[name]
            self._declared[name] = spec.io or default_for_annotation(spec.hints().get("return"))
        return self._declared[name]

    def record(self, name: str, partition: str | None = None) -> Record | None:
        """The catalog's record of a product (of one partition), if any."""
        key = (name, partition)
        found = self._records.get(key, _UNSEEN)
        if found is _UNSEEN:
            row = self.rows.get(key)
            found = self._records[key] = Record.from_row(row) if row is not None else None
        return found  # type: ignore[return-value]

    def segment(self, name: str, partition: str | None) -> str | None:
        """The partition's path segment (``date=2013-01-01``), None when unpartitioned."""
        parts = self.graph.specs[name].partitions
        return None if partition is None or parts is None else parts.segment(partition)

    def product(self, name: str, partition: str | None = None) -> tuple[IOManager | None, str | None]:
        """The IO manager and location of an asset's product (None, None when unknowable)."""
        key = (name, partition)
        found = self._io.get(key)
        if found is None:
            found = self._io[key] = self._find_product(name, partition)
        return found

    def _find_product(self, name: str, partition: str | None) -> tuple[IOManager | None, str | None]:
        io = self.declared_io(name)
        if io is not None:
            return io, io.default_location(self.root, name, self.segment(name, partition))
        row = self.rows.get((name, partition))
        if row is None:
            return None, None
        form = CatalogForm.from_row(row)
        if form.io_pickle is None and (form.io_class is None or form.io_settings is None):
            return None, None
        if form not in self._rebuilt:
            # Every partition of an asset usually holds the same manager: rebuild it once.
            self._rebuilt[form] = form.rebuild(name)
        return self._rebuilt[form], row["location"]

    def observe(self, name: str, partition: str | None = None) -> Observation | None:
        """The product's current state (None when missing), re-hashing only on a stat change."""
        io, location = self.product(name, partition)
        if io is None or location is None:
            return None
        record = self.record(name, partition)
        previous = record.observation if record is not None and record.location == location else None
        try:
            return io.observe(location, previous)
        except OSError as exc:
            raise StorageError(f"cannot read the product of {name!r} at {location!r}: {exc}") from exc

    def code_fingerprint(self, name: str) -> str:
        """The asset's code fingerprint, computed once per run."""
        if name not in self._code:
            spec = self.graph.specs[name]
            code = fingerprints.code_fingerprint(spec.fn, spec.code_version)
            if spec.extra:
                code = fingerprints.hash_fields(code=code, extra=dict(spec.extra))
            self._code[name] = code
        return self._code[name]

    def io_fingerprint(self, name: str) -> str:
        """The fingerprint of the asset's declared IO manager settings (``auto`` if undeclared)."""
        if name not in self._io_fp:
            io = self.declared_io(name)
            try:
                self._io_fp[name] = AUTO_IO if io is None else _io_fingerprint(io)
            except TypeError:  # an unhashable user IO manager: hash its settings directly
                self._io_fp[name] = _io_fingerprint.__wrapped__(io)
        return self._io_fp[name]

    def intent(self, name: str, upstream: Mapping[str, str]) -> Intent:
        """The fingerprint the asset would have now, given its upstream data fingerprints."""
        parts = self._parts.get(name)
        if parts is None:
            parts = self._parts[name] = self._intent_parts(name)
        code, config, io, base = parts
        # A dict of the caller's own (upstream_state builds one per step) is not copied again.
        up = upstream if type(upstream) is dict else dict(upstream)
        if base is None:
            whole = fingerprints.asset_fingerprint(code=code, config=config, io=io, upstream=up)
        else:
            whole = partition_fingerprint(base, up)
        return Intent(code, config, io, up, whole)

    def _intent_parts(self, name: str) -> tuple[str, str, str, str | None]:
        """Code, config and IO fingerprints; for a partitioned asset, its partitions' base too."""
        code = self.code_fingerprint(name)
        values = self.values[name]
        config = fingerprints.config_fingerprint(values) if values else _empty_config()
        io = self.io_fingerprint(name)
        base = None
        if self.graph.specs[name].partitions is not None:
            # Thousands of partitions share code, config and IO: hash those once per run.
            base = fingerprints.asset_fingerprint(code=code, config=config, io=io, upstream={})
        return code, config, io, base


@functools.lru_cache(maxsize=1)
def _empty_config() -> str:
    return fingerprints.config_fingerprint({})


@functools.lru_cache(maxsize=256)
def _io_fingerprint(io: IOManager) -> str:
    # IO managers are frozen attrs values: equal settings hash once per process.
    return fingerprints.hash_fields(
        io=f"{type(io).__module__}.{type(io).__qualname__}", settings=io.settings()
    )
