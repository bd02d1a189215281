"""Benchmark: products on an object store (issue 15), against a moto S3 server on 127.0.0.1.

    python benchmarks/bench_storage.py [--quick] [--assets 1000] [--cold-assets 200] [--reps 5]
        [--rows 1000000] [--only noop,cold,projection]

The benchmark starts its own S3 server (``tests/s3_server.py``: moto over HTTP,
behind a layer that counts requests and response bytes) and a bucket on it.
Every run is a fresh ``python`` (import assetry, import the generated pipeline
module, time ``materialize()``); the store's credentials and endpoint reach it
through the standard ``AWS_*`` environment variables, as a user's shell would
give them. Runs on the store and on local disk alternate, and each figure is
the median of ``--reps`` runs. Three figures, each with its baseline measured
in the same run:

1. A no-op run of ``--assets`` tiny Parquet products (the ``wide`` pipeline of
   ``generate.py``) on the store: wall time (< 2 s, the ``materialize()`` call
   with the imports it triggers: fsspec, s3fs, aiobotocore; also shown after
   those imports) and requests counted at the server (< 1,100); baseline: the
   same no-op run on local disk.
2. A cold run of ``--cold-assets`` tiny assets on the store and on local disk:
   the overhead per asset (information).
3. A ``--rows`` row product of five float columns on the store, read by a
   downstream asset annotated ``pl.LazyFrame`` that uses one column: bytes the
   server sent (< 30% of the product's size); baseline: a downstream that
   reads every column.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import urllib.request
import uuid

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import PYTHON, median, ms, target
from generate import write_module

SERVER = HERE.parent / "tests" / "s3_server.py"
ACCESS_KEY, SECRET_KEY = "AKIDASSETRYBENCH", "assetry-bench-secret"

CHILD = r'''
import importlib.util, json, sys, time
import assetry  # first, as the command line does: the pipeline's module is imported after it
spec = importlib.util.spec_from_file_location("bench_pipeline", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["bench_pipeline"] = module
spec.loader.exec_module(module)
from assetry import materialize
select = sys.argv[4] or None
if sys.argv[5] == "preimport":  # what only a remote run imports, before the clock starts
    import fsspec, s3fs  # noqa: E401, F401
t0 = time.perf_counter()
result = materialize(module, root=sys.argv[2], catalog=sys.argv[3], select=select,
                     force=bool(select))
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "materialized": len(result.materialized),
                  "skipped": len(result.skipped), "failed": result.failed}))
'''

BIG = """
import numpy as np
import polars as pl
from assetry import asset

@asset
def big() -> pl.DataFrame:
    rng = np.random.default_rng(15)
    return pl.DataFrame({{f"c{{i}}": rng.random({rows}) for i in range(5)}})

@asset
def one_column(big: pl.LazyFrame) -> dict:
    return {{"sum": big.select(pl.col("c0").sum()).collect().item()}}

@asset
def every_column(big: pl.LazyFrame) -> dict:
    return {{"sum": big.select(pl.sum_horizontal(pl.all()).sum()).collect().item()}}
"""


def _s3_server_module():
    """``tests/s3_server.py`` (the tests' moto server and its request counters), by path."""
    spec = importlib.util.spec_from_file_location("assetry_tests_s3_server", SERVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Server(_s3_server_module().S3Server):
    """The tests' S3 server on a free port, with one bucket, until ``stop()``."""

    def __init__(self) -> None:
        super().__init__()
        self.bucket = f"bench-{uuid.uuid4().hex[:10]}"
        urllib.request.urlopen(urllib.request.Request(  # moto takes an unsigned PUT as a create
            f"{self.endpoint}/{self.bucket}", method="PUT", data=b""), timeout=30).close()
        self.env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                    "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}

    def size(self, key: str) -> int:
        request = urllib.request.Request(f"{self.endpoint}/{self.bucket}/{key}", method="HEAD")
        with urllib.request.urlopen(request, timeout=30) as r:
            return int(r.headers["Content-Length"])


def run(server: Server, module: pathlib.Path, root: str, catalog: pathlib.Path,
        select: str = "", preimport: bool = False) -> dict:
    """One fresh process running ``materialize``; its figures, with the server's counts."""
    server.reset()
    done = subprocess.run([PYTHON, "-c", CHILD, str(module), root, str(catalog), select,
                           "preimport" if preimport else ""],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, **server.env})
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["failed"]:
        raise RuntimeError(f"assets failed: {figures['failed']}")
    counts = server.counts()
    figures["requests"] = sum(counts["requests"].values())
    figures["by_method"] = counts["requests"]
    figures["sent"] = counts["sent"]
    return figures


def noop(server: Server, tmp: pathlib.Path, n: int, reps: int) -> None:
    module = write_module(tmp / "noop", "assetry", "wide", n)
    places = {"store": f"s3://{server.bucket}/noop", "local": str(tmp / "noop-root")}
    catalogs = {k: tmp / f"noop-{k}.duckdb" for k in places}
    for k, root in places.items():
        first = run(server, module, root, catalogs[k])
        assert first["materialized"] == n, first
    times: dict[str, list[float]] = {"store": [], "warm": [], "local": []}
    requests: list[int] = []
    for _ in range(reps):
        for k, seconds in times.items():
            place = "store" if k == "warm" else k
            figures = run(server, module, places[place], catalogs[place], preimport=k == "warm")
            assert figures["materialized"] == 0 and figures["skipped"] == n, figures
            seconds.append(figures["seconds"])
            if k == "store":
                requests.append(figures["requests"])
                methods = figures["by_method"]
    store, warm, local = median(times["store"]), median(times["warm"]), median(times["local"])
    target(f"no-op of {n:,} products on the store, time with its imports", f"{store:.2f} s",
           f"local disk {local:.2f} s", f"{store / local:.2f}x", "< 2 s", store < 2.0)
    target(f"no-op of {n:,} products on the store, time after importing fsspec and s3fs",
           f"{warm:.2f} s", f"local disk {local:.2f} s", f"{warm / local:.2f}x", "information",
           None)
    most = max(requests)
    target(f"no-op of {n:,} products on the store, requests", f"{most:,} ({methods})",
           "local disk 0", f"{most / n:.3f} per product", "< 1,100", most < 1100)


def cold(server: Server, tmp: pathlib.Path, n: int, reps: int) -> None:
    module = write_module(tmp / "cold", "assetry", "wide", n)
    times: dict[str, list[float]] = {"store": [], "local": []}
    requests: list[int] = []
    for rep in range(reps):
        for k in ("store", "local"):
            root = (f"s3://{server.bucket}/cold-{rep}" if k == "store"
                    else str(tmp / f"cold-root-{rep}"))
            figures = run(server, module, root, tmp / f"cold-{k}-{rep}.duckdb")
            assert figures["materialized"] == n, figures
            times[k].append(figures["seconds"])
            if k == "store":
                requests.append(figures["requests"])
                methods = figures["by_method"]
    store, local = median(times["store"]), median(times["local"])
    target(f"cold run of {n:,} tiny assets on the store, per asset", ms(store / n),
           f"local disk {ms(local / n)}", f"+{ms((store - local) / n)} per asset",
           f"information ({median(requests):.0f} requests: {methods})", None)


def projection(server: Server, tmp: pathlib.Path, rows: int, reps: int) -> None:
    module = tmp / "big.py"
    module.write_text(BIG.format(rows=rows))
    root, catalog = f"s3://{server.bucket}/big", tmp / "big.duckdb"
    first = run(server, module, root, catalog)
    assert first["materialized"] == 3, first
    size = server.size("big/big.parquet")
    sent: dict[str, list[int]] = {"one_column": [], "every_column": []}
    for _ in range(reps):
        for asset, figures in sent.items():
            figures.append(run(server, module, root, catalog, select=asset)["sent"])
    one, every = median(sent["one_column"]), median(sent["every_column"])
    target(f"1 of 5 columns of a {rows:,}-row product on the store, bytes sent",
           f"{one / 1e6:.2f} MB = {one / size:.1%} of {size / 1e6:.2f} MB",
           f"every column {every / 1e6:.2f} MB ({every / size:.0%})",
           f"{one / every:.2f}x of the full read", "< 30% of the product", one < 0.3 * size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run each, smaller sizes")
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--cold-assets", type=int, default=200)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", default="noop,cold,projection",
                        help="comma-separated sections: noop, cold, projection")
    args = parser.parse_args()
    only = set(args.only.split(","))
    reps = 1 if args.quick else args.reps
    cold_n = 50 if args.quick else args.cold_assets
    print(f"object storage benchmark on {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    server = Server()
    try:
        with tempfile.TemporaryDirectory() as folder:
            tmp = pathlib.Path(folder)
            if "noop" in only:
                noop(server, tmp, args.assets, reps)
            if "cold" in only:
                cold(server, tmp, cold_n, reps)
            if "projection" in only:
                projection(server, tmp, args.rows, min(reps, 3))
    finally:
        server.stop()
    print(f"load average at the end {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
