"""A 10M-row Parquet asset and one aggregation of it, by hand or as an assetry run.

    python benchmarks/peers/big_rows.py {hand,assetry} ROOT ROWS [--preimport a,b]

``hand``: build the frame, write it as Parquet, read it back, aggregate, write
the result: what one writes without a library, and reruns every time.
``assetry``: the same two steps as two assets; cold when ROOT is empty, a
no-op rerun (warm) when it holds the products of a previous run. The peak
resident memory of this process is reported with the times.
"""

from __future__ import annotations

import argparse
import pathlib

from _measure import phase, preimport, report, run

parser = argparse.ArgumentParser()
parser.add_argument("mode", choices=["hand", "assetry"])
parser.add_argument("root")
parser.add_argument("rows", type=int)
parser.add_argument("--preimport", default="")
args = parser.parse_args()

with phase("polars"):
    import numpy as np
    import polars as pl
with phase("import"):
    if args.mode == "assetry":
        from assetry import asset, materialize
root = pathlib.Path(args.root)
root.mkdir(parents=True, exist_ok=True)
n = args.rows


def make() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame({
        "k": rng.integers(0, 1000, n), "a": rng.random(n), "b": rng.random(n),
        "c": rng.integers(0, 1 << 30, n), "d": rng.random(n)})


preimport(args.preimport)
if args.mode == "hand":
    def by_hand() -> int:
        make().write_parquet(root / "big.parquet", compression="zstd")
        out = pl.read_parquet(root / "big.parquet").group_by("k").agg(pl.col("a").mean())
        out.write_parquet(root / "agg.parquet", compression="zstd")
        return 2

    report(ran=run(by_hand), skipped=0)
else:
    @asset
    def big() -> pl.DataFrame:
        return make()

    @asset
    def agg(big: pl.DataFrame) -> pl.DataFrame:
        return big.group_by("k").agg(pl.col("a").mean())

    result = run(lambda: materialize([big, agg], root=root))
    report(ran=len(result.materialized), skipped=len(result.skipped))
