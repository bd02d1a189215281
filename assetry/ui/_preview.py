"""The first rows of a stored product, read lazily, and only from inside the catalog's roots.

A preview never loads a whole product: Parquet and CSV are scanned with
polars and cut to :data:`ROWS` rows before anything is read; a DuckDB table
or view is asked for ``LIMIT`` rows through a read-only connection; a JSON or
text product shows its first :data:`TEXT_BYTES` bytes. Pickles are never
opened (unpickling runs code). A product whose path is outside every root the
catalog knows (the roots of its runs, the catalog's own directory, the root
``assetry ui`` was given) is not read at all, whatever the catalog says.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable
from typing import Any

__all__ = ["ROWS", "TEXT_BYTES", "inside", "preview"]

#: Rows a preview shows at most.
ROWS = 20
#: Bytes of a text product a preview shows at most.
TEXT_BYTES = 4096
_CELL = 200  # characters of one cell


def inside(path: str | os.PathLike[str], roots: Iterable[str | os.PathLike[str]]) -> bool:
    """Whether ``path`` (links resolved) lies inside one of ``roots``.

    Examples:
        >>> inside("/data/x/../a.parquet", ["/data"]), inside("/etc/passwd", ["/data"])
        (True, False)
    """
    real = os.path.realpath(path)
    for root in roots:
        base = os.path.realpath(root)
        if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
            return True
    return False


def preview(location: str | None, roots: Iterable[str], partition: str | None = None) -> dict[str, Any]:
    """``{"columns": [...], "rows": [[...]], "note": str}`` or ``{"text": ..., "note": ...}``.

    Never raises for a product it cannot show: the note says why.
    """
    if not location:
        return {"note": "nothing is stored for this asset"}
    from assetry.io_managers.locations import parse_location

    relation = parse_location(location)
    if relation is not None:
        return _relation(relation, list(roots))
    if "://" in location:
        return {"note": f"no preview for a product in object storage ({location.split('://')[0]})"}
    if not inside(location, roots):
        return {"note": "not shown: the product lies outside the catalog's roots"}
    path = pathlib.Path(location)
    try:
        return _file(path)
    except Exception as exc:  # noqa: BLE001 - any reader error is shown, never raised
        return {"note": f"no preview: {type(exc).__name__}: {_first_line(str(exc))}"}


def _file(path: pathlib.Path) -> dict[str, Any]:
    import polars as pl

    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if not files:
            return {"note": "an empty directory"}
        first = files[0]
        shown = _file(first)
        shown["note"] = (f"a directory of {len(files)} files; the first, "
                         f"{first.relative_to(path)}" + (f": {shown['note']}" if shown.get("note") else ""))
        return shown
    if not path.exists():
        return {"note": "the product is missing"}
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _frame(pl.scan_parquet(path).head(ROWS).collect())
    if suffix in (".csv", ".tsv"):
        return _frame(pl.scan_csv(path, separator="\t" if suffix == ".tsv" else ",",
                                  infer_schema_length=ROWS).head(ROWS).collect())
    if suffix in (".ndjson", ".jsonl"):
        return _frame(pl.scan_ndjson(path).head(ROWS).collect())
    if suffix in (".arrow", ".ipc", ".feather"):
        return _frame(pl.scan_ipc(path).head(ROWS).collect())
    if suffix in (".pkl", ".pickle", ".cloudpickle"):
        return {"note": "pickled products are not previewed: unpickling runs code"}
    with open(path, "rb") as f:
        head = f.read(TEXT_BYTES + 1)
    try:
        text = head[:TEXT_BYTES].decode("utf-8")
    except UnicodeDecodeError:
        return {"note": f"a binary file of {path.stat().st_size:,} bytes"}
    more = len(head) > TEXT_BYTES
    return {"text": text, "note": f"the first {TEXT_BYTES:,} bytes" if more else None}


def _relation(relation: Any, roots: list[str]) -> dict[str, Any]:
    identity = relation.identity
    if not identity.startswith("duckdb:"):
        return {"note": "no preview for a relation outside DuckDB"}
    database = identity[len("duckdb:"):]
    if database in ("", ":memory:") or not inside(database, roots):
        return {"note": "not shown: the database lies outside the catalog's roots"}
    import duckdb

    name = ".".join(_quote(p) for p in (relation.schema, relation.table) if p is not None)
    where, params = "", []
    if relation.partition:
        column, _, key = relation.partition.partition("=")
        where, params = f" WHERE {_quote(column)} = ?", [key]
    try:
        con = duckdb.connect(database, read_only=True)
    except duckdb.Error as exc:
        return {"note": f"no preview: the database is busy or unreadable ({_first_line(str(exc))})"}
    try:
        return _frame(con.execute(f"SELECT * FROM {name}{where} LIMIT {ROWS}", params).pl())  # type: ignore[attr-defined]
    except duckdb.Error as exc:
        return {"note": f"no preview: {_first_line(str(exc))}"}
    finally:
        con.close()


def _frame(frame: Any) -> dict[str, Any]:
    columns = [{"name": c, "type": str(t)} for c, t in frame.schema.items()]
    rows = [[_cell(v) for v in row] for row in frame.iter_rows()]
    return {"columns": columns, "rows": rows, "note": None}


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
