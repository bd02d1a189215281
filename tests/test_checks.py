"""Checks: built-in and custom, blocking and warning, and their rows in the catalog."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest

from assetry import AssetGraphError, Catalog, CheckError, checks, materialize
from assetry.checks import CheckOutcome, CheckResult, run_checks

FRAME = pl.DataFrame({
    "carrier": ["AA", "UA", "DL", None],
    "origin": ["JFK", "LGA", "EWR", "BOS"],
    "delay": [1.0, -5.0, 30.0, 2000.0],
    "flight": [1, 2, 2, 3],
})

CASES = [
    (checks.not_null("origin"), "not_null(origin)", True, "no nulls in origin"),
    (checks.not_null("carrier", "origin"), "not_null(carrier, origin)", False, "carrier has 1 null"),
    (checks.unique("origin"), "unique(origin)", True, "4 rows, all distinct"),
    (checks.unique("flight"), "unique(flight)", False, "1 duplicate row of flight, for example 2"),
    (checks.row_count(min=1), "row_count(min=1)", True, "4 rows"),
    (checks.row_count(min=1, max=3), "row_count(min=1, max=3)", False, "4 rows, more than 3"),
    (checks.accepted_values("origin", ["JFK", "LGA", "EWR", "BOS"]),
     "accepted_values(origin, ['JFK', 'LGA', 'EWR', 'BOS'])", True, "every value of origin is accepted"),
    (checks.accepted_values("origin", ["JFK", "LGA", "EWR"]),
     "accepted_values(origin, ['JFK', 'LGA', 'EWR'])", False,
     "1 value of origin not accepted, for example 'BOS'"),
    (checks.in_range("delay", min=-60, max=3000), "in_range(delay, min=-60, max=3000)", True,
     "every value of delay within [-60, 3000] (min -5.0, max 2000.0)"),
    (checks.in_range("delay", min=-60, max=1440), "in_range(delay, min=-60, max=1440)", False,
     "1 value of delay not within [-60, 1440] (min -5.0, max 2000.0)"),
    (checks.schema_matches(FRAME.schema), ("schema_matches(carrier: String, origin: String, "
     "delay: Float64, flight: Int64)"), True, "4 columns as declared"),
    (checks.schema_matches({"carrier": pl.String}), "schema_matches(carrier: String)", False,
     "extra column 'origin' (String); extra column 'delay' (Float64); extra column 'flight' (Int64)"),
]


@pytest.mark.parametrize("kind", ["polars", "lazy", "arrow"])
@pytest.mark.parametrize(("check", "name", "passed", "detail"), CASES, ids=[c[1] for c in CASES])
def test_builtin_checks_name_pass_fail_and_detail(check, name, passed, detail, kind):
    """Each built-in is named by its call and works on DataFrame, LazyFrame and Arrow alike."""
    value = {"polars": FRAME, "lazy": FRAME.lazy(), "arrow": FRAME.to_arrow()}[kind]
    [outcome] = run_checks("flights", value, [check])
    assert outcome == CheckOutcome(name, passed, True, detail)


def test_missing_column_fails_with_the_columns_listed():
    """A check on a column that does not exist fails and lists the columns there are."""
    [outcome] = run_checks("t", FRAME, [checks.not_null("tailnum")])
    assert not outcome.passed
    assert outcome.detail == "no column 'tailnum' (columns: carrier, origin, delay, flight)"


def test_custom_checks_bool_result_and_raising():
    """A function returns a bool or a CheckResult; one that raises fails with the exception."""
    def positive(value):
        return bool((value["delay"] > 0).all())

    def explained(value):
        return CheckResult(False, "2 suspicious rows")

    def broken(value):
        raise KeyError("nope")

    outcomes = run_checks("t", FRAME, [positive, explained, broken, checks.warn(positive)])
    assert [(o.check, o.passed, o.blocking) for o in outcomes] == [
        ("positive", False, True), ("explained", False, True), ("broken", False, True),
        ("positive", False, False),
    ]
    assert outcomes[0].detail == "returned False"
    assert outcomes[1].detail == "2 suspicious rows"
    assert outcomes[2].detail == "raised KeyError: 'nope'"


def test_check_declarations_are_validated():
    """Nonsense arguments fail when the check is declared, not when it runs."""
    with pytest.raises(AssetGraphError, match="needs min=, max= or both"):
        checks.row_count()
    with pytest.raises(AssetGraphError, match="takes a list of values"):
        checks.accepted_values("origin", "JFK")
    with pytest.raises(AssetGraphError, match="one or more column names"):
        checks.not_null()
    with pytest.raises(AssetGraphError, match="asset 'x': checks= entry 42"):
        from assetry import asset

        @asset(checks=[42])
        def x() -> list:
            return []


PIPELINE = '''
import polars as pl
from assetry import asset, checks
from assetry.checks import CheckResult

def few_nulls(value: pl.DataFrame) -> CheckResult:
    n = value["carrier"].null_count()
    return CheckResult(n <= {allowed}, f"{{n}} null carriers")

def has_rows(value) -> bool:
    return value.height > 0

@asset(checks=[checks.not_null("carrier"), checks.row_count(min=1), has_rows])
def strict() -> pl.DataFrame:
    return pl.DataFrame({{"carrier": {carriers}}})

@asset(checks=[checks.warn(checks.not_null("carrier")), few_nulls])
def lenient() -> pl.DataFrame:
    return pl.DataFrame({{"carrier": {carriers}}})

@asset
def downstream(strict: pl.DataFrame) -> int:
    return strict.height
'''


def pipeline(files, carriers=("AA", "UA"), allowed=1):
    return files.module("pipe.py", PIPELINE.format(carriers=list(carriers), allowed=allowed))


def check_rows(files):
    return Catalog(files.catalog).sql(
        'SELECT asset, partition, "check", passed, blocking, detail FROM checks ORDER BY asset, "check"'
    )


def test_passing_checks_store_the_value_and_record_every_outcome(files):
    """Every outcome is a row of the checks table, with its detail."""
    result = materialize(pipeline(files), root=files.root)
    assert sorted(result.materialized) == ["downstream", "lenient", "strict"]
    rows = check_rows(files).filter(pl.col("asset") == "strict")
    assert rows.select("check", "passed", "blocking", "detail").rows() == [
        ("has_rows", True, True, None),
        ("not_null(carrier)", True, True, "no nulls in carrier"),
        ("row_count(min=1)", True, True, "2 rows"),
    ]


def test_blocking_failure_stores_nothing_and_blocks_downstream(files):
    """A failing blocking check fails the asset ('check failed: <name>'), stores nothing."""
    result = materialize(pipeline(files, carriers=("AA", None)), root=files.root, raise_on_error=False)
    assert result.failed == ["strict"]
    assert result.blocked == ["downstream"]
    assert result.reasons["strict"] == "check failed: not_null(carrier)"
    assert result.errors["strict"] == (
        "asset 'strict' failed check 'not_null(carrier)': carrier has 1 null"
    )
    assert not (files.root / "strict.parquet").exists()
    rows = check_rows(files).filter(pl.col("asset") == "strict")
    assert rows.filter(pl.col("check") == "not_null(carrier)")["passed"].to_list() == [False]
    with pytest.raises(CheckError, match="failed check 'not_null\\(carrier\\)'"):
        materialize(pipeline(files, carriers=("AA", None)), root=files.root)


def test_warning_stores_the_value_and_records_the_failure(files):
    """checks.warn(...) records a failed, non-blocking outcome; the asset is stored."""
    result = materialize(pipeline(files, carriers=("AA", None)), root=files.root, raise_on_error=False)
    assert "lenient" in result.materialized
    assert result.load("lenient").height == 2
    rows = check_rows(files).filter(pl.col("asset") == "lenient")
    assert rows.select("check", "passed", "blocking", "detail").rows() == [
        ("few_nulls", True, True, "1 null carriers"),
        ("not_null(carrier)", False, False, "carrier has 1 null"),
    ]


def test_custom_check_result_failure_names_the_function(files):
    """A custom check returning CheckResult(False, ...) fails the asset under its function's name."""
    result = materialize(
        pipeline(files, carriers=("AA", None), allowed=0), root=files.root, raise_on_error=False
    )
    assert result.reasons["lenient"] == "check failed: few_nulls"
    assert "1 null carriers" in result.errors["lenient"]


def test_checks_of_partitions_record_the_partition(files):
    """Each partition's outcomes carry its key; one failing partition fails alone."""
    mod = files.module("parts.py", """
        import polars as pl
        from assetry import StaticPartitions, asset, checks

        @asset(partitions=StaticPartitions(["a", "bb", "ccc"]),
               checks=[checks.row_count(max=2)])
        def part(partition: str) -> pl.DataFrame:
            return pl.DataFrame({"x": list(partition)})
    """)
    result = materialize(mod, root=files.root, raise_on_error=False)
    assert result.failed == ["part[ccc]"]
    assert result.reasons["part[ccc]"] == "check failed: row_count(max=2)"
    rows = check_rows(files).sort("partition")
    assert rows.select("partition", "passed", "detail").rows() == [
        ("a", True, "1 row"), ("bb", True, "2 rows"), ("ccc", False, "3 rows, more than 2"),
    ]


def test_checks_accept_arrow_values_returned_by_assets(files):
    """An asset returning a pyarrow.Table is checked without conversion by the user."""
    mod = files.module("arrow.py", """
        import pyarrow as pa
        from assetry import asset, checks

        @asset(checks=[checks.unique("k"), checks.accepted_values("k", [1, 2])])
        def table() -> pa.Table:
            return pa.table({"k": [1, 2]})
    """)
    result = materialize(mod, root=files.root)
    assert result.materialized == ["table"]
    assert isinstance(result.load("table", pa.Table), pa.Table)
