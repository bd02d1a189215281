"""Core benchmark (issue 13): what a user runs, each figure against a baseline of the same run.

    python benchmarks/bench_core.py [--quick] [--sizes 100,1000] [--large 10000]
        [--reps 3] [--reps-large 1] [--rows 10000000] [--only import,pipelines,peers,big,fixed]

Every run is a fresh process (``peers/*.py``) over a freshly generated pipeline
module (``generate.py``: a chain and a wide graph of tiny polars assets, each
reading its upstream, adding 1 to a column and storing a 10-row frame). The
plain loop, the floor, writes and reads the same Parquet files in the same
kind of fresh process. Configurations are interleaved and each figure is the
median of ``--reps`` runs, so a noisy neighbour hurts every side alike.

Two figures per assetry run, both printed:

- "pipeline time after imports": the ``materialize()`` call, with the modules
  it imports lazily (DuckDB, ...) imported just before it; this is what the
  per-asset, fixed-cost and scaling targets use.
- "with its imports": the same plus those imports, what the first run of a
  fresh process pays after ``import assetry``; the no-op targets use it.

Sections: ``import`` (``import assetry`` above ``import polars``),
``pipelines`` (cold and no-op runs, chain and wide, sync and threads: per
asset above the loop, fixed cost at N=10, no-op at N=1,000 and N=10,000,
scaling exponents; ``fixed`` runs the N=10 part alone), ``peers`` (Hamilton with its cache, Ploomber, Dagster:
only those installed; information, no target), ``big`` (10M rows: cold,
warm and peak memory against polars by hand).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import pathlib
import shutil
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import PEERS, ChildFailed, median, ms, run_child, target
from generate import write_module

EXECUTORS = ("sync", "threads")
SHAPES = ("chain", "wide")
FIXED_N = 10
PEERS_INSTALLED = {
    name: script for name, module, script in (
        ("Hamilton (cache)", "hamilton", "hamilton_cache.py"),
        ("Ploomber", "ploomber", "ploomber_dag.py"),
        ("Dagster", "dagster", "dagster_assets.py"),
    ) if importlib.util.find_spec(module) is not None
}
PEER_LIBRARY = {"hamilton_cache.py": "hamilton", "ploomber_dag.py": "ploomber",
                "dagster_assets.py": "dagster"}


# -- import ----------------------------------------------------------------------------------


def bench_import(reps: int) -> None:
    """``import assetry`` above ``import polars``, as a wheel install finds it (the source tree
    on ``PYTHONPATH``) and as this editable install does (its import finder), interleaved."""
    print(f"\n== import assetry (fresh processes, median of {reps})", flush=True)
    source = str(HERE.parent)  # the checkout: found on sys.path, as a wheel in site-packages is
    # Bytecode is written and used, as in a user's environment: a module whose .pyc is stale
    # is otherwise compiled again by every child (PYTHONDONTWRITEBYTECODE=1: +40 ms here).
    envs = {"sys.path": {"PYTHONPATH": source, "PYTHONDONTWRITEBYTECODE": ""},
            "editable": {"PYTHONDONTWRITEBYTECODE": ""}}
    run_child(PEERS / "import_time.py", env=envs["editable"])  # writes the .pyc files
    runs: dict[str, list[dict]] = {"sys.path": [], "editable": []}
    for _ in range(reps):
        for how, env in envs.items():
            runs[how].append(run_child(PEERS / "import_time.py", env=env))
    for how, found in runs.items():
        polars_s = median([r["polars_s"] for r in found])
        above = median([r["import_s"] for r in found])
        cpu = median([r["import_cpu_s"] for r in found])
        loaded = sorted({m for r in found for m in r["loaded"]})
        heavy = [m for m in loaded if m in ("pyarrow", "duckdb", "sqlalchemy")]
        finder = {r["found_by"] for r in found}
        if how == "sys.path":
            target("import assetry, above import polars (found on sys.path, as a wheel)",
                   f"{ms(above)} wall, {ms(cpu)} CPU", f"import polars {ms(polars_s)}",
                   f"+{ms(above)}", "<= +100 ms, no pyarrow/duckdb/sqlalchemy",
                   above <= 0.1 and not heavy)
        else:
            target("import assetry through the editable install's finder (pip install -e)",
                   f"{ms(above)} wall, {ms(cpu)} CPU", f"import polars {ms(polars_s)}",
                   f"+{ms(above)}", "(information: a wheel install has no such finder)", None)
        print(f"        found by: {', '.join(sorted(finder))}; assetry modules: "
              f"{found[0]['modules']}; modules of note loaded: {', '.join(loaded) or 'none'}")


# -- pipelines -------------------------------------------------------------------------------


class Pipelines:
    """Generates the modules, runs every configuration, keeps every figure."""

    def __init__(self, work: pathlib.Path) -> None:
        self.work = work
        self.figures: dict[tuple, list[dict]] = {}
        self.preload: dict[str, str] = {"cold": "", "noop": ""}
        self.serial = 0

    def module(self, library: str, shape: str, n: int) -> pathlib.Path:
        path = self.work / "modules" / f"{library}_{shape}_{n}.py"
        return path if path.exists() else write_module(self.work / "modules", library, shape, n)

    def root(self) -> pathlib.Path:
        self.serial += 1
        return self.work / f"root-{self.serial}"

    def probe(self) -> None:
        """Find the modules a cold and a no-op run import after ``import assetry``."""
        found: dict[str, list[str]] = {"cold": [], "noop": []}
        module = self.module("assetry", "chain", 3)
        for executor in EXECUTORS:
            root = self.root()
            for phase in ("cold", "noop"):
                out = run_child(PEERS / "assetry_run.py", module, root, "--executor", executor)
                found[phase] += [m for m in out["imported_all"] if m not in found[phase]]
            shutil.rmtree(root, ignore_errors=True)
        self.preload = {phase: ",".join(mods) for phase, mods in found.items()}
        tops = {phase: sorted({m.split(".")[0] for m in mods}) for phase, mods in found.items()}
        print(f"  a run imports, after import assetry: cold {', '.join(tops['cold']) or '-'}; "
              f"no-op {', '.join(tops['noop']) or '-'}", flush=True)

    def attempt(self, method: str, *args: object) -> None:
        """Run one configuration; a failure is printed and its figures stay missing (FAIL)."""
        try:
            getattr(self, method)(*args)
        except (ChildFailed, RuntimeError) as exc:
            print(f"  ERROR {method} {args}: {str(exc).strip().splitlines()[-1]}", flush=True)

    def keep(self, key: tuple, out: dict) -> None:
        self.figures.setdefault(key, []).append(out)

    def loop(self, shape: str, n: int) -> None:
        root = self.root()
        out = run_child(PEERS / "loop.py", self.module("loop", shape, n), root)
        self.keep(("loop", shape, n, "-", "cold"), out)
        shutil.rmtree(root, ignore_errors=True)

    def assetry(self, shape: str, n: int, executor: str) -> None:
        root = self.root()
        module = self.module("assetry", shape, n)
        # At N=10 the same process then reruns it (a notebook's next call: no new DuckDB instance).
        again = ("--again", "3") if n == FIXED_N else ()
        for phase in ("cold", "noop"):
            out = run_child(PEERS / "assetry_run.py", module, root, "--executor", executor,
                            "--preimport", self.preload[phase], *again)
            expected = (out["ran"], out["skipped"]) == ((n, 0) if phase == "cold" else (0, n))
            if not expected or out["failed"]:
                raise RuntimeError(f"{shape} {n} {executor} {phase}: ran {out['ran']}, "
                                   f"skipped {out['skipped']}, failed {out['failed']}")
            if out["imported"]:
                print(f"  note: {shape} N={n} {executor} {phase} still imported "
                      f"{', '.join(out['imported'])} during the run")
            self.keep(("assetry", shape, n, executor, phase), out)
        if n == FIXED_N and executor == EXECUTORS[0]:  # the catalog's own floor, beside it
            catalog = pathlib.Path(root) / "catalog.duckdb"
            for phase in ("cold", "noop"):
                self.keep(("floor", shape, n, "-", phase), run_child(
                    PEERS / "duckdb_floor.py", catalog if phase == "noop" else "-",
                    phase, "--assets", str(n)))
        shutil.rmtree(root, ignore_errors=True)

    def peer(self, name: str, script: str, shape: str, n: int) -> None:
        root = self.root()
        module = self.module(PEER_LIBRARY[script], shape, n)
        for phase in ("cold", "noop"):
            self.keep((name, shape, n, "-", phase), run_child(PEERS / script, module, root))
        shutil.rmtree(root, ignore_errors=True)

    def run_s(self, *key: object) -> float:
        """Median pipeline time after imports."""
        return median([f["run_s"] for f in self.figures.get(key, [])])

    def with_imports_s(self, *key: object) -> float:
        """Median pipeline time including the imports the run triggers."""
        return median([f["run_s"] + f.get("preimport_s", 0.0) for f in self.figures.get(key, [])])


def bench_pipelines(work: pathlib.Path, sizes: list[int], large: int, reps: int,
                    reps_large: int, fixed_reps: int) -> Pipelines:
    print(f"\n== pipelines of tiny assets: fresh process per run, medians of {reps} "
          f"({reps_large} at N={large:,}, {fixed_reps} at N={FIXED_N})", flush=True)
    p = Pipelines(work)
    p.probe()
    began = time.perf_counter()
    for _ in range(fixed_reps):
        p.attempt("loop", "chain", FIXED_N)
        for executor in EXECUTORS:
            p.attempt("assetry", "chain", FIXED_N, executor)
    for _ in range(reps):
        for n in sizes:
            for shape in SHAPES:
                p.attempt("loop", shape, n)
                for executor in EXECUTORS:
                    p.attempt("assetry", shape, n, executor)
    for _ in range(reps_large):
        for shape in SHAPES:
            p.attempt("loop", shape, large)
            for executor in EXECUTORS:
                p.attempt("assetry", shape, large, executor)
    print(f"  ({time.perf_counter() - began:.0f} s of runs)")
    report_pipelines(p, sizes, large)
    return p


def bench_fixed(work: pathlib.Path, reps: int) -> None:
    """Only the fixed cost: the 10-asset chain and its loop, ``reps`` times, interleaved."""
    print(f"\n== fixed cost: a {FIXED_N}-asset chain, fresh process per run, medians of {reps}",
          flush=True)
    p = Pipelines(work)
    p.probe()
    for _ in range(reps):
        p.attempt("loop", "chain", FIXED_N)
        for executor in EXECUTORS:
            p.attempt("assetry", "chain", FIXED_N, executor)
    report_fixed(p)


def report_fixed(p: Pipelines) -> None:
    """The fixed-cost targets: a 10-asset chain's first run in a fresh process (cold, and a
    no-op rerun in a fresh process), and, for information, the next calls in one process."""
    print(f"\n  -- fixed cost: a {FIXED_N}-asset chain, pipeline time after imports")
    loop10 = p.run_s("loop", "chain", FIXED_N, "-", "cold")
    for executor in EXECUTORS:
        for phase in ("cold", "noop"):
            t = p.run_s("assetry", "chain", FIXED_N, executor, phase)
            cpu = median([f.get("run_cpu_s", math.nan) for f in p.figures.get(
                ("assetry", "chain", FIXED_N, executor, phase), [])])
            target(f"{FIXED_N}-asset chain, {phase} run, {executor}", f"{ms(t)} ({ms(cpu)} CPU)",
                   f"loop {ms(loop10)}",
                   f"+{ms(t - loop10)} above the loop", "< 20 ms", t < 0.020)
            floor = p.run_s("floor", "chain", FIXED_N, "-", phase)
            parts = p.figures.get(("floor", "chain", FIXED_N, "-", phase), [])
            steps = ", ".join(f"{k[:-2]} {ms(median([f[k] for f in parts]))}" for k in (
                parts[0] if parts else {}) if k.endswith("_s") and k not in ("run_s", "import_s", "process_s"))
            target(f"{FIXED_N}-asset chain, {phase} run, {executor}, against the catalog's floor",
                   ms(t), f"DuckDB alone {ms(floor)} ({steps})",
                   f"+{ms(t - floor)} above the floor",
                   "(information: the statements any run of a DuckDB catalog makes, "
                   "peers/duckdb_floor.py)", None)
        again = median([f["again_s"] for f in p.figures.get(
            ("assetry", "chain", FIXED_N, executor, "noop"), []) if "again_s" in f])
        target(f"{FIXED_N}-asset chain, no-op, next call in the same process, {executor}",
               ms(again), f"loop {ms(loop10)}", f"+{ms(again - loop10)} above the loop",
               "(information: a notebook's second call)", None)


def exponent(small_n: int, small_s: float, large_n: int, large_s: float) -> float:
    if not (small_s > 0 and large_s > 0):
        return math.nan  # a configuration failed to run: its targets FAIL
    return math.log(large_s / small_s) / math.log(large_n / small_n)


def report_pipelines(p: Pipelines, sizes: list[int], large: int) -> None:
    print("\n  -- cold run, per asset above the plain loop (pipeline time after imports)")
    for shape in SHAPES:
        for n in sizes:
            loop = p.run_s("loop", shape, n, "-", "cold")
            for executor in EXECUTORS:
                cold = p.run_s("assetry", shape, n, executor, "cold")
                over = (cold - loop) / n
                target(f"cold {shape} N={n:,} {executor}, per asset",
                       f"{cold / n * 1e3:.2f} ms/asset ({cold:.2f} s; with imports "
                       f"{p.with_imports_s('assetry', shape, n, executor, 'cold'):.2f} s)",
                       f"loop {loop / n * 1e3:.2f} ms/asset ({loop:.2f} s)",
                       f"{over * 1e3:+.2f} ms/asset", "<= +0.50 ms/asset", over <= 0.0005)
    print("\n  -- threads against sync on tiny assets (cold, pipeline time after imports)")
    for shape in SHAPES:
        for n in [*sizes, large]:
            sync = p.run_s("assetry", shape, n, "sync", "cold")
            threads = p.run_s("assetry", shape, n, "threads", "cold")
            target(f"cold {shape} N={n:,} threads vs sync", f"{threads:.2f} s",
                   f"sync {sync:.2f} s", f"{threads / sync:.2f}x",
                   "<= 1.00x (+5% for noise)", threads <= 1.05 * sync)
    if len(sizes) >= 2:
        a, b = sizes[0], sizes[-1]
        for shape in SHAPES:
            loop = (p.run_s("loop", shape, b, "-", "cold") - p.run_s("loop", shape, a, "-", "cold"))
            loop /= b - a
            for executor in EXECUTORS:
                slope = (p.run_s("assetry", shape, b, executor, "cold")
                         - p.run_s("assetry", shape, a, executor, "cold")) / (b - a)
                target(f"cold {shape} {executor}, slope N={a:,} -> {b:,}",
                       f"{slope * 1e3:.2f} ms/asset", f"loop {loop * 1e3:.2f} ms/asset",
                       f"{(slope - loop) * 1e3:+.2f} ms/asset", "(the issue's table)", None)

    report_fixed(p)

    mid = 1000 if 1000 in sizes else sizes[-1]
    print("\n  -- no-op runs, including every import a run triggers after import assetry")
    for shape in SHAPES:
        loop = p.run_s("loop", shape, mid, "-", "cold")
        for executor in EXECUTORS:
            t = p.with_imports_s("assetry", shape, mid, executor, "noop")
            after = p.run_s("assetry", shape, mid, executor, "noop")
            target(f"no-op {shape} N={mid:,} {executor}",
                   f"{t:.3f} s ({after:.3f} s after imports)",
                   f"loop reruns all: {loop:.3f} s", f"{t / loop:.2f}x the loop", "<= 0.150 s",
                   t <= 0.150)
    for shape in SHAPES:
        for executor in EXECUTORS:
            t = p.with_imports_s("assetry", shape, large, executor, "noop")
            loop = p.run_s("loop", shape, large, "-", "cold")
            target(f"no-op {shape} N={large:,} {executor}, per asset",
                   f"{t / large * 1e3:.3f} ms/asset ({t:.2f} s)",
                   f"loop reruns all: {loop / large * 1e3:.3f} ms/asset",
                   f"{t / loop:.2f}x the loop", "<= 0.150 ms/asset", t / large <= 0.00015)

    print(f"\n  -- scaling exponent N={mid:,} -> {large:,} (pipeline time after imports)")
    for phase in ("noop", "cold"):
        for shape in SHAPES:
            loop_e = exponent(mid, p.run_s("loop", shape, mid, "-", "cold"),
                              large, p.run_s("loop", shape, large, "-", "cold"))
            for executor in EXECUTORS:
                small = p.run_s("assetry", shape, mid, executor, phase)
                big = p.run_s("assetry", shape, large, executor, phase)
                e = exponent(mid, small, large, big)
                target(f"{phase} {shape} {executor}, exponent",
                       f"{e:.3f} ({small:.2f} s -> {big:.2f} s)", f"loop {loop_e:.3f}",
                       f"{e - loop_e:+.3f} vs loop", "<= 1.05", e <= 1.05)


def bench_peers(p: Pipelines, sizes: list[int]) -> None:
    print("\n== peers on the same chains (fresh processes, one run each; information)")
    missing = [n for n in ("hamilton", "ploomber", "dagster")
               if importlib.util.find_spec(n) is None]
    if missing:
        print(f"  not installed, skipped: {', '.join(missing)} (pip install sf-hamilton / "
              "ploomber / dagster into this environment to compare)")
    for name, script in PEERS_INSTALLED.items():
        for n in sizes:
            try:
                p.peer(name, script, "chain", n)
            except Exception as exc:  # noqa: BLE001 - a peer's own failure is reported, not fatal
                print(f"  {name} failed at N={n}: {str(exc).splitlines()[-1]}")
                break
    for name in PEERS_INSTALLED:
        for n in sizes:
            if (name, "chain", n, "-", "cold") not in p.figures:
                continue
            cold = p.run_s(name, "chain", n, "-", "cold")
            rerun = p.run_s(name, "chain", n, "-", "noop")
            ours = p.run_s("assetry", "chain", n, "sync", "cold")
            ours_noop = p.with_imports_s("assetry", "chain", n, "sync", "noop")
            target(f"{name}, chain N={n:,}, cold / rerun",
                   f"{cold / n * 1e3:.2f} / {rerun / n * 1e3:.3f} ms/asset",
                   f"assetry sync {ours / n * 1e3:.2f} / {ours_noop / n * 1e3:.3f} ms/asset",
                   f"assetry {ours / cold:.2f}x / {ours_noop / rerun:.2f}x", "(comparison)", None)


# -- 10M rows --------------------------------------------------------------------------------


def bench_big(work: pathlib.Path, rows: int, reps: int) -> None:
    print(f"\n== {rows:,}-row Parquet asset + one aggregation (fresh processes, median of {reps})",
          flush=True)
    figures: dict[str, list[dict]] = {"hand": [], "cold": [], "warm": []}
    for rep in range(reps):
        root = work / f"big-hand-{rep}"
        figures["hand"].append(run_child(PEERS / "big_rows.py", "hand", root, rows))
        shutil.rmtree(root, ignore_errors=True)
        root = work / f"big-assetry-{rep}"
        figures["cold"].append(run_child(PEERS / "big_rows.py", "assetry", root, rows))
        figures["warm"].append(run_child(PEERS / "big_rows.py", "assetry", root, rows))
        shutil.rmtree(root, ignore_errors=True)

    def total(kind: str) -> float:  # what the run costs with the imports it triggers
        return median([f["run_s"] for f in figures[kind]])

    def peak(kind: str) -> float:
        return median([f["maxrss_kb"] for f in figures[kind]]) / 1024

    hand, cold, warm = total("hand"), total("cold"), total("warm")
    target(f"{rows:,} rows cold run (with its imports)", f"{cold:.2f} s", f"by hand {hand:.2f} s",
           f"{cold / hand:.3f}x", "<= 1.05x", cold / hand <= 1.05)
    target(f"{rows:,} rows warm (no-op) run", f"{warm:.3f} s", f"by hand reruns {hand:.2f} s",
           f"{warm / hand:.3f}x", "<= 0.10x", warm / hand <= 0.10)
    target(f"{rows:,} rows cold run, peak RSS", f"{peak('cold'):.0f} MB",
           f"by hand {peak('hand'):.0f} MB", f"{peak('cold') / peak('hand'):.3f}x", "<= 1.10x",
           peak("cold") / peak("hand") <= 1.10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for a smoke run (every line is still printed)")
    parser.add_argument("--sizes", default=None, help="N for the per-asset cold targets (100,1000)")
    parser.add_argument("--large", type=int, default=None, help="N for the scaling targets")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--reps-large", type=int, default=1)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--only", default="import,pipelines,peers,big",
                        help="sections: import, pipelines, peers, big; or fixed (the 10-asset "
                             "fixed cost alone)")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or ("50,200" if args.quick else "100,1000")).split(",")]
    large = args.large or (1000 if args.quick else 10_000)
    reps = args.reps or (1 if args.quick else 3)
    rows = args.rows or (200_000 if args.quick else 10_000_000)
    only = set(args.only.split(","))
    work = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="assetry-bench-"))
    try:
        if "import" in only:
            bench_import(3 if args.quick else 5)
        if "fixed" in only:
            bench_fixed(work, args.reps or (2 if args.quick else 7))
        if only & {"pipelines", "peers"}:
            p = bench_pipelines(work, sizes, large, reps, args.reps_large,
                                2 if args.quick else 5)
            if "peers" in only:
                bench_peers(p, sizes)
        if "big" in only:
            bench_big(work, rows, 1 if args.quick else 2)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
