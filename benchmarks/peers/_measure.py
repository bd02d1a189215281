"""What every peer script shares: timed phases of one fresh process, printed as one JSON line.

A peer script runs one pipeline once, in the process the benchmark started for
it, and reports where its wall time went:

- ``import_s``: the library's own imports (``import polars`` is timed apart as ``polars_s``);
- ``module_s``: importing the freshly generated pipeline module;
- ``preimport_s``: importing, before the run, the modules the run would import
  (the benchmark passes them, so that the run's own figure is "after imports");
- ``run_s``: the run itself, with every import it still triggers (``run_cpu_s``: this
  process's CPU time during it, every thread's: what load inflates far less than wall time);
- ``imported``: the top-level modules the run imported (empty when preimported);
- ``maxrss_kb``: this process's peak resident memory.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_T0 = time.perf_counter()
FIGURES: dict[str, Any] = {}


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the body as ``<name>_s``."""
    began = time.perf_counter()
    try:
        yield
    finally:
        FIGURES[f"{name}_s"] = time.perf_counter() - began


def load_module(path: str) -> Any:
    """Import a generated pipeline file by path, as a user's module (timed as ``module_s``)."""
    name = path.rsplit("/", 1)[-1].removesuffix(".py")
    sys.path.insert(0, path.rsplit("/", 1)[0])
    with phase("module"):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def preimport(names: str) -> None:
    """Import a comma-separated list of modules (timed as ``preimport_s``)."""
    with phase("preimport"):
        for name in filter(None, names.split(",")):
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - a module that imports only in its parent's context
                continue


def top_level_modules() -> set[str]:
    return {m.split(".", 1)[0] for m in list(sys.modules)}


def run(body: Callable[[], Any], profile: str | None = None) -> Any:
    """Run the pipeline (timed as ``run_s``), recording the top-level modules it imported."""
    before = set(sys.modules)
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        began = time.perf_counter()
        out = profiler.runcall(body)
        FIGURES["run_s"] = time.perf_counter() - began
        profiler.dump_stats(profile)
    else:
        cpu = time.process_time()
        with phase("run"):
            out = body()
        FIGURES["run_cpu_s"] = time.process_time() - cpu  # every thread of this process
    FIGURES["imported"] = sorted(m for m in set(sys.modules) - before if "." not in m)
    # In import order, so that importing them again in this order before a run works.
    FIGURES["imported_all"] = [m for m in list(sys.modules) if m not in before]
    return out


def report(**extra: Any) -> None:
    """Print the figures as one JSON line on stdout."""
    FIGURES.update(extra)
    FIGURES["process_s"] = time.perf_counter() - _T0
    FIGURES["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(FIGURES), flush=True)
