"""Database clients: the connections that run SQL assets and SQL IO managers.

``DuckDBClient(path)``, ``SQLAlchemyClient(url_or_engine)`` and
``DBAPIClient(connect, **kwargs)`` (any PEP 249 driver) share one base,
:class:`~assetry.clients.base.Client`: per-thread connections, quoting,
queries, streaming, atomic relation writes and content fingerprints. The
package knows connections only: never products, the catalog or assets.

Inside it, :mod:`~assetry.clients.connections` holds per-thread connections and
transactions, :mod:`~assetry.clients.dialects` what differs between SQL
dialects (as data), :mod:`~assetry.clients.identifiers` what a name may be and
its quoting (SQLAlchemy's ``identifier_preparer``), :mod:`~assetry.clients.relations`
the statements that replace a relation atomically, and
:mod:`~assetry.clients.transfer` moving rows between cursors and Arrow or polars.
Privately, ``_secrets`` finds passwords in connection arguments (what
``without_secrets()`` removes, and what every error message redacts) and
``_timeouts`` gives each driver its connect and statement timeouts.
Importing the package imports neither pyarrow, SQLAlchemy nor a driver.

Examples:
    >>> import polars as pl
    >>> from assetry.clients import DuckDBClient
    >>> db = DuckDBClient(":memory:")
    >>> db.upload(pl.DataFrame({"a": [1, 2]}), "main", "t")
    2
    >>> db.relation_exists("main", "t")
    True
"""

from __future__ import annotations

from assetry.clients._kinds import DBAPIClient, DuckDBClient, SQLAlchemyClient
from assetry.clients.base import Client

__all__ = ["Client", "DBAPIClient", "DuckDBClient", "SQLAlchemyClient"]
