"""Shipping a task to another interpreter and its result back: cloudpickle, by value where needed.

A worker process or a Dask worker imports modules by name. A pipeline file
loaded by path, a notebook or ``__main__`` has no importable name there, so
the functions and classes of such modules travel by value; everything
installed travels by reference. This module owns only that packing; it runs
nothing itself.

A packed call holds what its task carries, credentials of a remote root
included (:class:`assetry.storage.StorageOptions`). It travels as
:class:`Sealed` bytes, whose repr shows only their length: a scheduler or a
worker that logs a task ("Compute Failed ... Task: ...") never prints them.
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import os
import signal
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import attrs
import cloudpickle

from assetry.errors import AssetError

__all__ = ["Sealed", "label", "pack", "pack_or_fail", "run_packed", "task_name", "unpack"]


class Sealed(bytes):
    """A packed call: bytes whose repr and str never show their content.

    Dask logs the repr of a failed task's arguments; a packed task holds the
    storage options of its root, so its bytes must never be printed.

    Examples:
        >>> Sealed(b"secret")
        <assetry task, 6 bytes>
        >>> bytes(Sealed(b"secret")) == b"secret"
        True
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<assetry task, {len(self)} bytes>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (Sealed, (bytes(self),))


def pack(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bytes:
    """Serialize the call ``fn(*args, **kwargs)`` for another interpreter.

    Functions and classes from modules a fresh interpreter cannot import by
    name (a file loaded by path, ``__main__``) travel by value. A task's hooks
    are left behind: they run in the driver, never in a worker.

    Examples:
        >>> unpack(run_packed(pack(max, 1, 2, key=abs)))
        2
    """
    buffer = io.BytesIO()
    with _REGISTRY_LOCK:
        pickler = _Pickler(buffer)
        try:
            pickler.dump((fn, tuple(map(_without_hooks, args)), kwargs))
        finally:
            pickler.unregister()
    return buffer.getvalue()


def run_packed(payload: bytes) -> bytes:
    """Run a packed call in this (worker) process; return its packed result."""
    _leave_ctrl_c_to_the_driver()
    try:
        fn, args, kwargs = cloudpickle.loads(payload)
    except Exception as exc:  # noqa: BLE001 (unpickling runs arbitrary reducers)
        raise AssetError(
            f"the task could not be loaded in the worker process ({type(exc).__name__}: {exc}); "
            "the modules it uses must be importable there"
        ) from None
    result = fn(*args, **kwargs)
    try:
        return cloudpickle.dumps(result)
    except Exception as exc:  # noqa: BLE001 (pickling runs arbitrary reducers)
        raise AssetError(
            f"the result of the task cannot be sent back from the worker process "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _leave_ctrl_c_to_the_driver() -> None:
    """In a worker process, ignore SIGINT: Ctrl-C in a terminal reaches every process of the
    group, and the driver decides whether a running task finishes (its grace period) or its
    worker is stopped (see :mod:`assetry.engine.interrupts`)."""
    if multiprocessing.parent_process() is None or threading.current_thread() is not threading.main_thread():
        return  # the driver itself, or a thread of a Dask worker
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def unpack(data: bytes) -> Any:
    """The value :func:`run_packed` returned."""
    return cloudpickle.loads(data)


def pack_or_fail(outer: Any, where: str, fn: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> bytes | None:
    """:func:`pack`, or set a clear error on ``outer`` and return None when it does not pickle."""
    try:
        return pack(fn, *args, **kwargs)
    except Exception as exc:  # noqa: BLE001 (pickling runs arbitrary reducers)
        outer.set_exception(AssetError(
            f"{label(fn, args)} cannot be sent to {where}: it does not pickle "
            f"({type(exc).__name__}: {exc})"
        ))
        return None


def label(fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """How errors name a call: ``asset 'x' (module:function)`` for a task, else its argument's type.

    Examples:
        >>> label(len, ([1, 2],)), label(print, ())
        ('task list', 'task print')
    """
    for arg in args:
        spec = getattr(arg, "spec", None)
        if spec is not None:
            return f"asset {spec.name!r} ({spec.qualname})"
    if args:
        return f"task {type(args[0]).__name__}"
    return f"task {getattr(fn, '__name__', type(fn).__name__)}"


def task_name(args: tuple[Any, ...]) -> str:
    """The asset name of a task call, for keys that name work on a cluster; else ``task``."""
    for arg in args:
        spec = getattr(arg, "spec", None)
        if spec is not None:
            return str(getattr(spec, "name", "task"))
    return "task"


def _without_hooks(arg: Any) -> Any:
    spec = getattr(arg, "spec", None)
    if spec is None or not attrs.has(type(arg)) or not attrs.has(type(spec)):
        return arg
    if spec.on_finish is None and spec.on_failure is None:
        return arg
    return attrs.evolve(arg, spec=attrs.evolve(spec, on_finish=None, on_failure=None))


_REGISTRY_LOCK = threading.Lock()
_DYNAMIC = "<dynamic-code>"


def _code_in_file(code: types.CodeType, filename: str) -> types.CodeType:
    """A code object sent by value, given back its file name (see ``_Pickler.reducer_override``)."""
    return code.replace(co_filename=filename)


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    """cloudpickle, registering modules that cannot be imported by name for by-value pickling."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=5)
        self._registered: list[str] = []
        self._seen: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.CodeType) and obj.co_filename != _DYNAMIC:
            # cloudpickle names code sent by value "<dynamic-code>"; keep the real file, so a
            # worker's traceback shows the user's file, line and source.
            return _code_in_file, (obj.replace(co_filename=_DYNAMIC), obj.co_filename)
        if isinstance(obj, (types.FunctionType, type, types.ModuleType)):
            name = obj.__name__ if isinstance(obj, types.ModuleType) else obj.__module__
            if isinstance(name, str) and name not in self._seen:
                self._seen.add(name)
                self._register(name)
        return super().reducer_override(obj)

    def _register(self, name: str) -> None:
        module = sys.modules.get(name)
        if module is None or name == "__main__" or _importable(name, module):
            return
        if name not in cloudpickle.list_registry_pickle_by_value():
            cloudpickle.register_pickle_by_value(module)
            self._registered.append(name)

    def unregister(self) -> None:
        for name in self._registered:
            module = sys.modules.get(name)
            if module is not None:
                cloudpickle.unregister_pickle_by_value(module)
        self._registered.clear()


@functools.lru_cache(maxsize=1024)
def _importable_cached(name: str, origin: str | None, path: tuple[str, ...]) -> bool:
    # ``path`` (sys.path) is part of the key only: an answer holds until sys.path changes.
    top = name.partition(".")[0]
    for finder in sys.meta_path:  # not importlib.util.find_spec: it answers from sys.modules
        find = getattr(finder, "find_spec", None)
        try:
            spec = find(top, None) if find is not None else None
        except Exception:  # noqa: BLE001 (a third-party finder that fails finds nothing)
            spec = None
        if spec is not None:
            if top != name or origin is None or spec.origin in (None, "built-in", "frozen"):
                return True
            return os.path.realpath(spec.origin) == os.path.realpath(origin)
    return False


def _importable(name: str, module: types.ModuleType) -> bool:
    """Whether a fresh interpreter, with this ``sys.path``, imports ``name`` as this module."""
    if name in sys.builtin_module_names:
        return True
    origin = getattr(module, "__file__", None)
    return _importable_cached(name, origin, tuple(sys.path))
