"""Versions: what going back costs, against the run it avoids, and against the product's size.

    python benchmarks/bench_versions.py [--assets 100] [--rows 1000000] [--reps 3] [--quick]

Two targets, each from fresh processes, interleaved, medians:

- **revert**: a chain of ``--assets`` assets (each sorts and rewrites a
  ``--rows``-row frame) is run, a helper the first asset uses is edited and
  the chain run again, then the edit is reverted and the chain run a third
  time. Timed: that third run, a whole ``materialize()`` in a fresh process
  (imports loaded before the clock). With versions (the default 3) it restores
  every asset; the baseline, measured in the same run, is the same third run
  with ``versions=0``, which reruns the whole chain: the run the versions
  avoid. Target: the revert costs < 5% of it. The ratio depends on how much
  work the assets do (a restore costs about a millisecond per asset, plus the
  fixed cost of any run: opening the catalog, fingerprinting the code); each
  asset here sorts a million rows and writes 16 MB of Parquet, about 80 ms.
- **size**: one asset whose Parquet file is 1 MB, and one whose file is
  200 MB (random, incompressible), reverted the same way. Timed: the third
  run. Target: restoring 200 MB takes < 1.5x the time of restoring 1 MB
  (links and a rename, no copy, no read).

The preparing runs (first and second) are not timed.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import median, ms, run_child, target

HELPERS = "def bump(expr):\n    return expr + {delta}\n"

CHAIN_HEAD = '''
import numpy as np
import polars as pl
from assetry import asset
from helpers import bump

ROWS = {rows}

@asset(versions={versions})
def a0() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({{"k": rng.integers(0, 1000, ROWS), "v": rng.random(ROWS)}})
    return frame.with_columns(v=bump(pl.col("v")))
'''

CHAIN_LINK = '''
@asset(versions={versions})
def a{i}(a{j}: pl.DataFrame) -> pl.DataFrame:
    return a{j}.sort("v", "k").with_columns(v=pl.col("v") * 1.0001 + {i})
'''

SIZED = '''
import numpy as np
import polars as pl
from assetry import asset
from helpers import bump

@asset(versions={versions})
def sized() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2**62, {values}, dtype=np.int64)
    return pl.DataFrame({{"v": values}}).with_columns(v=bump(pl.col("v")))
'''


def write(workdir: pathlib.Path, shape: str, size: int, versions: int, delta: int) -> pathlib.Path:
    """The pipeline files: ``helpers.py`` (the edited helper) and ``pipe.py``."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "helpers.py").write_text(HELPERS.format(delta=delta))
    if shape == "chain":
        source = CHAIN_HEAD.format(rows=size, versions=versions) + "".join(
            CHAIN_LINK.format(i=i, j=i - 1, versions=versions) for i in range(1, ASSETS))
    else:  # an incompressible int64 column: ``size`` bytes of Parquet, near enough
        source = SIZED.format(values=size // 8, versions=versions)
    path = workdir / "pipe.py"
    path.write_text(source)
    return path


ASSETS = 100


# -- the child: one run in a fresh process ----------------------------------------------------


def child(workdir: str, timed: bool) -> None:
    import importlib.util

    import numpy  # noqa: F401 - loaded before the clock, as the pipeline imports it
    import polars  # noqa: F401

    from assetry import materialize

    sys.path.insert(0, workdir)
    spec = importlib.util.spec_from_file_location("pipe", pathlib.Path(workdir) / "pipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    began = time.perf_counter()
    result = materialize(module, root=str(pathlib.Path(workdir) / "data"), executor="sync")
    run_s = time.perf_counter() - began
    print(json.dumps({"run_s": run_s, "restored": len(result.restored),
                      "materialized": len(result.materialized), "timed": timed}))


def revert(base: pathlib.Path, shape: str, size: int, versions: int) -> dict:
    """Run, edit and run, revert; the figures of the timed third run (fresh processes)."""
    workdir = base / f"{shape}-{size}-{versions}-{time.monotonic_ns()}"
    write(workdir, shape, size, versions, 1)
    run_child(__file__, "--child", str(workdir))
    write(workdir, shape, size, versions, 2)
    run_child(__file__, "--child", str(workdir))
    write(workdir, shape, size, versions, 1)
    figures = run_child(__file__, "--child", str(workdir), "--timed")
    shutil.rmtree(workdir, ignore_errors=True)
    return figures


def main() -> int:
    global ASSETS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one rep, 20,000 rows, 50 MB")
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--timed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.timed)
        return 0
    ASSETS = args.assets
    reps, rows, big = (1, 20_000, 50 << 20) if args.quick else (args.reps, args.rows, 200 << 20)
    print(f"versions: {ASSETS}-asset chain of {rows:,} rows, {reps} rep(s), products of 1 MB "
          f"and {big >> 20} MB", flush=True)
    kept: list[float] = []
    rerun: list[float] = []
    small: list[float] = []
    large: list[float] = []
    with tempfile.TemporaryDirectory(prefix="assetry-bench-versions-") as tmp:
        base = pathlib.Path(tmp)
        for _ in range(reps):  # interleaved: each rep measures both sides under the same load
            with_versions = revert(base, "chain", rows, 3)
            without = revert(base, "chain", rows, 0)
            assert with_versions["restored"] == ASSETS and with_versions["materialized"] == 0
            assert without["materialized"] == ASSETS
            kept.append(with_versions["run_s"])
            rerun.append(without["run_s"])
            one = revert(base, "sized", 1 << 20, 3)
            many = revert(base, "sized", big, 3)
            assert one["restored"] == many["restored"] == 1
            small.append(one["run_s"])
            large.append(many["run_s"])
            print(f"  rep: revert {ms(kept[-1])} vs rerun {ms(rerun[-1])}; restore 1 MB "
                  f"{ms(small[-1])}, {big >> 20} MB {ms(large[-1])}", flush=True)
    ratio = median(kept) / median(rerun)
    target(f"revert of a {ASSETS}-asset chain (restored) vs the rerun it avoids",
           ms(median(kept)), f"rerun {ms(median(rerun))}", f"{ratio:.1%}", "< 5%", ratio < 0.05)
    growth = median(large) / median(small)
    target(f"restore of a {big >> 20} MB product vs a 1 MB product", ms(median(large)),
           f"1 MB {ms(median(small))}", f"{growth:.2f}x", "< 1.5x", growth < 1.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
