"""The ``assetry`` command: materialize, status, accept, restore, gc, diff, list, sql, logs, plot, ui, demo.

It owns parsing the command line, laying its options over the defaults of an
``assetry.yaml`` spec (the command line wins), printing, and the exit codes:
0 for success, 1 when an asset failed or was blocked, 2 for bad usage or a
target that cannot be loaded, 130 after Ctrl-C (SIGINT) and 143 after SIGTERM
stopped a run. Every error assetry raises on purpose before a
run (:class:`~assetry.errors.AssetError`) is printed as ``assetry: error: ...``
without a traceback. The work itself belongs to the library: targets, the
runner, the catalog, the reporters and the plot. Nothing here is imported by
``import assetry``, so click, rich and yaml cost nothing to library users.

Longer than 400 lines: one function per command, each with its options and
examples for ``--help``, and the few printers they share; the work is elsewhere.
"""

from __future__ import annotations

import atexit
import gc as python_gc  # the module: "gc" is the name of a command here
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Sequence
from typing import IO, Any

import click

from assetry._surface import command_line
from assetry.assets import AssetGraph, is_source
from assetry.catalog import Catalog
from assetry.cli.project import (
    DEFAULT_ROOT,
    Project,
    load_project,
    parse_partitions,
    project_catalog,
)
from assetry.engine import materialize as run
from assetry.engine.executors import EXECUTORS
from assetry.engine.housekeeping import collect_garbage, parse_age, restore_asset, version_usage
from assetry.engine.restore import DEFAULT_VERSIONS
from assetry.engine.status import dry_run, plan_counts, plan_text, plan_word
from assetry.errors import AssetError, MaterializeError
from assetry.io_managers import default_for_annotation
from assetry.notebook import graph_nodes
from assetry.plot import write_plot
from assetry.records import DEFAULT_CATALOG
from assetry.reporting import make_reporter

__all__ = ["cli", "main"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# -- printing --------------------------------------------------------------------------------


def print_frame(df: Any, stream: IO[str] | None = None) -> None:
    """Print a polars frame: a Rich table on a terminal, aligned plain text elsewhere.

    Examples:
        >>> import io, polars as pl
        >>> out = io.StringIO()
        >>> print_frame(pl.DataFrame({"asset": ["a"], "rows": [3]}), out)
        >>> out.getvalue().splitlines()
        ['asset  rows', 'a      3']
    """
    stream = stream if stream is not None else sys.stdout
    columns = list(df.columns)
    rows = [[_text(v) for v in row] for row in df.iter_rows()]
    if getattr(stream, "isatty", lambda: False)():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(Text(v) for v in row))
        Console(file=stream, highlight=False).print(table)
        return
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    for line in [columns, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip(), file=stream)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as SQL and polars spell them
    return "" if value is None else str(value)


def _one_line(text: str) -> str:
    """Click's messages may span lines ("No such option. Did you mean ...?"): join them."""
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def _echo_error(message: str) -> None:
    click.echo(f"assetry: error: {message}", err=True)


def _fail(message: str, code: int = 2) -> None:
    lines = str(message).strip().splitlines() or ["unknown error"]
    _echo_error(lines[0])
    for line in lines[1:]:
        click.echo(f"  {line}", err=True)
    raise click.exceptions.Exit(code)


class _Group(click.Group):
    """A group that turns assetry's own errors and click's usage errors into one line.

    Usage errors (an unknown option, a missing argument) are one
    ``assetry: error: ...`` line that ends with where to find help, exit code 2,
    instead of click's three-line usage block.
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            with command_line():
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "assetry"
            _echo_error(f"{_one_line(exc.format_message()).rstrip('.')}; see '{where} --help'")
            sys.exit(2)
        except click.ClickException as exc:
            _echo_error(_one_line(exc.format_message()))
            sys.exit(exc.exit_code)
        except click.Abort:
            _echo_error("interrupted")
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MaterializeError as exc:
            _fail(str(exc), 1)
        except AssetError as exc:
            _fail(str(exc), 2)


# -- options shared by several commands ------------------------------------------------------

_select = click.option(
    "--select", "-s", multiple=True, metavar="S",
    help="Assets to include: NAME, +NAME (with upstream), NAME+ (with downstream). Repeatable.",
)


def _where(command: Any) -> Any:
    """TARGET and the options saying where products, catalog and config come from."""
    for option in (
        click.option("--config", "-c", multiple=True, metavar="ASSET.PARAM=VALUE",
                     help="Override a config parameter; VALUE is read as YAML. Repeatable."),
        click.option("--catalog", metavar="FILE",
                     help=f"The DuckDB catalog [default: <root>/{DEFAULT_CATALOG}]."),
        click.option("--root", metavar="DIR",
                     help=f"Directory for file products [default: {DEFAULT_ROOT}, in the project]."),
        click.argument("target", metavar="[TARGET]", required=False),
    ):
        command = option(command)
    return command


@click.group(cls=_Group, context_settings=_CONTEXT)
@click.version_option(package_name="assetry", prog_name="assetry")
def cli() -> None:
    """Typed assets on dataframes: run what is stale, skip what is fresh.

    TARGET is a dotted module path (pkg.pipeline), a .py file, a directory of
    them, or an assetry.yaml spec (or a directory holding one). A spec supplies
    defaults for root, catalog, config, executor and max_workers; options given
    here win. Without TARGET, the assetry.yaml found from here upward. Paths of
    the project (root, catalog) resolve from the spec's directory, or a file or
    folder TARGET's, so every command gives the same answer from any directory;
    paths given as options resolve from the current directory.

    Exit codes: 0 success, 1 an asset failed, 2 bad usage or a bad target,
    130 stopped by Ctrl-C (SIGINT), 143 stopped by SIGTERM.
    """


@cli.command(context_settings=_CONTEXT)
@_where
@_select
@click.option("--force", is_flag=True, help="Run the selected assets even if they are fresh.")
@click.option("--executor", type=click.Choice(EXECUTORS), help="How to run [default: threads].")
@click.option("--workers", type=click.IntRange(min=1), metavar="N", help="Parallel tasks at most.")
@click.option("--partitions", metavar="KEYS",
              help="Partition keys, comma-separated, or FIRST..LAST.")
@click.option("--rebuild-catalog", is_flag=True,
              help="Rebuild the catalog from the products first.")
@click.option("--dry-run", "plan_only", is_flag=True,
              help="Print the plan (will run, may run, fresh) and exit; nothing runs or is written.")
@click.option("--verbose", "-v", is_flag=True,
              help="One line per partition, and the traceback of each failure.")
@click.option("--pdb", "post_mortem", is_flag=True,
              help="Open the debugger where the first failing asset raised (sync executor).")
def materialize(
    select: tuple[str, ...], force: bool, partitions: str | None, rebuild_catalog: bool,
    verbose: bool, post_mortem: bool, plan_only: bool = False, **where: Any,
) -> None:
    """Run the stale assets of TARGET and record them in the catalog.

    Ctrl-C (or SIGTERM) stops scheduling and gives running assets a grace
    period (ASSETRY_GRACE_S, 10 s) to finish; a second Ctrl-C stops at once.

    \b
    Examples:
      assetry materialize pipeline.py
      assetry materialize flights/ --select +delays --config delays.min_flights=10
      assetry materialize assetry.yaml --executor processes --workers 4 --force
      assetry materialize pipeline.py -v --pdb
      assetry materialize assetry.yaml --select +delays --dry-run
    """
    if post_mortem and where.get("executor") not in (None, "sync"):
        raise click.UsageError(
            f"--pdb debugs in this process, so it needs the sync executor, not "
            f"--executor {where['executor']}"
        )
    if plan_only and rebuild_catalog:
        raise click.UsageError("--dry-run writes nothing, so it cannot --rebuild-catalog")
    project = load_project(**where)
    if plan_only:
        frame = dry_run(
            project.assets, catalog=project.catalog_object(), select=list(select) or None,
            force=force, config=project.config or None, root=project.root,
            partitions=parse_partitions(partitions),
        )
        plan_table(frame, sys.stdout)
        return
    if rebuild_catalog:
        _rebuild(project)
    hint = _logs_hint(where)
    try:
        result = run(
            project.assets, select=list(select) or None, force=force,
            root=project.run_root, catalog=project.catalog,
            executor="sync" if post_mortem else project.executor or "threads",
            max_workers=project.max_workers,
            versions=DEFAULT_VERSIONS if project.versions is None else project.versions,
            config=project.config or None, partitions=parse_partitions(partitions),
            raise_on_error=False, reporter=make_reporter(sys.stderr, verbose=verbose, hint=hint),
        )
    except KeyboardInterrupt as exc:  # recorded: the run is 'interrupted' in the catalog
        signum = getattr(exc, "signum", None) or signal.SIGINT
        _echo_error(
            f"interrupted by {signal.Signals(signum).name}; finished assets are recorded, "
            "the others run next time"
        )
        _exit_now(128 + signum)
    if post_mortem and result.exception is not None:
        _debug(result)
    raise click.exceptions.Exit(0 if result.success else 1)


def _logs_hint(where: dict[str, Any]) -> str:
    """``assetry logs TARGET {asset} [--root DIR] [--catalog FILE]``, for the failed ones."""
    target = [_quoted(where["target"])] if where.get("target") else []
    words = ["assetry", "logs", *target, "{asset}"]
    for option in ("root", "catalog"):
        if where.get(option):
            words += [f"--{option}", _quoted(str(where[option]))]
    return " ".join(words)


def _quoted(word: str) -> str:
    import shlex

    return shlex.quote(word).replace("{", "{{").replace("}", "}}")


def _debug(result: Any) -> None:
    """Post-mortem debugging of the first failure, in the asset's own frame."""
    import pdb  # noqa: T100 - --pdb asks for the debugger

    exc = result.exception
    if exc.__traceback__ is None:
        return
    name = result.failed[0] if result.failed else "the asset"
    click.echo(f"assetry: post-mortem of {name}: {type(exc).__name__}: {exc}", err=True)
    pdb.post_mortem(exc.__traceback__)


def _exit_now(code: int) -> None:
    """Exit with ``code``; at once if an interrupted asset's thread still runs.

    Python waits for pool threads at exit, so a thread stuck in an asset would
    keep the stopped command alive; the run is recorded, so nothing is lost.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    main = threading.main_thread()
    if any(t.is_alive() and not t.daemon and t is not main for t in threading.enumerate()):
        os._exit(code)
    raise click.exceptions.Exit(code)


def _rebuild(project: Project) -> None:
    project.catalog.parent.mkdir(parents=True, exist_ok=True)
    aside = project.catalog_object().rebuild(
        project.assets, root=project.run_root, config=project.config or None,
    )
    moved = f"; the old one is at {aside}" if aside else ""
    click.echo(f"assetry: rebuilt catalog {project.catalog}{moved}", err=True)


@cli.command(context_settings=_CONTEXT)
@_where
@_select
def status(select: tuple[str, ...], **where: Any) -> None:
    """Show what a run would do with each asset, and why, without running anything.

    An asset "will run" when its own inputs changed, "may run" when only an
    upstream reruns first (it reruns if that upstream's data changes), "will
    restore" when a kept earlier product matches (nothing runs), or is fresh.
    Assets with kept versions also show how many and the bytes they hold.

    \b
    Examples:
      assetry status pipeline.py
      assetry status assetry.yaml --select delays+
    """
    project = load_project(**where)
    frame = project.catalog_object().status(
        project.assets, select=list(select) or None,
        config=project.config or None, root=project.root,
    )
    plan_table(frame, sys.stdout, version_usage(project.catalog))


def plan_table(frame: Any, stream: IO[str], usage: Any = None) -> None:
    """Print a status frame as an honest plan: ``asset``, ``plan``, then the counts.

    ``usage`` (asset -> versions kept and the bytes they hold) adds a ``versions``
    column when an asset of the frame has any.

    Examples:
        >>> import io, polars as pl
        >>> out = io.StringIO()
        >>> plan_table(pl.DataFrame({"asset": ["a", "b"], "fresh": [False, False],
        ...     "reason": ["code changed", "upstream stale: a"]}), out)
        >>> out.getvalue().splitlines()
        ['asset  plan', 'a      will run (code changed)', 'b      may run (upstream will rerun: a)', '1 will run, 1 may run, 0 fresh']
    """
    import polars as pl

    rows = list(frame.select("asset", "fresh", "reason").iter_rows())
    shown = pl.DataFrame({"asset": [r[0] for r in rows],
                          "plan": [plan_text(r[1], r[2]) for r in rows]},
                         schema={"asset": pl.String, "plan": pl.String})
    print_frame(_with_versions(shown, usage), stream)
    print(plan_counts([plan_word(r[1], r[2]) for r in rows]), file=stream)


@cli.command(context_settings=_CONTEXT)
@_where
@_select
def accept(select: tuple[str, ...], **where: Any) -> None:
    """Record the current products as fresh after a harmless change, without running.

    Only products that exist and are unmodified are accepted.

    \b
    Examples:
      assetry accept pipeline.py --select delays
    """
    project = load_project(**where)
    frame = project.catalog_object().accept(
        project.assets, select=list(select) or None,
        config=project.config or None, root=project.root,
    )
    print_frame(frame)
    done = sum(1 for v in frame["accepted"] if v)
    click.echo(f"{done} accepted, {frame.height - done} not accepted")


@cli.command(context_settings=_CONTEXT)
@click.argument("target", metavar="TARGET")
@click.argument("asset_name", metavar="ASSET")
@click.option("--version", "version", default="-1", show_default=True, metavar="V",
              help="-1 the previous product, -2 the one before, or a data fingerprint prefix.")
@click.option("--partition", metavar="KEY", help="The partition, for a partitioned asset.")
@click.option("--catalog", metavar="FILE", help=f"The DuckDB catalog [default: <root>/{DEFAULT_CATALOG}].")
@click.option("--root", metavar="DIR", help="Directory of the file products [default: the last run's].")
def restore(target: str, asset_name: str, version: str, partition: str | None,
            catalog: str | None, root: str | None) -> None:
    """Make a kept earlier version of ASSET's product current (see docs/versions.md).

    \b
    Examples:
      assetry restore pipeline.py delays
      assetry restore pipeline.py delays --version 3f9a
    """
    project = load_project(target, root=root, catalog=catalog)
    reason = restore_asset(project.catalog, project.catalog_object().root, asset_name,
                           version, partition)
    click.echo(f"{asset_name}: {reason}")


@cli.command(context_settings=_CONTEXT)
@click.argument("target", metavar="[TARGET]", required=False)
@click.option("--keep", type=click.IntRange(min=0), metavar="N",
              help="Versions kept per asset besides the current product [default: each asset's "
              "versions= (3) unless --older-than].")
@click.option("--older-than", metavar="AGE", help="Remove versions older than AGE (30d, 12h, 2w).")
@click.option("--catalog", metavar="FILE", help=f"The DuckDB catalog [default: <root>/{DEFAULT_CATALOG}].")
@click.option("--root", metavar="DIR", help="Directory of the file products [default: the last run's].")
def gc(target: str | None, keep: int | None, older_than: str | None, catalog: str | None,
       root: str | None) -> None:
    """Remove kept versions of products; never a current product.

    \b
    Examples:
      assetry gc pipeline.py --keep 1
      assetry gc pipeline.py --older-than 30d
    """
    project = load_project(target, root=root, catalog=catalog)
    age = parse_age(older_than) if older_than else None
    limits = None
    if keep is None and age is None:  # each asset's own versions=, else the project's, else 3
        default = DEFAULT_VERSIONS if project.versions is None else project.versions
        specs = AssetGraph.build(project.assets).specs
        limits = {n: default if s.versions is None else s.versions for n, s in specs.items()}
    removed = collect_garbage(project.catalog, project.catalog_object().root, keep=keep,
                              older_than=age, limits=limits)
    click.echo(f"{removed} version(s) removed")


@cli.command(context_settings={**_CONTEXT, "ignore_unknown_options": True})
@click.argument("asset_name", metavar="ASSET")
@click.argument("versions", nargs=-1, metavar="[V1 [V2]]")
@click.option("--key", metavar="COLS", help="Match rows on these columns (comma-separated): "
              "count and show added, removed and changed rows.")
@click.option("--partition", metavar="KEY", help="The partition, for a partitioned asset.")
@click.option("--catalog", metavar="FILE",
              help=f"The DuckDB catalog [default: the project's, else {DEFAULT_ROOT}/{DEFAULT_CATALOG}].")
@click.option("--root", metavar="DIR", help="Where the project's products go (to find its catalog).")
def diff(asset_name: str, versions: tuple[str, ...], key: str | None, partition: str | None,
         catalog: str | None, root: str | None) -> None:
    """Compare two versions of ASSET's product: schema, rows, column statistics.

    V1 and V2 are -1 (the previous product), -2 (the one before), or a data
    fingerprint prefix (see Catalog.versions); V1 defaults to -1, V2 to the
    current product. Columns added, removed and retyped, row counts, and per
    column nulls, min, max and mean are shown; with --key, rows matched on
    those columns are counted as added, removed and changed, with samples.

    \b
    Examples:
      assetry diff delays
      assetry diff delays -2 -1
      assetry diff delays --key carrier,month --catalog data/catalog.duckdb
    """
    if len(versions) > 2 or any(v.startswith("--") for v in versions):
        raise click.UsageError(f"give at most two versions after ASSET, not {' '.join(versions)!r}")
    v1: int | str = versions[0] if versions else -1
    v2: int | str | None = versions[1] if len(versions) == 2 else None
    path = project_catalog(None, root=root, catalog=catalog)
    cols = [c.strip() for c in key.split(",") if c.strip()] if key else None
    found = Catalog(path).diff(asset_name, v1, v2, key=cols, partition=partition)
    click.echo(f"{asset_name}: {found.old} -> {found.new}")
    click.echo(found.text())


@cli.command(name="list", context_settings=_CONTEXT)
@click.argument("target", metavar="[TARGET]", required=False)
@click.option("--catalog", metavar="FILE", help=f"The DuckDB catalog [default: <root>/{DEFAULT_CATALOG}].")
@click.option("--root", metavar="DIR", help=f"Directory for file products [default: {DEFAULT_ROOT}, in the project].")
def list_assets(target: str | None, catalog: str | None = None, root: str | None = None) -> None:
    """List the assets of TARGET: name, upstream, IO manager (or a source's data) and description.

    Assets with kept earlier versions also show how many and the bytes they hold.

    \b
    Examples:
      assetry list pipeline.py
      assetry list assetry.demo.pipeline
    """
    import polars as pl


    project = load_project(target, root=root, catalog=catalog)
    graph = AssetGraph.build(project.assets)
    rows = []
    for name in graph.order:
        spec = graph.specs[name]
        io = spec.io or default_for_annotation(spec.hints().get("return"))
        rows.append({
            "asset": name,
            "upstream": ", ".join(graph.upstream[name]),
            "io": _source_text(spec.io) if is_source(spec) else (
                io.describe() if io is not None else "by value"),
            "description": _first_line(spec.description or spec.fn.__doc__ or ""),
        })
    columns = ("asset", "upstream", "io", "description")
    frame = pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String))
    print_frame(_with_versions(frame, version_usage(project.catalog)))


def _with_versions(frame: Any, usage: Any) -> Any:
    """``frame`` with a ``versions`` column (``2 kept, 1.4 MB``) if an asset of it has versions.

    Examples:
        >>> import polars as pl
        >>> _with_versions(pl.DataFrame({"asset": ["a", "b"]}), {"a": (2, 1_500_000)}).rows()
        [('a', '2 kept, 1.4 MB'), ('b', '')]
    """
    import polars as pl

    if not usage or not any(name in usage for name in frame["asset"]):
        return frame
    shown = [_versions_text(*usage[n]) if n in usage else "" for n in frame["asset"]]
    return frame.with_columns(pl.Series("versions", shown, dtype=pl.String))


def _versions_text(count: int, size: int) -> str:
    """``2 kept, 1.4 MB``; ``1 kept, 0 B`` for links that hold nothing of their own."""
    value, unit = float(size), "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            break
        value /= 1024
    amount = f"{int(value)}" if unit == "B" else f"{value:.1f}"
    return f"{count} kept, {amount} {unit}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _source_text(io: Any) -> str:
    """``source raw/flights.csv``: where a source's data is, as declared."""
    where = getattr(io, "where", None)
    return f"source {where(None) if where is not None else io.describe()}"


@cli.command(context_settings=_CONTEXT)
@click.argument("query")
@click.argument("target", metavar="[TARGET]", required=False)
@click.option("--catalog", metavar="FILE",
              help=f"The DuckDB catalog to query [default: the project's, else {DEFAULT_ROOT}/{DEFAULT_CATALOG}].")
@click.option("--root", metavar="DIR", help="Where the TARGET's products go (to find its catalog).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="How to print the result.")
def sql(query: str, target: str | None, catalog: str | None, root: str | None, fmt: str) -> None:
    """Run a read-only SQL query on the catalog of TARGET's project and print the result.

    Tables: runs, materializations, assets, dependencies, checks, versions. Without
    TARGET, the catalog of the assetry.yaml found from here upward, else
    data/catalog.duckdb here. TARGET's code is not imported.

    \b
    Examples:
      assetry sql "SELECT asset, status, reason, duration_s FROM materializations"
      assetry sql "SELECT asset, rows FROM assets" weather/pipeline.py
      assetry sql "SELECT * FROM assets" --catalog build/catalog.duckdb --format csv
    """
    frame = Catalog(project_catalog(target, root=root, catalog=catalog)).sql(query)
    if fmt == "csv":
        click.echo(frame.write_csv(), nl=False)
    elif fmt == "json":
        click.echo(frame.write_json())
    else:
        print_frame(frame)
        click.echo(f"({frame.height} row{'' if frame.height == 1 else 's'})")


@cli.command(context_settings=_CONTEXT)
@click.argument("names", nargs=-1, metavar="[TARGET] ASSET")
@click.option("--run", "run_id", metavar="ID", help="That run's materialization (an id prefix).")
@click.option("--catalog", metavar="FILE",
              help=f"The DuckDB catalog [default: the TARGET's, else {DEFAULT_ROOT}/{DEFAULT_CATALOG}].")
@click.option("--root", metavar="DIR", help="Where the TARGET's products go (to find its catalog).")
def logs(names: tuple[str, ...], run_id: str | None, catalog: str | None, root: str | None) -> None:
    """Show what an asset printed and logged, and its error and traceback, from the catalog.

    ASSET is a name, or NAME[KEY] for one partition. Without --run, the newest
    materialization that left output, an error or a traceback is shown. Give
    TARGET (as to materialize) or --catalog to say which catalog.

    \b
    Examples:
      assetry logs pipeline.py delays
      assetry logs daily_flights[2013-01-05] --catalog data/catalog.duckdb
      assetry logs pipeline.py delays --run 3f2a
    """
    if len(names) not in (1, 2):
        raise click.UsageError("give ASSET, or TARGET ASSET")
    if len(names) == 2:
        path = project_catalog(names[0], root=root, catalog=catalog)
    else:
        path = project_catalog(None, root=root, catalog=catalog)
    name, _, key = names[-1].partition("[")
    frame = Catalog(path).logs(name, run=run_id, partition=key.rstrip("]") or None)
    if frame.height == 0:
        known = Catalog(path).sql(
            "SELECT count(*) AS n FROM materializations WHERE asset = ?", [name]).item()
        if not known:
            _fail(f"asset {name!r} has no materializations in catalog {str(path)!r}")
        which = f" in run {run_id!r}" if run_id else ""
        click.echo(f"assetry: {names[-1]} printed and logged nothing{which}, and did not fail")
        return
    _print_logs(frame.row(0, named=True))


def _print_logs(row: dict[str, Any]) -> None:
    label = row["asset"] + (f"[{row['partition']}]" if row["partition"] else "")
    took = f" in {row['duration_s']:.2f}s" if row["duration_s"] is not None else ""
    click.echo(f"{label}: {row['status']} ({row['reason']}){took}, "
               f"run {row['run_id']} at {row['started_at']:%Y-%m-%d %H:%M:%S} UTC")
    for title, text in (("error", row["error"]), ("traceback", row["traceback"]),
                        ("output", row["logs"])):
        if text:
            click.echo(f"{title}:")
            click.echo(textwrap.indent(text.rstrip("\n"), "  "))
    if not row["logs"]:
        click.echo("output: none")


@cli.command(context_settings=_CONTEXT)
@_where
@click.option("--output", "-o", required=True, metavar="FILE", help="An .svg or .html file.")
def plot(output: str, **where: Any) -> None:
    """Draw the asset graph, coloured by state, to an SVG or HTML file.

    Each box shows the asset's state (fresh, stale, failed, never run) and
    the duration and rows of its last materialization.

    \b
    Examples:
      assetry plot pipeline.py -o graph.svg
      assetry plot assetry.yaml -o graph.html
    """

    project = load_project(**where)
    nodes, edges = graph_nodes(
        project.assets, project.catalog_object(),
        config=project.config or None, root=project.root,
    )
    written = write_plot(output, nodes, edges)
    click.echo(f"assetry: wrote {written} ({len(nodes)} assets, {len(edges)} edges)", err=True)


@cli.command(context_settings=_CONTEXT)
@_where
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on; the default is this machine only.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to serve on (0 picks a free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
def ui(target: str | None, root: str | None, catalog: str | None, config: tuple[str, ...],
       host: str, port: int, open_browser: bool) -> None:
    """Serve a local web page over the catalog: the graph, each asset, the runs; live.

    Without TARGET the page is read-only and shows what the catalog recorded.
    With TARGET it shows what is stale now, and why (as 'assetry status'), and
    can start 'assetry materialize TARGET' (every stale asset, or one) with a
    token the page was served with. Needs the extra: pip install 'assetry[ui]'.

    \b
    Examples:
      assetry ui --catalog assetry-demo/catalog.duckdb
      assetry ui pipeline.py --open
      assetry ui assetry.yaml --port 0
    """
    from assetry.ui import Source, require_extra, serve

    require_extra()  # before loading the TARGET: the missing extra is the first thing to say
    if target is None:
        source = Source(catalog=project_catalog(None, root=root, catalog=catalog))
    else:
        project = load_project(target, root=root, catalog=catalog, config=config)
        options = [*(["--root", os.path.abspath(root)] if root else []),
                   *[arg for entry in config for arg in ("-c", entry)]]
        source = Source(catalog=project.catalog, assets=project.assets, target=target,
                        root=project.root, config=project.config, run_options=tuple(options))
    serve(source, host=host, port=port, open_browser=open_browser)


@cli.command(context_settings=_CONTEXT)
@click.argument("directory", default="assetry-demo", metavar="[DIR]")
@click.option("--executor", type=click.Choice(EXECUTORS), default="threads", show_default=True)
def demo(directory: str, executor: str) -> None:
    """Run the bundled nycflights13 pipeline twice into DIR and show the catalog.

    The second run skips everything: nothing changed.

    \b
    Examples:
      assetry demo
      assetry demo /tmp/flights --executor processes
    """
    from assetry.demo.run import run_demo

    raise click.exceptions.Exit(run_demo(os.fspath(directory), sys.stdout, executor=executor))


def main(argv: Sequence[str] | None = None) -> None:
    """The console script ``assetry`` (also ``python -m assetry``).

    Examples:
        >>> main(["--version"])  # doctest: +SKIP
        assetry, version 0.1.0
    """
    _quick_exit()
    cli.main(args=list(argv) if argv is not None else None, prog_name="assetry")


_QUICK_EXIT = False


def _quick_exit() -> None:
    """Have the process's exit leave the garbage collector's passes out (``gc.freeze``).

    Python's exit tears the modules down and runs full collector passes over
    every object the process holds (polars', DuckDB's, the pipeline's): the exit
    took 130 to 210 ms of a 0.7 s command, 25 ms frozen. Frozen, the objects
    are still released as the modules go; what is left out is only garbage in
    reference cycles, whose finalizers Python does not promise to run at exit
    either. The freeze runs after the atexit functions registered during the
    command (a pipeline's own), before those registered earlier.
    """
    global _QUICK_EXIT
    if not _QUICK_EXIT:
        _QUICK_EXIT = True
        atexit.register(python_gc.freeze)
