"""Fingerprints: canonical bytes and hashes of code, config, IO settings and upstream data.

An asset is fresh when its fingerprint matches the one the catalog recorded. The
fingerprint combines the asset's code fingerprint (see :func:`code_fingerprint`),
its config values, its IO manager's settings and its upstream data fingerprints,
each reduced to bytes by :func:`encode` and hashed with xxh3-128. A config
value of a type of the user's own enters through :func:`register`.

A value that cannot be encoded exactly raises :class:`EncodingError`.
:func:`code_info` returns the code fingerprint together with the digest of each
definition in it, and :func:`changed_definitions` names what differs between
two of those, for a reason such as ``code changed: mean_delay (flights/helpers.py)``.

The package owns pure functions only and imports nothing of assetry but
:mod:`assetry.errors`. Apart from reading the source of Python functions
(:mod:`~assetry.fingerprints._scan`, with its disk cache
:mod:`~assetry.fingerprints._scancache`), it does no I/O: it never touches the
catalog, a product or the network. Inside: :mod:`~assetry.fingerprints._encoding`
(canonical bytes) and :mod:`~assetry.fingerprints._content` (arrays and frames
by content); :mod:`~assetry.fingerprints._reach` (what code is covered, one
walk), :mod:`~assetry.fingerprints._user` (what is the user's code),
:mod:`~assetry.fingerprints._values` (which values enter by value, and the code
held in them), :mod:`~assetry.fingerprints._code` (what one function or class
contributes), :mod:`~assetry.fingerprints._definitions` (a digest per definition,
for reasons); :mod:`~assetry.fingerprints._scan` (one source file, scanned),
:mod:`~assetry.fingerprints._normal` (one piece of code, normalized) and
:mod:`~assetry.fingerprints._bindings` (the statements that build a module-level value).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import xxhash

from assetry.fingerprints._definitions import CodeInfo, changed_definitions
from assetry.fingerprints._encoding import (
    EncodingError,
    encode,
    frame,
    hash_bytes,
    hash_fields,
    register,
)
from assetry.fingerprints._reach import code_dependencies, code_fingerprint, code_info

__all__ = [
    "CodeInfo",
    "EncodingError",
    "asset_fingerprint",
    "asset_fingerprinter",
    "changed_definitions",
    "code_definitions",
    "code_dependencies",
    "code_fingerprint",
    "code_info",
    "combined_fingerprint",
    "config_fingerprint",
    "encode",
    "hash_bytes",
    "hash_fields",
    "io_fingerprint",
    "partition_fingerprint",
    "register",
]


def code_definitions(fn: Callable[..., Any], code_version: str | None = None) -> dict[str, str]:
    """The digest of each definition in ``fn``'s code fingerprint, by ``"qualname (file)"``.

    The function itself and every function, class and value it reaches; compare
    two with :func:`changed_definitions`. To have the fingerprint too from the
    same walk, call :func:`code_info` once and read both.

    Examples:
        >>> def double(x):
        ...     return 2 * x
        >>> list(code_definitions(double, "v1"))
        ['code_version']
    """
    return code_info(fn, code_version).definitions


def config_fingerprint(config: Mapping[str, Any], *, asset: str | None = None) -> str:
    """Fingerprint an asset's config values (parameter name to value).

    A value that cannot be encoded exactly raises :class:`EncodingError`
    naming the parameter, and the asset when ``asset`` is given.

    Examples:
        >>> config_fingerprint({"min_flights": 100}) == config_fingerprint({"min_flights": 10})
        False
        >>> try:
        ...     config_fingerprint({"n": 1, "window": object()}, asset="rolling")
        ... except EncodingError as error:
        ...     print(str(error)[:78])
        asset 'rolling' has config parameter 'window' holding a value of type 'object'
    """
    values = dict(config)
    try:
        return hash_fields(config=values)
    except EncodingError as error:
        key, found = _culprit(error, values)
        where = f"config parameter {key!r}"
        raise found.within(f"asset {asset!r} has {where}" if asset else where) from None


def io_fingerprint(io_class: str, settings: Mapping[str, Any], *, asset: str | None = None) -> str:
    """Fingerprint an IO manager: its class path and the settings its ``settings()`` returns.

    A setting that cannot be encoded exactly raises :class:`EncodingError`
    naming it, and the asset when ``asset`` is given.

    Examples:
        >>> io_fingerprint("my.Csv", {"sep": ","}) == io_fingerprint("my.Csv", {"sep": ";"})
        False
    """
    values = dict(settings)
    try:
        return hash_fields(io=io_class, settings=values)
    except EncodingError as error:
        key, found = _culprit(error, values)
        short = io_class.rpartition(".")[2]
        where = f"IO manager {short} with setting {key!r}"
        why = (f"cannot be fingerprinted exactly; return a plain value for it from "
               f"{short}.settings(), or register the type with "
               f"assetry.fingerprints.register({found.cls.__name__}, ...)")
        raise EncodingError(found.cls, why, f"asset {asset!r} has {where}" if asset else where
                            ) from None


def _culprit(error: EncodingError, values: Mapping[str, Any]) -> tuple[str, EncodingError]:
    """The first of ``values`` that cannot be encoded, and its own error."""
    for key, value in values.items():
        try:
            encode(value)
        except EncodingError as found:
            return key, found
    return "?", error


def asset_fingerprint(
    *,
    code: str,
    config: str,
    io: str,
    upstream: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Combine an asset's parts into its fingerprint.

    Args:
        code: The :func:`code_fingerprint`.
        config: The :func:`config_fingerprint`.
        io: The fingerprint of the IO manager's settings.
        upstream: Upstream asset name to its data fingerprint; order does not count.
        extra: Anything else that must make the asset stale when it changes
            (a partition key, for instance). ``None`` and ``{}`` are the same.

    Examples:
        >>> a = asset_fingerprint(code="c", config="k", io="p", upstream={"x": "1", "y": "2"})
        >>> a == asset_fingerprint(code="c", config="k", io="p", upstream={"y": "2", "x": "1"})
        True
    """
    return hash_fields(
        code=code, config=config, io=io, upstream=dict(upstream), extra=dict(extra or {})
    )


def asset_fingerprinter(*, code: str, config: str, io: str) -> Callable[[Mapping[str, str]], str]:
    """:func:`asset_fingerprint` with code, config and IO fixed: each call encodes only upstream.

    The same fingerprint from the same bytes, for an engine that fingerprints
    thousands of assets per run: the field names are encoded once per process,
    the three fixed parts once per asset, and a call encodes its upstream alone.

    Examples:
        >>> of = asset_fingerprinter(code="c", config="k", io="p")
        >>> of({"x": "1"}) == asset_fingerprint(code="c", config="k", io="p", upstream={"x": "1"})
        True
    """
    order, at = _asset_fields()
    values = {"code": encode(code), "config": encode(config), "io": encode(io), "extra": _NO_EXTRA}
    head = b"".join(key + values[name] for key, name in order[:at]) + order[at][0]
    tail = b"".join(key + values[name] for key, name in order[at + 1:])

    def fingerprint(upstream: Mapping[str, str]) -> str:
        return hash_bytes(frame(b"d", head + _upstream_bytes(upstream) + tail))

    return fingerprint


_pack_length = struct.Struct("<Q").pack


def _upstream_bytes(upstream: Mapping[str, str]) -> bytes:
    """``encode(dict(upstream))``, the very bytes, without dispatch for a map of str to str
    (every downstream of a thousand sources encodes one)."""
    pairs = []
    for name, fp in upstream.items():
        if type(name) is not str or type(fp) is not str:
            return encode(dict(upstream))
        key, value = name.encode("utf-8", "surrogatepass"), fp.encode("utf-8", "surrogatepass")
        pairs.append((b"s" + _pack_length(len(key)) + key, b"s" + _pack_length(len(value)) + value))
    pairs.sort()  # by encoded key, as encode() orders a dict (keys are unique)
    body = b"".join([key + value for key, value in pairs])
    return b"d" + _pack_length(len(body)) + body


_FIELDS: tuple[list[tuple[bytes, str]], int] | None = None
_NO_EXTRA = encode({})


def _asset_fields() -> tuple[list[tuple[bytes, str]], int]:
    """asset_fingerprint's field names, encoded, in the order encode() lays out a dict (by
    encoded key), and where ``upstream`` falls among them."""
    global _FIELDS
    if _FIELDS is None:
        order = sorted((encode(name), name) for name in ("code", "config", "io", "upstream", "extra"))
        _FIELDS = order, [name for _, name in order].index("upstream")
    return _FIELDS


def combined_fingerprint(pairs: Sequence[tuple[str, str]]) -> str:
    """One fingerprint of a set of partitions: the hash of its sorted (key, data fingerprint) pairs.

    An unpartitioned downstream of a partitioned asset depends on this, so a new
    or changed partition reruns it once, and an unchanged set not at all. It is
    computed from recorded and observed fingerprints, never by reading data.

    Examples:
        >>> a = combined_fingerprint([("2013-01-01", "f1"), ("2013-01-02", "f2")])
        >>> a == combined_fingerprint([("2013-01-02", "f2"), ("2013-01-01", "f1")])
        True
    """
    h = xxhash.xxh3_128()
    for key, fp in sorted(pairs):
        h.update(f"{len(key)}:{key}:{len(fp)}:{fp};".encode())
    return "partitions:" + h.hexdigest()


def partition_fingerprint(base: str, upstream: Mapping[str, str]) -> str:
    """The fingerprint of one partition: its asset's fingerprint without upstream, plus upstream.

    ``base`` is :func:`assetry.fingerprints.asset_fingerprint` of the asset's
    code, config and IO settings with no upstream, computed once per run; each
    partition then costs one small hash, not a full canonical encoding. The
    partition key is not part of it (each partition has its own record).

    Examples:
        >>> partition_fingerprint("b", {"x": "1", "y": "2"}) == partition_fingerprint("b", {"y": "2", "x": "1"})
        True
    """
    h = xxhash.xxh3_128(f"{len(base)}:{base};".encode())
    for name, fp in sorted(upstream.items()):
        h.update(f"{len(name)}:{name}:{len(fp)}:{fp};".encode())
    return "partition:" + h.hexdigest()
