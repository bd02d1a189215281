"""Calling hooks safely, and the error a failed run raises.

A hook's exception never loses a stored product or a catalog record: it is
reported as a warning naming the hook and the asset.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from assetry import errors
from assetry._lines import compress_labels, split_label
from assetry.errors import MaterializeError

__all__ = ["HookWarning", "call_asset_hook", "call_run_hook", "materialize_error"]

_log = logging.getLogger("assetry")


class HookWarning(UserWarning):
    """A hook raised; the asset's product and records are kept."""


def call_asset_hook(hook: Any, context: Any, kind: str) -> None:
    """Call an asset's ``on_finish`` / ``on_failure`` hook with its context."""
    _call(hook, context, f"{kind} hook {{name}} of asset {context.asset!r}",
          "; the asset's product and records are kept")


def call_run_hook(hook: Any, result: Any, kind: str) -> None:
    """Call a run-level hook with the result."""
    _call(hook, result, f"run {kind} hook {{name}}", "")


def _call(hook: Any, arg: Any, what: str, kept: str) -> None:
    if hook is None:
        return
    try:
        hook(arg)
    except Exception as exc:  # noqa: BLE001  (a hook never loses a stored product)
        name = repr(getattr(hook, "__qualname__", hook))
        message = f"{what.format(name=name)} raised {type(exc).__name__}: {exc}{kept}"
        _log.warning(message)
        warnings.warn(message, HookWarning, stacklevel=3)


_COMBINED: dict[str, type[MaterializeError]] = {}


def materialize_error(result: Any) -> MaterializeError:
    """The error for a run with failures; its ``__cause__`` is the first failed asset's own exception.

    When every failure is of one :class:`~assetry.errors.AssetError` kind
    (say :class:`SchemaError`), the error is an instance of that kind too. The
    message has one line per failed asset (its partitions compressed:
    ``daily[2013-01-01..2013-01-31] (31): <first error> (and 30 more)``) and
    one ``blocked:`` line, compressed the same way.
    """
    failed = result.failed
    message = f"{len(failed)} asset(s) failed\n" + "\n".join(_failure_lines(result))
    kinds = {result.error_kinds.get(n) for n in failed}
    cls: type[MaterializeError] = MaterializeError
    if len(kinds) == 1:
        kind = kinds.pop()
        base = getattr(errors, kind, None) if kind else None
        if isinstance(base, type) and issubclass(base, errors.AssetError) and base is not MaterializeError:
            if kind not in _COMBINED:
                _COMBINED[kind] = type("MaterializeError", (MaterializeError, base), {})  # type: ignore[arg-type]
            cls = _COMBINED[kind]
    error = cls(message, result)
    cause = getattr(result, "exception", None)
    if cause is not None:
        error.__cause__ = cause  # notebooks and pytest show the asset's own frame
    return error


def _failure_lines(result: Any) -> list[str]:
    orders = {name: list(parts) for name, parts in getattr(result, "partition_sets", {}).items()}
    errors_by_name = result.errors
    by_asset: dict[str, list[str]] = {}
    for name in result.failed:
        by_asset.setdefault(split_label(name)[0], []).append(name)
    lines = []
    for labels in by_asset.values():
        first = errors_by_name.get(labels[0]) or "failed"
        more = f" (and {len(labels) - 1} more)" if len(labels) > 1 else ""
        head = labels[0] if len(labels) == 1 else compress_labels(labels, orders)[0]
        lines.append(f"{head}: {first}{more}")
    if result.blocked:
        lines.append("blocked: " + ", ".join(compress_labels(result.blocked, orders)))
    return lines
