"""Serving the page: the socket, uvicorn, the token, the browser; and the missing-extra error.

It binds the host and port itself (``--port 0`` picks a free one), so the
address printed is the one served, then runs uvicorn on that socket until
Ctrl-C. The states and the graph's layout are computed once before the address
is printed, so the first page comes as quickly as any.
"""

from __future__ import annotations

import secrets
import socket
import sys
import threading
import webbrowser
from typing import IO

from assetry._surface import install_hint
from assetry.errors import AssetError
from assetry.ui._board import Source

__all__ = ["LOOPBACK", "require_extra", "serve"]

#: The host names that mean this machine only.
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def require_extra() -> None:
    """Raise a one-line error naming the install command when ``assetry[ui]`` is missing.

    Raises:
        AssetError: starlette, uvicorn or jinja2 cannot be imported.
    """
    missing = []
    for module in ("starlette", "uvicorn", "jinja2"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise AssetError(
            f"'assetry ui' needs {', '.join(missing)}, which the extra 'ui' brings: "
            f"{install_hint('ui')}"
        )


def serve(source: Source, *, host: str = "127.0.0.1", port: int = 8000,
          open_browser: bool = False, out: IO[str] | None = None) -> None:
    """Serve the page for ``source`` on ``host:port`` until interrupted.

    Raises:
        AssetError: the extra is missing, or the address cannot be bound.

    Examples:
        >>> serve(Source(catalog="data/catalog.duckdb"), port=8000)  # doctest: +SKIP
    """
    require_extra()
    import uvicorn

    from assetry.ui._app import create_app

    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    hosts = ["*"] if host not in LOOPBACK else [
        f"{h}" for h in ("127.0.0.1", "localhost", "[::1]", "::1")]
    app = create_app(source, token=secrets.token_urlsafe(32), hosts=hosts)
    _warm(app)  # before the address is printed: the first page is then as quick as any
    mode = f"runs allowed for {source.target}" if source.writable else "read-only"
    out = out or sys.stdout
    print(f"assetry ui: {url} ({mode}; catalog {source.catalog}); Ctrl-C stops it", file=out,
          flush=True)
    if host not in LOOPBACK:
        print("assetry ui: warning: serving beyond this machine; anyone who reaches "
              f"{host}:{bound} reads the catalog", file=out, flush=True)
    if open_browser:
        threading.Timer(0.3, webbrowser.open, [url]).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a server is stopped: not an error
    finally:
        sock.close()
    print("assetry ui: stopped", file=out, flush=True)


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AssetError(f"cannot serve on host {host!r} ({exc.strerror}); give --host 127.0.0.1") from exc
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise AssetError(
            f"cannot serve on {host}:{port} ({exc.strerror}); choose another port with --port "
            "(0 picks a free one)"
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _warm(app: object) -> None:
    """Compute the states and the graph's layout once, so the first page comes quickly."""
    try:
        pages = app.state.board  # type: ignore[attr-defined]
        from assetry.ui._svg import graph_svg

        nodes = pages.assets()
        names, edges, _, _ = pages.structure()
        if names:
            graph_svg(names, edges, {n["asset"]: n for n in nodes})
    except Exception:  # noqa: BLE001 - the first request computes it again and shows the error
        return
