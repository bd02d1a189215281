"""What the benchmark scripts share: fresh-process runs, medians, and the target lines.

Every figure a benchmark prints comes from a child process started for it
(``run_child``), so each one pays what a user's fresh ``python`` pays. A
target line names what was measured, the value, the baseline measured in the
same run, the ratio (or difference) against it, the limit, and PASS or FAIL.
Each script appends its lines to the JSON file named by ``ASSETRY_BENCH_RESULTS``
(``run_all.py`` sets it and prints the whole table at the end).
"""

from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
PEERS = HERE / "peers"
PYTHON = sys.executable


class ChildFailed(RuntimeError):
    """A benchmark child process exited with an error."""


def run_child(script: str | pathlib.Path, *args: str, env: dict[str, str] | None = None) -> dict:
    """Run a peer script in a fresh interpreter; its JSON figures (the last stdout line)."""
    cmd = [PYTHON, str(script), *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise ChildFailed(f"{' '.join(cmd[1:3])} ... failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


ROWS: list[dict[str, Any]] = []


def target(name: str, measured: str, baseline: str, ratio: str, limit: str, ok: bool | None,
           ) -> None:
    """Print one target line and keep it for the summary table (``ok=None``: information)."""
    verdict = "info" if ok is None else ("PASS" if ok else "FAIL")
    row = {"target": name, "measured": measured, "baseline": baseline, "ratio": ratio,
           "limit": limit, "verdict": verdict}
    ROWS.append(row)
    print(f"  {verdict:<4}  {name}: {measured}  | baseline {baseline}  | {ratio}  | {limit}",
          flush=True)
    path = os.environ.get("ASSETRY_BENCH_RESULTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as one Markdown table."""
    head = ["target", "measured", "baseline (same run)", "ratio / difference", "limit", "verdict"]
    keys = ["target", "measured", "baseline", "ratio", "limit", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)
