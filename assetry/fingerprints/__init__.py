"""Fingerprints: canonical bytes and hashes of code, config, IO settings and upstream data.

An asset is fresh when its fingerprint matches the one the catalog recorded. The
fingerprint combines the asset's code fingerprint (see :func:`code_fingerprint`),
its config values, its IO manager's settings and its upstream data fingerprints,
each reduced to bytes by :func:`encode` and hashed with xxh3-128. A config
value of a type of the user's own enters through :func:`register`.

The package owns pure functions only and imports nothing of assetry but
:mod:`assetry.errors`. Apart from reading the source of Python functions
(:mod:`~assetry.fingerprints._scan`, with its disk cache
:mod:`~assetry.fingerprints._scancache`), it does no I/O: it never touches the
catalog, a product or the network. Inside: :mod:`~assetry.fingerprints._encoding`
(canonical bytes), :mod:`~assetry.fingerprints._reach` (what code is covered),
:mod:`~assetry.fingerprints._code` (what one function or class contributes) and
:mod:`~assetry.fingerprints._scan` (one source file, normalized).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import xxhash

from assetry.fingerprints._encoding import encode, hash_bytes, hash_fields, register
from assetry.fingerprints._reach import code_dependencies, code_fingerprint

__all__ = [
    "asset_fingerprint",
    "code_dependencies",
    "code_fingerprint",
    "combined_fingerprint",
    "config_fingerprint",
    "encode",
    "hash_bytes",
    "hash_fields",
    "partition_fingerprint",
    "register",
]


def config_fingerprint(config: Mapping[str, Any]) -> str:
    """Fingerprint an asset's config values (parameter name to value).

    Examples:
        >>> config_fingerprint({"min_flights": 100}) == config_fingerprint({"min_flights": 10})
        False
    """
    return hash_fields(config=dict(config))


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
