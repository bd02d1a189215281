"""``assetry demo``: run the flights pipeline twice and show what the catalog knows.

The first run prints one line per asset (a partitioned asset's partitions in
one line), the second only that it skipped everything; a rerun of the demo in
the same directory therefore prints at most one line per asset.
"""

from __future__ import annotations

import os
import pathlib
import sys
import time
from typing import IO, Any

from assetry.catalog import Catalog

__all__ = ["run_demo"]

EXAMPLE_QUERY = (
    "SELECT asset, count(*) AS steps, round(sum(duration_s), 3) AS seconds, sum(rows)::BIGINT AS rows "
    "FROM materializations WHERE status = 'materialized' GROUP BY asset ORDER BY seconds DESC"
)


def run_demo(directory: str | os.PathLike[str] = "assetry-demo", out: IO[str] | None = None, executor: str = "threads") -> int:
    """Materialize the flights demo into ``directory`` twice; return 0 on success.

    Examples:
        >>> run_demo("assetry-demo")  # doctest: +SKIP
    """
    from assetry.clients import DuckDBClient
    from assetry.demo import pipeline
    from assetry.demo.sql_stage import sql_assets

    out = out or sys.stdout
    root = pathlib.Path(directory).absolute()
    say = lambda text="": print(text, file=out)
    say(f"assetry demo: the nycflights13 pipeline into {root}")
    root.mkdir(parents=True, exist_ok=True)
    warehouse = DuckDBClient(root / "warehouse.duckdb")
    assets = [pipeline, *sql_assets(root, client=warehouse)]
    try:
        return _two_runs(assets, root, executor, say, out)
    finally:
        warehouse.close()


def _two_runs(assets: list, root: pathlib.Path, executor: str, say: Any, out: IO[str]) -> int:
    from assetry import materialize
    from assetry.reporting import make_reporter

    # One line per asset (partitions counted in it), as `assetry materialize` prints in a pipe.
    first = materialize(assets, root=root, executor=executor, reporter=make_reporter(out),
                        raise_on_error=False)
    t0 = time.perf_counter()
    second = materialize(assets, root=root, executor=executor, raise_on_error=False)
    took = time.perf_counter() - t0
    if second.materialized:
        say(f"second run: materialized {len(second.materialized)} steps (unexpected)")
    else:
        say(f"second run: skipped everything ({len(second.skipped)} steps up to date) in {took:.2f}s")
    if not (first.success and second.success):
        return 1
    summary = second.load("summary")
    say("summary: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
    catalog = root / "catalog.duckdb"
    say(f"catalog: {catalog}")
    say("try:")
    say(f"  assetry sql \"{EXAMPLE_QUERY}\" --catalog {catalog}")
    if first.materialized:  # a fresh demo: show what the query says (a rerun stays short)
        say(str(Catalog(catalog).sql(EXAMPLE_QUERY)))
    return 0
