"""The flights demo's SQL stage: DuckDB summarises the ``flights`` Parquet file in place.

Three SQL assets on a DuckDB warehouse beside the demo's other products:
``carrier_month`` (a view: flights and mean departure delay per carrier and
month, read straight from ``flights.parquet``), ``route_stats`` (a table:
flights and mean arrival delay per route) and ``worst_routes`` (a Parquet
file streamed out of DuckDB: the 20 routes with the worst mean arrival delay).
The warehouse lives under the run's root, known only at run time, hence a
function that builds the assets. It defines assets only; running them is the
caller's.
"""

from __future__ import annotations

import os
import pathlib

from assetry.assets.decorator import Asset
from assetry.assets.sql import sql_asset, sql_dump
from assetry.clients import Client, DuckDBClient

__all__ = ["sql_assets"]

WORST_ROUTES = """
SELECT origin, dest, n_flights, mean_arr_delay
FROM {route_stats} AS r
WHERE n_flights >= 100            -- routes flown at least twice a week
ORDER BY mean_arr_delay DESC, origin, dest
LIMIT 20
"""


def sql_assets(root: str | os.PathLike[str], client: Client | None = None) -> list[Asset]:
    """The SQL stage on ``<root>/warehouse.duckdb`` (or on ``client``), to run with the pipeline.

    Examples:
        >>> from assetry import materialize
        >>> from assetry.demo import pipeline
        >>> stage = sql_assets("assetry-demo")
        >>> [a.name for a in stage]
        ['carrier_month', 'route_stats', 'worst_routes']
        >>> materialize([pipeline, *stage], root="assetry-demo")  # doctest: +SKIP
    """
    warehouse = client or DuckDBClient(pathlib.Path(root) / "warehouse.duckdb")

    @sql_asset(
        client=warehouse, kind="view", description="Flights and mean delay per carrier and month."
    )
    def carrier_month(flights):
        return """
            SELECT carrier,
                   CAST(date_trunc('month', date) AS DATE) AS month,
                   count(*) AS n_flights,
                   round(avg(dep_delay), 2) AS mean_dep_delay
            FROM {flights} AS f
            GROUP BY ALL
            ORDER BY carrier, month
        """

    @sql_asset(client=warehouse, description="Flights and mean arrival delay per route.")
    def route_stats(flights):
        return """
            SELECT origin, dest, count(*) AS n_flights, round(avg(arr_delay), 2) AS mean_arr_delay
            FROM {flights} AS f
            GROUP BY origin, dest
        """

    worst_routes = sql_dump(
        "worst_routes",
        WORST_ROUTES,
        warehouse,
        description="The 20 routes with the worst mean arrival delay, as Parquet.",
    )
    return [carrier_month, route_stats, worst_routes]
