"""File and directory products on an object store: the remote half of the file IO managers.

The file managers (:mod:`assetry.io_managers.files`) and :class:`~assetry.io_managers.directories.Directory`
call here when a location is a URL (:func:`assetry.storage.is_remote`); local
paths never reach this module. The requests themselves are
:mod:`assetry.storage`'s.

- A file is uploaded whole (one PUT, or one multipart upload): the store shows
  the old object or the new one, never a part. Its data fingerprint is the
  xxh3-128 of the bytes uploaded (the same digest a local file of those bytes
  has), and its change key is the object's ETag and size.
- A directory is written as a new *generation*, ``<location>/_v-<id>/<key>.<ext>``,
  then its manifest ``<location>/_assetry_manifest.json`` (one PUT) names that
  generation with each file's digest and ETag. Readers go through the manifest,
  so they see the old generation or the new one, whole. The generation replaced
  stays until the next save (a reader that has just read the old manifest
  still finds its files); older ones, and those of a writer killed before its
  manifest, are removed then.
- Observing asks metadata only: inside a run the engine lists the root once
  (:func:`assetry.storage.listing`); an unchanged ETag keeps the recorded data
  fingerprint; a changed one is re-hashed from the object (a download).
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import shutil
import tempfile
import threading
import uuid
from typing import Any

import xxhash

from assetry import storage
from assetry.errors import StorageError
from assetry.io_managers.base import FileIOManager, Observation, Stored, check_alive, hash_file

__all__ = [
    "GENERATION_PREFIX",
    "MANIFEST",
    "arrow_table",
    "load_directory",
    "local_path",
    "observe_directory",
    "observe_file",
    "read",
    "save_bytes",
    "save_directory",
    "save_written",
    "scan_parquet",
]

#: The object that names a directory product's current generation.
MANIFEST = "_assetry_manifest.json"
#: Each generation of a directory product is a prefix ``<location>/_v-<id>/``.
GENERATION_PREFIX = "_v-"

#: The observation of each product this process has just saved, taken by the ``observe``
#: that follows the save in the same thread (so a task's own observe costs no request).
_JUST_SAVED: dict[str, tuple[int, Observation]] = {}
_JUST_SAVED_MAX = 512
_LOCK = threading.Lock()


def _note(location: str, observation: Observation) -> None:
    with _LOCK:
        _JUST_SAVED[location] = (threading.get_ident(), observation)
        if len(_JUST_SAVED) > _JUST_SAVED_MAX:
            del _JUST_SAVED[next(iter(_JUST_SAVED))]


def _take(location: str) -> Observation | None:
    with _LOCK:
        found = _JUST_SAVED.get(location)
        if found is None or found[0] != threading.get_ident():
            return None
        del _JUST_SAVED[location]
    return found[1]


# -- files -------------------------------------------------------------------------------------


def save_bytes(data: Any, location: str) -> Observation:
    """Upload ``data`` as the product at ``location``; its observation, from the bytes themselves."""
    check_alive(location)  # type: ignore[arg-type]
    entry = storage.put_bytes(location, data)
    observation = Observation(data_fingerprint=xxhash.xxh3_128_hexdigest(data), stat_key=entry.key)
    _note(location, observation)
    return observation


def save_written(manager: FileIOManager, value: Any, location: str) -> Stored:
    """Write the value with the manager's ``write`` to a local temporary file, then upload it.

    Big frames stream to that file (no copy in memory); the digest is taken from
    the very bytes uploaded.
    """
    with tempfile.TemporaryDirectory(prefix="assetry-upload-") as folder:
        local = pathlib.Path(folder) / location.rsplit("/", 1)[-1]
        rows, schema = manager.write(value, local)
        digest = hash_file(local)
        size = os.path.getsize(local)
        check_alive(location)  # type: ignore[arg-type]
        entry = storage.put_file(str(local), location)
    _note(location, Observation(data_fingerprint=digest, stat_key=entry.key))
    return Stored(location=location, rows=rows, bytes=size, schema=schema)


def observe_file(location: str, previous: Observation | None = None) -> Observation | None:
    """The object's observation: metadata only while its ETag is the one recorded."""
    taken = _take(location)
    if taken is not None:
        return taken
    entry = storage.stat(location)
    if entry is None:
        return None
    if previous is not None and previous.stat_key == entry.key:
        return previous
    return Observation(data_fingerprint=storage.hash_object(location), stat_key=entry.key)


def read(location: str) -> bytes:
    """The product's bytes."""
    return storage.read_bytes(location)


def local_path(location: str) -> pathlib.Path:
    """A local copy of the product (cached by ETag), for a ``pathlib.Path`` parameter."""
    return pathlib.Path(storage.local_copy(location))


def scan_parquet(location: str) -> Any:
    """A lazy frame over a remote Parquet file: only the columns and row groups asked for are read."""
    import polars as pl
    import pyarrow.dataset as ds

    fs, path = storage.arrow_filesystem(location)
    try:
        dataset = ds.dataset(path, filesystem=fs, format="parquet")
    except FileNotFoundError as exc:
        raise StorageError(f"the object {location!r} does not exist (deleted outside "
                           "assetry?); run its asset again to store it anew") from exc
    return pl.scan_pyarrow_dataset(dataset)


def arrow_table(location: str) -> Any:
    """The remote Parquet file as an Arrow table."""
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(storage.read_bytes(location)))


# -- directories -------------------------------------------------------------------------------


def _directory_key(generation: str, manifest: str, files: dict[str, str]) -> str:
    """``<generation>|<digest of the manifest's key and every object's key in the generation>``."""
    h = xxhash.xxh3_128(f"{manifest};".encode())
    for url in sorted(files):
        h.update(f"{url}={files[url]};".encode())
    return f"{generation}|{h.hexdigest()}"


def _content(digests: dict[str, str]) -> str:
    # The same formula as a local directory's: equal files give equal data fingerprints.
    content = xxhash.xxh3_128()
    for rel in sorted(digests):
        content.update(f"{len(rel)}:{rel}:{digests[rel]};".encode())
    return content.hexdigest()


def save_directory(fmt: FileIOManager, value: dict[str, Any], location: str) -> Stored:
    """Write a new generation of the directory, then its manifest; remove older generations."""
    generation = f"{GENERATION_PREFIX}{uuid.uuid4().hex[:16]}"
    base = f"{location}/{generation}"
    files: dict[str, dict[str, str]] = {}
    rows = size = 0
    try:
        for key, frame in value.items():
            rel = f"{key}.{fmt.extension}"
            stored = fmt.save(frame, f"{base}/{rel}")
            observed = fmt.observe(f"{base}/{rel}")  # the one just saved: no request
            if observed is None or observed.stat_key is None:
                raise StorageError(f"the object {base}/{rel!r} was written but cannot be found")
            files[rel] = {"digest": observed.data_fingerprint, "key": observed.stat_key}
            rows += stored.rows or 0
            size += stored.bytes or 0
        before = storage.list_under(location)
        replaced = _generation_of(location) if f"{location}/{MANIFEST}" in before else None
        text = json.dumps({"format": 1, "generation": generation, "files": files},
                          sort_keys=True).encode()
        check_alive(location)  # type: ignore[arg-type]
        manifest = storage.put_bytes(f"{location}/{MANIFEST}", text)
    except BaseException:
        _remove_quietly([f"{base}/{rel}" for rel in files])
        raise
    keep = {generation, replaced}
    stale = [url for url in before
             if (found := _generation_in(location, url)) is not None and found not in keep]
    _remove_quietly(stale)
    key = _directory_key(generation, manifest.key,
                         {f"{base}/{rel}": f["key"] for rel, f in files.items()})
    digests = {rel: f["digest"] for rel, f in files.items()}
    _note(location, Observation(data_fingerprint=_content(digests), stat_key=key))
    return Stored(location=location, rows=rows, bytes=size, schema=None)


def _generation_in(location: str, url: str) -> str | None:
    rest = url[len(location) + 1:]
    first = rest.split("/", 1)[0]
    return first if first.startswith(GENERATION_PREFIX) and "/" in rest else None


def _manifest(location: str) -> dict[str, Any]:
    try:
        found = json.loads(storage.read_bytes(f"{location}/{MANIFEST}"))
    except StorageError as exc:
        if storage.stat(f"{location}/{MANIFEST}") is None:
            raise StorageError(
                f"directory product {location!r} does not exist (deleted outside assetry?); "
                "run its asset again (force=...) to store it anew"
            ) from exc
        raise
    except ValueError as exc:
        raise StorageError(f"the manifest of directory product {location!r} is not JSON; "
                           "run its asset again (force=...) to store it anew") from exc
    if not isinstance(found, dict) or "generation" not in found or "files" not in found:
        raise StorageError(f"the manifest of directory product {location!r} is not assetry's; "
                           "run its asset again (force=...) to store it anew")
    return found


def _generation_of(location: str) -> str | None:
    try:
        return str(_manifest(location)["generation"])
    except StorageError:
        return None


def _remove_quietly(urls: list[str]) -> None:
    try:
        storage.delete(urls)
    except StorageError:
        return  # a leftover generation is removed by the next save


def observe_directory(location: str, previous: Observation | None = None) -> Observation | None:
    """The directory's observation from one LIST (none inside a run's listing) while unchanged."""
    taken = _take(location)
    if taken is not None:
        return taken
    entries = storage.list_under(location)
    manifest_entry = entries.get(f"{location}/{MANIFEST}")
    if manifest_entry is None:
        return None
    keys = {url: e.key for url, e in entries.items()}
    if previous is not None and previous.stat_key and "|" in previous.stat_key:
        generation = previous.stat_key.split("|", 1)[0]
        key = _directory_key(generation, manifest_entry.key, _in_generation(location, generation, keys))
        if key == previous.stat_key:
            return previous
    manifest = _manifest(location)
    generation = str(manifest["generation"])
    digests = {}
    for rel, recorded in sorted(manifest["files"].items()):
        url = f"{location}/{generation}/{rel}"
        found = keys.get(url)
        if found is None:
            digests[rel] = "missing"
        elif found == recorded.get("key"):
            digests[rel] = str(recorded["digest"])
        else:
            digests[rel] = storage.hash_object(url)  # changed outside assetry: hash what is there
    key = _directory_key(generation, manifest_entry.key, _in_generation(location, generation, keys))
    return Observation(data_fingerprint=_content(digests), stat_key=key)


def _in_generation(location: str, generation: str, keys: dict[str, str]) -> dict[str, str]:
    base = f"{location}/{generation}/"
    return {url: k for url, k in keys.items() if url.startswith(base)}


def load_directory(fmt: FileIOManager, location: str, annotation: Any, kind: str) -> Any:
    """The directory's files through its manifest: ``{key: value}``, or a local folder for ``Path``."""
    manifest = _manifest(location)
    generation = str(manifest["generation"])
    ext = f".{fmt.extension}"
    rels = sorted(manifest["files"])
    if kind == "path":
        return _local_folder(location, generation, rels)
    return {rel[: -len(ext)]: fmt.load(f"{location}/{generation}/{rel}", annotation)
            for rel in rels}


def _local_folder(location: str, generation: str, rels: list[str]) -> pathlib.Path:
    """The generation's files copied into one local folder (cached: a generation never changes)."""
    if not rels:
        return pathlib.Path(tempfile.mkdtemp(prefix="assetry-empty-directory-"))
    first = storage.local_copy(f"{location}/{generation}/{rels[0]}")
    target = pathlib.Path(first).parent.parent / f"{generation}-{location.rsplit('/', 1)[-1]}"
    if target.is_dir():
        return target
    tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    for rel in rels:
        shutil.copyfile(storage.local_copy(f"{location}/{generation}/{rel}"), tmp / rel)
    try:
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process made the same folder meanwhile
    return target
