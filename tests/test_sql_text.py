"""SQL is normalized as SQL: comments and whitespace outside literals never count, literals do.

Unit tests of ``normalize_sql`` (sqlglot's tokenizer, per dialect) and of the
fingerprint stand-in of a ``@sql_asset`` function, then end-to-end runs on
DuckDB: a comment-only or whitespace-only edit leaves the asset up to date and
skipped; an edit inside a string literal reruns it with ``code changed``.
"""

from __future__ import annotations

import time

import pytest
from conftest import PipelineFiles
from sql_fixtures import MYSQL_URL

from assetry import Catalog, materialize, sql_asset
from assetry.assets.sql_text import fingerprint_stand_in, normalize_sql
from assetry.clients import SQLAlchemyClient
from assetry.fingerprints import code_fingerprint

# -- normalize_sql ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SELECT a, b FROM t", "SELECT a,b\n  FROM   t"),
        ("SELECT a FROM t", "SELECT a -- the key\nFROM t"),
        ("SELECT a FROM t", "SELECT a /* a\nblock */ FROM t;"),
        ("SELECT sum(n) FROM t", "SELECT sum ( n )\tFROM t"),
        ("SELECT * FROM {flights}", "SELECT *\nFROM { flights } -- upstream"),
        ("SELECT x::int FROM t", "SELECT x :: int FROM t"),
        ("SELECT a FROM t GROUP BY a", "SELECT a FROM t GROUP\n    BY a"),
    ],
    ids=["whitespace", "line-comment", "block-comment", "call-spacing", "placeholder", "cast",
         "two-word-keyword"],
)
def test_comments_and_whitespace_do_not_count(a: str, b: str) -> None:
    """Whitespace and comments outside literals leave the normalized SQL unchanged."""
    assert normalize_sql(a) == normalize_sql(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SELECT 'a b' FROM t", "SELECT 'a  b' FROM t"),
        ("SELECT '-- no' FROM t", "SELECT '-- not' FROM t"),
        ("SELECT '/* x */' FROM t", "SELECT '/* y */' FROM t"),
        ('SELECT "a b" FROM t', 'SELECT "a  b" FROM t'),
        ("SELECT a FROM t", "SELECT b FROM t"),
    ],
    ids=["spaces-in-literal", "dashes-in-literal", "block-in-literal", "quoted-name", "token"],
)
def test_literals_and_tokens_count(a: str, b: str) -> None:
    """A change inside a string literal or a quoted name, or of a token, changes the form."""
    assert normalize_sql(a) != normalize_sql(b)


def test_mysql_backticks_and_hash_comments() -> None:
    """MySQL: backticks quote names (kept exactly), ``#`` starts a comment, ``"`` is a string."""
    form = normalize_sql('SELECT `a  b`, "x  y" # why\nFROM t', "mysql")
    assert form == 'SELECT `a  b`, "x  y" FROM t'
    assert normalize_sql('SELECT "x y" FROM t', "mysql") != normalize_sql(
        'SELECT "x  y" FROM t', "mysql"
    )


def test_postgres_dollar_strings_are_literals() -> None:
    """PostgreSQL: a ``$$`` string is a literal, comments inside it count."""
    a = normalize_sql("SELECT $$a -- b$$ AS s", "postgresql")
    assert a == "SELECT $$a -- b$$ AS s"
    assert a != normalize_sql("SELECT $$a -- c$$ AS s", "postgresql")


def test_double_quoted_names_survive_in_every_dialect() -> None:
    """A double-quoted name is kept byte for byte, spaces and quotes inside included."""
    for dialect in (None, "duckdb", "postgresql", "sqlite"):
        assert normalize_sql('SELECT "a ""b""  c"  FROM t', dialect) == 'SELECT "a ""b""  c" FROM t'


def test_unreadable_text_is_kept_whole() -> None:
    """Text the tokenizer cannot read (an unterminated literal) counts character by character."""
    assert normalize_sql("  SELECT 'open  ") == "SELECT 'open"
    assert normalize_sql("SELECT 'open") != normalize_sql("SELECT  'open")


def test_normalization_is_cached_per_text() -> None:
    """A text is tokenized once per dialect; later calls are cache hits and cost microseconds."""
    text = "SELECT a, b FROM t WHERE c = 'cached' -- " + "x" * 50
    normalize_sql(text, "duckdb")
    hits = normalize_sql.cache_info().hits
    start = time.perf_counter()
    for _ in range(1000):
        normalize_sql(text, "duckdb")
    assert normalize_sql.cache_info().hits == hits + 1000
    assert time.perf_counter() - start < 0.05


# -- the code fingerprint of a @sql_asset function -------------------------------------------


def _fp(*lines: str) -> str:
    """The code fingerprint of the stand-in of a function ``q`` written as ``lines``."""
    namespace: dict[str, object] = {}
    exec(compile("\n".join(lines) + "\n", "<test>", "exec"), namespace)  # noqa: S102
    return code_fingerprint(fingerprint_stand_in(namespace["q"], "duckdb"))  # type: ignore[arg-type]


def test_stand_in_ignores_sql_comments_but_not_literals_or_python() -> None:
    """The stand-in ignores SQL comments, SQL spacing and docstrings; not literals or Python."""
    plain = _fp("def q(flights):", "    return \"SELECT c FROM {flights} WHERE c = 'x'\"")
    commented = _fp(
        "def q(flights):",
        "    'Docstrings do not count.'",
        "    return \"SELECT c -- the key\\n  FROM {flights}   WHERE c = 'x'\"",
    )
    literal = _fp("def q(flights):", "    return \"SELECT c FROM {flights} WHERE c = 'y'\"")
    python = _fp("def q(flights, n=1):", "    return \"SELECT c FROM {flights} WHERE c = 'x'\" if n else ''")
    assert plain == commented
    assert plain != literal
    assert plain != python


# -- end to end on DuckDB ------------------------------------------------------------------------

PIPELINE = '''
import polars as pl
from assetry import asset, sql_asset, sql_dump
from assetry.clients import DuckDBClient

warehouse = DuckDBClient({db!r})

@asset
def flights() -> pl.DataFrame:
    return pl.DataFrame({{"carrier": ["AA", "UA", "UA"], "delay": [1.0, 2.0, 4.0]}})

@sql_asset(client=warehouse)
def stats(flights, min_delay=0):
    return f"""{query}"""

stats_file = sql_asset.from_file("stats.sql", client=warehouse, name="stats_file")

top = sql_dump("top", """{dump}""", warehouse)
'''

QUERY = (
    "SELECT carrier, avg(delay) AS d, 'all' AS l FROM {{flights}} "
    "WHERE delay >= {min_delay} GROUP BY carrier"
)
FILE_SQL = "SELECT carrier, count(*) AS n FROM {flights} WHERE carrier <> 'DL' GROUP BY carrier"
DUMP = "SELECT * FROM {flights} WHERE delay > 1"


def _write(files: PipelineFiles, query: str, file_sql: str, dump: str):
    (files.dir / "stats.sql").write_text(file_sql, encoding="utf-8")
    db = files.dir.parent / "warehouse.duckdb"
    return files.module("pipe.py", PIPELINE.format(db=str(db), query=query, dump=dump))


def _reasons(files: PipelineFiles, module) -> dict[str, str]:
    status = Catalog(files.catalog).status(module)
    return dict(zip(status["asset"], status["reason"], strict=True))


SQL_ASSETS = ("stats", "stats_file", "top")


@pytest.fixture
def built(files: PipelineFiles) -> PipelineFiles:
    """The pipeline materialized once, as written above."""
    module = _write(files, QUERY, FILE_SQL, DUMP)
    assert set(materialize(module, root=files.root).materialized) == {"flights", *SQL_ASSETS}
    return files


@pytest.mark.parametrize(
    "edit",
    [
        lambda q: q.replace(" FROM ", "\n  -- one row per carrier\n  FROM "),
        lambda q: q.replace(" FROM ", " /* the\nupstream */ FROM ") + " -- trailing",
        lambda q: "\n\n   " + q.replace(", ", " ,\n\t").replace(" ", "   ") + " ;\n",
    ],
    ids=["line-comment", "block-comment", "whitespace"],
)
def test_comment_or_whitespace_edit_keeps_sql_assets_fresh(
    built: PipelineFiles, edit: object
) -> None:
    """A comment-only or whitespace-only edit of any SQL asset's query reruns nothing."""
    module = _write(built, edit(QUERY), edit(FILE_SQL), edit(DUMP))  # type: ignore[operator]
    assert _reasons(built, module) == dict.fromkeys(("flights", *SQL_ASSETS), "up to date")
    result = materialize(module, root=built.root)
    assert result.materialized == []
    assert set(result.skipped) == {"flights", *SQL_ASSETS}


def test_edit_inside_a_literal_is_a_code_change(built: PipelineFiles) -> None:
    """Changing a string literal's content (even by a space or a ``--``) reruns that asset."""
    module = _write(
        built,
        QUERY.replace("'all'", "'all -- x'"),
        FILE_SQL.replace("'DL'", "'DL '"),
        DUMP,
    )
    reasons = _reasons(built, module)
    assert reasons["stats"].startswith("code changed")
    assert reasons["stats_file"].startswith("code changed")
    assert reasons["top"] == "up to date"
    result = materialize(module, root=built.root)
    assert set(result.materialized) == {"stats", "stats_file"}
    assert result.load("stats")["l"].to_list() == ["all -- x", "all -- x"]


def test_placeholders_and_config_still_work(built: PipelineFiles) -> None:
    """``{placeholders}`` read the upstream and config in an f-string still renders after an edit."""
    module = _write(built, QUERY + " -- c", FILE_SQL, DUMP)
    result = materialize(module, root=built.root)
    assert result.materialized == []
    assert result.load("stats").sort("carrier")["d"].to_list() == [1.0, 3.0]
    result = materialize(module, root=built.root, config={"stats": {"min_delay": 2}})
    assert result.materialized == ["stats"]
    frame = result.load("stats")
    assert frame.columns == ["carrier", "d", "l"]
    assert frame.rows() == [("UA", 3.0, "all")]
    assert result.load("top").height == 2


def test_python_around_the_sql_still_counts(files: PipelineFiles) -> None:
    """A change in the Python of a ``@sql_asset`` function (not its SQL) still reruns it."""
    body = (
        "import polars as pl\nfrom assetry import asset, sql_asset\n"
        "from assetry.clients import DuckDBClient\n\n"
        f"warehouse = DuckDBClient({str(files.dir.parent / 'w.duckdb')!r})\n\n"
        "@asset\ndef n() -> pl.DataFrame:\n    return pl.DataFrame({'x': [1, 2]})\n\n"
        "@sql_asset(client=warehouse)\ndef total(n, wide=False):\n"
        "    return 'SELECT sum(x) AS s FROM {n}' if not wide else 'SELECT 0 AS s'\n"
    )
    materialize(files.module("p.py", body), root=files.root)
    module = files.module("p.py", body.replace("SELECT 0 AS s", "SELECT 1 AS s"))
    assert _reasons(files, module)["total"].startswith("code changed")


def test_mysql_quoting_survives_normalization() -> None:
    """A MySQL asset's backtick-quoted name keeps its spaces; its ``#`` comment is dropped."""
    client = SQLAlchemyClient(MYSQL_URL)  # connects only when a statement runs

    @sql_asset(client=client)
    def q():
        return "SELECT `a  b` # note\nFROM t"

    assert q.spec.extra["sql"] == "SELECT `a  b` FROM t"
    client.close()
