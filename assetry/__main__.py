"""``python -m assetry``: the same as the ``assetry`` command."""

from __future__ import annotations

from assetry.cli import main

if __name__ == "__main__":
    main()
