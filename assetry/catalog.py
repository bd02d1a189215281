"""The DuckDB catalog: the fingerprint of every product, and the history of every run.

This module is the public face, :class:`Catalog`: the records of
:mod:`assetry.records` (the file, its tables, one writer at a time), the
engine's plan (:func:`assetry.engine.status`, ``accept``) and loading through
the IO managers, behind one object. The engine never imports it.
See docs/catalog.md for concurrency, crashes and damaged files.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from assetry.errors import CatalogError, StorageError
from assetry.io_managers.catalog_form import CatalogForm
from assetry.records import DEFAULT_CATALOG, connect, lock_holders, read_records
from assetry.storage import RemoteRoot, is_remote

if TYPE_CHECKING:  # polars is imported when a query runs, not by import assetry
    import polars as pl

    from assetry.diff import Diff

__all__ = ["Catalog"]


class Catalog:
    """The catalog of a project: query it, ask what is stale, load what is stored.

    Examples:
        >>> cat = Catalog("data/catalog.duckdb")  # doctest: +SKIP
        >>> cat.sql("SELECT asset, status FROM materializations")  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str] = f"data/{DEFAULT_CATALOG}", *, root: str | os.PathLike[str] | None = None) -> None:
        self.path = pathlib.Path(path)
        self._root = pathlib.Path(root) if root is not None else None

    def __repr__(self) -> str:
        return f"Catalog({str(self.path)!r})"

    @property
    def root(self) -> pathlib.Path:
        """Where file products go: given, else the last run's root, else the catalog's folder."""
        if self._root is not None:
            return self._root
        if self.path.exists():
            try:
                df = self.sql("SELECT root FROM runs WHERE root IS NOT NULL ORDER BY started_at DESC LIMIT 1")
                if df.height:
                    if is_remote(df.item(0, 0)):  # an object store's URL: pathlib would break it
                        return RemoteRoot(df.item(0, 0))  # type: ignore[return-value]
                    return pathlib.Path(df.item(0, 0))
            except CatalogError:
                pass
        return self.path.parent

    def sql(self, query: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a read-only query; return a ``pl.DataFrame``.

        Examples:
            >>> Catalog("data/catalog.duckdb").sql("SELECT * FROM runs")  # doctest: +SKIP
        """
        import duckdb

        con = connect(self.path, read_only=True)
        try:
            return con.sql(query, params=params or None).pl()
        except duckdb.Error as exc:
            raise CatalogError(f"query on catalog {str(self.path)!r} failed: {exc}") from exc
        finally:
            con.close()

    def history(self, name: str) -> pl.DataFrame:
        """Every materialization of ``name``, newest first, as a ``pl.DataFrame``."""
        return self.sql(
            "SELECT * FROM materializations WHERE asset = ? ORDER BY started_at DESC", [name]
        )

    def logs(self, name: str, *, run: str | None = None, partition: str | None = None) -> pl.DataFrame:
        """The materializations of ``name`` that left output, an error or a traceback, newest first.

        Columns: ``run_id``, ``asset``, ``partition``, ``status``, ``reason``,
        ``started_at``, ``duration_s``, ``error``, ``traceback``, ``logs`` (what the
        asset printed and logged: the first and last 32 KiB). ``run`` narrows to
        runs whose id starts with it (then rows without output are included too);
        ``partition`` to one partition.

        Examples:
            >>> Catalog("data/catalog.duckdb").logs("delays")["status"][0]  # doctest: +SKIP
            'failed'
        """
        query = (
            "SELECT run_id, asset, partition, status, reason, started_at, duration_s, error, "
            "traceback, logs FROM materializations WHERE asset = ?"
        )
        params: list[Any] = [name]
        if partition is not None:
            query += " AND partition = ?"
            params.append(partition)
        if run is not None:
            query += " AND starts_with(run_id, ?)"
            params.append(run)
        else:
            query += " AND (logs IS NOT NULL OR traceback IS NOT NULL OR error IS NOT NULL)"
        return self.sql(query + " ORDER BY started_at DESC", params)

    def records(self) -> dict[tuple[str, str | None], dict[str, Any]]:
        """The ``assets`` table keyed by (asset, partition); empty for a new catalog.

        Rows are as stored: no IO manager is rebuilt until a product is loaded.

        Examples:
            >>> Catalog("no/such/catalog.duckdb").records()
            {}
        """
        if not self.path.exists():
            return {}
        con = connect(self.path, read_only=True)
        try:
            return read_records(con)
        finally:
            con.close()

    def versions(self, name: str, partition: str | None = None) -> pl.DataFrame:
        """The earlier products of an asset, newest first (``kept`` false once removed).

        Columns: ``data_fingerprint``, ``fingerprint``, ``run_id``, ``created_at``,
        ``rows``, ``bytes``, ``kept`` (see docs/versions.md).

        Examples:
            >>> Catalog("data/catalog.duckdb").versions("delays")  # doctest: +SKIP
        """
        return self.sql(
            "SELECT data_fingerprint, fingerprint, run_id, created_at, rows, bytes, kept "
            "FROM versions WHERE asset = ? AND partition IS NOT DISTINCT FROM ? "
            "ORDER BY created_at DESC, kept_at DESC", [name, partition],
        )

    def load(self, name: str, partition: str | None = None, *, as_type: Any = None,
             version: int | str | None = None) -> Any:
        """The latest stored value of an asset, loaded as ``as_type`` (natural type by default).

        ``version`` loads a kept earlier product instead: ``-1`` the previous one,
        ``-2`` the one before, or a prefix of its data fingerprint.

        Examples:
            >>> Catalog("data/catalog.duckdb").load("delays")  # doctest: +SKIP
            >>> Catalog("data/catalog.duckdb").load("delays", version=-1)  # doctest: +SKIP
        """
        records = self.records()
        record = records.get((name, partition))
        if version is not None and record is not None:
            io = CatalogForm.from_row(record).rebuild(name)
            return io.load(self.version_location(name, partition, version), as_type)
        if record is None and partition is None:
            parts = sorted(k[1] for k in records if k[0] == name and k[1] is not None)
            if parts:
                return _load_partitions(name, [records[(name, k)] for k in parts], as_type)
        if record is None:
            known = sorted({k[0] for k in records})
            raise StorageError(
                f"asset {name!r} has no stored product in catalog {str(self.path)!r}; "
                f"stored assets: {', '.join(known) or 'none'}"
            )
        # Only this row's manager is rebuilt: reading the records decodes none.
        io = CatalogForm.from_row(record).rebuild(name)
        return io.load(record["location"], as_type)

    def version_location(self, name: str, partition: str | None, version: int | str) -> str:
        """Where a kept version's product is (``version`` as for :meth:`load`)."""
        from assetry.engine.housekeeping import choose_version

        rows = self.sql(
            "SELECT v.data_fingerprint, v.location FROM versions v WHERE v.asset = ? AND "
            "v.partition IS NOT DISTINCT FROM ? AND v.kept ORDER BY v.created_at DESC, "
            "v.kept_at DESC", [name, partition],
        ).rows()
        current = self.records().get((name, partition), {}).get("data_fingerprint")
        return choose_version(name, rows, current, version)

    def diff(self, name: str, v1: int | str = -1, v2: int | str | None = None, *,
             key: str | list[str] | None = None, partition: str | None = None) -> Diff:
        """How two versions of an asset's product differ: schema, rows, column statistics.

        ``v1`` and ``v2`` are versions as for :meth:`load` (``-1`` the previous
        product, ``-2`` the one before, or a data fingerprint prefix); ``v2=None``
        is the current product. Statistics are computed lazily with polars; with
        ``key``, rows are matched on those columns and counted (and sampled) as
        added, removed and changed. ``Diff.text()`` prints it as ``assetry diff`` does.

        Examples:
            >>> d = Catalog("data/catalog.duckdb").diff("delays", key="carrier")  # doctest: +SKIP
            >>> d.rows, d.retyped_columns, d.by_key.added  # doctest: +SKIP
            ((16, 15), (('mean_delay', 'Float32', 'Float64'),), 0)
        """
        import polars as pl

        from assetry.diff import diff_frames

        old = self.load(name, partition, as_type=pl.LazyFrame, version=v1)
        new = self.load(name, partition, as_type=pl.LazyFrame, version=v2)
        return diff_frames(old, new, key=key,
                           names=(f"version {v1}", "current" if v2 is None else f"version {v2}"))

    def status(
        self, assets: Any, *, select: Any = None, config: dict[str, Any] | None = None,
        root: str | os.PathLike[str] | None = None, partitions: bool = False,
        clients: Mapping[str, Any] | None = None,
    ) -> pl.DataFrame:
        """The plan before a run: one row per asset with ``asset``, ``fresh`` and ``reason``.

        A partitioned asset is summed up (``364 fresh, 1 missing``); with
        ``partitions=True`` there is one row per partition instead. ``clients``
        resolves the clients that assets name, as ``materialize(clients=...)`` does.
        """
        from assetry.engine import status

        return status(assets, catalog=self, select=select, config=config, root=root,
                      partitions=partitions, clients=clients)

    def accept(
        self, assets: Any, *, select: Any = None, config: dict[str, Any] | None = None,
        root: str | os.PathLike[str] | None = None, clients: Mapping[str, Any] | None = None,
    ) -> pl.DataFrame:
        """Record the current fingerprints of existing, unmodified products as fresh."""
        from assetry.engine import accept

        return accept(assets, catalog=self, select=select, config=config, root=root,
                      clients=clients)

    def rebuild(self, assets: Any = None, *, select: Any = None, config: dict[str, Any] | None = None, root: str | os.PathLike[str] | None = None,
                clients: Mapping[str, Any] | None = None) -> pathlib.Path | None:
        """Move the catalog file aside (``<name>.corrupt-<timestamp>``) and start an empty one.

        Nothing is deleted. Without ``assets`` the next run re-fingerprints every
        product and reruns it as ``never materialized``; with ``assets``, the
        existing products are accepted as fresh (see :meth:`accept`), so only
        missing ones rerun. Returns where the old file went (None if there was none).

        Examples:
            >>> Catalog("data/catalog.duckdb").rebuild([flights, delays])  # doctest: +SKIP
            PosixPath('data/catalog.duckdb.corrupt-20240501T120000')
        """
        holders = lock_holders(self.path) or set()
        if holders:
            raise CatalogError(
                f"catalog {str(self.path)!r} is open in process {min(holders)}; "
                "stop it before rebuilding the catalog"
            )
        aside = None
        if self.path.exists():
            stamp = time.strftime("%Y%m%dT%H%M%S")
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
            n = 1
            while aside.exists():
                n += 1
                aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            os.replace(self.path, aside)
            wal = self.path.with_name(self.path.name + ".wal")
            if wal.exists():
                os.replace(wal, aside.with_name(aside.name + ".wal"))
        connect(self.path).close()
        if assets is not None:
            self.accept(assets, select=select, config=config, root=root, clients=clients)
        return aside

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{k[0]}</td><td>{k[1] or ''}</td><td>{v['rows']}</td><td>{v['location']}</td></tr>"
            for k, v in sorted(self.records().items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        )
        return (
            f"<p>assetry catalog <code>{self.path}</code></p><table><tr><th>asset</th>"
            f"<th>partition</th><th>rows</th><th>location</th></tr>{rows}</table>"
        )


def _load_partitions(name: str, rows: list[dict[str, Any]], as_type: Any) -> Any:
    """Every stored partition of an asset as one frame (one hive-partitioned Parquet scan)."""
    import polars as pl

    from assetry._frames import convert_frame, load_kind

    locations = [r["location"] for r in rows]
    if not all(str(loc).endswith(".parquet") for loc in locations):
        raise StorageError(
            f"asset {name!r} is partitioned; load one partition with partition='<key>'"
        )
    lazy = pl.scan_parquet(locations, hive_partitioning=True)
    kind = load_kind(as_type)
    return lazy if kind == "lazy" else convert_frame(lazy.collect(), kind, name)
