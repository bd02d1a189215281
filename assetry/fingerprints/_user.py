"""User code: whether a module, function or class is the user's own, to be followed.

The user's code is everything outside the standard library, installed packages
(``site-packages``, ``dist-packages``) and assetry itself; ``__main__`` always
is. Answers are kept per path and per module object. It reads no file.
"""

from __future__ import annotations

import functools
import os
import site
import sys
import sysconfig
import types

from assetry.fingerprints import _code as _codehash

__all__ = ["is_user_class", "is_user_function", "is_user_module"]


@functools.cache
def _excluded() -> tuple[str, ...]:
    """Directories of the standard library, installed packages and assetry itself."""
    # assetry's own package, wherever it is installed (an editable install is no user code)
    paths = {os.path.dirname(os.path.dirname(os.path.abspath(__file__))), site.getusersitepackages()}
    paths.update(getattr(site, "getsitepackages", list)())
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        bases = dict.fromkeys(("base", "platbase", "installed_base", "installed_platbase"), prefix)
        paths.update(sysconfig.get_path(k, vars=bases) for k in ("stdlib", "platstdlib", "purelib"))
    return tuple(os.path.join(os.path.normcase(os.path.realpath(p)), "") for p in paths if p)


@functools.lru_cache(maxsize=4096)
def _is_user_path(path: str) -> bool:
    real = os.path.normcase(os.path.realpath(path))
    parts = set(real.split(os.sep))
    return not real.startswith(_excluded()) and not parts & {"site-packages", "dist-packages"}


_USER_MODULES: dict[int, tuple[types.ModuleType, bool]] = {}


def is_user_module(module: types.ModuleType) -> bool:
    """Whether a module is the user's own (``__main__``, or files outside the excluded places)."""
    hit = _USER_MODULES.get(id(module))
    if hit is not None and hit[0] is module:
        return hit[1]
    file = getattr(module, "__file__", None)
    paths = [file] if file else list(getattr(module, "__path__", None) or ())  # namespace pkg
    user = getattr(module, "__name__", None) == "__main__" or (
        bool(paths) and all(_is_user_path(p) for p in paths)
    )
    _USER_MODULES[id(module)] = (module, user)  # modules live as long as the process
    return user


def is_user_function(fn: types.FunctionType) -> bool:
    """Whether a function is written in the user's own code."""
    filename = fn.__code__.co_filename
    if fn.__module__ == "__main__":
        return True
    if not filename.startswith("<"):
        return _is_user_path(filename)
    module = sys.modules.get(fn.__module__ or "")  # exec'd code: judged by its module
    return module is not None and is_user_module(module)


def is_user_class(cls: type) -> bool:
    """Whether a class is defined in the user's own code."""
    module = sys.modules.get(cls.__module__)
    if module is not None:
        return is_user_module(module)
    return any(is_user_function(m) for m in _codehash.methods(cls))
