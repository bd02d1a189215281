"""A disk cache of scanned source files, so a fresh process need not re-parse unchanged code.

Parsing and normalizing a module of a thousand functions costs about 0.1 s;
loading the same result from this cache costs a few milliseconds. Entries are
addressed by the xxh3 hash of the file's *text* (plus the Python version and
this format's version), so a stale entry cannot be found: an edited file has
another address. The cache is an optimization only: a directory that cannot be
read or written just means the file is parsed as before.

The directory is ``$ASSETRY_CACHE_DIR``, else ``$XDG_CACHE_HOME/assetry/code``,
else ``~/.cache/assetry/code``; ``ASSETRY_CACHE_DIR=off`` disables it.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sys
import uuid
from typing import Any

import xxhash

__all__ = ["load", "store"]

_FORMAT = 4  # 3: module-level bindings, and the names that default values load; 4: plain tuples
_SALT = f"assetry-scan-{_FORMAT}-{sys.implementation.cache_tag}-".encode()


def _directory() -> pathlib.Path | None:
    chosen = os.environ.get("ASSETRY_CACHE_DIR")
    if chosen == "off":
        return None
    if chosen:
        return pathlib.Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "assetry" / "code"


def _path(text: str) -> pathlib.Path | None:
    directory = _directory()
    if directory is None:
        return None
    digest = xxhash.xxh3_128_hexdigest(_SALT + text.encode("utf-8", "surrogatepass"))
    return directory / digest[:2] / f"{digest}.pickle"


def load(text: str) -> Any:
    """The value stored for this source text, or None."""
    path = _path(text)
    if path is None:
        return None
    import pickle  # on first use, not at ``import assetry``

    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None  # absent, unreadable or from another layout: parse instead


def store(text: str, value: Any) -> None:
    """Remember ``value`` for this source text (atomically; silently skipped if not writable)."""
    path = _path(text)
    if path is None:
        return
    import pickle

    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        # A read-only, full or misplaced cache only costs a re-parse next time.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
