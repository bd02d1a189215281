"""The run's root directory: created, proven writable, and tidied before a run.

It owns everything a run does to the root as a whole (not to one product):
creating it, checking it can be written, and removing temporary files left
behind by a run that was killed.
"""

from __future__ import annotations

import os
import pathlib

from assetry.errors import StorageError

__all__ = ["prepare_root"]


def prepare_root(root: str | os.PathLike[str]) -> pathlib.Path:
    """Create the root directory and prove it writable, or raise :class:`StorageError`."""
    path = pathlib.Path(os.path.abspath(os.path.expanduser(str(root))))
    probe = path / f".assetry-write-probe-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"root {str(path)!r} is not a writable directory ({exc.strerror or exc}); "
            "choose another root="
        ) from exc
    return path
