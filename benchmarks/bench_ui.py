"""What a page of ``assetry ui`` open during a run costs the run (issue 16: at most 10 %).

    python benchmarks/bench_ui.py [--assets 2000] [--rounds 8] [--quick] [--control]

The run is ``materialize()`` of N tiny assets (layers of 50, ``sync``: each takes a
millisecond, so the catalog's writing is most of what a run does, the worst case
for a reader) in a fresh process, timed from the call to its return. The page is
``assetry ui TARGET`` serving, and a process doing what its script
(``assetry/ui/static/ui.js``) does at its pace: ``/api/version`` every
``POLL_MS``, and ``/api/assets`` whenever the version changed (the graph page).
Each round runs the pipeline alone and with the page, in alternating order, so
a noisy neighbour hurts both sides alike; the figure is the median of the
rounds' ratios. ``--control`` adds a third run per round beside a process that
only burns the CPU the page's server used in that round's run with the page:
the part of the slowdown that is only sharing two cores.

Targets: the run with the page polling at most 10 % slower than alone; no poll
waits 1 s; no record lost. The server's CPU per poll during the runs is
printed for information.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import PYTHON, target

ROOT = HERE.parent
PIPELINE = """
from assetry import asset

def make(i):
    def f() -> dict:
        return {{"i": i}}
    deps = [f"a{{i - 50:05d}}"] if i >= 50 else []
    return asset(name=f"a{{i:05d}}", code_version="1", deps=deps)(f)

for _i in range({n}):
    globals()[f"a{{_i:05d}}"] = make(_i)
"""

#: One forced run in a fresh process, timed once its imports and the target are loaded.
RUN = """
import json, pathlib, sys, time
import duckdb, polars
from assetry import materialize
from assetry.cli.targets import load_target

modules = list(load_target(sys.argv[2]).modules)
pathlib.Path(sys.argv[3]).write_text("loaded")
while not pathlib.Path(sys.argv[4]).exists():
    time.sleep(0.002)
t0, c0 = time.perf_counter(), time.process_time()
materialize(modules, root=sys.argv[1], executor="sync", force=True)
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}))
"""

#: The page's script at its pace (tests/test_ui.py's PAGE, with the server's CPU counted).
PAGE = """
import json, pathlib, sys, time, urllib.request

url, stop, every = sys.argv[1], pathlib.Path(sys.argv[2]), float(sys.argv[3])
get = lambda path: json.loads(urllib.request.urlopen(url + path, timeout=60).read())
version = get("/api/version")["version"]
get("/api/assets")
pathlib.Path(sys.argv[4]).write_text("ready")
waits, due = [], time.monotonic()
while not stop.exists():
    t0 = time.perf_counter()
    polled = get("/api/version")
    if polled["version"] != version:
        version = polled["version"]
        get("/api/assets")
    waits.append(time.perf_counter() - t0)
    due = max(due + every, time.monotonic())
    time.sleep(max(0.0, due - time.monotonic()))
print(json.dumps({"waits": waits}))
"""

#: Burns a share of one core in 50 ms slices: the page's CPU without its reading.
BURN = """
import sys, time
share, period = float(sys.argv[1]), 0.05
while True:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < share * period:
        pass
    time.sleep(period * (1 - share))
"""


def poll_seconds() -> float:
    """The page's polling interval, from the script the wheel ships."""
    text = (ROOT / "assetry" / "ui" / "static" / "ui.js").read_text()
    found = re.search(r"var POLL_MS = (\d+);", text)
    if found is None:
        raise SystemExit("assetry/ui/static/ui.js no longer says POLL_MS")
    return int(found.group(1)) / 1000


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--control", action="store_true",
                        help="also run beside a CPU burner using what the page's server used")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    every = poll_seconds()
    print(f"bench_ui: {args.assets:,} assets, {rounds} rounds, the page polls every {every:.2f}s, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="assetry-bench-ui-") as tmp:
        measure(pathlib.Path(tmp), args.assets, rounds, every, args.control)


def measure(tmp: pathlib.Path, n: int, rounds: int, every: float, control: bool) -> None:
    (tmp / "wide.py").write_text(PIPELINE.format(n=n))
    for name, text in (("run.py", RUN), ("page.py", PAGE), ("burn.py", BURN)):
        (tmp / name).write_text(text)
    root = tmp / "data"
    catalog = root / "catalog.duckdb"
    subprocess.run([PYTHON, "-m", "assetry", "materialize", str(tmp / "wide.py"), "--root",
                    str(root), "--executor", "sync"], check=True, capture_output=True)
    server = subprocess.Popen(
        [PYTHON, "-m", "assetry", "ui", str(tmp / "wide.py"), "--catalog", str(catalog),
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline() if server.stdout else ""
    found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
    if found is None:
        server.kill()
        raise SystemExit(f"assetry ui did not start: {line}")
    url = found.group(1)
    times: dict[str, list[float]] = {"alone": [], "page": [], "burn": []}
    waits: list[float] = []
    server_cpu, polls, runs = [], 0, 1
    try:
        for r in range(rounds):
            order = ["alone", "page"] if r % 2 == 0 else ["page", "alone"]
            if control:
                order.append("burn")
            for kind in order:
                extra = None
                if kind == "page":
                    stop, ready = tmp / "stop", tmp / "ready"
                    stop.unlink(missing_ok=True)
                    ready.unlink(missing_ok=True)
                    extra = subprocess.Popen([PYTHON, str(tmp / "page.py"), url, str(stop),
                                              str(every), str(ready)], stdout=subprocess.PIPE,
                                             text=True)
                    while not ready.exists():
                        time.sleep(0.01)
                    settle(server.pid)  # as a page open before the run: done planning
                    before = cpu_seconds(server.pid)
                elif kind == "burn":
                    share = server_cpu[-1] / max(times["page"][-1], 1e-9)
                    extra = subprocess.Popen([PYTHON, str(tmp / "burn.py"), f"{min(share, 0.95)}"])
                wall = run_once(tmp, root)
                runs += 1
                times[kind].append(wall)
                if kind == "page" and extra is not None:
                    server_cpu.append(cpu_seconds(server.pid) - before)
                    (tmp / "stop").write_text("")
                    out = json.loads(extra.communicate(timeout=120)[0])
                    waits += out["waits"]
                    polls += len(out["waits"])
                elif extra is not None:
                    extra.kill()
                    extra.wait()
                print(f"  round {r + 1}: {kind:<5} {wall:.3f} s", flush=True)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    report(times, waits, server_cpu, polls, catalog, n, runs, control)


def settle(pid: int, limit: float = 20.0) -> None:
    """Wait until the server is idle (it plans again in the background after each run)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        used = cpu_seconds(pid)
        time.sleep(0.3)
        if cpu_seconds(pid) - used < 0.02:
            return


def run_once(tmp: pathlib.Path, root: pathlib.Path) -> float:
    """One forced run in a fresh process, its imports done before the clock starts."""
    loaded, go = tmp / "loaded", tmp / "go"
    loaded.unlink(missing_ok=True)
    go.unlink(missing_ok=True)
    child = subprocess.Popen([PYTHON, str(tmp / "run.py"), str(root), str(tmp / "wide.py"),
                              str(loaded), str(go)], stdout=subprocess.PIPE, text=True)
    while not loaded.exists():
        if child.poll() is not None:
            raise SystemExit("the run failed before it started")
        time.sleep(0.005)
    go.write_text("")
    out, _ = child.communicate(timeout=600)
    if child.returncode != 0:
        raise SystemExit("the run failed")
    return float(json.loads(out.strip().splitlines()[-1])["wall_s"])


def report(times: dict[str, list[float]], waits: list[float], server_cpu: list[float],
           polls: int, catalog: pathlib.Path, n: int, runs: int, control: bool) -> None:
    import duckdb

    alone, page = times["alone"], times["page"]
    ratios = [p / a - 1 for a, p in zip(alone, page, strict=True)]
    slowdown = statistics.median(ratios)
    best = min(page) / min(alone) - 1
    print(f"  each round's slowdown: {', '.join(f'{r:+.1%}' for r in ratios)}; "
          f"best against best {best:+.1%}", flush=True)
    target(f"run of {n:,} assets with the page polling, median of {len(ratios)} rounds",
           f"{statistics.median(page):.3f} s", f"alone {statistics.median(alone):.3f} s",
           f"{slowdown:+.1%}", "<= +10%", slowdown <= 0.10)
    target("the page's longest wait during the runs", f"{max(waits):.3f} s",
           f"median {statistics.median(waits):.3f} s", f"{len(waits)} polls", "< 1 s",
           max(waits) < 1.0)
    with duckdb.connect(str(catalog), read_only=True) as con:
        recorded = con.execute(
            "SELECT count(*) FROM materializations WHERE status = 'materialized'").fetchone()[0]
    target("records of every run", f"{recorded:,}", f"expected {n * runs:,}",
           f"{recorded - n * runs:+,}", "none lost", recorded == n * runs)
    per_poll = sum(server_cpu) / max(polls, 1)
    target("the page's server, CPU per poll during the runs", f"{per_poll * 1000:.1f} ms",
           f"{statistics.median(server_cpu):.2f} s per run", f"{polls} polls", "information",
           None)
    if control:
        burn = statistics.median(b / a - 1 for a, b in zip(alone, times["burn"], strict=True))
        target("run beside a burner of the server's CPU (control)",
               f"{statistics.median(times['burn']):.3f} s",
               f"alone {statistics.median(alone):.3f} s", f"{burn:+.1%}", "information", None)


if __name__ == "__main__":
    main()
