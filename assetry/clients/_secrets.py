"""Passwords in connection arguments: finding them, and arguments without them.

A password reaches a client in many ways: a URL's userinfo or ``?password=``
query, a ``password=`` / ``passwd=`` keyword, ``connect_args={"password": ...}``,
a libpq ``key=value`` string (quoted or not) or URL given as ``conninfo=`` /
``dsn=`` / the first argument, an ODBC ``PWD=...;`` string. :func:`scrub`
returns any such value (strings, dicts, lists, tuples, nested) without the
secrets, and collects the secrets it removed, so that messages can be redacted
(:func:`redact`). A key is secret when its name contains ``password``,
``passwd``, ``pwd``, ``secret`` or ``token`` (``sslpassword`` included).

Pure functions: no connection, no statement. The clients use them for
``without_secrets()`` (what the catalog keeps) and for every error message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["SECRET_WORDS", "conninfo_pairs", "is_secret_key", "redact", "scrub"]

#: A connection keyword whose name contains one of these holds a secret.
SECRET_WORDS = ("password", "passwd", "pwd", "secret", "token")

#: Shorter secrets are removed from arguments but not searched for in messages.
_REDACT_MIN = 4

_REDACTED = "***"


def is_secret_key(key: object) -> bool:
    """Whether a connection keyword holds a secret.

    Examples:
        >>> [is_secret_key(k) for k in ("password", "sslpassword", "PWD", "user")]
        [True, True, True, False]
    """
    return isinstance(key, str) and any(word in key.lower() for word in SECRET_WORDS)


def scrub(value: Any, found: list[str]) -> Any:
    """``value`` without the secrets it holds; each secret removed is appended to ``found``.

    Secret keys of dicts are dropped (not blanked: a blank would be sent as the
    password, where a missing one lets the driver use ``PGPASSWORD``, a
    ``.pgpass`` or an option file). Strings that are connection URLs or strings
    lose their password the same way; other values are returned as they are.

    Examples:
        >>> found = []
        >>> scrub({"host": "db", "password": "pw1", "dsn": "host=db password='p w'"}, found)
        {'host': 'db', 'dsn': 'host=db'}
        >>> found
        ['pw1', 'p w']
    """
    if isinstance(value, str):
        return _scrub_text(value, found)
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if is_secret_key(key):
                _collect(item, found)
            else:
                kept[key] = scrub(item, found)
        return kept
    if isinstance(value, (list, tuple)):
        return type(value)(scrub(item, found) for item in value)
    return value


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (of 4 characters or more) replaced by ``***``.

    Examples:
        >>> redact("missing '=' after 'hunter2' in connection info", ["hunter2"])
        "missing '=' after '***' in connection info"
    """
    for secret in sorted({s for s in secrets if len(s) >= _REDACT_MIN}, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    return text


def conninfo_pairs(text: str) -> list[tuple[str, str]] | None:
    """The ``(key, value)`` pairs of a libpq ``key=value`` string; None if it is not one.

    Values may be single-quoted, with ``\\'`` and ``\\\\`` escapes, as libpq reads them.

    Examples:
        >>> conninfo_pairs("host=db password = 'it\\\\'s me' dbname=x")
        [('host', 'db'), ('password', "it's me"), ('dbname', 'x')]
        >>> conninfo_pairs("not a conninfo") is None
        True
    """
    i, n = 0, len(text)
    pairs: list[tuple[str, str]] = []
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return pairs or None
        start = i
        while i < n and not text[i].isspace() and text[i] != "=":
            i += 1
        key = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if not key or i >= n or text[i] != "=":
            return None
        i += 1
        while i < n and text[i].isspace():
            i += 1
        value, i = _conninfo_value(text, i)
        if value is None:
            return None
        pairs.append((key, value))


def _conninfo_value(text: str, i: int) -> tuple[str | None, int]:
    n, chars = len(text), []
    quoted = i < n and text[i] == "'"
    i += quoted
    while i < n and (text[i] != "'" if quoted else not text[i].isspace()):
        if text[i] == "\\" and i + 1 < n:
            i += 1
        chars.append(text[i])
        i += 1
    if quoted:
        if i >= n:
            return None, i  # an unterminated quote
        i += 1
    return "".join(chars), i


def _conninfo_text(pairs: list[tuple[str, str]]) -> str:
    def value(v: str) -> str:
        if v and not any(c.isspace() or c in "'\\" for c in v):
            return v
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return " ".join(f"{k}={value(v)}" for k, v in pairs)


def _scrub_text(text: str, found: list[str]) -> str:
    if "://" in text:
        return _scrub_url(text, found)
    if "=" not in text:
        return text
    if ";" in text:
        return _scrub_odbc(text, found)
    pairs = conninfo_pairs(text)
    if pairs is None:
        return _unreadable(text, found)
    secret = [v for k, v in pairs if is_secret_key(k)]
    if not secret:
        return text
    found.extend(secret)
    return _conninfo_text([(k, v) for k, v in pairs if not is_secret_key(k)])


def _scrub_url(text: str, found: list[str]) -> str:
    try:
        parts = urlsplit(text)
    except ValueError:
        return _unreadable(text, found)
    netloc = parts.netloc
    userinfo, at, hosts = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if at and colon:
        found.extend({password, unquote(password)} - {""})
        netloc = f"{user}@{hosts}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(is_secret_key(k) for k, _ in pairs):
        found.extend(v for k, v in pairs if is_secret_key(k) and v)
        query = urlencode([(k, v) for k, v in pairs if not is_secret_key(k)])
    if netloc == parts.netloc and query == parts.query:
        return text
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _scrub_odbc(text: str, found: list[str]) -> str:
    # ODBC: KEY=VALUE;KEY={VALUE; with semicolons};...
    items, i, n = [], 0, len(text)
    while i < n:
        end = text.find("=", i)
        if end < 0:
            items.append(text[i:])
            break
        key, j = text[i:end], end + 1
        if j < n and text[j] == "{":
            close = text.find("}", j)
            j = n if close < 0 else close + 1
        stop = text.find(";", j)
        stop = n if stop < 0 else stop
        if is_secret_key(key.strip()):
            found.append(text[end + 1:stop].strip().strip("{}"))
        else:
            items.append(text[i:stop])
        i = stop + 1
    return ";".join(item for item in items if item)


def _unreadable(text: str, found: list[str]) -> str:
    # A string that names a secret but cannot be parsed is not kept at all.
    if any(word in text.lower() for word in SECRET_WORDS):
        found.append(text)
        return _REDACTED
    return text


def _collect(value: Any, found: list[str]) -> None:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str) and value:
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, found)
