"""The assetry.yaml spec: schema, paths, variables, and every problem at once."""

from __future__ import annotations

import pathlib
import re
import textwrap

import pytest

from assetry.cli.spec import ClientSpec, Spec, expand_env, load_spec
from assetry.errors import AssetError

FULL = """
assets:
  - pipeline.py
  - more
  - pkg.assets
root: ${DATA_DIR:-data}
catalog: state/catalog.duckdb
clients:
  warehouse:
    url: "postgresql://${PGUSER}@db.example.com/analytics"
  local:
    duckdb: local.duckdb
config:
  delays:
    min_flights: 10
    carrier: "${CARRIER:-UA}"
executor: threads
max_workers: 4
"""


def _write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    (tmp_path / "pipeline.py").write_text("", encoding="utf-8")
    (tmp_path / "more").mkdir(exist_ok=True)
    path = tmp_path / "assetry.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_full_spec_loads_with_paths_resolved_from_its_directory(tmp_path) -> None:
    """Every key is read; relative paths start at the spec's directory; names stay names."""
    spec = load_spec(_write(tmp_path, FULL), env={"PGUSER": "ana"})
    base = tmp_path.resolve()
    assert spec.path == base / "assetry.yaml"
    assert spec.assets == (str(base / "pipeline.py"), str(base / "more"), "pkg.assets")
    assert spec.root == base / "data"
    assert spec.catalog == base / "state" / "catalog.duckdb"
    assert spec.clients == {
        "warehouse": ClientSpec("warehouse", "url", "postgresql://ana@db.example.com/analytics"),
        "local": ClientSpec("local", "duckdb", str(base / "local.duckdb")),
    }
    assert spec.config == {"delays": {"min_flights": 10, "carrier": "UA"}}
    assert (spec.executor, spec.max_workers) == ("threads", 4)


def test_run_options_are_the_materialize_keywords_the_spec_sets(tmp_path) -> None:
    """run_options() gives only what the spec sets, ready for materialize(**options)."""
    spec = load_spec(_write(tmp_path, "assets: [pipeline.py]\nexecutor: sync\n"), env={})
    assert spec.run_options() == {"executor": "sync"}


def test_minimal_spec_leaves_the_rest_unset(tmp_path) -> None:
    """Only assets: is required; other keys default to None or empty."""
    spec = load_spec(_write(tmp_path, "assets: [pkg.pipeline]\n"), env={})
    assert spec == Spec(tmp_path.resolve() / "assetry.yaml", assets=("pkg.pipeline",))


def test_environment_variables_expand_with_defaults(monkeypatch, tmp_path) -> None:
    """${VAR} reads the environment (os.environ by default); ${VAR:-x} falls back to x."""
    monkeypatch.setenv("PGUSER", "bob")
    monkeypatch.setenv("DATA_DIR", "/srv/data")
    spec = load_spec(_write(tmp_path, FULL))
    assert spec.clients["warehouse"].value == "postgresql://bob@db.example.com/analytics"
    assert spec.root == pathlib.Path("/srv/data")


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A}", {"A": ""}, ""),
        ("a$${A}b", {}, "a${A}b"),
        ("$HOME stays", {}, "$HOME stays"),
        ("${A}-${B:-}", {"A": "1"}, "1-"),
    ],
    ids=["set", "default", "empty-takes-default", "empty", "escaped", "bare-dollar", "two"],
)
def test_expand_env_follows_the_shell(text, env, expected) -> None:
    """Expansion works like the shell's ${VAR} and ${VAR:-default}; $$ is a literal $."""
    assert expand_env(text, env) == expected


def test_malformed_reference_is_an_error() -> None:
    """A reference that is not ${NAME} or ${NAME:-default} is named in the error."""
    with pytest.raises(AssetError, match=r"root: malformed variable reference '\$\{1A\}'"):
        expand_env("${1A}", {}, "root")


def test_unset_variable_names_it_and_the_key_path(tmp_path) -> None:
    """An unset variable without default is an error naming the variable and the key."""
    with pytest.raises(
        AssetError, match=r"clients\.warehouse\.url: environment variable 'PGUSER' is not set"
    ):
        load_spec(_write(tmp_path, FULL), env={})


def test_every_problem_is_listed_at_once_one_line_each(tmp_path) -> None:
    """Unknown keys and wrong types are all reported together, each with its key path."""
    bad = """
    assets: [pipeline.py, missing.py, "not a module!"]
    io: parquett
    executor: 3
    max_workers: 0
    clients:
      warehouse: {url: 5}
      both: {url: "sqlite://", duckdb: x.duckdb}
      neither: {}
      odd: {duckdb: a.duckdb, user: me}
      scalar: 5
    config: {delays: 3}
    asets: []
    """
    with pytest.raises(AssetError) as info:
        load_spec(_write(tmp_path, bad), env={})
    head, *lines = str(info.value).splitlines()
    assert head.endswith("has 12 problems:")
    expected = [
        r"^asets: unknown key; did you mean 'assets'\?",
        r"^assets\[1\]: 'missing.py' does not exist",
        r"^assets\[2\]: 'not a module!' is neither a directory, a \.py file nor a dotted",
        r"^clients\.both: expected exactly one of 'url' or 'duckdb'$",
        r"^clients\.neither: expected exactly one of 'url' or 'duckdb'$",
        r"^clients\.odd\.user: unknown key; expected one of url, duckdb$",
        r"^clients\.scalar: expected a mapping with 'url' or 'duckdb', got int 5$",
        r"^clients\.warehouse\.url: expected an SQLAlchemy URL, got int 5$",
        r"^config\.delays: expected a mapping of names, got int 3$",
        r"^executor: expected one of sync, threads, processes, dask, got int 3$",
        r"^io: no longer a spec key; the spec never applied it; set io= on each @asset",
        r"^max_workers: expected a whole number of at least 1, got int 0$",
    ]
    assert len(lines) == len(expected)
    for pattern, line in zip(expected, lines):
        assert re.search(pattern, line), (pattern, line)


def test_max_workers_may_come_from_a_variable(tmp_path) -> None:
    """A string of digits (as ${VAR} expansion yields) is a whole number."""
    spec = load_spec(_write(tmp_path, 'assets: [pipeline.py]\nmax_workers: "${W:-8}"\n'), env={})
    assert spec.max_workers == 8


def test_missing_assets_key_is_a_problem(tmp_path) -> None:
    """A spec without assets: says what to list."""
    with pytest.raises(AssetError, match=r"assets: missing; list the modules"):
        load_spec(_write(tmp_path, "root: data\n"), env={})


def test_invalid_yaml_gives_file_line_and_column(tmp_path) -> None:
    """A YAML syntax error names the spec file and the position."""
    path = _write(tmp_path, "assets: [a\nroot: x\n")
    with pytest.raises(AssetError, match=r"assetry\.yaml:\d+:\d+: invalid YAML"):
        load_spec(path, env={})


def test_top_level_must_be_a_mapping(tmp_path) -> None:
    """A spec that is a list is rejected with what was expected."""
    with pytest.raises(AssetError, match=r"expected a mapping of keys.*got list"):
        load_spec(_write(tmp_path, "- a\n- b\n"), env={})


def test_missing_spec_file(tmp_path) -> None:
    """A spec path that does not exist is an AssetError naming it."""
    with pytest.raises(AssetError, match=r"spec '.*nope\.yaml' does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_build_clients_makes_each_client_by_name(tmp_path) -> None:
    """build_clients() makes a DuckDBClient or SQLAlchemyClient per entry, by name."""
    from assetry.clients import DuckDBClient, SQLAlchemyClient

    text = """
    assets: [pipeline.py]
    clients:
      local: {duckdb: w.duckdb}
      lite: {url: "sqlite:///${DB_FILE:-lite.db}"}
    """
    clients = load_spec(_write(tmp_path, text), env={}).build_clients()
    assert list(clients) == ["local", "lite"]
    assert isinstance(clients["local"], DuckDBClient)
    assert isinstance(clients["lite"], SQLAlchemyClient)


def test_versions_key_is_read_and_checked(tmp_path) -> None:
    """`versions:` is a whole number >= 0 that reaches materialize(versions=N)."""
    spec = load_spec(_write(tmp_path, "assets: [pipeline.py]\nversions: ${KEEP:-0}\n"), env={})
    assert spec.versions == 0 and spec.run_options()["versions"] == 0
    with pytest.raises(AssetError, match=r"versions: expected a whole number of at least 0"):
        load_spec(_write(tmp_path, "assets: [pipeline.py]\nversions: -1\n"), env={})


def test_versions_key_reaches_the_run(tmp_path) -> None:
    """With `versions: 0` in the spec, a replaced product keeps no earlier version."""
    import subprocess
    import sys

    (tmp_path / "assetry.yaml").write_text("assets: [pipe.py]\nversions: 0\n", encoding="utf-8")
    source = "from assetry import asset\n\n@asset\ndef n() -> dict:\n    return {{'n': {}}}\n"
    for value in (1, 2):
        (tmp_path / "pipe.py").write_text(source.format(value), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "assetry", "materialize", str(tmp_path)],
                              cwd=tmp_path, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    kept = tmp_path / "data" / ".assetry" / "versions"
    assert not kept.exists() or not any(p.is_file() for p in kept.rglob("*"))
