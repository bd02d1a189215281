"""The words of a reason that names the change: ``code changed: mean_delay (flights/helpers.py)``.

The planner decides *that* an asset's code or config changed (its fingerprint
parts differ from the record's); this module says *what* changed, from the
intent's :class:`Explain` (each definition's digest and each config value's
digest and short form, now) and the JSON text the catalog kept of the same
(``assets.code_definitions``: ``{"qualname (file)": digest, ..., "@config":
{param: [digest, short form]}}``). When either side is unknown (a record
written before these were kept) the reason is the bare ``code changed`` or
``config changed``. Pure: no file, no catalog; it imports nothing of the engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Protocol

from assetry.fingerprints import changed_definitions

__all__ = ["Explain", "code_reason", "config_reason", "recorded_parts"]

#: A reason names at most this many changed definitions or parameters, then counts the rest.
_NAMED = 3


class Explain(Protocol):
    """What names the parts of an intent (a :class:`~assetry.engine.context.Explanation`)."""

    io: str

    def definitions(self) -> Mapping[str, str]:
        """``"qualname (file)"`` -> digest of each definition in the code fingerprint."""
        ...

    def config(self) -> Mapping[str, tuple[str, str]]:
        """Config parameter -> (digest of its value, the value in short)."""
        ...


def recorded_parts(text: str | None) -> tuple[dict[str, str] | None, dict[str, tuple[str, str]] | None]:
    """The definitions' digests and the config values kept in ``assets.code_definitions``.

    Examples:
        >>> recorded_parts('{"f (p.py)": "1", "@config": {"n": ["d", "100"]}}')
        ({'f (p.py)': '1'}, {'n': ('d', '100')})
        >>> recorded_parts(None)
        (None, None)
    """
    try:
        found = json.loads(text) if text else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        return None, None
    config = found.pop("@config", None)
    values = {p: tuple(v) for p, v in config.items()} if isinstance(config, dict) else None
    return found, values  # type: ignore[return-value]


def code_reason(explain: Explain | None, recorded: str | None) -> str:
    """``code changed``, naming the definitions whose digest differs when both sides kept them.

    Examples:
        >>> class Now:
        ...     io = ""
        ...     def definitions(self): return {"f (p.py)": "1", "helper (h.py)": "9"}
        ...     def config(self): return {}
        >>> code_reason(Now(), '{"f (p.py)": "1", "helper (h.py)": "2"}')
        'code changed: helper (h.py)'
    """
    old, _ = recorded_parts(recorded)
    if explain is None or old is None:
        return "code changed"
    changed = changed_definitions(old, explain.definitions())
    return "code changed: " + _listed(changed) if changed else "code changed"


def config_reason(explain: Explain | None, recorded: str | None, recorded_io: str | None,
                  *, values: bool) -> str:
    """``config changed``, naming each parameter (``min_flights 100 -> 10``) or the IO manager.

    ``values`` says whether the config values' fingerprint differs (else the IO
    manager's settings do).

    Examples:
        >>> class Now:
        ...     io = ""
        ...     def definitions(self): return {}
        ...     def config(self): return {"min_flights": ("d10", "10")}
        >>> config_reason(Now(), '{"@config": {"min_flights": ["d100", "100"]}}', None, values=True)
        'config changed: min_flights 100 -> 10'
    """
    if explain is None:
        return "config changed"
    if values:
        _, old = recorded_parts(recorded)
        if old is None:
            return "config changed"
        changed = _changed_values(old, explain.config())
        return "config changed: " + _listed(changed) if changed else "config changed"
    if recorded_io and explain.io and recorded_io != explain.io:
        return f"config changed: io {recorded_io} -> {explain.io}"
    return "config changed"


def _changed_values(old: Mapping[str, tuple[str, str]], new: Mapping[str, tuple[str, str]]
                    ) -> list[str]:
    changed = []
    for param in sorted(old.keys() | new.keys()):
        before, after = old.get(param), new.get(param)
        if before is not None and after is not None and before[0] == after[0]:
            continue
        if before is None or after is None:
            changed.append(f"{param} {'added' if before is None else 'removed'}")
        elif before[1] == after[1]:
            changed.append(param)  # too big to show, or shown alike: the name says enough
        else:
            changed.append(f"{param} {before[1]} -> {after[1]}")
    return changed


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMED])
    return shown if len(names) <= _NAMED else f"{shown} and {len(names) - _NAMED} more"
