"""Words that depend on how assetry is used: from Python or from the command line, installed how.

A message that tells a person what to do must use the spellings of the place
they are in: ``materialize()`` and ``select='+x'`` in Python, ``assetry
materialize`` and ``--select +x`` on the command line (the CLI marks its
calls with :func:`command_line`). An "install the extra" hint must be a
command that works for the way assetry was installed: from a package index,
or from a clone (``pip install -e '/path/to/clone[demo]'``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import pathlib
from collections.abc import Iterator

__all__ = [
    "command_line", "install_hint", "option_hint", "run_hint", "select_hint", "spelled_for_cli",
]

_CLI: contextvars.ContextVar[bool] = contextvars.ContextVar("assetry_cli", default=False)


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """Within this block, messages use the command line's spellings.

    Examples:
        >>> with command_line():
        ...     run_hint()
        "run 'assetry materialize' first"
        >>> run_hint()
        'run materialize() first'
    """
    token = _CLI.set(True)
    try:
        yield
    finally:
        _CLI.reset(token)


def spelled_for_cli() -> bool:
    """Whether the current call came from the ``assetry`` command."""
    return _CLI.get()


def run_hint() -> str:
    """How to make a catalog exist: run the pipeline once."""
    return "run 'assetry materialize' first" if _CLI.get() else "run materialize() first"


def select_hint(name: str) -> str:
    """How to add an asset's upstream to a selection.

    Examples:
        >>> select_hint("scaled")
        "select='+scaled'"
    """
    return f"--select +{name}" if _CLI.get() else f"select='+{name}'"


def option_hint(name: str, python: str | None = None) -> str:
    """An option of a run as the place spells it: ``--root`` on the command line, ``root=`` in Python.

    Examples:
        >>> option_hint("partitions"), option_hint("force", "force=True")
        ('partitions=', 'force=True')
        >>> with command_line():
        ...     option_hint("force", "force=True")
        '--force'
    """
    if _CLI.get():
        return "--" + name.replace("_", "-")
    return python if python is not None else f"{name}="


def install_hint(extra: str) -> str:
    """The command that installs an extra, for the way this assetry was installed.

    Examples:
        >>> install_hint("demo").startswith("pip install ")
        True
    """
    clone = _clone_directory()
    if clone is not None:
        return f"pip install -e '{clone}[{extra}]'"
    return f"pip install 'assetry[{extra}]'"


@functools.cache
def _clone_directory() -> str | None:
    """The source tree assetry is imported from (a clone, installed with -e), else None.

    A package imported from a directory whose parent holds assetry's own
    ``pyproject.toml`` is a checkout; an installed wheel lives in site-packages.
    """
    tree = pathlib.Path(__file__).resolve().parent.parent
    try:
        text = (tree / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return str(tree) if 'name = "assetry"' in text else None
