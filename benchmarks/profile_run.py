"""Where a run's time goes: cProfile and py-spy of one fresh-process run of a generated pipeline.

    python benchmarks/profile_run.py [--shape chain|wide] [--assets 1000]
        [--executor sync|threads] [--noop] [--top 25] [--workdir DIR]

The pipeline is generated as for the benchmark (``generate.py``) and run once
cold (or, with ``--noop``, once cold unprofiled and then profiled as a no-op
rerun), in a fresh process, with the run's imports preloaded so that they do
not hide the run itself. Two views:

1. cProfile of the main thread: self time grouped by assetry module (polars,
   DuckDB and the standard library as one group each), then the assetry
   functions with the most cumulative time.
2. py-spy over every thread (when ``py-spy`` is installed and allowed to
   trace): samples split into what the run is doing (polars reads and writes,
   the catalog writer thread, code fingerprints, data fingerprints,
   scheduling, planning, imports), and the innermost assetry function of each
   sample.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import pstats
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import write_module

#: The modules a run imports lazily, loaded before the profiled run.
PRELOAD = "duckdb,pyarrow,pyarrow.parquet,cloudpickle,concurrent.futures.thread"

#: What a sample is doing, by the first rule (in this order) whose pattern is in its stack.
CATEGORIES = (
    ("imports", ("_find_and_load",)),
    ("catalog writer thread", ("assetry-catalog", "records/_writer.py")),
    ("catalog open", ("records/_open.py", "records/_migrations.py", "records/_locks.py")),
    ("parquet write (polars)", ("Parquet.write", "Parquet.save", "FileIOManager.save")),
    ("parquet read (polars)", ("Parquet.load",)),
    ("data fingerprint", ("hash_file", "observe (")),
    ("code fingerprint", ("fingerprints/",)),
    ("user function", ("_chain_", "_wide_")),
    ("planning", ("planner.py", "engine/context.py")),
    ("recording (main thread)", ("recording.py",)),
    ("scheduling", ("runner.py", "executors/", "concurrent/futures", "threading.py")),
)


def categorize(stack: str) -> str:
    for name, patterns in CATEGORIES:
        if any(p in stack for p in patterns):
            return name
    return "other"


def innermost_assetry(stack: str) -> str:
    frames = [f for f in stack.split(";") if "assetry/" in f and "benchmarks" not in f]
    if not frames:
        return "(outside assetry)"
    last = frames[-1]
    func, _, where = last.partition(" (")
    return f"{where.split(':')[0]}:{func}"


def spy_report(raw: pathlib.Path, top: int) -> None:
    counts: collections.Counter[str] = collections.Counter()
    funcs: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = outside = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        k = int(n)
        if "run (_measure.py" not in stack and "Thread._bootstrap" not in stack:
            outside += k  # process start, imports before the run, the report
            continue
        total += k
        counts[categorize(stack)] += k
        funcs[innermost_assetry(stack)] += k
        threads[stack.split(";", 1)[0].split(": ", 1)[-1]] += k
    print(f"\npy-spy, every thread: {total} samples during the run "
          f"({outside} more in the main thread before and after it, not counted)")
    print("  by thread: " + ", ".join(f"{t} {v / total:.0%}" for t, v in threads.most_common(6)))
    for name, v in counts.most_common():
        print(f"  {v / total:6.1%}  {name}")
    print(f"  innermost assetry function (top {top}):")
    for name, v in funcs.most_common(top):
        print(f"  {v / total:6.1%}  {name}")


def group(filename: str, func: str) -> str:
    if "/assetry/" in filename:
        return "assetry/" + filename.split("/assetry/", 1)[1]
    for lib in ("polars", "duckdb", "pyarrow", "attrs", "xxhash"):
        if f"/{lib}/" in filename or func.startswith("<method '") and lib in func:
            return lib
    if filename == "~":
        return "builtins: " + func if "PyLazyFrame" in func or "posix" in func else "builtins"
    return "stdlib/other"


def cprofile_report(path: pathlib.Path, top: int) -> None:
    stats = pstats.Stats(str(path))
    by_group: collections.Counter[str] = collections.Counter()
    total = 0.0
    cumulative = []
    for (filename, line, func), (_, ncalls, tt, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        total += tt
        by_group[group(filename, func)] += tt
        if "/assetry/" in filename:
            cumulative.append((ct, ncalls, f"{filename.split('/assetry/', 1)[1]}:{line}({func})"))
    print(f"\ncProfile, main thread: {total:.3f} s of self time")
    for name, v in by_group.most_common(top):
        print(f"  {v:7.3f} s {v / total:6.1%}  {name}")
    print(f"  assetry functions by cumulative time (top {top}):")
    for ct, ncalls, name in sorted(cumulative, reverse=True)[:top]:
        print(f"  {ct:7.3f} s {ncalls:>7}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=["chain", "wide"], default="chain")
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--executor", default="sync")
    parser.add_argument("--noop", action="store_true", help="profile a no-op rerun")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-spy", action="store_true", help="skip py-spy")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="assetry-profile-"))
    try:
        module = write_module(work, "assetry", args.shape, args.assets)
        runner = [sys.executable, str(HERE / "peers" / "assetry_run.py"), str(module)]
        options = ["--executor", args.executor, "--preimport", PRELOAD]
        print(f"{'no-op' if args.noop else 'cold'} run of a {args.shape} of {args.assets} "
              f"assets, executor={args.executor}")
        for tool in ("cprofile", "py-spy"):
            root = work / f"root-{tool}"
            shutil.rmtree(root, ignore_errors=True)
            if args.noop:
                subprocess.run([*runner, str(root), *options], check=True, capture_output=True)
            if tool == "cprofile":
                prof = work / "run.prof"
                out = subprocess.run([*runner, str(root), *options, "--profile", str(prof)],
                                     check=True, capture_output=True, text=True).stdout
                print(f"run under cProfile: {json.loads(out)['run_s']:.3f} s")
                cprofile_report(prof, args.top)
                continue
            spy = shutil.which("py-spy") or str(pathlib.Path(sys.executable).parent / "py-spy")
            if args.no_spy or not os.path.exists(spy):
                print("\npy-spy: skipped (--no-spy, or not installed: pip install py-spy)")
                continue
            raw = work / "spy.txt"
            done = subprocess.run([spy, "record", "-o", str(raw), "-f", "raw", "-r", "1000",
                                   "--threads", "--nonblocking", "--", *runner, str(root), *options],
                                  check=False, capture_output=True, text=True)
            if done.returncode != 0 or not raw.exists():
                print(f"\npy-spy failed: {done.stderr.strip()[-300:]}")
                continue
            spy_report(raw, args.top)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
