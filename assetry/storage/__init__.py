"""Object storage: where a remote root's products live (S3, GCS, Azure), through fsspec.

This package is the one place that talks to an object store. It sits below
:mod:`assetry.io_managers` (which decide *what* bytes a product is) and knows
nothing of frames, the catalog or the engine. Importing it is cheap: fsspec
and s3fs are imported only when a remote location is first touched
(:mod:`assetry.storage._fsspec`), and a missing library is a
:class:`~assetry.errors.StorageError` naming ``pip install 'assetry[cloud]'``.

What it owns:

- Telling a remote location from a local path (:func:`is_remote`, a string
  test, so the local fast paths pay nothing) and turning a ``file://`` URL into
  a local path (:func:`local_root`).
- The run's root as a URL (:class:`RemoteRoot`, a ``str`` that joins with ``/``).
- Credentials and endpoints (:class:`StorageOptions`): kept in memory only, in a
  process-wide registry by root (:func:`register`), never in a repr, a message
  or the catalog. Without options, the standard environment variables apply
  (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``...).
- The object operations IO managers need: write whole (:func:`put_bytes`,
  :func:`put_file`: the store makes an object visible only once complete),
  read (:func:`read_bytes`, :func:`arrow_filesystem`, :func:`local_copy`),
  metadata (:func:`stat`, :func:`list_under`), :func:`delete`, and
  :func:`listing`: one LIST of a whole prefix that answers every :func:`stat`
  under it, for a no-op run's observations.

Every write returns the object's :class:`Entry` (ETag, size), the change key a
later run compares without downloading.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Self

import attrs

from assetry.errors import StorageError

__all__ = [
    "REMOTE_SCHEMES",
    "Entry",
    "RemoteRoot",
    "StorageOptions",
    "arrow_filesystem",
    "check_root",
    "delete",
    "hash_object",
    "is_remote",
    "list_under",
    "listing",
    "local_copy",
    "local_root",
    "options_for",
    "put_bytes",
    "put_file",
    "read_bytes",
    "register",
    "registered",
    "remote_root",
    "stat",
]

#: URL prefixes of object stores (fsspec protocols); anything else is a local path.
REMOTE_SCHEMES = ("s3://", "s3a://", "gs://", "gcs://", "az://", "abfs://", "abfss://",
                  "memory://")


def is_remote(location: Any) -> bool:
    """Whether a product location (or root) is on an object store.

    Examples:
        >>> is_remote("s3://bucket/data/a.parquet"), is_remote("data/a.parquet")
        (True, False)
        >>> is_remote("postgresql://127.0.0.1:5432/test#public.t")
        False
    """
    return isinstance(location, str) and location.startswith(REMOTE_SCHEMES)


class RemoteRoot(str):
    """A run's root on an object store: a URL without a trailing slash that joins with ``/``.

    Examples:
        >>> root = RemoteRoot("s3://bucket/data/")
        >>> root, root / "by_carrier", str(root / "daily" / "date=2013-01-01")
        ('s3://bucket/data', 's3://bucket/data/by_carrier', 's3://bucket/data/daily/date=2013-01-01')
    """

    __slots__ = ()

    def __new__(cls, url: str) -> Self:
        return super().__new__(cls, url.rstrip("/"))

    def __truediv__(self, name: str) -> RemoteRoot:
        return RemoteRoot(f"{self}/{name}")

    @property
    def name(self) -> str:
        """The last segment, as ``pathlib.Path.name``."""
        return self.rsplit("/", 1)[-1]


def local_root(root: str) -> str:
    """A ``file://`` URL as a local path; any other text as it is.

    Examples:
        >>> local_root("file:///tmp/data"), local_root("data")
        ('/tmp/data', 'data')
    """
    if root.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        return unquote(urlsplit(root).path)
    return root


def remote_root(root: Any) -> RemoteRoot:
    """Check a root URL and return it as a :class:`RemoteRoot`.

    A URL with credentials in it (``s3://KEY:SECRET@bucket``) is refused, and
    the message does not repeat them.

    Raises:
        StorageError: no bucket, or credentials in the URL.

    Examples:
        >>> remote_root("s3://bucket/data")
        's3://bucket/data'
    """
    url = str(root)
    scheme, _, rest = url.partition("://")
    bucket = rest.split("/", 1)[0]
    if "@" in bucket or ":" in bucket:
        raise StorageError(
            f"root {scheme}://... holds credentials in its URL; give them in storage_options= "
            "or the environment (AWS_ACCESS_KEY_ID, ...), never in the root"
        )
    if not bucket:
        raise StorageError(f"root {url!r} names no bucket; write it {scheme}://<bucket>/<prefix>")
    return RemoteRoot(url)


@attrs.frozen(repr=False)
class StorageOptions:
    """Credentials and endpoint of a store (fsspec's ``storage_options``), never shown.

    Its repr, str and pickle carry the values (a worker needs them), but no
    message, log line or catalog row is made from it.

    Examples:
        >>> StorageOptions({"key": "AKID", "secret": "s3cr3t"})
        StorageOptions(<2 options hidden>)
    """

    values: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    def __repr__(self) -> str:
        return f"StorageOptions(<{len(self.values)} options hidden>)"

    __str__ = __repr__


_REGISTRY: dict[str, StorageOptions] = {}
_NONE = StorageOptions()
_REGISTRY_LOCK = threading.Lock()


def register(root: str, options: Mapping[str, Any] | StorageOptions | None) -> StorageOptions:
    """Use ``options`` for every location under ``root`` in this process (kept in memory only).

    Examples:
        >>> register("memory://assetry-doc", {"skip_instance_cache": True})
        StorageOptions(<1 options hidden>)
        >>> options_for("memory://assetry-doc/a.json").values
        {'skip_instance_cache': True}
    """
    found = options if isinstance(options, StorageOptions) else StorageOptions(options or {})
    with _REGISTRY_LOCK:
        _REGISTRY[str(root).rstrip("/")] = found
    return found


def options_for(location: str) -> StorageOptions:
    """The options registered for the longest root holding ``location`` (none: empty)."""
    best = ""
    for root in list(_REGISTRY):
        if (location == root or location.startswith(root + "/")) and len(root) > len(best):
            best = root
    return _REGISTRY.get(best, _NONE) if best else _NONE


def registered(root: str) -> StorageOptions | None:
    """The options registered for exactly this root, for a task to carry to another process."""
    return _REGISTRY.get(str(root).rstrip("/"))


@attrs.frozen
class Entry:
    """An object's metadata: the store's ETag (or a stand-in), size and modification time.

    ``key`` is what a later run compares to know the object unchanged.

    Examples:
        >>> Entry("5d41402abc4b2a76b9719d911017c592", 5).key
        'etag:5d41402abc4b2a76b9719d911017c592:5'
    """

    etag: str
    size: int
    mtime: float | None = None

    @property
    def key(self) -> str:
        """``etag:<etag>:<size>``."""
        return f"etag:{self.etag}:{self.size}"


_LISTING: contextvars.ContextVar[tuple[str, dict[str, Entry]] | None] = contextvars.ContextVar(
    "assetry_listing", default=None)


@contextlib.contextmanager
def listing(prefix: str) -> Iterator[dict[str, Entry] | None]:
    """Within the block, :func:`stat` and :func:`list_under` answer from one LIST of ``prefix``.

    A location under ``prefix`` that the LIST did not return is missing. If the
    LIST fails, the block runs without it (each :func:`stat` asks on its own and
    raises in its place). The LIST that :func:`check_root` has just made of this
    root (seconds ago, in this process) serves here once instead of a new one.
    """
    from assetry.storage import _fsspec

    try:
        entries = _fsspec.scan(prefix, reuse_check=True)
    except StorageError:
        entries = None
    if entries is None:
        yield None
        return
    token = _LISTING.set((str(prefix).rstrip("/") + "/", entries))
    try:
        yield entries
    finally:
        _LISTING.reset(token)


def _listed(location: str) -> dict[str, Entry] | None:
    found = _LISTING.get()
    if found is None or not location.startswith(found[0]):
        return None
    return found[1]


def stat(location: str) -> Entry | None:
    """The object's metadata, or None when it does not exist (from :func:`listing` if inside one)."""
    entries = _listed(location)
    if entries is not None:
        return entries.get(location)
    from assetry.storage import _fsspec

    return _fsspec.stat(location)


def list_under(prefix: str) -> dict[str, Entry]:
    """Every object under ``prefix/`` (URL -> entry), with one LIST (none inside :func:`listing`)."""
    base = prefix.rstrip("/") + "/"
    entries = _listed(base)
    if entries is None:
        from assetry.storage import _fsspec

        entries = _fsspec.scan(base)
    return {url: e for url, e in entries.items() if url.startswith(base)}


def check_root(root: str) -> None:
    """Prove the root's bucket reachable with its options (one request: on S3, the LIST of
    the root, which the run's :func:`listing` of it then uses).

    Raises:
        StorageError: naming the root and the store's error, and where credentials come from.
    """
    from assetry.storage import _fsspec

    _fsspec.check_root(root)


def put_bytes(location: str, data: Any) -> Entry:
    """Store ``data`` as the object ``location``, whole or not at all; its entry."""
    from assetry.storage import _fsspec

    return _fsspec.put_bytes(location, data)


def put_file(path: str, location: str) -> Entry:
    """Upload a local file as the object ``location``, whole or not at all; its entry."""
    from assetry.storage import _fsspec

    return _fsspec.put_file(path, location)


def read_bytes(location: str) -> bytes:
    """The object's bytes (one GET)."""
    from assetry.storage import _fsspec

    return _fsspec.read_bytes(location)


def hash_object(location: str) -> str:
    """The xxh3-128 digest of the object's bytes, streamed (the same as a local file's)."""
    from assetry.storage import _fsspec

    return _fsspec.hash_object(location)


def arrow_filesystem(location: str) -> tuple[Any, str]:
    """A ``pyarrow.fs`` file system over the store, and the location's path in it.

    Readers that take a file system (``pyarrow.dataset``, ``pyarrow.parquet``)
    read only the byte ranges they need through it.
    """
    from assetry.storage import _fsspec

    return _fsspec.arrow_filesystem(location)


def local_copy(location: str, entry: Entry | None = None) -> str:
    """A local copy of the object (or of every object under a prefix), cached by ETag.

    The cache is ``$ASSETRY_CACHE_DIR``, else ``~/.cache/assetry/objects``.
    """
    from assetry.storage import _fsspec

    return _fsspec.local_copy(location, entry)


def delete(locations: list[str]) -> None:
    """Remove these objects (missing ones are no error)."""
    if locations:
        from assetry.storage import _fsspec

        _fsspec.delete(locations)
