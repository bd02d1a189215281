"""Where a TARGET's project is: its spec and its directory, found without importing anything.

The project directory is the spec's directory when there is a spec (the
target itself, a directory holding ``assetry.yaml``, or the spec found in the
target's directory or a parent, as ``pyproject.toml`` is found: the search
stops at a directory holding ``.git``, or at the filesystem root); else the
target's directory for a ``.py`` file or a folder; else, for a dotted module,
the current directory. No target at all is the spec found from the current
directory upward. A run's root, catalog and the relative paths of the spec
resolve from the project directory; importing the target is
:mod:`assetry.cli.targets`'s.
"""

from __future__ import annotations

import os
import pathlib
import re

import attrs

from assetry.cli.spec import Spec, load_spec
from assetry.errors import AssetError

__all__ = ["SPEC_NAMES", "Anchor", "find_spec", "locate"]

#: The file names of a spec, in the order they are looked for.
SPEC_NAMES = ("assetry.yaml", "assetry.yml")
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@attrs.frozen
class Anchor:
    """Where a TARGET's project is, found without importing anything (see :func:`locate`).

    ``kind`` is ``"spec"`` (the modules are the spec's ``assets:``), ``"path"``
    (a file or folder, at ``path``) or ``"dotted"`` (the module ``text``).

    Examples:
        >>> Anchor("dotted", "json", None, pathlib.Path("/p")).found_spec
        False
    """

    kind: str
    text: str
    spec: Spec | None
    directory: pathlib.Path
    path: pathlib.Path | None = None

    @property
    def found_spec(self) -> bool:
        """Whether the spec was found above the target rather than given."""
        return self.spec is not None and self.kind != "spec"


def find_spec(start: str | os.PathLike[str]) -> pathlib.Path | None:
    """The ``assetry.yaml`` (or ``.yml``) in ``start`` or the nearest parent holding one.

    The search stops at a directory holding ``.git`` (after looking in it) and
    at the filesystem root, as ``pyproject.toml`` is found.

    Examples:
        >>> find_spec("/") is None
        True
    """
    folder = pathlib.Path(start).absolute()
    while True:
        for name in SPEC_NAMES:
            if (folder / name).is_file():
                return folder / name
        if (folder / ".git").exists() or folder.parent == folder:
            return None
        folder = folder.parent


def locate(target: str | os.PathLike[str] | None) -> Anchor:
    """The project of ``target`` (or of the current directory, for None); imports nothing.

    Raises:
        AssetError: The target does not exist, its spec has problems, or no
            target was given and no spec is found upward.

    Examples:
        >>> locate("json").kind
        'dotted'
    """
    cwd = pathlib.Path.cwd()
    if target is None:
        found = find_spec(cwd)
        if found is None:
            raise AssetError(
                f"no TARGET given, and no assetry.yaml in {str(cwd)!r} or a parent directory; "
                "give a TARGET: a dotted module path, a .py file, a directory of them, or an "
                "assetry.yaml spec"
            )
        return _spec_anchor(str(found), found)
    text = os.fspath(target)
    path = pathlib.Path(text).expanduser().absolute()
    if path.suffix in (".yaml", ".yml"):
        return _spec_anchor(text, path)
    if path.is_dir():
        for name in SPEC_NAMES:
            if (path / name).is_file():
                return _spec_anchor(text, path / name)
    if path.is_dir() or path.suffix == ".py":
        start = path if path.is_dir() else path.parent
        spec = _spec_above(start)
        return Anchor("path", text, spec, spec.directory if spec else start, path)
    if _DOTTED.fullmatch(text):
        spec = _spec_above(cwd)
        return Anchor("dotted", text, spec, spec.directory if spec else cwd)
    raise AssetError(
        f"target {text!r} does not exist; give a dotted module path, a .py file, "
        "a directory of them, or an assetry.yaml spec"
    )


def _spec_anchor(text: str, path: pathlib.Path) -> Anchor:
    spec = load_spec(path)
    return Anchor("spec", text, spec, spec.directory)


def _spec_above(start: pathlib.Path) -> Spec | None:
    found = find_spec(start)
    return load_spec(found) if found is not None else None
