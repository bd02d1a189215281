"""The text of a run's lines: partition keys folded into ranges, one line per asset.

``daily[2013-01-01]``, ..., ``daily[2013-12-31]`` read
``daily[2013-01-01..2013-12-31] (365)``; the records of one asset's partitions
become one group, finished when its last partition is, and one line
(:func:`group_line`). The reporters, the ``assetry`` logger's lines and
``MaterializeError``'s message use it, so a run of 365 partitions says so in
one line. Pure text and bookkeeping: it imports nothing of assetry, prints
nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "Groups",
    "compress_keys",
    "compress_labels",
    "first_line",
    "format_duration",
    "format_rows",
    "group_label",
    "group_line",
    "group_reason",
    "group_status",
    "indented",
    "pointers",
    "split_label",
    "step_label",
    "summary",
]

#: Runs of consecutive keys shown before the rest is left to the count.
_RUNS_SHOWN = 4


def split_label(label: str) -> tuple[str, str | None]:
    """``asset[key]`` -> ``("asset", "key")``; ``asset`` -> ``("asset", None)``.

    Examples:
        >>> split_label("daily[2013-01-01]"), split_label("summary")
        (('daily', '2013-01-01'), ('summary', None))
    """
    if label.endswith("]") and "[" in label:
        name, _, key = label[:-1].partition("[")
        return name, key
    return label, None


def compress_keys(keys: Iterable[str], order: Sequence[str] | None = None) -> str:
    """Keys as runs of consecutive ones in ``order`` (``first..last``), the first few runs shown.

    Without an order (or with keys outside it) nothing is known about gaps, so
    keys are listed as given.

    Examples:
        >>> days = [f"2013-01-{d:02}" for d in range(1, 32)]
        >>> compress_keys(days[:10] + days[12:20], order=days)
        '2013-01-01..2013-01-10, 2013-01-13..2013-01-20'
        >>> compress_keys(["a", "c"], order=["a", "b", "c"])
        'a, c'
        >>> compress_keys([str(n) for n in range(0, 20, 2)], order=[str(n) for n in range(20)])
        '0, 2, 4, 6, …'
    """
    unique = list(dict.fromkeys(keys))
    position = {k: i for i, k in enumerate(order)} if order is not None else {}
    runs: list[list[str]] = []
    if unique and all(k in position for k in unique):
        unique.sort(key=position.__getitem__)
        for key in unique:
            if runs and position[key] == position[runs[-1][-1]] + 1:
                runs[-1].append(key)
            else:
                runs.append([key])
    else:
        runs = [[k] for k in unique]
    parts = []
    for run in runs[:_RUNS_SHOWN]:
        if len(run) == 1:
            parts.append(run[0])
        elif len(run) == 2:
            parts.append(f"{run[0]}, {run[1]}")
        else:
            parts.append(f"{run[0]}..{run[-1]}")
    if len(runs) > _RUNS_SHOWN:
        parts.append("…")
    return ", ".join(parts)


def compress_labels(labels: Iterable[str],
                    orders: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """Step labels, one per asset: ``asset[first..last] (n)`` for several partitions.

    Assets keep the order of their first label; ``orders`` gives each
    partitioned asset's keys in order (its partition set), so gaps show.

    Examples:
        >>> days = [f"2013-01-{d:02}" for d in range(1, 32)]
        >>> compress_labels(["summary", *(f"daily[{d}]" for d in days)], {"daily": days})
        ['summary', 'daily[2013-01-01..2013-01-31] (31)']
        >>> compress_labels(["daily[2013-01-05]"])
        ['daily[2013-01-05]']
    """
    keys: dict[str, list[str]] = {}
    plain: dict[str, None] = {}
    for label in labels:
        name, key = split_label(label)
        if key is None:
            plain[name] = None
            keys.setdefault(name, [])
        else:
            keys.setdefault(name, []).append(key)
    out = []
    for name, found in keys.items():
        if name in plain and not found:
            out.append(name)
            continue
        order = (orders or {}).get(name)
        text = f"{name}[{compress_keys(found, order)}]"
        count = len(set(found))
        out.append(text if count == 1 else f"{text} ({count})")
    return out


class Groups:
    """Collects the records of a run into groups: one per unpartitioned step, one per asset
    whose partitions are all done.

    ``start`` takes the run's step labels (``asset[key]`` for a partition);
    ``add`` returns the groups a record completes; ``rest`` the groups left
    unfinished (a stopped run). With ``per_step`` every record is its own group.

    Examples:
        >>> from types import SimpleNamespace as R
        >>> groups = Groups()
        >>> groups.start(["a", "d[1]", "d[2]"])
        >>> [len(g) for g in groups.add(R(asset="a", partition=None))]
        [1]
        >>> groups.add(R(asset="d", partition="1"))
        []
        >>> [len(g) for g in groups.add(R(asset="d", partition="2"))]
        [2]
    """

    def __init__(self, per_step: bool = False) -> None:
        self.per_step = per_step
        self.orders: dict[str, list[str]] = {}
        self._pending: dict[str, list[Any]] = {}

    def start(self, labels: Iterable[str]) -> None:
        """The labels of every step of the run, in order."""
        self.orders = {}
        self._pending = {}
        for label in labels:
            name, key = split_label(label)
            if key is not None:
                self.orders.setdefault(name, []).append(key)

    def add(self, record: Any) -> list[list[Any]]:
        """The groups ``record`` completes (none while an asset's partitions are still running)."""
        name, key = record.asset, getattr(record, "partition", None)
        if self.per_step or key is None or name not in self.orders:
            return [[record]]
        group = self._pending.setdefault(name, [])
        group.append(record)
        if len(group) < len(self.orders[name]):
            return []
        return [self._pending.pop(name)]

    def rest(self) -> list[list[Any]]:
        """The groups not complete yet, emptied."""
        left, self._pending = list(self._pending.values()), {}
        return left


# -- one line for a step, or for the partitions of one asset ---------------------------------

#: Which status a group of partitions is named by, the first present.
_PRECEDENCE = ("failed", "interrupted", "blocked", "materialized", "restored", "observed",
               "accepted", "skipped")
#: Failed assets named with a pointer to their traceback, at most.
_POINTERS = 5


def format_duration(seconds: float, unit_sep: str = "") -> str:
    """A duration for people: two decimals under ten seconds, then fewer.

    Examples:
        >>> format_duration(0.123), format_duration(75.4, unit_sep=" ")
        ('0.12s', '1 min 15 s')
    """
    if seconds < 10:
        return f"{seconds:.2f}{unit_sep}s"
    if seconds < 60:
        return f"{seconds:.1f}{unit_sep}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}{unit_sep}min {rest}{unit_sep}s"


def format_rows(rows: int) -> str:
    """A row count with thousands separators.

    Examples:
        >>> format_rows(1234), format_rows(1)
        ('1,234 rows', '1 row')
    """
    return f"{rows:,} row" + ("" if rows == 1 else "s")


def step_label(record: Any) -> str:
    """``asset``, or ``asset[partition]`` for a record of one partition."""
    partition = getattr(record, "partition", None)
    return str(record.asset) if partition is None else f"{record.asset}[{partition}]"


def group_label(records: Sequence[Any], orders: Mapping[str, Sequence[str]] | None = None) -> str:
    """The name of a group: the step's label, or ``asset[first..last] (n)``."""
    if len(records) == 1:
        return step_label(records[0])
    return compress_labels([step_label(r) for r in records], orders)[0]


def _figures(records: Sequence[Any]) -> list[str]:
    durations = [r.duration_s for r in records if r.duration_s is not None]
    rows = [r.rows for r in records if r.rows is not None]
    return ([format_duration(sum(durations))] if durations else []) + (
        [format_rows(sum(rows))] if rows else []
    )


def first_line(text: str | None) -> str:
    """The first non-blank line of ``text``, stripped."""
    return text.strip().splitlines()[0] if text and text.strip() else ""


def _rank(status: str) -> int:
    return _PRECEDENCE.index(status) if status in _PRECEDENCE else len(_PRECEDENCE)


def group_status(records: Sequence[Any]) -> str:
    """The status a group is named by: a failure before anything else, skips last."""
    if len(records) == 1:  # one step, the usual group
        return str(records[0].status)
    return str(min((r.status for r in records), key=_rank))


def group_reason(records: Sequence[Any]) -> str:
    """The reason they share, else ``1 materialized: code changed; 364 skipped: up to date``."""
    if len(records) == 1:  # one step, the usual group
        return records[0].reason or ""
    by_status: dict[str, Counter[str]] = {}
    for r in records:
        by_status.setdefault(r.status, Counter())[r.reason or ""] += 1
    if len(by_status) == 1:
        (reasons,) = by_status.values()
        if len(reasons) == 1:
            return next(iter(reasons))
    parts = []
    for status in sorted(by_status, key=_rank):
        reasons = by_status[status]
        reason = reasons.most_common(1)[0][0]
        parts.append(f"{sum(reasons.values())} {status}" + (f": {reason}" if reason else ""))
    return "; ".join(parts)


def group_line(records: Sequence[Any], orders: Mapping[str, Sequence[str]] | None = None) -> str:
    """One line for a step, or for the partitions of one asset: status, name, reason, figures, error.

    Examples:
        >>> from types import SimpleNamespace as R
        >>> recs = [R(asset="d", partition=k, status="skipped", reason="up to date",
        ...           duration_s=None, rows=10, error=None) for k in "abc"]
        >>> group_line(recs, {"d": list("abc")})
        'skipped d[a..c] (3) (up to date) 30 rows'
    """
    words = [group_status(records), group_label(records, orders)]
    reason = group_reason(records)
    if reason:
        words.append(f"({reason})")
    line = " ".join(words + _figures(records))
    errors = [r for r in records if r.error]
    if errors:
        line += f": {first_line(errors[0].error)}"
        if len(errors) > 1:
            line += f" (and {len(errors) - 1} more)"
    return line


def summary(result: Any, elapsed: float) -> str:
    """``3 materialized, 2 skipped, 0 failed, 0 blocked in 1.23s`` (and what stopped the run);
    restored assets are counted after the materialized ones when there are any."""
    kinds = ["materialized", "skipped", "failed", "blocked"]
    if getattr(result, "restored", None):
        kinds.insert(1, "restored")
    if getattr(result, "interrupted", None):
        kinds.append("interrupted")
    counts = ", ".join(f"{len(getattr(result, kind))} {kind}" for kind in kinds)
    by = getattr(result, "interrupted_by", None)
    return f"{counts} in {format_duration(elapsed)}" + (f" (stopped by {by})" if by else "")


def pointers(records: Sequence[Any], hint: str | None) -> list[str]:
    """``traceback and output: assetry logs TARGET boom``, for the first few failed assets."""
    if not hint:
        return []
    failed = list(dict.fromkeys(r.asset for r in records if r.status == "failed"))
    lines = [f"traceback and output: {hint.format(asset=name)}" for name in failed[:_POINTERS]]
    if len(failed) > _POINTERS:
        lines.append(f"... and {len(failed) - _POINTERS} more failed assets")
    return lines


def indented(text: str) -> str:
    """``text`` indented by four spaces, for a traceback under its line."""
    return "\n".join("    " + line for line in text.rstrip("\n").splitlines())
