"""Bad input: each case fails with a clear error, and nothing good is lost."""

from __future__ import annotations

import warnings

import duckdb
import pytest

from assetry import (
    AssetGraphError,
    AssetTypeError,
    Catalog,
    CatalogError,
    MaterializeError,
    StorageError,
    asset,
    materialize,
)

PIPELINE = """
from assetry import asset

@asset
def numbers() -> dict:
    return {"values": [1, 2, 3]}

@asset
def total(numbers: dict) -> dict:
    return {"total": sum(numbers["values"])}
"""


def _good_catalog(files):
    mod = files.module("pipe.py", PIPELINE)
    materialize(mod, root=files.root)
    return mod


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_damaged_catalog_is_refused_and_left_alone(files, damage):
    """A corrupt, truncated or empty catalog is a CatalogError naming rebuild(); the file is kept."""
    mod = _good_catalog(files)
    data = files.catalog.read_bytes()
    damaged = {"garbage": b"not a database " * 500, "truncated": data[: len(data) // 3],
               "empty": b""}[damage]
    files.catalog.write_bytes(damaged)
    with pytest.raises(CatalogError, match=r"corrupt or truncated.*Catalog\(.*\)\.rebuild\(\)"):
        materialize(mod, root=files.root)
    with pytest.raises(CatalogError, match="corrupt or truncated"):
        Catalog(files.catalog).sql("SELECT * FROM runs")
    assert files.catalog.read_bytes() == damaged


def test_rebuild_moves_the_bad_file_aside_and_reruns_everything(files):
    """Catalog.rebuild() keeps the bad file as .corrupt-<time>; the next run redoes every asset."""
    mod = _good_catalog(files)
    files.catalog.write_bytes(b"garbage" * 100)
    aside = Catalog(files.catalog).rebuild()
    assert aside.name.startswith("catalog.duckdb.corrupt-")
    assert aside.read_bytes() == b"garbage" * 100
    result = materialize(mod, root=files.root)
    assert sorted(result.materialized) == ["numbers", "total"]
    assert set(result.reasons.values()) == {"never materialized"}


def test_rebuild_with_assets_accepts_the_existing_products(files):
    """Catalog.rebuild(assets) accepts existing products, so the next run reruns nothing."""
    mod = _good_catalog(files)
    files.catalog.write_bytes(b"garbage" * 100)
    Catalog(files.catalog).rebuild(mod, root=files.root)
    result = materialize(mod, root=files.root)
    assert result.materialized == []
    assert sorted(result.skipped) == ["numbers", "total"]


def test_catalog_from_a_newer_schema_is_refused(files):
    """A catalog whose schema_version is newer than this assetry is a CatalogError."""
    mod = _good_catalog(files)
    con = duckdb.connect(str(files.catalog))
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(CatalogError, match="schema version 999, newer than this assetry"):
        materialize(mod, root=files.root)
    with pytest.raises(CatalogError, match="upgrade assetry"):
        Catalog(files.catalog).sql("SELECT 1")


def test_catalog_path_that_is_a_directory(files):
    """A catalog path that is a directory is a CatalogError saying so."""
    mod = files.module("pipe.py", PIPELINE)
    (files.root / "cat").mkdir(parents=True)
    with pytest.raises(CatalogError, match="is a directory"):
        materialize(mod, root=files.root, catalog=files.root / "cat")


def test_unpicklable_value_under_processes_fails_and_stores_nothing(files):
    """An asset returning an unpicklable value under processes fails clearly; others run."""
    mod = files.module("gen.py", """
        from assetry import asset

        @asset
        def lazy_numbers():
            return (i for i in range(3))

        @asset
        def fine() -> dict:
            return {"ok": True}
    """)
    with pytest.raises(AssetTypeError, match="generator cannot be pickled") as info:
        materialize(mod, root=files.root, executor="processes")
    assert info.value.result.materialized == ["fine"]
    assert not list(files.root.glob("lazy_numbers*"))


@pytest.mark.parametrize("name", ["../escape", "a/b", "a\\b", "..", "con.txt"])
def test_names_that_could_be_paths_are_rejected(name):
    """An asset name with a path separator, '..' or a dot is an AssetGraphError at decoration."""
    with pytest.raises(AssetGraphError, match="is not a valid name"):
        asset(name=name)(lambda: 1)


def test_root_under_a_regular_file_is_a_storage_error(files, tmp_path):
    """A root whose parent is a regular file cannot be created: StorageError naming it."""
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    mod = files.module("pipe.py", PIPELINE)
    with pytest.raises(StorageError, match=r"plain-file/data' is not a writable directory"):
        materialize(mod, root=blocker / "data")


def test_root_on_a_read_only_file_system_is_a_storage_error(files):
    """A root on a read-only file system (/proc) is a StorageError, even for root."""
    mod = files.module("pipe.py", PIPELINE)
    with pytest.raises(StorageError, match="is not a writable directory"):
        materialize(mod, root="/proc/assetry-test-root")


def test_product_path_that_is_a_directory(files):
    """A directory where a product file should go fails that asset and is left as it was."""
    mod = files.module("pipe.py", PIPELINE)
    (files.root / "numbers.json").mkdir(parents=True)
    (files.root / "numbers.json" / "keep.txt").write_text("mine")
    with pytest.raises(StorageError, match=r"numbers\.json.*(is a directory where a file is "
                       r"expected|Is a directory)"):
        materialize(mod, root=files.root)
    assert (files.root / "numbers.json" / "keep.txt").read_text() == "mine"
    assert not (files.root / "total.json").exists()


FULL_DISK = """
import errno, pathlib
from typing import Any, ClassVar

import attrs
from assetry import asset
from assetry.io_managers.base import FileIOManager

@attrs.frozen
class Flaky(FileIOManager):
    full: bool = False
    extension: ClassVar[str] = "txt"

    def write(self, value: Any, path: pathlib.Path):
        with open(path, "w") as f:
            f.write(value[:5])
            if self.full:
                raise OSError(errno.ENOSPC, "No space left on device")
            f.write(value[5:])
        return None, None

    def load(self, location: str, annotation: Any = None) -> Any:
        return pathlib.Path(location).read_text()

@asset(io=Flaky(full={full}))
def text() -> str:
    return "hello, world"
"""


def test_disk_full_midway_keeps_the_old_product(files):
    """A write failing midway (ENOSPC) fails the asset with the message; the old product stays."""
    materialize(files.module("disk.py", FULL_DISK.format(full=False)), root=files.root)
    before = Catalog(files.catalog).sql("SELECT * FROM assets")
    mod = files.module("disk.py", FULL_DISK.format(full=True))
    with pytest.raises(MaterializeError, match=r"text: OSError: \[Errno 28\] No space left"):
        materialize(mod, root=files.root)
    assert (files.root / "text.txt").read_text() == "hello, world"
    assert not list(files.root.glob("*.assetry-tmp-*"))
    assert Catalog(files.catalog).sql("SELECT * FROM assets").equals(before)


def test_exception_in_a_hook_warns_and_keeps_the_product(files):
    """An on_finish hook that raises is a warning; the product and its record are kept."""
    mod = files.module("hook.py", """
        from assetry import asset

        def explode(context):
            raise RuntimeError("hook broke")

        @asset(on_finish=explode)
        def kept() -> dict:
            return {"x": 1}
    """)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = materialize(mod, root=files.root, executor="processes")
    assert any("hook broke" in str(w.message) for w in caught)
    assert result.materialized == ["kept"]
    assert result.load("kept") == {"x": 1}
    assert Catalog(files.catalog).sql("SELECT asset FROM assets").item() == "kept"
