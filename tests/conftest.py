"""Shared fixtures: pipelines written as module files into tmp_path, as a user would."""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import pathlib
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator

import pytest

# Pipelines are rewritten within one second at the same size; a cached .pyc would hide the edit.
sys.dont_write_bytecode = True

_counter = itertools.count()


class PipelineFiles:
    """Writes pipeline modules into a directory and imports them afresh after each edit."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.root = directory.parent / "data"
        self.catalog = self.root / "catalog.duckdb"
        self._names: dict[str, str] = {}

    def write(self, filename: str, source: str) -> pathlib.Path:
        """Write (or overwrite) a module file; returns its path."""
        path = self.dir / filename
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        return path

    def load(self, filename: str) -> types.ModuleType:
        """Import the module file under a stable name, re-executing it (like a fresh process)."""
        stem = filename.removesuffix(".py")
        name = self._names.setdefault(stem, f"assetry_test_{stem}_{next(_counter)}")
        if str(self.dir) not in sys.path:
            sys.path.insert(0, str(self.dir))
        self.forget()  # helper modules the pipeline imports are re-read too
        spec = importlib.util.spec_from_file_location(name, self.dir / filename)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    def forget(self) -> None:
        """Drop modules named like this directory's files (or loaded from it) from sys.modules."""
        stems = {p.stem for p in self.dir.glob("*.py")}
        for key, mod in list(sys.modules.items()):
            here = str(getattr(mod, "__file__", None) or "").startswith(str(self.dir))
            if here or key in stems:
                del sys.modules[key]

    def module(self, filename: str, source: str) -> types.ModuleType:
        """Write then load."""
        self.write(filename, source)
        return self.load(filename)


@pytest.fixture
def files(tmp_path: pathlib.Path) -> PipelineFiles:
    """A place to write pipeline modules; products go to ``tmp_path/data``."""
    pf = PipelineFiles(tmp_path / "pipeline")
    yield pf
    pf.forget()
    if str(pf.dir) in sys.path:
        sys.path.remove(str(pf.dir))


@contextlib.contextmanager
def held_catalog(path: pathlib.Path) -> Iterator[subprocess.Popen]:
    """Another process holding a read-write DuckDB connection to ``path`` until the block ends."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, time
        con = duckdb.connect({str(path)!r})
        print("held", flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        if holder.stdout is None or holder.stdout.readline().strip() != "held":
            raise RuntimeError(f"the process meant to hold {path} did not start")
        yield holder
    finally:
        holder.kill()
        holder.wait()


# A real S3 server (moto over HTTP on 127.0.0.1) and a bucket per test: tests/s3_server.py.
from s3_server import s3, s3_server  # noqa: F401
