"""The flights demo pipeline, runnable from the repository.

    python examples/flights/pipeline.py [ROOT]

The assets live in ``assetry.demo.pipeline`` so that ``assetry demo`` works
from an installed package; this file re-exports them for ``assetry`` commands:

    assetry materialize examples/flights/pipeline.py --root assetry-demo
"""

from __future__ import annotations

import sys

from assetry import materialize
from assetry.demo.pipeline import (  # noqa: F401  (re-exported assets)
    airlines,
    carrier_delays,
    flights,
    flights_by_carrier,
    flights_raw,
    plane_age_delays,
    planes,
    summary,
    weather,
    weather_delays,
)

if __name__ == "__main__":
    result = materialize(sys.modules[__name__], root=sys.argv[1] if len(sys.argv) > 1 else "assetry-demo")
    print(result)
