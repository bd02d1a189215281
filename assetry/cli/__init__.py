"""The ``assetry`` command: its subcommands, the targets they take, the ``assetry.yaml`` spec.

:mod:`~assetry.cli.commands` parses the command line and prints;
:mod:`~assetry.cli.targets` turns a TARGET into imported modules;
:mod:`~assetry.cli.spec` reads and checks an ``assetry.yaml``. The console
script is ``assetry.cli:main``.
"""

from __future__ import annotations

from assetry.cli.commands import cli, main

__all__ = ["cli", "main"]
