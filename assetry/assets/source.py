"""``source()``: data that assetry did not produce, declared so that it is observed on every run.

A source is an :class:`~assetry.assets.decorator.Asset` of kind ``source``
that assetry never runs: its spec has no parameters and its IO manager
(:mod:`assetry.io_managers.sources`, or a relation's manager given as
``io=``) observes and loads the data. Downstream assets take it by parameter
name, like any asset. This module owns checking the declaration and
resolving a relative path from the directory of the module that declares
it; observing is the engine's, and nothing here reads the data.
"""

from __future__ import annotations

import functools
import os
import pathlib
import types
from collections.abc import Callable
from typing import Any, Never

from assetry.assets._caller import Caller, caller
from assetry.assets.decorator import Asset, AssetSpec, check_name
from assetry.errors import AssetError, AssetGraphError
from assetry.io_managers import IOManager
from assetry.io_managers.sources import PLACEHOLDER, SourceFile, SourceFolder, SourceIO, SourceToken
from assetry.partitions import Partitions

__all__ = ["SOURCE", "SourceAsset", "is_source", "source"]

#: The ``kind`` of a source's spec, and of its row in the catalog's ``assets`` table.
SOURCE = "source"


class SourceAsset(Asset):
    """A declared source: an asset that assetry observes and never runs.

    Examples:
        >>> raw = source("raw", "/data/flights.csv")
        >>> raw
        <source 'raw' (/data/flights.csv)>
    """

    @property
    def where(self) -> str:
        """Where the data is, as declared (``raw/flights.csv``, ``raw/days/*.csv``, ...)."""
        io = self.spec.io
        return io.where(None) if isinstance(io, SourceIO) else io.describe()  # type: ignore[union-attr]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssetError(
            f"source {self.name!r} is data, not a function; an asset reads it by naming "
            f"{self.name!r} as a parameter, or load it with assetry.load({self.name!r})"
        )

    def __repr__(self) -> str:
        return f"<source {self.name!r} ({self.where})>"


def source(
    name: str,
    path: str | os.PathLike[str] | None = None,
    *,
    glob: str | None = None,
    io: IOManager | None = None,
    observe: Callable[[], Any] | None = None,
    partitions: Partitions | None = None,
    description: str | None = None,
    # Nothing else is accepted; ``cache=False`` and the like get an error naming the options.
    **unknown: Never,
) -> SourceAsset:
    """Declare data that assetry did not produce: a file, a folder, a relation or a version token.

    Every run observes the sources its selected assets read: one ``stat`` per
    file while nothing changed, a content hash when the stat did. A changed
    source makes its downstream ``upstream changed: <name>``; a missing one
    fails, and its downstream is blocked.

    Args:
        name: The source's name; downstream parameters of this name receive it.
        path: A file, or a folder with ``glob=``; relative to the directory of
            the module that declares it. ``{partition}`` in it marks the
            partition key (with ``partitions=``).
        glob: Which files of the folder ``path`` belong to the source (``"*.csv"``).
        io: An IO manager holding a relation (``SQLTable(client, schema=..., table=...)``),
            observed and loaded through it.
        observe: A function returning a version token; its value is encoded canonically.
        partitions: ``DailyPartitions(...)`` or ``StaticPartitions([...])``: one file per key.
        description: A sentence shown by ``assetry list`` and the catalog.

    Examples:
        >>> raw = source("raw_flights", "/data/raw/flights.csv")
        >>> raw.spec.kind
        'source'
        >>> source("daily", "/data/days/{partition}.csv")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        assetry.errors.AssetGraphError: source 'daily' has {partition} in its path but no ...
    """
    check_name(name, where="source()")
    if unknown:
        raise AssetGraphError(_unknown_message(name, unknown))
    if partitions is not None and not isinstance(partitions, Partitions):
        raise AssetGraphError(
            f"source {name!r} has partitions={partitions!r}; give DailyPartitions(...) or "
            "StaticPartitions([...])"
        )
    if (path is not None) + (io is not None) + (observe is not None) != 1:
        given = [k for k, v in (("a path", path), ("io=", io), ("observe=", observe)) if v is not None]
        raise AssetGraphError(
            f"source {name!r} needs exactly one of a path, io= or observe=, "
            f"but got {' and '.join(given) or 'none'}"
        )
    call = caller(1)  # the code that called source()
    manager = _manager(name, path, glob, io, observe, partitions, call.base)
    return SourceAsset(AssetSpec(
        name=name, fn=_placeholder(name, call), params=(), io=manager, kind=SOURCE,
        description=description, partitions=partitions,
    ))


def _manager(name: str, path: Any, glob: str | None, io: Any, observe: Any,
             partitions: Partitions | None, base: pathlib.Path) -> IOManager:
    if glob is not None and path is None:
        raise AssetGraphError(f"source {name!r} has glob={glob!r} but no folder path to apply it to")
    if path is None and partitions is not None:
        raise AssetGraphError(
            f"source {name!r} has partitions= without a path; write the partition key's place "
            f"in a path, like 'raw/days/{PLACEHOLDER}.csv'"
        )
    if io is not None:
        if not isinstance(io, IOManager):
            raise AssetGraphError(
                f"source {name!r} has io={io!r}; give an IO manager instance such as "
                "SQLTable(client, schema=..., table=...)"
            )
        return io
    if observe is not None:
        if not callable(observe):
            raise AssetGraphError(f"source {name!r} has observe={observe!r}, which is not callable")
        return SourceToken(observe, shown=f"observe={getattr(observe, '__qualname__', observe)!r}")
    shown = os.fspath(path)
    if not isinstance(shown, str) or not shown.strip():
        raise AssetGraphError(f"source {name!r} has path {path!r}; give a file or folder path")
    templated = PLACEHOLDER in shown
    if templated != (partitions is not None):
        raise AssetGraphError(
            f"source {name!r} has {PLACEHOLDER} in its path but no partitions=; declare them "
            "with partitions=DailyPartitions(...) or StaticPartitions([...])" if templated else
            f"source {name!r} has partitions= but no {PLACEHOLDER} in its path {shown!r}; "
            f"write where the key goes, like 'raw/days/{PLACEHOLDER}.csv'"
        )
    full = os.path.normpath(os.path.join(base, os.path.expanduser(shown) if shown[:1] == "~" else shown))
    if glob is not None:
        if not isinstance(glob, str) or not glob.strip():
            raise AssetGraphError(f"source {name!r} has glob={glob!r}; give a pattern like '*.csv'")
        return SourceFolder(full, shown=shown, glob=glob)
    return SourceFile(full, shown=shown)


def _unknown_message(name: str, unknown: dict[str, Any]) -> str:
    if "cache" in unknown:
        return (
            f"source {name!r} got cache={unknown['cache']!r}, but a source is never run or "
            "cached: it is observed on every run; drop cache="
        )
    options = "path, glob, io, observe, partitions, description"
    return (
        f"source {name!r} got unknown option(s) {', '.join(map(repr, sorted(unknown)))}; "
        f"the options are {options}"
    )


def _placeholder(name: str, call: Caller) -> Callable[..., Any]:
    """A function standing for the source in the spec: it names the declaring module and file,
    and keeps the declaration (``__assetry_declared__``), whose line
    :attr:`~assetry.assets.decorator.AssetSpec.location_hint` looks up when a message
    needs it: looking it up for each of a module's thousand sources cost its import 3 ms."""

    def observed() -> None:
        raise AssetError(f"source {name!r} is observed, never run")

    observed.__code__ = _code_in(observed.__code__, call.file)
    observed.__name__ = observed.__qualname__ = name
    observed.__module__ = call.module
    observed.__doc__ = None
    observed.__assetry_declared__ = call  # type: ignore[attr-defined]
    return observed


@functools.lru_cache(maxsize=64)
def _code_in(code: types.CodeType, file: str) -> types.CodeType:
    """The placeholder's code, named after the declaring file: made once per file (a new code
    object per source was a twentieth of what a source costs at import)."""
    return code.replace(co_filename=file)


def is_source(spec: AssetSpec) -> bool:
    """Whether a spec is a source's (observed, never run).

    Examples:
        >>> is_source(source("raw", "/data/raw.csv").spec)
        True
    """
    return spec.kind == SOURCE


