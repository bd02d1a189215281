"""Definitions: what a code fingerprint is made of, one digest each, and what changed.

A :class:`Definition` is one function, class or value in an asset's code
fingerprint (found by :mod:`assetry.fingerprints._reach`). :class:`CodeInfo`
holds the fingerprint with the digest of each definition, labelled as a reader
knows it (``"mean_delay (flights/helpers.py)"``), and :func:`changed_definitions`
names those that differ between two runs. Pure: no file is read.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import NamedTuple

from assetry.fingerprints._encoding import encode, hash_bytes

__all__ = ["CodeInfo", "Definition", "changed_definitions"]


class Definition(NamedTuple):
    """A user function, class or value that enters a code fingerprint."""

    kind: str  # function, class, constant (by value) or source (by the statements building it)
    qualname: str
    digest: str
    module: str
    file: str  # where it is written ("" when unknown)
    line: int = 0  # a lambda's first line, to tell lambdas apart in reasons

    @property
    def name(self) -> str:
        return f"{self.module}:{self.qualname}"


@functools.lru_cache(maxsize=4096)
def _where(module: str, file: str) -> str:
    """A definition's file as a reader knows it: ``flights/helpers.py`` for ``flights.helpers``."""
    if not file:
        return module
    parts = os.path.normpath(file).split(os.sep)
    names = [] if module == "__main__" else module.split(".")
    depth = len(names) + (parts[-1] == "__init__.py")
    tail = parts[-depth:] if 0 < depth <= len(parts) else []
    inner = [p.removesuffix(".py") for p in tail if p != "__init__.py"]
    return "/".join(tail) if tail and inner == names else parts[-1]


def _label(dependency: Definition) -> str:
    where = _where(dependency.module, dependency.file)
    if dependency.line:
        where = f"{where}:{dependency.line}"
    return f"{dependency.qualname} ({where})"


class CodeInfo:
    """An asset's code fingerprint, and the digest of each definition in it.

    ``definitions`` maps ``"qualname (file)"`` (``"mean_delay (flights/helpers.py)"``)
    to a digest, for the function itself and every function, class and value
    it reaches; :func:`changed_definitions` compares two of them. It is built on
    first use from the same walk as ``fingerprint``.
    """

    __slots__ = ("_definitions", "_parts", "fingerprint")

    def __init__(self, fingerprint: str, parts: tuple[Definition, ...] = (),
                 definitions: dict[str, str] | None = None) -> None:
        self.fingerprint = fingerprint
        self._parts = parts
        self._definitions = definitions

    @property
    def definitions(self) -> dict[str, str]:
        """``"qualname (file)"`` -> digest, for the function and everything it reaches."""
        if self._definitions is None:
            found: dict[str, str] = {}
            for part in self._parts:
                label = _label(part)
                # Two definitions with one label (a file loaded twice): one order-free digest.
                old = found.get(label)
                found[label] = part.digest if old is None else hash_bytes(
                    encode(tuple(sorted((old, part.digest)))))
            self._definitions = found
        return self._definitions

    def __repr__(self) -> str:
        return f"CodeInfo({self.fingerprint!r}, {len(self.definitions)} definitions)"


def changed_definitions(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """The definitions whose digest differs between two :attr:`CodeInfo.definitions`, sorted.

    A definition found on one side only (added, removed, renamed) is named too.

    Examples:
        >>> old = {"f (p.py)": "1", "helper (h.py)": "2", "gone (h.py)": "3"}
        >>> changed_definitions(old, {"f (p.py)": "1", "helper (h.py)": "9", "new (h.py)": "4"})
        ['gone (h.py)', 'helper (h.py)', 'new (h.py)']
    """
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
