"""The fsspec backend of :mod:`assetry.storage`: every request to an object store goes here.

fsspec (s3fs for S3, gcsfs for GCS, adlfs for Azure) is imported on first
use. One file system instance per store and set of options, per process (a
forked worker builds its own), and so one S3 client: the ranged reads of
:func:`arrow_filesystem` go through the same instance. Listings are never
cached by fsspec (``use_listings_cache=False``): a run must see the store as it
is now.

Requests are counted, not assumed (tests/test_storage.py checks them at the
server): on S3 a listing is ``ListObjectsV2`` pages and nothing else (no HEAD
when the prefix is empty, as ``fs.find`` would make); :func:`check_root` is that
LIST of the root, kept for the run's first :func:`scan` of the same root; a
read is one GET (no HEAD for the size first); a write answers its ETag (no
HEAD after it, except after a multipart upload).

Writes: S3, GCS and Azure make an object visible only once its upload is
complete (a PUT, or a multipart upload's completion), so an object is written
under its final key in one upload; s3fs aborts a multipart upload that fails,
and a killed process leaves only an incomplete upload that no reader sees.
Other fsspec stores are written under a temporary key and moved.

No message made here includes storage options; an error names the location
and the store's own error text.

Longer than 400 lines: every request assetry makes to a store is in this one
module (listing, reading, writing, the root's check, the Arrow file system),
so that the cost of each, in requests, is read and changed in one place.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import xxhash

from assetry._surface import install_hint
from assetry.errors import StorageError
from assetry.storage import Entry, options_for

#: Part size of multipart uploads (S3's minimum is 5 MiB); smaller objects go in one PUT.
PART_BYTES = 8 << 20
#: Block size of reads through the Arrow file system: column chunks are read by range.
READ_BLOCK = 1 << 20
_ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
_TEMP = ".assetry-tmp-"
_LIBRARY = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs",
            "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs"}

_FILESYSTEMS: dict[tuple[int, str, str, bool], Any] = {}
_LOCK = threading.Lock()
_S3 = ("s3", "s3a")

#: How long the LIST made by :func:`check_root` answers the run's first listing of its root.
CHECK_REUSE_SECONDS = 10.0
#: The latest :func:`check_root` listing: root -> (when, process id, entries). Taken once.
_CHECKED: dict[str, tuple[float, int, dict[str, Entry]]] = {}
#: Object sizes this process has seen (listed or written), by URL: only to choose a read's
#: strategy (one GET, or concurrent ranged GETs for a big object), never to trust content.
_SIZES: dict[str, int] = {}
_SIZES_MAX = 100_000


def _protocol(location: str) -> str:
    return location.split("://", 1)[0]


def _path(location: str) -> str:
    return location.split("://", 1)[1]


def filesystem(location: str, *, reads: bool = False) -> Any:
    """The fsspec file system for a location (``reads``: the same one, its files opened for
    ranged reads without read-ahead)."""
    protocol = _protocol(location)
    options = options_for(location)
    key = (os.getpid(), protocol, _digest(options.values), reads)
    found = _FILESYSTEMS.get(key)
    if found is not None:
        return found
    if reads:
        tuned = _RangedReads(filesystem(location)) if protocol in _S3 else filesystem(location)
        with _LOCK:
            return _FILESYSTEMS.setdefault(key, tuned)
    try:
        import fsspec
    except ImportError as exc:
        raise StorageError(
            f"products on {protocol}:// need fsspec; install it with {install_hint('cloud')}"
        ) from exc
    kwargs = dict(options.values)
    if protocol in _S3:
        kwargs = _s3_options(kwargs)
    kwargs.setdefault("skip_instance_cache", True)
    try:
        fs = fsspec.filesystem(protocol, **kwargs)
    except ImportError as exc:
        library = _LIBRARY.get(protocol, protocol)
        raise StorageError(
            f"products on {protocol}:// need {library}; install it with {install_hint('cloud')}"
            + ("" if library == "s3fs" else f" and pip install {library}")
        ) from exc
    except ValueError as exc:  # an unknown protocol: never echo the options
        raise StorageError(f"fsspec knows no store {protocol}:// ({type(exc).__name__})") from exc
    with _LOCK:
        return _FILESYSTEMS.setdefault(key, fs)  # a thread that made one first wins: one client


class _RangedReads:
    """A file system's proxy for pyarrow: files read by range, one HEAD per file opened.

    pyarrow's ``FSSpecHandler`` opens files with ``fs.open(path, "rb")``; through
    this proxy they read in blocks of :data:`READ_BLOCK` with no read-ahead
    cache, so a column chunk costs a ranged GET of about its size. pyarrow asks
    ``isfile`` just before each ``open``, and s3fs's ``open`` would ask again
    for the size and ETag: the answer to ``isfile`` serves that ``open`` (once,
    within :data:`INFO_SECONDS`), and s3fs still checks every ranged GET against
    that ETag (an object replaced meanwhile fails the read, never mixes two
    versions). Everything else is the wrapped instance's (its S3 client, made
    once per process).
    """

    #: How long the answer to ``isfile`` may serve the ``open`` that follows it.
    INFO_SECONDS = 1.0

    def __init__(self, fs: Any) -> None:
        self._fs = fs
        self._infos: dict[str, tuple[float, dict[str, Any]]] = {}

    def __getattr__(self, name: str) -> Any:
        if name in ("_fs", "_infos"):  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self._fs, name)

    def isfile(self, path: str) -> bool:
        try:
            info: dict[str, Any] = self._fs.info(path)
        except Exception:  # noqa: BLE001 - as fsspec's isfile: anything but a file is False
            return False
        if len(self._infos) > 1_000:
            self._infos.clear()
        self._infos[path] = (time.monotonic(), info)
        return info.get("type") == "file"

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "r" not in mode:
            return self._fs.open(path, mode, **kwargs)
        kwargs.setdefault("block_size", READ_BLOCK)
        kwargs.setdefault("cache_type", "none")
        taken = self._infos.pop(path, None)
        if (taken is None or time.monotonic() - taken[0] > self.INFO_SECONDS
                or "size" in kwargs or taken[1].get("size") is None):
            return self._fs.open(path, mode, **kwargs)
        found = taken[1]
        try:
            f = self._fs.open(path, mode, size=int(found["size"]), **kwargs)
        except TypeError:  # an s3fs whose open takes no size: it asks for it
            return self._fs.open(path, mode, **kwargs)
        # s3fs compares each ranged GET's ETag with these details (FileExpired if the object
        # changed since): given, they cost no HEAD and keep that check.
        with contextlib.suppress(AttributeError):
            f.details = found
        return f


#: Environment variables a store's client reads when it is made: a change makes a new one.
_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
        "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY")


def _digest(values: Any) -> str:
    """A digest of the options and the store's environment variables, so that equal ones share
    one file system (a digest in memory: neither is kept as text)."""
    env = [os.environ.get(name) for name in _ENV]
    text = json.dumps([values, env], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _s3_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """s3fs's options: listings never cached, the endpoint from ``AWS_ENDPOINT_URL`` if unset."""
    kwargs.setdefault("use_listings_cache", False)
    client = dict(kwargs.get("client_kwargs") or {})
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint and "endpoint_url" not in client and "endpoint_url" not in kwargs:
        client["endpoint_url"] = endpoint
    if client:
        kwargs["client_kwargs"] = client
    return kwargs


def _fail(location: str, what: str, exc: BaseException) -> StorageError:
    text = str(exc).strip() or type(exc).__name__
    return StorageError(f"cannot {what} {location!r}: {text}")


def entry_of(info: dict[str, Any]) -> Entry:
    """An :class:`Entry` from fsspec's ``info`` or ``find(detail=True)`` record."""
    etag = (info.get("ETag") or info.get("etag") or info.get("md5Hash")
            or info.get("generation") or "")
    mtime = (info.get("LastModified") or info.get("mtime") or info.get("updated")
             or info.get("last_modified") or info.get("created"))
    stamp: float | None = None
    if isinstance(mtime, (int, float)):
        stamp = float(mtime)
    elif mtime is not None and hasattr(mtime, "timestamp"):
        stamp = mtime.timestamp()
    if not etag:
        etag = f"mtime-{stamp}"
    return Entry(etag=str(etag).strip('"'), size=int(info.get("size") or 0), mtime=stamp)


def scan(prefix: str, *, reuse_check: bool = False) -> dict[str, Entry]:
    """Every object under ``prefix`` (URL -> entry), in one LIST (paged by 1,000 keys).

    ``reuse_check``: the LIST that :func:`check_root` has just made of this very
    root answers instead, once (a run lists its root once, not twice).
    """
    base = prefix.rstrip("/")
    if reuse_check:
        checked = _take_checked(base)
        if checked is not None:
            return checked
    if _protocol(base) in _S3:
        try:
            return _list_s3(base)
        except FileNotFoundError:  # no such bucket: nothing under the prefix
            return {}
        except Exception as exc:
            raise _fail(prefix, "list", exc) from exc
    fs = filesystem(prefix)
    # The store's own spelling of the prefix (memory:// adds a leading "/"): found paths start
    # with it, and the rest is appended to the prefix as given, so URLs match locations exactly.
    stripped = fs._strip_protocol(base).rstrip("/")
    try:
        found = fs.find(stripped, detail=True)
    except FileNotFoundError:
        return {}
    except Exception as exc:
        raise _fail(prefix, "list", exc) from exc
    return {
        base + path[len(stripped):]: entry_of(info)
        for path, info in found.items()
        if info.get("type", "file") == "file" and path.startswith(stripped)
    }


def _list_s3(base: str) -> dict[str, Entry]:
    """``ListObjectsV2`` of ``<base>/``, page after page, and nothing else.

    (s3fs's ``find`` adds a HEAD and a second LIST when the prefix holds
    nothing, to tell an empty "directory" from a missing one: a cold run's
    listing would pay both.)

    Raises:
        FileNotFoundError: the bucket does not exist.
    """
    fs = filesystem(base)
    protocol = _protocol(base)
    bucket, _, key = _path(base).partition("/")
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{key}/" if key else ""}
    head = f"{protocol}://{bucket}/"
    found: dict[str, Entry] = {}
    while True:
        page = fs.call_s3("list_objects_v2", **params)
        for item in page.get("Contents") or ():
            name = item["Key"]
            if name.endswith("/"):  # a "directory" marker, not a product
                continue
            found[head + name] = entry_of({"ETag": item.get("ETag"), "size": item.get("Size"),
                                           "LastModified": item.get("LastModified")})
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            break
        params["ContinuationToken"] = token
    _seen({url: e.size for url, e in found.items()})
    return found


def _seen(sizes: dict[str, int]) -> None:
    with _LOCK:
        if len(_SIZES) + len(sizes) > _SIZES_MAX:
            _SIZES.clear()
        _SIZES.update(sizes)


def _take_checked(base: str) -> dict[str, Entry] | None:
    """The entries :func:`check_root` listed for ``base``, if fresh and of this process; once."""
    with _LOCK:
        found = _CHECKED.pop(base, None)
    if found is None:
        return None
    when, pid, entries = found
    if pid != os.getpid() or time.monotonic() - when > CHECK_REUSE_SECONDS:
        return None
    return entries


def stat(location: str) -> Entry | None:
    """The object's entry (one HEAD), or None if it does not exist."""
    fs = filesystem(location)
    try:
        info = fs.info(_path(location))
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise _fail(location, "look up", exc) from exc
    if info.get("type", "file") != "file":
        return None
    return entry_of(info)


def check_root(root: str) -> None:
    """One request that the root's bucket answers with these credentials.

    On S3 it is the LIST of the root itself (proving the bucket there and
    readable as a HEAD of the bucket would), kept for the run's listing that
    follows (:func:`scan` with ``reuse_check``), so a no-op run makes one
    request in all. Elsewhere, a look-up of the bucket.
    """
    protocol, path = _protocol(root), _path(root)
    bucket = path.split("/", 1)[0]
    try:
        if protocol in _S3:
            entries = _list_s3(root.rstrip("/"))
            with _LOCK:
                _CHECKED.clear()
                _CHECKED[root.rstrip("/")] = (time.monotonic(), os.getpid(), entries)
            return
        fs = filesystem(root)
        if protocol not in _ATOMIC_PUT:
            fs.exists(bucket)  # a store without buckets (memory://): reachable is enough
        elif not fs.exists(bucket):
            raise FileNotFoundError(bucket)
    except StorageError:
        raise  # the library is missing: its own message
    except Exception as exc:  # every failure says the same: what to check
        text = str(exc).strip() or type(exc).__name__
        where = ("storage_options= or the AWS_* environment variables (AWS_ACCESS_KEY_ID, "
                 "AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL)" if protocol in _S3
                 else "storage_options= or the store's environment variables")
        raise StorageError(
            f"root {root!r} cannot be reached ({text}); check that bucket {bucket!r} exists "
            f"and the credentials and endpoint in {where}"
        ) from exc


def put_bytes(location: str, data: Any) -> Entry:
    """One upload of ``data`` (a PUT, or a multipart upload above two parts); its entry."""
    body = bytes(data)
    answer = _upload(location, lambda fs, path, options: fs.pipe_file(path, body, **options))
    if isinstance(answer, Entry):
        return answer
    etag = answer.get("ETag") if isinstance(answer, dict) and _protocol(location) in _S3 else None
    if etag:  # an S3 PUT answers the ETag: no HEAD after it
        _seen({location: len(body)})
        return Entry(etag=str(etag).strip('"'), size=len(body))
    return _written(location)


def put_file(local: str, location: str) -> Entry:
    """Upload a local file as one object (multipart above two parts, aborted on error).

    A file under two parts goes as one PUT of its bytes, whose answer gives the
    ETag; after a multipart upload (which s3fs does not answer with its ETag),
    one HEAD.
    """
    if _protocol(location) in _S3 and os.path.getsize(local) < 2 * PART_BYTES:
        with open(local, "rb") as f:
            return put_bytes(location, f.read())
    answer = _upload(location, lambda fs, path, options: fs.put_file(local, path, **options))
    return answer if isinstance(answer, Entry) else _written(location)


def _upload(location: str, send: Callable[[Any, str, dict[str, Any]], Any]) -> Any:
    """``send(fs, path, options)`` the object: S3 in parts of :data:`PART_BYTES`; a store
    without atomic uploads through a temporary key moved over the final one (its
    :class:`Entry` returned). Anything else returns what ``send`` answered."""
    protocol, path = _protocol(location), _path(location)
    fs = filesystem(location)
    try:
        if protocol not in _ATOMIC_PUT:
            return _put_moved(fs, protocol, path, lambda tmp: send(fs, tmp, {}))
        return send(fs, path, {"chunksize": PART_BYTES} if protocol in _S3 else {})
    except StorageError:
        raise
    except Exception as exc:
        raise _fail(location, "write", exc) from exc


def _written(location: str) -> Entry:
    """The entry of an object just written (one HEAD), or an error if the store lost it."""
    found = stat(location)
    if found is None:
        raise StorageError(f"the object {location!r} was written but cannot be found")
    return found


def _put_moved(fs: Any, protocol: str, path: str, write: Any) -> Entry:
    """A store without atomic uploads: write a temporary key, then move it over the final one."""
    tmp = f"{path}{_TEMP}{uuid.uuid4().hex[:12]}"
    try:
        write(tmp)
        fs.mv(tmp, path)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm(tmp)
        raise
    return entry_of(fs.info(path))


def read_bytes(location: str) -> bytes:
    """The object's bytes: one GET.

    s3fs first asks for the size (a HEAD) to fetch a big object in concurrent
    ranges; that is done only for an object this process knows to be bigger than
    s3fs's block size (from a listing or its own upload). Anything else is one
    GET, which is never wrong whatever the size.
    """
    fs = filesystem(location)
    kwargs: dict[str, Any] = {}
    if (_protocol(location) in _S3 and _takes_concurrency(fs)
            and _SIZES.get(location, 0) <= getattr(fs, "default_block_size", 0)):
        kwargs["max_concurrency"] = 1
    try:
        return bytes(fs.cat_file(_path(location), **kwargs))
    except FileNotFoundError as exc:
        raise StorageError(f"the object {location!r} does not exist (deleted outside assetry?); "
                           "run its asset again to store it anew") from exc
    except Exception as exc:
        raise _fail(location, "read", exc) from exc


_CONCURRENT_READS: dict[type, bool] = {}


def _takes_concurrency(fs: Any) -> bool:
    """Whether this s3fs reads a whole object in concurrent ranges (``max_concurrency``, 2024.12+)."""
    kind = type(fs)
    found = _CONCURRENT_READS.get(kind)
    if found is None:
        method = getattr(kind, "_cat_file", None)
        found = method is not None and "max_concurrency" in inspect.signature(method).parameters
        _CONCURRENT_READS[kind] = found
    return found


def hash_object(location: str) -> str:
    """The xxh3-128 digest of the object's bytes, read in parts of :data:`PART_BYTES`."""
    fs = filesystem(location)
    h = xxhash.xxh3_128()
    try:
        with fs.open(_path(location), "rb", block_size=PART_BYTES) as f:
            while chunk := f.read(PART_BYTES):
                h.update(chunk)
    except FileNotFoundError as exc:
        raise StorageError(f"the object {location!r} does not exist") from exc
    except Exception as exc:
        raise _fail(location, "read", exc) from exc
    return h.hexdigest()


def arrow_filesystem(location: str) -> tuple[Any, str]:
    """``(pyarrow.fs.PyFileSystem over fsspec, path)`` for ranged reads of ``location``."""
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    return PyFileSystem(FSSpecHandler(filesystem(location, reads=True))), _path(location)


def cache_dir() -> str:
    """Where local copies of objects go: ``$ASSETRY_CACHE_DIR``, else ``~/.cache/assetry/objects``."""
    found = os.environ.get("ASSETRY_CACHE_DIR")
    if found:
        return found
    return os.path.join(os.path.expanduser("~"), ".cache", "assetry", "objects")


def local_copy(location: str, entry: Entry | None = None) -> str:
    """A local copy of one object, kept under :func:`cache_dir` by URL and ETag."""
    if entry is None:
        entry = stat(location)
        if entry is None:
            raise StorageError(f"the object {location!r} does not exist (deleted outside "
                               "assetry?); run its asset again to store it anew")
    digest = hashlib.sha256(f"{location}\0{entry.etag}".encode()).hexdigest()[:24]
    folder = os.path.join(cache_dir(), digest)
    target = os.path.join(folder, location.rsplit("/", 1)[-1])
    if os.path.exists(target):
        return target
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-")
    os.close(fd)
    fs = filesystem(location)
    try:
        fs.get_file(_path(location), tmp)
        os.replace(tmp, target)
    except Exception as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _fail(location, "download", exc) from exc
    return target


def delete(locations: list[str]) -> None:
    """Remove objects (in bulk where the store can: one request per 1,000 keys on S3)."""
    fs = filesystem(locations[0])
    try:
        fs.rm([_path(loc) for loc in locations])
    except FileNotFoundError:
        return
    except Exception as exc:
        raise _fail(locations[0], "remove", exc) from exc
