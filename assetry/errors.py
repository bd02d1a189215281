"""The exceptions assetry raises.

Every error a user can meet is an :class:`AssetError`; the tree::

    AssetError
    ├── AssetGraphError     the graph cannot be built: cycle, duplicate, unknown name
    ├── AssetTypeError      a value is not of the annotated type
    ├── SchemaError         a frame does not match the declared schema
    ├── CheckError          a blocking check failed
    ├── CatalogError        the catalog file is unreadable, locked or from a newer version
    ├── StorageError        a product cannot be written or read where it should be
    ├── ClientError         a database client cannot connect or run a statement
    ├── MaterializeError    a run finished with failures (``.result`` holds the result)
    └── RemoteError         an asset's exception that could not travel back from its worker

This module owns the classes only; it raises nothing itself.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AssetError",
    "AssetGraphError",
    "AssetTypeError",
    "CatalogError",
    "CheckError",
    "ClientError",
    "MaterializeError",
    "RemoteError",
    "SchemaError",
    "StorageError",
]


class AssetError(Exception):
    """Base of every error that assetry raises on purpose."""


class AssetGraphError(AssetError):
    """The asset graph is invalid: a cycle, a duplicate name or an unknown dependency."""


class AssetTypeError(AssetError, TypeError):
    """An asset returned, or was given, a value that is not of its annotated type."""


class SchemaError(AssetError):
    """A frame's columns do not match the asset's declared ``schema=``."""


class CheckError(AssetError):
    """A blocking check failed on an asset's value."""


class CatalogError(AssetError):
    """The catalog cannot be opened, read or written."""


class StorageError(AssetError):
    """A product cannot be stored or loaded at its location."""


class ClientError(AssetError):
    """A database client failed to connect or to run a statement."""


class MaterializeError(AssetError):
    """A run finished with failed assets; ``.result`` is its :class:`MaterializeResult`.

    When every failure of the run is of one :class:`AssetError` kind, the raised
    error is also an instance of that kind, so ``except SchemaError`` catches a run
    that failed on a schema mismatch.
    """

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result



class RemoteError(AssetError):
    """An asset's exception raised in a worker process that cannot travel back as itself.

    The original would not pickle (it holds a lock, a connection, a class the
    driver cannot import), so the worker sends this stand-in: ``kind`` is the
    original's ``module.QualName``, ``str()`` its message, ``traceback`` the
    text of its traceback as the worker formatted it.

    Examples:
        >>> err = RemoteError("mypkg.BadThing", "no luck", "Traceback ...")
        >>> str(err), err.kind
        ('mypkg.BadThing: no luck', 'mypkg.BadThing')
    """

    def __init__(self, kind: str, message: str, traceback: str | None = None) -> None:
        super().__init__(kind, message, traceback)
        self.kind = kind
        self.message = message
        self.traceback = traceback

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}" if self.message else self.kind
