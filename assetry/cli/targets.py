"""Command line targets: from ``TARGET`` to the Python modules that hold the assets.

It owns the rule that turns a dotted module path, a ``.py`` file, a directory
or an ``assetry.yaml`` spec into imported modules, and the one-line error when
the user's code does not import. It collects no assets and runs nothing.

The rule, in order:

1. A path ending in ``.yaml`` or ``.yml`` is a spec; its ``assets:`` entries are
   loaded by the rules below, dotted names with the spec's directory on ``sys.path``.
2. A directory holding ``assetry.yaml`` (or ``assetry.yml``) is that spec.
3. Another directory stands for the ``.py`` files directly in it, in name order
   (subdirectories are not searched). When the directory is a package (it has
   an ``__init__.py``), the package is imported first and every file becomes its
   submodule, so relative imports work; an ``__init__.py`` alone is the package.
4. A path ending in ``.py`` is that file. A file inside a package is imported as
   a submodule of that package, so its relative imports work.
5. Anything else is a dotted module path (``pkg.pipeline``), imported with the
   current directory on ``sys.path``; a package brings its direct submodules.
6. No target at all is the spec found from the current directory upward.

Every target belongs to a project (:func:`assetry.cli.anchor.locate`): the
spec's directory, else a file or folder target's directory, else the current
directory. The target is imported from the project directory, so relative
paths its code resolves at import (``DuckDBClient("wh.duckdb")``) mean the
same from wherever the command runs.

Files are imported under a stable name derived from their absolute path
(``_assetry_pipeline_1a2b3c4d5e``), registered in ``sys.modules`` and for
pickling by value with cloudpickle, so worker processes need not import them.
A file's directory is put on ``sys.path`` so that ``import helpers`` beside
it works. Every call imports the files afresh.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import importlib
import importlib.util
import os
import pathlib
import pkgutil
import re
import sys
import sysconfig
import traceback
import types
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from assetry.cli.anchor import locate
from assetry.cli.spec import Spec
from assetry.engine.heap import frozen_heap
from assetry.errors import AssetError

__all__ = ["Target", "load_target"]

_PREFIX = "_assetry_"
#: The directory messages show paths from: the one the command runs in.
_SHOWN_FROM: contextvars.ContextVar[str | None] = contextvars.ContextVar("shown_from", default=None)


@attrs.frozen
class Target:
    """What a ``TARGET`` stands for: its modules, in order, and its spec if any.

    Examples:
        >>> Target(modules=(), spec=None).modules
        ()
    """

    modules: tuple[types.ModuleType, ...]
    #: The project's spec: the target itself, or the one found above it.
    spec: Spec | None = None
    #: The project directory (None: the current directory).
    directory: pathlib.Path | None = None
    #: Whether the spec was found above a file, folder or module target (not given).
    found_spec: bool = False


def load_target(target: str | os.PathLike[str] | None = None) -> Target:
    """Import what ``target`` names (see the module docstring for the rule).

    Args:
        target: A dotted module path, a ``.py`` file, a directory, or an
            ``assetry.yaml`` spec (or a directory holding one); None for the
            spec found from the current directory upward.

    Returns:
        The imported modules, without duplicates, the project's spec if any
        (given, or found above the target) and the project directory.

    Raises:
        AssetError: The target does not exist, or the user's code fails to
            import; the message gives the file, the line and the exception.

    Examples:
        >>> load_target("json").modules[0].__name__
        'json'
    """
    anchor = locate(target)
    cwd = pathlib.Path.cwd()
    loader = _Loader()
    token = _SHOWN_FROM.set(str(cwd))
    try:
        # The collector's full passes, which importing a module of thousands of declarations
        # sets off, walk only what the import made (engine/heap.py), not polars' and DuckDB's.
        with _working_directory(anchor.directory), frozen_heap():
            if anchor.kind == "spec":
                modules = loader.spec(anchor.spec)  # type: ignore[arg-type]
            elif anchor.kind == "path":
                modules = loader.path(anchor.path)  # type: ignore[arg-type]
            else:
                modules = loader.dotted(anchor.text, cwd)
    finally:
        _SHOWN_FROM.reset(token)
    return Target(_unique(modules), anchor.spec, anchor.directory, anchor.found_spec)


@contextlib.contextmanager
def _working_directory(folder: pathlib.Path) -> Iterator[None]:
    """Import from the project directory: what the code resolves at import is the project's."""
    before = os.getcwd()
    if not folder.is_dir() or os.path.samefile(folder, before):
        yield
        return
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _unique(modules: list[types.ModuleType]) -> tuple[types.ModuleType, ...]:
    return tuple({id(m): m for m in modules}.values())


def _stable_name(path: pathlib.Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem)
    return f"{_PREFIX}{stem}_{digest}"


def _package_chain(path: pathlib.Path) -> list[pathlib.Path]:
    """The package directories holding ``path``, outermost first."""
    chain: list[pathlib.Path] = []
    folder = path.parent
    while (folder / "__init__.py").is_file():
        chain.insert(0, folder)
        folder = folder.parent
    return chain


class _Loader:
    """One load: imports each file once, afresh, and reuses what its siblings imported."""

    def __init__(self) -> None:
        self.before = set(sys.modules)  # what was imported before this load
        self.executed: set[str] = set()  # stable names executed by this load
        self.prepared: set[pathlib.Path] = set()  # folders put on sys.path by this load

    def spec(self, spec: Spec) -> list[types.ModuleType]:
        modules: list[types.ModuleType] = []
        for entry in spec.assets:
            if os.path.isabs(entry):
                modules += self.path(pathlib.Path(entry))
            else:
                modules += self.dotted(entry, spec.directory)
        return modules

    def path(self, path: pathlib.Path) -> list[types.ModuleType]:
        path = path.resolve()
        if path.is_dir():
            files = sorted(p for p in path.glob("*.py") if p.is_file() and p.name != "__init__.py")
            if (path / "__init__.py").is_file():
                package = self.file(path / "__init__.py")
                return [self.file(f) for f in files] if files else [package]
            return [self.file(f) for f in files]
        if not path.is_file():
            raise AssetError(f"target {str(path)!r} does not exist; check the path")
        return [self.file(path)]

    def file(self, path: pathlib.Path) -> types.ModuleType:
        """Import one file under its stable name (as a submodule inside a package)."""
        sibling = self._imported_by_sibling(path)
        if sibling is not None:
            return sibling
        chain = _package_chain(path)
        self._prepare(chain[0].parent if chain else path.parent)
        if not chain:
            return self._execute(_stable_name(path), path, None)
        name = _stable_name(chain[0])
        if name not in self.executed:
            self._execute(name, chain[0] / "__init__.py", [str(chain[0])])
        subs = chain[1:] if path.name == "__init__.py" else [*chain[1:], path]
        for sub in subs:
            name = f"{name}.{sub.stem if sub.suffix == '.py' else sub.name}"
            _guarded(path, functools.partial(importlib.import_module, name))
        return sys.modules[name]

    def dotted(self, name: str, folder: pathlib.Path) -> list[types.ModuleType]:
        self._prepare(folder)
        module = _guarded(None, lambda: importlib.import_module(name), dotted=name)
        if not hasattr(module, "__path__"):
            return [module]
        subs = sorted(info.name for info in pkgutil.iter_modules(module.__path__))
        return [module] + [
            _guarded(None, functools.partial(importlib.import_module, f"{name}.{s}"), dotted=name)
            for s in subs
        ]

    def _prepare(self, folder: pathlib.Path) -> None:
        """Put ``folder`` on ``sys.path``; forget user modules of earlier loads named as its files.

        Such a module is either this folder's file, imported before an edit, or a
        namesake from another folder that would shadow it; both must be imported afresh.
        """
        if folder in self.prepared:
            return
        self.prepared.add(folder)
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        libraries = _library_prefixes()
        stems = {file.stem for file in folder.glob("*.py")}
        for stem in stems & self.before:
            origin = getattr(sys.modules.get(stem), "__file__", None)
            if origin and not os.path.realpath(origin).startswith(libraries):
                del sys.modules[stem]
        self.before -= stems

    def _imported_by_sibling(self, path: pathlib.Path) -> types.ModuleType | None:
        for name, module in list(sys.modules.items()):
            if name in self.before or name.startswith(_PREFIX):
                continue
            file = getattr(module, "__file__", None)
            # Compare names first: realpath on every module would cost a stat per path part.
            if file and os.path.basename(file) == path.name and os.path.realpath(file) == str(path):
                return module
        return None

    def _execute(self, name: str, path: pathlib.Path, search: list[str] | None) -> types.ModuleType:
        for stale in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[stale]
        spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=search)
        if spec is None or spec.loader is None:
            raise AssetError(f"cannot import {str(path)!r}: it is not a Python source file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        self.executed.add(name)
        try:
            _guarded(path, lambda: spec.loader.exec_module(module))  # type: ignore[union-attr]
        except AssetError:
            del sys.modules[name]
            raise
        import cloudpickle

        cloudpickle.register_pickle_by_value(module)
        return module


def _guarded(
    path: pathlib.Path | None, action: Callable[[], Any], dotted: str | None = None
) -> Any:
    """Run an import; turn any failure into one line naming the user's file and line."""
    try:
        return action()
    except SyntaxError as exc:
        where = f"{_shown(exc.filename)}:{exc.lineno}" if exc.filename else _shown(path or dotted)
        raise AssetError(f"cannot import {where}: SyntaxError: {exc.msg}") from exc
    except ModuleNotFoundError as exc:
        if dotted is not None and exc.name and (dotted + ".").startswith(exc.name + "."):
            raise AssetError(
                f"target {dotted!r} is not an importable module ({exc}); run from the "
                "directory that holds it, or give a .py file or directory"
            ) from exc
        raise _import_error(exc, path, dotted) from exc
    except Exception as exc:
        raise _import_error(exc, path, dotted) from exc


def _shown(path: str | os.PathLike[str] | None) -> str:
    """A path as a person reads it: relative to the current directory when inside it."""
    text = os.fspath(path or "")
    if not os.path.isabs(text):
        return text
    relative = os.path.relpath(text, _SHOWN_FROM.get() or os.getcwd())
    return text if relative.startswith(os.pardir) else relative


def _import_error(exc: BaseException, path: pathlib.Path | None, dotted: str | None) -> AssetError:
    frame = _user_frame(exc)
    where = f"{_shown(frame.filename)}:{frame.lineno}" if frame else _shown(path or dotted)
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    label = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return AssetError(f"cannot import {where}: {label}")


@functools.cache
def _library_prefixes() -> tuple[str, ...]:
    """Directories of Python's, installed packages' and assetry's own code."""
    paths = sysconfig.get_paths()
    dirs = {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs.add(os.path.dirname(os.path.realpath(__file__)))
    return tuple(d + os.sep for d in sorted(dirs))


def _user_frame(exc: BaseException) -> traceback.FrameSummary | None:
    """The innermost frame in the user's own code (not Python's, a package's or assetry's)."""
    libraries = _library_prefixes()
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith("<") and not os.path.realpath(f.filename).startswith(libraries)
    ]
    return frames[-1] if frames else None
