"""The planner: whether an asset is fresh, and if not, why. Pure.

It decides from what the catalog recorded, what the product looks like now,
and the fingerprint the asset would have now. It reads no file and runs no
code, so a planner test needs neither.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs

from assetry.io_managers.base import Observation
from assetry.records import loads_upstream

__all__ = ["UP_TO_DATE", "Decision", "Intent", "Record", "decide"]

UP_TO_DATE = "up to date"


@attrs.frozen
class Record:
    """What the catalog's ``assets`` table says of a product's last good state."""

    fingerprint: str
    code_fingerprint: str
    config_fingerprint: str
    io_fingerprint: str
    upstream: Mapping[str, str]
    data_fingerprint: str
    stat_key: str | None = None
    location: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Record:
        """Build from a row of the ``assets`` table."""
        return cls(
            fingerprint=str(row["fingerprint"]),
            code_fingerprint=str(row["code_fingerprint"]),
            config_fingerprint=str(row["config_fingerprint"]),
            io_fingerprint=str(row["io_fingerprint"]),
            upstream=_LazyUpstream(row["upstream"]),  # type: ignore[arg-type]
            data_fingerprint=str(row["data_fingerprint"]),
            stat_key=row.get("stat_key"),  # type: ignore[arg-type]
            location=row.get("location"),  # type: ignore[arg-type]
        )

    @property
    def observation(self) -> Observation:
        """The recorded state, for a cheap unchanged-product check."""
        return Observation(data_fingerprint=self.data_fingerprint, stat_key=self.stat_key)


class _LazyUpstream(Mapping[str, str]):
    """The ``assets.upstream`` JSON, parsed on first use.

    A fresh asset's fingerprint matches, so its upstream map is never read;
    a no-op run over thousands of partitions skips thousands of parses.
    """

    __slots__ = ("_parsed", "_text")

    def __init__(self, text: str | None) -> None:
        self._text = text
        self._parsed: dict[str, str] | None = None

    def _map(self) -> dict[str, str]:
        if self._parsed is None:
            self._parsed = loads_upstream(self._text)
        return self._parsed

    def __getitem__(self, key: str) -> str:
        return self._map()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())

    def __eq__(self, other: object) -> bool:
        return dict(self._map()) == (dict(other) if isinstance(other, Mapping) else other)

    def __hash__(self) -> int:
        return hash(self._text)

    def __repr__(self) -> str:
        return repr(self._map())


@attrs.frozen
class Intent:
    """The fingerprint parts an asset would have if it ran now."""

    code: str
    config: str
    io: str
    upstream: Mapping[str, str]
    fingerprint: str


@attrs.frozen
class Decision:
    """Run or skip, and the reason in words."""

    run: bool
    reason: str


def decide(
    intent: Intent,
    record: Record | None,
    product: Observation | None,
    *,
    forced: bool = False,
    cache: bool = True,
    stale_upstream: tuple[str, ...] = (),
) -> Decision:
    """Decide one asset; the first reason that applies wins.

    ``product`` is the product's current observation (None when missing);
    ``stale_upstream`` names upstream assets that will rerun first (used when
    planning before a run, where their new data is not known yet).

    Examples:
        >>> i = Intent("c", "k", "io", {}, "f")
        >>> decide(i, None, None).reason
        'never materialized'
    """
    if forced:
        return Decision(True, "forced")
    if not cache:
        return Decision(True, "cache disabled")
    if record is None:
        return Decision(True, "never materialized")
    if product is None:
        return Decision(True, "product missing")
    if product.data_fingerprint != record.data_fingerprint:
        return Decision(True, "product modified outside assetry")
    if intent.code != record.code_fingerprint:
        return Decision(True, "code changed")
    if intent.config != record.config_fingerprint or intent.io != record.io_fingerprint:
        return Decision(True, "config changed")
    if stale_upstream:
        return Decision(True, "upstream stale: " + ", ".join(sorted(stale_upstream)))
    if intent.fingerprint == record.fingerprint:
        return Decision(False, UP_TO_DATE)  # the whole covers upstream: no need to compare parts
    changed = sorted(
        name
        for name in set(intent.upstream) | set(record.upstream)
        if intent.upstream.get(name) != record.upstream.get(name)
    )
    if changed:
        return Decision(True, "upstream changed: " + ", ".join(changed))
    # Every part matched but the whole did not: the fingerprint recipe itself changed.
    return Decision(True, "code changed")
