"""The SQL text of SQL assets: placeholders, rendering, and the normalized form.

A SQL asset's template is a SELECT with ``{upstream}`` placeholders (``{{`` and
``}}`` for literal braces). This module finds the placeholders, replaces them
with what the database reads, normalizes the text for the fingerprint
(comments and whitespace do not count), and calls a user's function for its
template. Pure text: it runs no statement and knows no client.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import Any

from assetry.errors import AssetGraphError, AssetTypeError

__all__ = ["call_template", "normalize_sql", "render_sql", "template_fields"]

_TOKENS = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|--[^\n]*|/\*.*?\*/|\s+""", re.DOTALL
)


def normalize_sql(text: str) -> str:
    """SQL with comments dropped and whitespace collapsed, string literals and quoted names kept.

    Examples:
        >>> normalize_sql("SELECT  a -- the key\\n FROM /* t */ t WHERE s = 'x  --y'")
        "SELECT a FROM t WHERE s = 'x  --y'"
    """

    def token(match: re.Match[str]) -> str:
        text = match.group()
        return text if text[0] in "'\"`" else " "

    once = _TOKENS.sub(token, text)
    return _TOKENS.sub(token, once).strip().rstrip(";").rstrip()


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
