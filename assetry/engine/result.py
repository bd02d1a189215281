"""What a run returns and what hooks receive.

:class:`MaterializeResult` lists names by outcome and loads stored values;
:class:`StepRecord` is one asset's line in the run; :class:`AssetContext` is
what ``on_finish`` / ``on_failure`` hooks get. The result holds the run's one
dict of step states (:class:`~assetry.engine.state.StepState`) and answers
``products``, ``errors`` and ``error_kinds`` from it and from its records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from assetry.engine.planner import FAILED
from assetry.engine.state import StepState
from assetry.engine.steps import StepKey, label
from assetry.errors import StorageError
from assetry.io_managers import IOManager
from assetry.io_managers.base import PartitionedProduct

__all__ = ["AssetContext", "MaterializeResult", "StepRecord"]


@attrs.frozen
class StepRecord:
    """One asset (or one partition of it) in a run."""

    asset: str
    status: str
    reason: str
    partition: str | None = None
    duration_s: float | None = None
    rows: int | None = None
    bytes: int | None = None
    location: str | None = None
    error: str | None = None
    attempts: int = 0
    #: The traceback of a failed (or interrupted) step, assetry's own frames folded.
    traceback: str | None = attrs.field(default=None, repr=False)

    @property
    def key(self) -> str:
        """``asset`` or ``asset[partition]``, as the result lists name it."""
        return self.asset if self.partition is None else f"{self.asset}[{self.partition}]"


@attrs.frozen
class AssetContext:
    """What an asset's hooks receive.

    Examples:
        >>> def on_finish(context):
        ...     print(context.asset, context.location, context.rows)
    """

    asset: str
    status: str
    run_id: str
    reason: str
    location: str | None = None
    rows: int | None = None
    duration_s: float | None = None
    error: str | None = None
    partition: str | None = None


@attrs.define
class MaterializeResult:
    """The outcome of ``materialize()``.

    Examples:
        >>> result = materialize([flights, delays])  # doctest: +SKIP
        >>> result.success, result.materialized  # doctest: +SKIP
        (True, ['flights', 'delays'])
    """

    run_id: str
    #: One per step, in completion order.
    records: list[StepRecord] = attrs.field(factory=list)
    #: ``(asset, partition)`` -> the step's state: the runner's one dict of them.
    states: dict[StepKey, StepState] = attrs.field(factory=dict)
    duration_s: float = 0.0
    #: The partition set of each partitioned asset of the graph.
    partition_sets: dict[str, Any] = attrs.field(factory=dict)
    #: The exception of the first step that failed (the user's own, with its traceback when it
    #: ran in this process); ``MaterializeError.__cause__``.
    exception: BaseException | None = attrs.field(default=None, repr=False)
    #: ``SIGINT`` or ``SIGTERM`` when a signal stopped the run, else None.
    interrupted_by: str | None = None

    @property
    def products(self) -> dict[str, tuple[IOManager, str]]:
        """``asset`` or ``asset[partition]`` -> (io manager, location) of each stored product."""
        return {label(step): s.product for step, s in self.states.items() if s.product is not None}

    @property
    def errors(self) -> dict[str, str]:
        """``asset`` or ``asset[partition]`` -> the error of each failed step."""
        return {r.key: r.error or "" for r in self.records if r.status == FAILED}

    @property
    def error_kinds(self) -> dict[str, str | None]:
        """The :class:`~assetry.errors.AssetError` kind of each failure (None: any other error)."""
        return {label(step): s.error_kind for step, s in self.states.items() if s.status == FAILED}

    def _names(self, status: str) -> list[str]:
        return [r.key for r in self.records if r.status == status]

    @property
    def materialized(self) -> list[str]:
        """Names that ran and were stored, in completion order."""
        return self._names("materialized")

    @property
    def skipped(self) -> list[str]:
        """Names that were fresh."""
        return self._names("skipped")

    @property
    def restored(self) -> list[str]:
        """Names whose kept earlier product was put back instead of running (docs/versions.md)."""
        return self._names("restored")

    @property
    def failed(self) -> list[str]:
        """Names that failed."""
        return self._names("failed")

    @property
    def blocked(self) -> list[str]:
        """Names not run because an upstream failed."""
        return self._names("blocked")

    @property
    def observed(self) -> list[str]:
        """Sources observed (changed or not); a missing source is in :attr:`failed`."""
        return self._names("observed")

    @property
    def interrupted(self) -> list[str]:
        """Names stopped by Ctrl-C or SIGTERM before they finished (no product stored)."""
        return self._names("interrupted")

    @property
    def success(self) -> bool:
        """True when nothing failed or was blocked and no signal stopped the run."""
        return not self.failed and not self.blocked and self.interrupted_by is None

    @property
    def reasons(self) -> Mapping[str, str]:
        """Name -> the reason it ran, or ``up to date``."""
        return {r.key: r.reason for r in self.records}

    def record(self, name: str) -> StepRecord:
        """The record of one asset (or ``asset[partition]``)."""
        for r in self.records:
            if r.key == name:
                return r
        raise KeyError(f"asset {name!r} was not part of this run")

    def load(self, name: str, as_type: Any = None) -> Any:
        """The stored value of an asset of this run, as ``as_type`` (natural type by default).

        ``"asset[key]"`` loads one partition; a partitioned asset's bare name
        loads every stored partition, as an unpartitioned downstream gets them.

        Examples:
            >>> result.load("daily_flights[2013-01-01]")  # doctest: +SKIP
            >>> result.load("daily_flights", pl.LazyFrame)  # doctest: +SKIP
        """
        products = self.products
        if name not in products and name in self.partition_sets:
            return self._load_partitions(name, as_type, products)
        if name not in products:
            raise StorageError(
                f"asset {name!r} has no stored product in this run; stored: "
                f"{', '.join(sorted(products)) or 'none'}"
            )
        io, location = products[name]
        return io.load(location, as_type)

    def _load_partitions(self, name: str, as_type: Any,
                         stored_products: dict[str, tuple[IOManager, str]]) -> Any:
        parts = self.partition_sets[name]
        keys = tuple(k for k in parts if f"{name}[{k}]" in stored_products)
        if not keys:
            raise StorageError(f"asset {name!r} has no stored partition in this run")
        products = [stored_products[f"{name}[{k}]"] for k in keys]
        stored = PartitionedProduct(
            asset=name, column=parts.column, keys=keys, values=tuple(map(parts.value, keys)),
            locations=tuple(loc for _, loc in products),
        )
        return products[0][0].load_partitions(stored, as_type)

    def __repr__(self) -> str:
        return (
            f"<MaterializeResult {'ok' if self.success else 'FAILED'}: "
            f"{len(self.materialized)} materialized, "
            + (f"{len(self.restored)} restored, " if self.restored else "")
            + f"{len(self.skipped)} skipped, {len(self.failed)} failed, {len(self.blocked)} blocked>"
        )

    def to_polars(self) -> Any:
        """One row per asset: asset, partition, status, reason, duration_s, rows, error."""
        import polars as pl  # lazily: `import assetry` does not load polars

        return pl.DataFrame(
            [attrs.asdict(r, filter=lambda a, _: a.name != "traceback") for r in self.records],
            schema={
                "asset": pl.String, "status": pl.String, "reason": pl.String,
                "partition": pl.String, "duration_s": pl.Float64, "rows": pl.Int64,
                "bytes": pl.Int64, "location": pl.String, "error": pl.String,
                "attempts": pl.Int64,
            },
        )

    def _repr_html_(self) -> str:
        return self.to_polars().select("asset", "partition", "status", "reason", "duration_s", "rows")._repr_html_()
