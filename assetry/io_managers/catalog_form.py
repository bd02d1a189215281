"""How the catalog keeps an IO manager: its class path and settings, a pickle only as a last resort.

A product's row in the catalog's ``assets`` table names its IO manager by
class path (``assetry.io_managers:Parquet``) and settings (the manager's
:meth:`~assetry.io_managers.base.IOManager.catalog_settings` as JSON text), so
``Catalog.load`` survives a class moving between modules, and a manager that
gains a field with a default still loads. A manager whose settings JSON cannot
describe (a user's manager holding an arbitrary object) is kept as a
cloudpickle instead; schema 1 catalogs kept every manager that way, and
:meth:`CatalogForm.rebuild` still reads them.

This module owns that form, both ways. It never opens the catalog (the engine
writes the rows, :mod:`assetry.records` stores them) and never connects a client.
"""

from __future__ import annotations

import importlib
import io
import json
import pathlib
import pickle
import sys
from collections.abc import Mapping
from typing import Any

import attrs

from assetry._surface import option_hint
from assetry.clients import Client, DBAPIClient, DuckDBClient, SQLAlchemyClient
from assetry.errors import StorageError
from assetry.io_managers.base import IOManager

__all__ = ["CatalogForm"]

#: Private names that moved in the package layout (issue 9), for pickles of schema 1.
_MOVED = {("assetry.clients", "_FunctionRef"): "assetry.clients._kinds"}


class _Undescribable(Exception):
    """A setting that class path + JSON cannot describe: the manager is kept as a pickle."""


@attrs.frozen
class CatalogForm:
    """How the catalog keeps an IO manager: class path and settings as JSON, else a pickle.

    A class path names the class where its package's face exports it, so a
    class may move between modules; settings go back through ``__init__``, so a
    manager gains fields with defaults. Nested managers and clients are
    ``{"$call": class path, "args": [...], "kwargs": {...}}``; tuples, paths and
    importable functions have tags of their own. A client keeps only what
    ``without_secrets()`` leaves. Whatever cannot be described this way (and
    rebuilt to the same description) is kept as a cloudpickle in ``io_pickle``.

    Examples:
        >>> from assetry.io_managers import CSV, Directory
        >>> form = CatalogForm.of(Directory(format=CSV()))
        >>> form.io_class
        'assetry.io_managers:Directory'
        >>> form.io_settings
        '{"format": {"$call": "assetry.io_managers:CSV", "kwargs": {"separator": ","}}}'
        >>> form.rebuild()
        Directory(format=CSV(separator=','))
    """

    io_class: str | None = None
    io_settings: str | None = None
    io_pickle: bytes | None = attrs.field(default=None, repr=False)

    @classmethod
    def of(cls, manager: IOManager) -> CatalogForm:
        """The form of ``manager`` as the catalog keeps it (secrets removed by ``for_catalog()``)."""
        manager = manager.for_catalog()
        try:
            io_class, settings = _class_path(type(manager)), _encode(manager.catalog_settings())
            text = json.dumps(settings, allow_nan=False)
            # Kept by description only if it rebuilds to the same description.
            same = _encode(_rebuild(io_class, text).catalog_settings()) == settings
        except Exception:  # noqa: BLE001 (anything that does not round-trip is kept as a pickle)
            same = False
        if same:
            return cls(io_class=io_class, io_settings=text)
        import cloudpickle

        return cls(io_pickle=cloudpickle.dumps(manager))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CatalogForm:
        """The form read from an ``assets`` row (a schema 1 row has only ``io_pickle``)."""
        return cls(row.get("io_class"), row.get("io_settings"), row.get("io_pickle"))

    def rebuild(self, asset: str = "?") -> IOManager:
        """The manager again: from class path and settings, else from the pickle.

        Raises:
            StorageError: the class cannot be found or refuses the settings, or the
                pickle cannot be read; rerunning the asset records it anew.
        """
        forced = option_hint("force", "force=True")
        fix = f"rerun {asset!r} with {forced} to record its IO manager anew"
        if self.io_class is not None and self.io_settings is not None:
            try:
                return _rebuild(self.io_class, self.io_settings)
            except Exception as exc:  # a user's __init__ may raise anything
                raise StorageError(
                    f"the IO manager of {asset!r} in the catalog, {self.io_class!r} with settings "
                    f"{self.io_settings}, cannot be rebuilt ({type(exc).__name__}: {exc}); make "
                    f"the class importable, or {fix}"
                ) from exc
        if self.io_pickle is None:
            raise StorageError(f"the catalog's row of {asset!r} keeps no IO manager; {fix}")
        try:
            found = _Unpickler(io.BytesIO(self.io_pickle)).load()
        except Exception as exc:  # unpickling fails in many ways; all say the same
            raise StorageError(
                f"the pickled IO manager of {asset!r} in the catalog cannot be loaded "
                f"({type(exc).__name__}: {exc}); {fix}"
            ) from exc
        if not isinstance(found, IOManager):
            raise StorageError(
                f"the pickled IO manager of {asset!r} in the catalog is a "
                f"{type(found).__name__}, not an IO manager; {fix}"
            )
        return found


def _rebuild(io_class: str, settings: str) -> IOManager:
    found = _resolve(io_class)
    if not (isinstance(found, type) and issubclass(found, IOManager)):
        raise TypeError(f"{io_class!r} is not an IO manager class")
    return found(**_decode(json.loads(settings)))


def _class_path(obj: Any) -> str:
    """``module:qualname`` of a class or function, at the shortest module that exports it."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<locals>" in qualname:
        raise _Undescribable(obj)  # not importable by name from another process
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        found: Any = sys.modules.get(prefix)
        for name in qualname.split("."):
            found = getattr(found, name, None)
        if found is not None and found == obj:
            return f"{prefix}:{qualname}"
    raise _Undescribable(obj)


def _resolve(path: str) -> Any:
    """Import what a class path names; if its module lost it, look up the module path."""
    module, _, qualname = path.partition(":")
    parts = module.split(".")
    error: Exception = ImportError(f"empty class path {path!r}")
    for end in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:end]))
            for name in qualname.split("."):
                found = getattr(found, name)
            return found
        except (ImportError, AttributeError) as exc:
            error = error if end < len(parts) else exc  # report the path as written
    raise error


def _encode(value: Any) -> Any:
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [_encode(v) for v in value]
    if type(value) is tuple:
        return {"$tuple": [_encode(v) for v in value]}
    if type(value) is dict and all(isinstance(k, str) and not k.startswith("$") for k in value):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, pathlib.Path):
        return {"$path": str(value)}
    if isinstance(value, IOManager):
        return {"$call": _class_path(type(value)), "kwargs": _encode(value.catalog_settings())}
    client = _client_arguments(value)
    if client is not None:
        call: dict[str, Any] = {"$call": _class_path(type(value)), "args": _encode(list(client[0]))}
        return {**call, "kwargs": _encode(client[1])}
    if callable(value):
        return {"$ref": _class_path(value)}
    raise _Undescribable(value)


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$call" in value:
        return _resolve(value["$call"])(*_decode(value.get("args", [])), **_decode(value.get("kwargs", {})))
    if "$tuple" in value:
        return tuple(_decode(value["$tuple"]))
    if "$path" in value:
        return pathlib.Path(value["$path"])
    if "$ref" in value:
        return _resolve(value["$ref"])
    return {k: _decode(v) for k, v in value.items()}


def _client_arguments(value: Any) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    """The secret-free constructor arguments of a client of assetry's; None for other values.

    Local until ``Client`` says it itself; a client class of the user's own is kept as a pickle.
    """
    if not isinstance(value, Client):
        return None
    clean: Any = value.without_secrets()
    if type(value) is DuckDBClient:
        return (clean.path,), {"read_only": clean.read_only}
    limits = {"connect_timeout": getattr(clean, "connect_timeout", None),
              "statement_timeout": getattr(clean, "statement_timeout", None)}
    if type(value) is SQLAlchemyClient:
        return (clean.url,), {**dict(clean.engine_options), **limits}
    if type(value) is DBAPIClient:
        return (clean.connect, *clean.args), {"dialect": clean.dialect, **clean.kwargs, **limits}
    raise _Undescribable(value)


class _Unpickler(pickle.Unpickler):
    """Reads schema 1's pickles, finding a class that moved since (see :func:`_resolve`)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return _resolve(f"{_MOVED.get((module, name), module)}:{name}")

