"""What planning needs to know about each asset in one run (or one status call).

:class:`RunContext` gathers the graph, config values, root and the catalog's
records, and answers per asset: which IO manager and location, what the
product looks like now, and the fingerprint it would have now (an
:class:`~assetry.engine.planner.Intent`): it is where the planner's
:class:`~assetry.engine.planner.Facts` come from, and the only part of planning
that reads products. It caches per run; it writes nothing.

It also observes sources (:meth:`RunContext.plan_source`): the same
observation as a product's, planned by :func:`~assetry.engine.planner.plan_source`;
the file sources of a no-op run, unchanged, in bulk (:meth:`RunContext.unchanged_sources`);
and it explains an intent (:class:`Explanation`): the digest of each code
definition and each config value, from which the planner names what changed.

Longer than 400 lines: the run context and the explanation of its intents
share their caches (one code walk per asset per run feeds both).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import json
import pathlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from assetry import fingerprints, storage
from assetry.assets.graph import AssetGraph
from assetry.engine.config import ConfigTypeError, convert, describe
from assetry.engine.planner import Intent, Record, StepPlan, plan_source
from assetry.errors import AssetError, AssetGraphError, StorageError
from assetry.fingerprints import partition_fingerprint
from assetry.io_managers import IOManager, default_for_annotation
from assetry.io_managers.base import FileIOManager, Observation
from assetry.io_managers.catalog_form import CatalogForm
from assetry.io_managers.sources import SourceFile, SourceIO
from assetry.storage import is_remote

__all__ = ["SOURCE_CODE", "Explanation", "RunContext", "resolve_config", "short_value"]

#: The code fingerprint recorded for a source: it has no code, only data.
SOURCE_CODE = "source"

AUTO_IO = "auto"

#: Marks a cache entry not looked up yet (None is a valid answer: no record).
_UNSEEN: Any = object()


def resolve_config(graph: AssetGraph, config: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Each asset's config values: defaults overridden by ``config``, typed by annotation.

    A value is converted to its parameter's annotation (:func:`assetry.engine.config.convert`):
    ``"5"`` from ``${OFFSET}`` reaches ``offset: int`` as ``5``, and ``1`` for a
    ``float`` is ``1.0``. An unknown asset or parameter, or a value its annotation
    cannot take, is an :class:`AssetGraphError` listing every problem, before anything runs.
    A default that its own annotation cannot take is left as it is (``limit: int = None``).
    """
    values = {name: dict(defaults) for name, defaults in graph.config.items()}
    problems = []
    given: dict[str, set[str]] = {}
    for name, overrides in (config or {}).items():
        if name not in graph.specs:
            problems.append(f"config names asset {name!r}, which is not in the graph")
            continue
        for param, value in dict(overrides).items():
            if param not in values[name]:
                known = ", ".join(sorted(values[name])) or "none"
                problems.append(
                    f"config gives {param!r} for asset {name!r}, which has no such config "
                    f"parameter (its config parameters: {known})"
                )
            else:
                values[name][param] = value
                given.setdefault(name, set()).add(param)
    for name, params in values.items():
        if params:
            problems.extend(_typed(name, params, graph.specs[name].hints(), given.get(name, set())))
    if problems:
        raise AssetGraphError("\n".join(problems))
    return values


def _typed(name: str, params: dict[str, Any], hints: Mapping[str, Any], given: set[str]) -> list[str]:
    """Convert ``params`` in place to their annotations; the problems with the values given."""
    problems = []
    for param, value in params.items():
        annotation = hints.get(param)
        if annotation is None:
            continue
        try:
            params[param] = convert(value, annotation)
        except ConfigTypeError as exc:
            if param not in given:
                continue  # the function's own default: the user's code, not the run's config
            expected = describe(annotation)
            hint = exc.expected if exc.expected.startswith(expected) else expected
            problems.append(
                f"asset {name!r} has config parameter {param!r} of type {expected}, but got "
                f"{value!r}; give a value of type {hint}"
            )
    return problems


@attrs.define
class RunContext:
    """Per-run answers about assets: IO manager, location, observation, intent."""

    graph: AssetGraph
    values: dict[str, dict[str, Any]]
    root: pathlib.Path
    rows: dict[tuple[str, str | None], dict[str, Any]]
    _code: dict[str, fingerprints.CodeInfo] = attrs.field(factory=dict)
    _explained: dict[str, Explanation] = attrs.field(factory=dict)
    _io: dict[tuple[str, str | None], tuple[IOManager | None, str | None]] = attrs.field(factory=dict)
    _declared: dict[str, IOManager | None] = attrs.field(factory=dict)
    _io_fp: dict[str, str] = attrs.field(factory=dict)
    _rebuilt: dict[CatalogForm, IOManager] = attrs.field(factory=dict)
    _parts: dict[str, tuple[str, str, str, Callable[[Mapping[str, str]], str]]] = attrs.field(
        factory=dict)
    _records: dict[tuple[str, str | None], Record | None] = attrs.field(factory=dict)
    #: Observations taken ahead by :meth:`prepare`, each handed out once by :meth:`observe`.
    _ahead: dict[tuple[str, str | None], Observation | None] = attrs.field(factory=dict)

    def declared_io(self, name: str) -> IOManager | None:
        """The IO manager from ``io=`` or the return annotation; None when the value decides."""
        if name not in self._declared:
            spec = self.graph.specs[name]
            self._declared[name] = spec.io or default_for_annotation(spec.hints().get("return"))
        return self._declared[name]

    def record(self, name: str, partition: str | None = None) -> Record | None:
        """The catalog's record of a product (of one partition), if any."""
        key = (name, partition)
        found = self._records.get(key, _UNSEEN)
        if found is _UNSEEN:
            row = self.rows.get(key)
            found = self._records[key] = Record.from_row(row) if row is not None else None
        return found  # type: ignore[return-value]

    def segment(self, name: str, partition: str | None) -> str | None:
        """The partition's path segment (``date=2013-01-01``), None when unpartitioned."""
        parts = self.graph.specs[name].partitions
        return None if partition is None or parts is None else parts.segment(partition)

    def product(self, name: str, partition: str | None = None) -> tuple[IOManager | None, str | None]:
        """The IO manager and location of an asset's product (None, None when unknowable)."""
        key = (name, partition)
        found = self._io.get(key)
        if found is None:
            found = self._io[key] = self._find_product(name, partition)
        return found

    def _find_product(self, name: str, partition: str | None) -> tuple[IOManager | None, str | None]:
        io = self.declared_io(name)
        if isinstance(io, SourceIO):  # a file, a folder (a partition's) or a token: where declared
            return io, io.locate(partition)
        if io is not None:
            return io, io.default_location(self.root, name, self.segment(name, partition))
        row = self.rows.get((name, partition))
        if row is None:
            return None, None
        form = CatalogForm.from_row(row)
        if form.io_pickle is None and (form.io_class is None or form.io_settings is None):
            return None, None
        if form not in self._rebuilt:
            # Every partition of an asset usually holds the same manager: rebuild it once.
            self._rebuilt[form] = form.rebuild(name)
        return self._rebuilt[form], row["location"]

    def observe(self, name: str, partition: str | None = None) -> Observation | None:
        """The product's current state (None when missing), re-hashing only on a stat change."""
        if self._ahead:
            ahead = self._ahead.pop((name, partition), _UNSEEN)
            if ahead is not _UNSEEN:
                return ahead  # type: ignore[no-any-return]
        io, location = self.product(name, partition)
        if io is None or location is None:
            return None
        record = self.record(name, partition)
        previous = record.observation if record is not None and record.location == location else None
        try:
            return io.observe(location, previous)
        except OSError as exc:
            raise StorageError(f"cannot read the product of {name!r} at {location!r}: {exc}") from exc
        except AssetError:
            raise  # the planner makes an unreadable product stale
        except Exception as exc:  # a driver's own error while observing: re-raised as StorageError
            raise StorageError(f"cannot read the product of {name!r} at {location!r}: "
                               f"{type(exc).__name__}: {exc}") from exc

    def plan_source(self, step: tuple[str, str | None]) -> StepPlan:
        """Observe a source (one partition of it): ``source changed``, ``up to date`` or failed."""
        name, key = step
        io, location = self.product(name, key)
        # The row as read, not a Record: a no-op run observes thousands of sources.
        row = self.rows.get(step)
        recorded = row["data_fingerprint"] if row is not None else None
        previous = (Observation(recorded, row.get("stat_key"))  # type: ignore[union-attr,arg-type]
                    if row is not None and row.get("location") == location else None)
        try:
            observation = io.observe(location, previous)  # type: ignore[union-attr,arg-type]
        except Exception as exc:  # noqa: BLE001 - an unreadable source (or a raising observe=) fails its step
            where = _where(io, key, location)
            return plan_source(None, recorded, where, unreadable=True, error=(
                f"source {name!r} cannot be observed at {where!r}: {type(exc).__name__}: {exc}"
            ))
        if observation is None:
            return plan_source(None, recorded, _where(io, key, location), error=(
                f"source {name!r} is missing: nothing at {location!r}; put the data there, "
                f"or fix the path of source({name!r}, ...)"
            ))
        return plan_source(observation, recorded, "")

    def unchanged_sources(self, steps: Iterable[tuple[str, str | None]]) -> list[
            tuple[tuple[str, str | None], SourceFile, str, dict[str, Any]]]:
        """The steps of file sources that still have their recorded stat key, decided in bulk.

        Each is ``(step, io, location, assets row)``: observed ``up to date``
        with the recorded data fingerprint, one ``stat`` each, nothing planned
        one by one. A source not found here (changed, missing, never observed,
        moved, a folder, a token, a relation) takes :meth:`plan_source`, which says why.
        """
        candidates = []
        rows = self.rows
        specs = self.graph.specs
        for step in steps:
            row = rows.get(step)
            io = specs[step[0]].io  # a source's IO manager is its declaration
            if row is None or type(io) is not SourceFile:
                continue
            location = io.path if step[1] is None else io.locate(step[1])
            if row.get("location") == location:
                candidates.append((step, io, location, row))
        same = SourceFile.unchanged_all([(c[2], c[3].get("stat_key")) for c in candidates])
        return [c for c, kept in zip(candidates, same, strict=True) if kept]

    def source_intent(self, name: str, observation: Observation) -> Intent:
        """What a source's catalog rows hold: its observed data fingerprint, and nothing to compare.

        A source is never planned by its intent: code, config and IO are the
        constant ``source`` (hashing each source's settings would cost a no-op run
        of a thousand sources more than their ``stat`` calls).
        """
        return Intent(SOURCE_CODE, SOURCE_CODE, SOURCE_CODE, {}, observation.data_fingerprint)

    def code_fingerprint(self, name: str) -> str:
        """The asset's code fingerprint, computed once per run."""
        return self.code_info(name).fingerprint

    def code_info(self, name: str) -> fingerprints.CodeInfo:
        """The asset's code fingerprint and its definitions' digests, from one walk per run."""
        if name not in self._code:
            spec = self.graph.specs[name]
            info = fingerprints.code_info(spec.fn, spec.code_version)
            if spec.extra:
                code = fingerprints.hash_fields(code=info.fingerprint, extra=dict(spec.extra))
                info = fingerprints.CodeInfo(code, definitions=_sql_definitions(
                    name, info.definitions, spec.extra, own_code=spec.code_version is None))
            self._code[name] = info
        return self._code[name]

    def explanation(self, name: str) -> Explanation:
        """What names a change in the asset's code or config (computed when first asked)."""
        found = self._explained.get(name)
        if found is None:
            io = self.declared_io(name)
            found = self._explained[name] = Explanation(
                self.code_info(name), self.values[name], io.describe() if io is not None else "",
            )
        return found

    def io_fingerprint(self, name: str) -> str:
        """The fingerprint of the asset's declared IO manager settings (``auto`` if undeclared)."""
        if name not in self._io_fp:
            io = self.declared_io(name)
            try:
                self._io_fp[name] = AUTO_IO if io is None else _io_fingerprint(io)
            except TypeError:  # an unhashable user IO manager: hash its settings directly
                self._io_fp[name] = _io_fingerprint.__wrapped__(io)
        return self._io_fp[name]

    def intent(self, name: str, upstream: Mapping[str, str]) -> Intent:
        """The fingerprint the asset would have now, given its upstream data fingerprints."""
        parts = self._parts.get(name)
        if parts is None:
            parts = self._parts[name] = self._intent_parts(name)
        code, config, io, whole = parts
        # A dict of the caller's own (upstream_state builds one per step) is not copied again.
        up = upstream if type(upstream) is dict else dict(upstream)
        return Intent(code, config, io, up, whole(up), self.explanation(name))

    def prepare(self, steps: Iterable[tuple[str, str | None]]) -> None:
        """Compute the code, config and IO fingerprints of these steps' assets now, all at once,
        and observe their file products (a ``stat`` each).

        Neither depends on upstream data, and only the step itself writes its
        product, so the runner does this before the first task starts: then the
        main thread does not compete, step by step, with worker threads for the
        GIL (each ``stat`` and hash would wait for it). Anything that cannot be
        computed here is left to :meth:`intent` and :meth:`observe`, which raise
        the same error where the step is planned.

        On a remote root, one LIST of the root (:func:`assetry.storage.listing`)
        answers every product's metadata here (files and directories): no request
        per product while its ETag is the one recorded.
        """
        steps = list(steps)
        remote = is_remote(self.root)
        with storage.listing(str(self.root)) if remote else contextlib.nullcontext():
            for step in steps:
                io, location = self.product(*step)
                if location is None or step in self._ahead or not (
                        isinstance(io, FileIOManager) or (remote and is_remote(location))):
                    continue
                try:
                    self._ahead[step] = self.observe(*step)
                except Exception:  # noqa: BLE001, S112 - raised again, in its place, by observe()
                    continue
        for name in dict.fromkeys(s[0] for s in steps):
            if name in self._parts:
                continue
            try:
                self._parts[name] = self._intent_parts(name)
                self.explanation(name)
            except Exception:  # noqa: BLE001, S112 - raised again, in its place, by intent()
                continue

    def _intent_parts(self, name: str) -> tuple[str, str, str, Callable[[Mapping[str, str]], str]]:
        """Code, config and IO fingerprints, and the function of upstream that gives the whole.

        Every step of the asset shares code, config and IO: they are encoded once
        per run, and a step costs the encoding of its upstream alone (for a
        partition, one small hash over its asset's base fingerprint).
        """
        code = self.code_fingerprint(name)
        values = self.values[name]
        config = fingerprints.config_fingerprint(values) if values else _empty_config()
        io = self.io_fingerprint(name)
        if self.graph.specs[name].partitions is None:
            return code, config, io, fingerprints.asset_fingerprinter(code=code, config=config, io=io)
        base = fingerprints.asset_fingerprint(code=code, config=config, io=io, upstream={})
        return code, config, io, functools.partial(partition_fingerprint, base)


@functools.lru_cache(maxsize=1)
def _empty_config() -> str:
    return fingerprints.config_fingerprint({})


@functools.lru_cache(maxsize=256)
def _io_fingerprint(io: IOManager) -> str:
    # IO managers are frozen attrs values: equal settings hash once per process.
    return fingerprints.hash_fields(
        io=f"{type(io).__module__}.{type(io).__qualname__}", settings=io.settings()
    )


_STAND_IN = re.compile(r"\(<sql asset [^>]*>\)$")


def _sql_definitions(name: str, found: Mapping[str, str], extra: Mapping[str, Any],
                     own_code: bool) -> dict[str, str]:
    """A SQL asset's definitions, as its reasons name them: ``stats (SQL)``, ``stats (SQL settings)``.

    With a function of the user's, its SQL is in its code (read through a stand-in
    without a file of its own, shown as ``(SQL)``); without one, the SQL text alone.
    """
    definitions = {_STAND_IN.sub("(SQL)", k): v for k, v in found.items() if k != "code_version"}
    if not own_code:
        definitions[f"{name} (SQL)"] = fingerprints.hash_fields(sql=extra.get("sql"))
    settings = {k: v for k, v in extra.items() if k != "sql"}
    definitions[f"{name} (SQL settings)"] = fingerprints.hash_fields(settings=settings)
    return definitions


def _where(io: Any, key: str | None, location: Any) -> str:
    """A source's location as declared, for reasons (``raw/flights.csv``)."""
    return io.where(key) if isinstance(io, SourceIO) else str(location)


class Explanation:
    """The readable parts of an intent: each code definition's and config value's digest.

    Built from what the run computed anyway (the code walk); a config value's
    digest and short form are computed on first use, which a fresh asset never
    needs. :meth:`catalog_text` is the JSON kept in ``assets.code_definitions``:
    ``{"qualname (file)": digest, ..., "@config": {param: [digest, short form]}}``.
    """

    __slots__ = ("_config", "_info", "_text", "_values", "io")

    def __init__(self, info: fingerprints.CodeInfo, values: Mapping[str, Any], io: str) -> None:
        self._info, self._values, self.io = info, values, io
        self._config: dict[str, tuple[str, str]] | None = None
        self._text: str | None = None

    def definitions(self) -> Mapping[str, str]:
        """``"qualname (file)"`` -> digest, for the function and everything it reaches."""
        return self._info.definitions

    def config(self) -> Mapping[str, tuple[str, str]]:
        """Parameter -> (digest of its value, the value in short)."""
        if self._config is None:
            self._config = {
                param: (_value_digest(value), short_value(value))
                for param, value in sorted(self._values.items())
            }
        return self._config

    def catalog_text(self) -> str:
        """The JSON text for the ``assets.code_definitions`` column."""
        if self._text is None:
            found: dict[str, Any] = dict(sorted(self.definitions().items()))
            found["@config"] = {p: list(pair) for p, pair in self.config().items()}
            self._text = json.dumps(found, sort_keys=True)
        return self._text


def _value_digest(value: Any) -> str:
    try:
        return fingerprints.hash_bytes(fingerprints.encode(value))
    except fingerprints.EncodingError:
        return "?"  # config_fingerprint has refused it already, with the asset's name


def short_value(value: Any, width: int = 40) -> str:
    """A config value in a few characters, for ``config changed: min_flights 100 -> 10``.

    Examples:
        >>> import datetime
        >>> short_value(100), short_value("EWR"), short_value(datetime.date(2013, 1, 1))
        ('100', "'EWR'", '2013-01-01')
        >>> short_value(list(range(1000)))
        'list of 1000'
    """
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, pathlib.PurePath):
        return str(value) if len(str(value)) <= width else "…" + str(value)[-width:]
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (int, float)):
        return f"{type(value).__name__}{tuple(shape)!r}"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ of the user's: the type says enough
        text = ""
    if text and len(text) <= width and "\n" not in text:
        return text
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__
