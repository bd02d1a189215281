"""The SQL text of SQL assets: placeholders, rendering, and the normalized form.

A SQL asset's template is a SELECT with ``{upstream}`` placeholders (``{{`` and
``}}`` for literal braces). This module finds the placeholders, replaces them
with what the database reads, normalizes the text for the fingerprint
(comments and whitespace do not count), and calls a user's function for its
template. Pure text: it runs no statement and knows no client.

Normalizing is tokenizing: sqlglot's tokenizer for the client's dialect (so
MySQL's backticks and ``#`` comments, PostgreSQL's ``$$`` strings and DuckDB's
braces are read as those databases read them) splits the text into tokens, and
the normalized form is the tokens' source text joined by single spaces. Comments
and the whitespace between tokens fall away; a string literal or a quoted name
is kept byte for byte. sqlglot is imported on first use, and each text is
tokenized once per process.
"""

from __future__ import annotations

import functools
import itertools
import string
import types
from collections.abc import Callable, Mapping
from typing import Any

from assetry.errors import AssetGraphError, AssetTypeError

__all__ = [
    "call_template", "fingerprint_stand_in", "normalize_sql", "render_sql", "template_fields",
]

#: assetry's dialect names -> sqlglot's, where they differ.
_SQLGLOT_DIALECTS = {"postgresql": "postgres"}

#: Punctuation written without a space before / after it in the normalized form. A token's
#: text never begins or ends with one of them, so the form still tells token sequences apart.
_TIGHT_BEFORE = frozenset({",", ")", "]", "}", ".", ";", "::", "("})
_TIGHT_AFTER = frozenset({"(", "[", "{", ".", "::"})

#: Token types (by name suffix) whose text is a literal or a quoted name: kept as written.
_LITERALS = ("STRING", "IDENTIFIER")

#: What may stand between two tokens besides whitespace: the start of a comment.
_COMMENT_STARTS = ("--", "/*", "#", "//")


@functools.lru_cache(maxsize=4096)
def normalize_sql(text: str, dialect: str | None = None) -> str:
    """SQL with comments dropped and the whitespace between tokens made canonical; literals kept.

    The tokens are joined by one space, or none next to punctuation (``f(a, b)``,
    ``s.t``, ``x::int``), whatever spacing the text had. ``dialect`` is a
    client's (``"duckdb"``, ``"postgresql"``, ``"mysql"``, ``"sqlite"``, ...);
    None reads standard SQL. A trailing ``;`` does not count.
    Text the tokenizer cannot read (an unterminated string) is kept as it is,
    stripped: then every character counts.

    Examples:
        >>> normalize_sql("SELECT  a -- the key\\n FROM /* t */ t WHERE s = 'x  --y'")
        "SELECT a FROM t WHERE s = 'x  --y'"
        >>> normalize_sql("SELECT `a  b` # note\\nFROM t;", "mysql")
        'SELECT `a  b` FROM t'
    """
    tokens = _tokens(text, dialect)
    if tokens is None:
        return text.strip()
    parts = [text[start:end] if kept else " ".join(text[start:end].split())
             for start, end, kept in tokens]
    while parts and parts[-1] == ";":
        parts.pop()
    out = parts[:1]
    for before, part in itertools.pairwise(parts):
        if part not in _TIGHT_BEFORE and before not in _TIGHT_AFTER:
            out.append(" ")
        out.append(part)
    return "".join(out)


def _tokens(text: str, dialect: str | None) -> list[tuple[int, int, bool]] | None:
    """``(start, end, literal)`` per token of ``text``; None if it cannot be read.

    ``literal``: a string literal or quoted name, kept byte for byte; whitespace
    inside another token (``GROUP   BY`` is one) does not count. A span between
    two tokens must be whitespace or comments; anything else means the tokenizer
    skipped text, and the caller keeps the text whole.
    """
    from sqlglot.errors import SqlglotError

    try:
        found = _tokenizer(dialect)().tokenize(text)  # an instance holds state: one per call
    except SqlglotError:
        return None
    spans = [(t.start, t.end + 1, t.token_type.name.endswith(_LITERALS)) for t in found]
    ends = [0, *(end for _, end, _ in spans)]
    starts = [*(start for start, _, _ in spans), len(text)]
    for gap in (text[a:b].strip() for a, b in zip(ends, starts, strict=True)):
        if gap and not gap.startswith(_COMMENT_STARTS):
            return None
    return spans


@functools.cache
def _tokenizer(dialect: str | None) -> Any:
    """The sqlglot tokenizer class of a dialect (standard SQL for one sqlglot does not know)."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import SqlglotError

    name = _SQLGLOT_DIALECTS.get(dialect or "", dialect)
    try:
        found = Dialect.get_or_raise(name)
    except (SqlglotError, ValueError):
        found = Dialect.get_or_raise(None)
    return found.tokenizer_class


def fingerprint_stand_in(fn: Callable[..., Any], dialect: str | None) -> Callable[..., Any]:
    """A copy of a SQL asset's function for its code fingerprint, its strings read as SQL.

    The copy's code is ``fn``'s with every string constant normalized by
    :func:`normalize_sql` and the docstring dropped, under a file name that has no
    source: the code fingerprint then hashes its bytecode (operations, names,
    constants; not comments or positions) and follows the helpers it names as
    for any function. So a comment or whitespace edit in the SQL the function
    returns changes nothing, and an edit inside a SQL string literal does. The
    copy is never called. (A string the function reads from a module constant
    is hashed by value, as any constant is.)

    Examples:
        >>> def q(flights):
        ...     return "SELECT a -- why\\n FROM {flights}"
        >>> def r(flights):
        ...     return "SELECT a  FROM {flights}"
        >>> consts = [fingerprint_stand_in(f, None).__code__.co_consts for f in (q, r)]
        >>> consts[0] == consts[1]
        True
    """
    if not isinstance(fn, types.FunctionType):
        return fn  # no code of its own to read (a builtin, a callable object): as it is
    code = _sql_code(fn.__code__, dialect, fn.__doc__)
    copy = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__qualname__ = fn.__qualname__
    copy.__module__ = fn.__module__
    return copy


def _sql_code(code: types.CodeType, dialect: str | None, doc: str | None) -> types.CodeType:
    consts: list[Any] = []
    for i, const in enumerate(code.co_consts):
        if isinstance(const, types.CodeType):
            const = _sql_code(const, dialect, None)
        elif isinstance(const, str):
            is_doc = i == 0 and doc is not None and const == doc
            const = None if is_doc else normalize_sql(const, dialect)
        consts.append(const)
    # A name in angle brackets is never looked up on disk or in linecache: no source.
    return code.replace(co_consts=tuple(consts), co_filename=f"<sql asset {code.co_qualname}>")


def template_fields(template: str, owner: str = "?") -> list[str]:
    """The ``{name}`` placeholders of a SQL template, in order of first use.

    ``{{`` and ``}}`` stand for literal braces; anything but a plain name in
    braces is an error.

    Examples:
        >>> template_fields("SELECT * FROM {flights} JOIN {airlines} USING (carrier)")
        ['flights', 'airlines']
    """
    hint = "write {{ and }} for a literal brace"
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise AssetGraphError(
            f"the SQL of asset {owner!r} has a stray brace ({exc}); {hint}"
        ) from None
    names = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise AssetGraphError(
                f"the SQL of asset {owner!r} has placeholder {{{shown}}}, which is not an asset "
                f"name; {hint}"
            )
        names.append(field)
    return list(dict.fromkeys(names))


def render_sql(template: str, relations: Mapping[str, str]) -> str:
    """Replace each ``{name}`` with ``relations[name]`` (and ``{{``/``}}`` with braces).

    Examples:
        >>> render_sql("SELECT '{{x}}' FROM {t}", {"t": '"main"."t"'})
        'SELECT \\'{x}\\' FROM "main"."t"'
    """
    return "".join(
        text + ("" if field is None else relations[field])
        for text, field, _, _ in string.Formatter().parse(template)
    )


def call_template(fn: Callable[..., Any], args: Mapping[str, Any], name: str) -> str:
    """Call a SQL asset's function for its template, naming the asset if it fails.

    Examples:
        >>> call_template(lambda flights: "SELECT * FROM " + flights, {"flights": "{flights}"}, "t")
        'SELECT * FROM {flights}'
    """
    try:
        text = fn(**args)
    except Exception as exc:
        raise AssetGraphError(
            f"sql asset {name!r}: {fn.__module__}:{fn.__qualname__} raised "
            f"{type(exc).__name__} while building its SQL: {exc}"
        ) from exc
    if not isinstance(text, str):
        raise AssetTypeError(
            f"sql asset {name!r} returned {type(text).__name__}; return the SELECT as a string"
        )
    return text
