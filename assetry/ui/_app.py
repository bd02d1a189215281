"""The web application: routes, the JSON API, the one action, and the rules that keep it safe.

Routes: ``/`` (the graph), ``/assets/<name>``, ``/runs``, ``/runs/<run_id>``,
the same data as JSON under ``/api/`` (``/api/assets``, ``/api/assets/<name>``,
``/api/runs``, ``/api/runs/<run_id>``, and ``/api/version``, which the page
polls), and the static files shipped in the wheel under ``/static/``.

Safe by default:

- read-only unless ``assetry ui`` was given a TARGET; then its one action,
  ``POST /api/materialize`` (or the page's form, ``POST /actions/materialize``),
  starts ``assetry materialize TARGET`` (all stale assets, or one asset) and
  needs the token the page was served with: another site cannot read the page,
  so it cannot learn the token, so it cannot start a run. A request whose
  ``Origin`` is another site is refused too, whatever it carries;
- requests must name this server as their ``Host`` (no DNS rebinding);
- every response forbids scripts from anywhere but ``/static/`` (a
  Content-Security-Policy), framing, and sniffing;
- no route serves a file from disk but the wheel's static files; a product is
  only ever previewed, and only from inside the catalog's roots.

Starlette is imported here and only here (with :mod:`assetry.ui._server`'s
uvicorn): the extra ``assetry[ui]``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import math
import os
import pathlib
import subprocess
import sys
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from assetry.ui._board import Board, Source
from assetry.ui._detail import asset_detail, run_detail, runs
from assetry.ui._pages import Pages
from assetry.ui._svg import node_detail

__all__ = ["create_app"]

STATIC = pathlib.Path(__file__).parent / "static"
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def create_app(source: Source, *, token: str, hosts: list[str] | None = None) -> Starlette:
    """The application for one catalog (and TARGET). ``token`` guards the action.

    Examples:
        >>> app = create_app(Source(catalog="data/catalog.duckdb"), token="t")  # doctest: +SKIP
    """
    board = Board(source)
    pages = Pages(board, token)
    launcher = _Launcher(source)
    encoded = _Encoded()

    def page(render: Any, *args: Any, missing: str = "") -> Any:
        def endpoint(request: Request) -> Response:
            values = [request.path_params[a] for a in args]
            fragment = request.headers.get("x-assetry-fragment") == "1"
            html = render(*values, fragment=fragment)
            if html is None:
                return HTMLResponse(pages.missing(missing.format(*values)), status_code=404)
            return HTMLResponse(html, headers={"Cache-Control": "no-store"})
        return endpoint

    def api_assets(request: Request) -> Response:
        return Response(encoded.assets(board.assets()), media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    def api_asset(request: Request) -> Response:
        name = request.path_params["name"]
        found = asset_detail(board, name)
        if found is None:
            return _json({"error": f"no asset {name!r}"}, 404)
        return _json(found)

    def api_runs(request: Request) -> Response:
        return _json(runs(board))

    def api_run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        found = run_detail(board, run_id)
        if found is None:
            return _json({"error": f"no run {run_id!r}"}, 404)
        return _json(found)

    def api_version(request: Request) -> Response:
        version, run = board.poll()
        return _json({"version": pages.version(version), "run": run})

    async def api_materialize(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        refused = _refuse(request, source, token, request.headers.get("x-assetry-token"))
        if refused is not None:
            return _json({"error": refused[1]}, refused[0])
        return _start(launcher, board, body.get("select"))

    async def form_materialize(request: Request) -> Response:
        # The page's form is urlencoded: parsed here (Starlette's form() needs another package).
        form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=8)
        given, select = form.get("token", [None])[0], form.get("select", [None])[0]
        refused = _refuse(request, source, token, given)
        if refused is not None:
            return HTMLResponse(pages.missing(refused[1]), status_code=refused[0])
        answer = _start(launcher, board, select)
        if answer.status_code != 202:
            return HTMLResponse(pages.missing(json.loads(bytes(answer.body))["error"]),
                                status_code=answer.status_code)
        return RedirectResponse("/runs", status_code=303)

    routes = [
        Route("/", page(pages.graph)),
        Route("/assets/{name:path}", page(pages.asset, "name", missing="no asset {!r} in this catalog")),
        Route("/runs", page(pages.runs)),
        Route("/runs/{run_id}", page(pages.run, "run_id", missing="no run {!r} in this catalog")),
        Route("/api/assets", api_assets),
        Route("/api/assets/{name:path}", api_asset),
        Route("/api/runs", api_runs),
        Route("/api/runs/{run_id}", api_run),
        Route("/api/version", api_version),
        Route("/api/materialize", api_materialize, methods=["POST"]),
        Route("/actions/materialize", form_materialize, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    middleware = [
        Middleware(_SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=hosts or ["*"]),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.board = board
    app.state.launcher = launcher
    return app


class _SecurityHeaders:
    """Every response: scripts only from ``/static/``, no framing, no sniffing, no referrer."""

    _HEADERS = (
        (b"content-security-policy", _CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    )

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self._HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def _refuse(request: Request, source: Source, token: str, given: str | None) -> tuple[int, str] | None:
    """Why a request to start a run is refused (status, message), or None to let it through."""
    if not source.writable:
        return 403, "this page is read-only: start 'assetry ui TARGET' to run assets from it"
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        return 403, f"a request from another site ({origin}) cannot start a run"
    if request.headers.get("sec-fetch-site") == "cross-site":
        return 403, "a request from another site cannot start a run"
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return 403, "the request does not carry this page's token; reload the page and try again"
    return None


def _start(launcher: _Launcher, board: Board, select: Any) -> JSONResponse:
    if not launcher.running():
        board.replan()  # what is stale now: the page shows it during the run (planned before it)
    names = {n["asset"] for n in board.assets()}
    if select is not None and (not isinstance(select, str) or select not in names):
        return _json({"error": f"no asset {select!r} to materialize"}, 404)
    try:
        pid = launcher.start(select)
    except RuntimeError as exc:
        return _json({"error": str(exc)}, 409)
    return _json({"started": True, "pid": pid, "select": select}, 202)


class _Launcher:
    """Starts ``assetry materialize TARGET`` in a process of its own, one at a time.

    A process, not a thread: the run holds the catalog as any run does, and
    the page keeps reading it between the run's batches.
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def running(self) -> bool:
        """Whether the last run started from the page is still going."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, select: str | None) -> int:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                raise RuntimeError(f"a run started from this page is still going (process {self._proc.pid})")
            command = [sys.executable, "-m", "assetry", "materialize", str(self.source.target),
                       "--catalog", os.path.abspath(self.source.catalog), *self.source.run_options]
            if select is not None:
                command += ["--select", select]
            self._proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            return self._proc.pid

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the last run started (tests and shutdown); its exit code."""
        proc = self._proc
        return None if proc is None else proc.wait(timeout)


class _Encoded:
    """``/api/assets`` as JSON bytes: each node encoded again only when it changed.

    During a run every poll of every tab asks for the list again, and a node
    of a wide graph rarely changes between two polls: re-encoding the 2,000
    unchanged ones would cost more than reading the catalog.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nodes: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._last: tuple[list[dict[str, Any]], bytes] | None = None

    def assets(self, nodes: list[dict[str, Any]]) -> bytes:
        with self._lock:
            if self._last is not None and self._last[0] is nodes:
                return self._last[1]  # the board's cached list: the same bytes
            memo, parts = {}, []
            for node in nodes:
                hit = self._nodes.get(node["asset"])
                if hit is None or hit[0] != node:
                    hit = (node, _node_json(node))
                memo[node["asset"]] = hit
                parts.append(hit[1])
            self._nodes = memo
            body = b"[" + b",".join(parts) + b"]"
            self._last = (nodes, body)
            return body


def _node_json(node: dict[str, Any]) -> bytes:
    """One node of ``/api/assets``: flat but for its lists and partition counts (no NaN there)."""
    seconds = node.get("duration_s")
    if isinstance(seconds, float) and not math.isfinite(seconds):
        node = {**node, "duration_s": None}
    return json.dumps({**node, "detail": node_detail(node)}, default=_plain, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def _json(value: Any, status: int = 200) -> JSONResponse:
    return _JSON(value, status_code=status, headers={"Cache-Control": "no-store"})


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return self.encode(content)

    @staticmethod
    def encode(content: Any) -> bytes:
        return json.dumps(_finite(content), default=_plain, ensure_ascii=False,
                          allow_nan=False, separators=(",", ":")).encode("utf-8")


def _finite(value: Any) -> Any:
    """NaN and infinities (JSON has none) as null, at any depth."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return str(value)
