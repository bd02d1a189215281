"""The ``assetry.yaml`` spec: where the assets are and how to run them.

It owns reading the file, expanding ``${ENV_VAR}`` references, and checking
every key and type, reporting all problems at once with the key's path. It
resolves relative paths from the spec's directory. It imports no asset module
and opens no database; :meth:`Spec.build_clients` builds the clients on demand,
and :meth:`Spec.named_clients` builds each one only when an asset names it.

Longer than 400 lines: every key's check sits beside the others so that all
problems of a spec are reported at once, in one pass.
"""

from __future__ import annotations

import difflib
import os
import pathlib
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from assetry.clients.named import NAME
from assetry.engine.executors import EXECUTORS
from assetry.errors import AssetError

__all__ = ["ClientSpec", "Spec", "expand_env", "load_spec"]

_KEYS = ("assets", "root", "catalog", "clients", "config", "executor", "max_workers", "versions")
_CLIENT_KINDS = {"url": "an SQLAlchemy URL", "duckdb": "a DuckDB database path"}
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


@attrs.frozen
class ClientSpec:
    """One entry of ``clients:``: a SQLAlchemy URL or a DuckDB file.

    Examples:
        >>> ClientSpec("warehouse", "duckdb", "/data/wh.duckdb").kind
        'duckdb'
    """

    name: str
    kind: str  # "url" or "duckdb"
    value: str

    def build(self) -> Any:
        """Make the client: ``SQLAlchemyClient(url)`` or ``DuckDBClient(path)``."""
        from assetry import clients

        if self.kind == "duckdb":
            return clients.DuckDBClient(self.value)
        return clients.SQLAlchemyClient(self.value)


@attrs.frozen
class Spec:
    """A loaded ``assetry.yaml``; paths are absolute, unset keys are ``None``.

    Attributes:
        path: The spec file.
        assets: Dotted module names as written, and absolute paths of ``.py``
            files and directories.
        root, catalog: Where products and the catalog go, if given.
        clients: Client entries by name.
        config: Per asset, per parameter config values.
        executor, max_workers: How to run, if given.

    Examples:
        >>> Spec(pathlib.Path("/p/assetry.yaml"), assets=("pipeline",)).directory
        PosixPath('/p')
    """

    path: pathlib.Path
    assets: tuple[str, ...] = ()
    root: pathlib.Path | None = None
    catalog: pathlib.Path | None = None
    clients: Mapping[str, ClientSpec] = attrs.field(factory=dict)
    config: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    executor: str | None = None
    max_workers: int | None = None
    #: Earlier versions kept per asset (``materialize(versions=N)``), if given.
    versions: int | None = None

    @property
    def directory(self) -> pathlib.Path:
        """The directory that relative paths in the spec start from."""
        return self.path.parent

    def build_clients(self) -> dict[str, Any]:
        """Make every client of ``clients:``, by name.

        Examples:
            >>> Spec(pathlib.Path("/p/assetry.yaml")).build_clients()
            {}
        """
        return {name: client.build() for name, client in self.clients.items()}

    def named_clients(self) -> Mapping[str, Any]:
        """The clients of ``clients:`` by name, each built the first time it is looked up.

        What the command line hands to a run for ``client="name"``: a spec may
        list clients whose drivers a given command never needs.

        Examples:
            >>> Spec(pathlib.Path("/p/assetry.yaml"), clients={
            ...     "local": ClientSpec("local", "duckdb", ":memory:")}).named_clients()["local"].identity()
            'duckdb::memory:'
        """
        return _LazyClients(self.clients)

    def run_options(self) -> dict[str, Any]:
        """The keyword arguments of ``materialize`` that the spec sets.

        Examples:
            >>> Spec(pathlib.Path("/p/assetry.yaml"), executor="sync").run_options()
            {'executor': 'sync'}
        """
        options = {
            "root": self.root,
            "catalog": self.catalog,
            "executor": self.executor,
            "max_workers": self.max_workers,
            "versions": self.versions,
            "config": {k: dict(v) for k, v in self.config.items()} or None,
        }
        return {k: v for k, v in options.items() if v is not None}


class _LazyClients(Mapping[str, Any]):
    """Clients by name, built on first lookup and kept."""

    def __init__(self, specs: Mapping[str, ClientSpec]) -> None:
        self._specs = specs
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._specs[name].build()
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def expand_env(text: str, env: Mapping[str, str], where: str = "value") -> str:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in ``text``; ``$$`` is a ``$``.

    The default applies when the variable is unset or empty, as in the shell.

    Raises:
        AssetError: A variable is unset and has no default, or a reference is malformed.

    Examples:
        >>> expand_env("postgresql://${USER:-me}@db/x", {})
        'postgresql://me@db/x'
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name is None:
            raise AssetError(
                f"{where}: malformed variable reference {match.group(0)!r}; "
                "write ${NAME} or ${NAME:-default}"
            )
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is None:
            raise AssetError(
                f"{where}: environment variable {name!r} is not set; set it, "
                f"or give a default as ${{{name}:-default}}"
            )
        return value

    return _VAR.sub(replace, text)


def _expand_all(value: Any, path: str, env: Mapping[str, str], problems: list[str]) -> Any:
    if isinstance(value, str):
        try:
            return expand_env(value, env, path)
        except AssetError as exc:
            problems.append(str(exc))
            return value
    if isinstance(value, dict):
        return {k: _expand_all(v, _join(path, k), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_all(v, f"{path}[{i}]", env, problems) for i, v in enumerate(value)]
    return value


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _got(value: Any) -> str:
    return f"got {_type_name(value)} {value!r}"


#: Keys that an earlier assetry read, with what to do instead.
_RETIRED = {"io": "the spec never applied it; set io= on each @asset that needs another format"}


def _unknown_key(path: str, key: Any, allowed: tuple[str, ...]) -> str:
    if not path and key in _RETIRED:
        return f"{key}: no longer a spec key; {_RETIRED[key]}"
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{_join(path, key)}: unknown key; {hint}expected one of {', '.join(allowed)}"


class _Checker:
    """Checks a parsed, expanded spec mapping; collects problems instead of raising."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self.problems: list[str] = []

    def string(self, path: str, value: Any, what: str = "a string") -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        self.problems.append(f"{path}: expected {what}, {_got(value)}")
        return None

    def choice(self, path: str, value: Any, choices: tuple[str, ...]) -> str | None:
        if value in choices:
            return str(value)
        self.problems.append(f"{path}: expected one of {', '.join(choices)}, {_got(value)}")
        return None

    def mapping(self, path: str, value: Any) -> dict[str, Any]:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return value
        self.problems.append(f"{path}: expected a mapping of names, {_got(value)}")
        return {}

    def local_path(self, path: str, value: Any) -> pathlib.Path | None:
        text = self.string(path, value, "a path")
        return None if text is None else self.directory / pathlib.Path(text).expanduser()

    def assets(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.problems.append(
                f"assets: expected a list of modules, .py files or directories, {_got(value)}"
            )
            return ()
        entries = []
        for i, item in enumerate(value):
            text = self.string(f"assets[{i}]", item, "a module, .py file or directory")
            if text is None:
                continue
            local = self.directory / text
            looks_like_path = text.endswith(".py") or "/" in text or os.sep in text
            if local.is_dir() or looks_like_path:
                if not local.exists():
                    self.problems.append(
                        f"assets[{i}]: {text!r} does not exist (looked at {local})"
                    )
                entries.append(str(local.resolve()))
            elif _DOTTED.fullmatch(text):
                entries.append(text)
            else:
                self.problems.append(
                    f"assets[{i}]: {text!r} is neither a directory, a .py file nor a dotted "
                    "module name like 'pkg.pipeline'"
                )
        return tuple(entries)

    def max_workers(self, value: Any) -> int | None:
        # A string of digits is taken, since ${VAR} expansion always yields strings.
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        self.problems.append(f"max_workers: expected a whole number of at least 1, {_got(value)}")
        return None

    def versions(self, value: Any) -> int | None:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        self.problems.append(f"versions: expected a whole number of at least 0, {_got(value)}")
        return None

    def clients(self, value: Any) -> dict[str, ClientSpec]:
        built = {}
        for name, entry in self.mapping("clients", value).items():
            path = f"clients.{name}"
            if not NAME.fullmatch(name):
                self.problems.append(
                    f"{path}: {name!r} is not a client name; use letters, digits, _ and -, "
                    "starting with a letter or _"
                )
            if not isinstance(entry, dict):
                self.problems.append(
                    f"{path}: expected a mapping with 'url' or 'duckdb', {_got(entry)}"
                )
                continue
            for key in entry:
                if key not in _CLIENT_KINDS:
                    self.problems.append(_unknown_key(path, key, tuple(_CLIENT_KINDS)))
            kinds = [k for k in _CLIENT_KINDS if k in entry]
            if len(kinds) != 1:
                self.problems.append(f"{path}: expected exactly one of 'url' or 'duckdb'")
                continue
            kind = kinds[0]
            text = self.string(f"{path}.{kind}", entry[kind], _CLIENT_KINDS[kind])
            if text is not None:
                if kind == "duckdb" and text != ":memory:":
                    text = str(self.directory / pathlib.Path(text).expanduser())
                built[name] = ClientSpec(name, kind, text)
        return built

    def config(self, value: Any) -> dict[str, dict[str, Any]]:
        return {
            asset: self.mapping(f"config.{asset}", params)
            for asset, params in self.mapping("config", value).items()
        }


_FIELDS: dict[str, Callable[[_Checker, Any], Any]] = {
    "assets": _Checker.assets,
    "root": lambda c, v: c.local_path("root", v),
    "catalog": lambda c, v: c.local_path("catalog", v),
    "clients": _Checker.clients,
    "config": _Checker.config,
    "executor": lambda c, v: c.choice("executor", v, EXECUTORS),
    "max_workers": _Checker.max_workers,
    "versions": _Checker.versions,
}


def _parse(path: pathlib.Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AssetError(f"spec {str(path)!r} does not exist; check the path") from None
    except OSError as exc:
        raise AssetError(f"cannot read spec {str(path)!r}: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise AssetError(f"{where}: invalid YAML: {problem}") from exc


def load_spec(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Spec:
    """Read and check an ``assetry.yaml`` spec.

    Args:
        path: The spec file.
        env: Variables for ``${NAME}`` expansion; ``os.environ`` by default.

    Returns:
        The spec, with relative paths resolved from the spec's directory.

    Raises:
        AssetError: The file is missing or not YAML, or has problems: an unknown
            key, a wrong type, an unset variable. Every problem is listed, one
            line each, starting with the key's path (``clients.warehouse.url``).

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "assetry.yaml"
        >>> _ = p.write_text("assets: [pipeline]\\nexecutor: sync\\n")
        >>> load_spec(p).executor
        'sync'
    """
    spec_path = pathlib.Path(path).expanduser().resolve()
    raw = _parse(spec_path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise AssetError(
            f"{spec_path}: expected a mapping of keys (assets:, root:, ...), {_got(raw)}"
        )
    problems: list[str] = []
    expanded = _expand_all(raw, "", os.environ if env is None else env, problems)
    checker = _Checker(spec_path.parent)
    checker.problems = problems
    values: dict[str, Any] = {}
    for key, value in expanded.items():
        if key in _FIELDS:
            values[key] = _FIELDS[key](checker, value)
        else:
            problems.append(_unknown_key("", key, _KEYS))
    if "assets" not in expanded:
        problems.append("assets: missing; list the modules, .py files or directories of assets")
    if problems:
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        raise AssetError(f"spec {spec_path} has {count}:\n" + "\n".join(sorted(problems)))
    return Spec(spec_path, **values)
