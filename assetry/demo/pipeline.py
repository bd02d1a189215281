"""The flights pipeline: NYC's 2013 departures, cleaned, joined and summarised.

Eager and lazy inputs mixed on purpose: ``pl.LazyFrame`` parameters are real
Parquet scans, so only the columns a query uses are read.
"""

from __future__ import annotations

import datetime
import io
import zipfile

import polars as pl

from assetry import DailyPartitions, asset, checks
from assetry.demo.data import data_dir


def _csv(name: str) -> pl.DataFrame:
    return pl.read_csv(data_dir() / name, null_values=["NA"], infer_schema_length=10_000)


@asset(description="All 336,776 departures from NYC airports in 2013, as shipped.")
def flights_raw() -> pl.DataFrame:
    with zipfile.ZipFile(data_dir() / "flights.csv.zip") as zf:
        member = next(n for n in zf.namelist() if n.endswith(".csv"))
        return pl.read_csv(io.BytesIO(zf.read(member)), null_values=["NA"], infer_schema_length=50_000)


@asset(description="Carrier codes and names.")
def airlines() -> pl.DataFrame:
    return _csv("airlines.csv")


@asset(description="Hourly weather at the three NYC airports.")
def weather() -> pl.DataFrame:
    return _csv("weather.csv").with_columns(
        pl.col("time_hour").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False)
    )


@asset(description="Aircraft by tail number.")
def planes() -> pl.DataFrame:
    return _csv("planes.csv").rename({"year": "plane_year"})


@asset(description="Flights that departed, with a date column.")
def flights(flights_raw: pl.LazyFrame) -> pl.DataFrame:
    return (
        flights_raw.filter(pl.col("dep_time").is_not_null() & pl.col("arr_delay").is_not_null())
        .with_columns(
            date=pl.date(pl.col("year"), pl.col("month"), pl.col("day")),
            time_hour=pl.col("time_hour").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False),
        )
        .drop("year", "month", "day")
        .collect()
    )


def mean_delays(frame: pl.LazyFrame, by: str | list[str]) -> pl.LazyFrame:
    """Flight count and mean departure/arrival delay per group."""
    return frame.group_by(by).agg(
        pl.len().alias("n_flights"),
        pl.col("dep_delay").mean().round(2).alias("mean_dep_delay"),
        pl.col("arr_delay").mean().round(2).alias("mean_arr_delay"),
    )


@asset(schema={"carrier": pl.String, "name": pl.String, "n_flights": pl.UInt32,
               "mean_dep_delay": pl.Float64, "mean_arr_delay": pl.Float64})
def carrier_delays(flights: pl.LazyFrame, airlines: pl.DataFrame, min_flights: int = 1000) -> pl.DataFrame:
    """Delays per carrier with at least ``min_flights`` flights, worst first."""
    return (
        mean_delays(flights, "carrier")
        .filter(pl.col("n_flights") >= min_flights)
        .join(airlines.lazy(), on="carrier", how="left")
        .select("carrier", "name", "n_flights", "mean_dep_delay", "mean_arr_delay")
        .sort("mean_arr_delay", descending=True)
        .collect()
    )


@asset(description="One Parquet file per carrier: a variable number of outputs.")
def flights_by_carrier(flights: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {key[0]: part for key, part in flights.partition_by("carrier", as_dict=True).items()}


@asset
def weather_delays(flights: pl.LazyFrame, weather: pl.LazyFrame) -> pl.DataFrame:
    """Departure delay by hourly precipitation and visibility at the origin."""
    joined = flights.join(weather, on=["origin", "time_hour"], how="inner")
    return (
        mean_delays(
            joined.with_columns(
                rain=pl.when(pl.col("precip") > 0).then(pl.lit("wet")).otherwise(pl.lit("dry")),
                low_visibility=pl.col("visib") < 2,
            ),
            ["rain", "low_visibility"],
        )
        .sort("rain", "low_visibility")
        .collect()
    )


@asset
def plane_age_delays(flights: pl.LazyFrame, planes: pl.LazyFrame) -> pl.DataFrame:
    """Delay by the decade the plane was built."""
    decade = (pl.col("plane_year") // 10 * 10).cast(pl.Int64).alias("decade")
    return (
        mean_delays(flights.join(planes, on="tailnum", how="inner").with_columns(decade), "decade")
        .drop_nulls("decade")
        .sort("decade")
        .collect()
    )


@asset
def summary(
    carrier_delays: pl.DataFrame,
    flights_by_carrier: dict[str, pl.LazyFrame],
    weather_delays: pl.DataFrame,
    plane_age_delays: pl.DataFrame,
) -> dict:
    """A few headline numbers for the year."""
    worst = carrier_delays.row(0, named=True)
    wet = float(weather_delays.filter(pl.col("rain") == "wet")["mean_dep_delay"].mean())  # type: ignore[arg-type]
    dry = float(weather_delays.filter(pl.col("rain") == "dry")["mean_dep_delay"].mean())  # type: ignore[arg-type]
    return {
        "carriers": len(flights_by_carrier),
        "flights": int(carrier_delays["n_flights"].sum()),
        "worst_carrier": f"{worst['name']} ({worst['carrier']})",
        "worst_mean_arr_delay_min": worst["mean_arr_delay"],
        "wet_vs_dry_dep_delay_min": [round(wet, 1), round(dry, 1)],
        "plane_decades": plane_age_delays["decade"].to_list(),
    }


# -- partitions and checks ------------------------------------------------------------------
# A new day costs one partition: widen DailyPartitions(end=...) and only that day runs,
# then monthly_delays once. Checks run before a value is stored; see docs/partitions.md.


@asset(partitions=DailyPartitions("2013-01-01", "2013-12-31"), checks=[checks.row_count(min=1)])
def daily_flights(partition: datetime.date, flights: pl.LazyFrame) -> pl.DataFrame:
    """One day of departures, stored at daily_flights/date=<day>/data.parquet."""
    return flights.filter(pl.col("date") == partition).collect()


@asset
def monthly_delays(daily_flights: pl.LazyFrame) -> pl.DataFrame:
    """Flights and mean delays per month: every daily partition in one hive-partitioned scan."""
    by_month = daily_flights.with_columns(month=pl.col("date").dt.month())
    return mean_delays(by_month, "month").sort("month").collect()


flights = flights.with_checks(
    checks.not_null("carrier", "origin", "dest"),
    checks.accepted_values("origin", ["JFK", "LGA", "EWR"]),
    checks.row_count(min=1),
)
carrier_delays = carrier_delays.with_checks(
    checks.unique("carrier"),
    checks.warn(checks.in_range("mean_arr_delay", min=-30, max=30)),
)
