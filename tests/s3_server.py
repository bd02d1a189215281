"""A real S3 server for the tests: moto's S3 over HTTP on 127.0.0.1, with a request counter.

Run as a script (``python tests/s3_server.py PORT``) it serves moto's backends
on ``127.0.0.1:PORT`` behind a small WSGI layer that counts every request and
the bytes of every response body; ``GET /_assetry/counts`` returns those
counts as JSON and ``POST /_assetry/counts`` sets them back to zero. Nothing
else is changed: every other request goes to moto as a real client's would.

Imported (from ``tests/conftest.py``), it gives the fixtures:

- ``s3_server`` (session): the server process on a free port; its ``.endpoint``
  (``http://127.0.0.1:PORT``), ``.counts()`` and ``.reset()``.
- ``s3`` (per test): a fresh bucket and what a test needs to use it:
  ``.root`` (``s3://<bucket>/data``), ``.storage_options`` (endpoint and dummy
  keys), ``.fs`` (an s3fs file system on it), ``.counts()`` / ``.reset()``.
  It also sets ``AWS_ENDPOINT_URL`` and dummy ``AWS_*`` keys in the environment
  (undone after the test), as a user's shell would, and ``ASSETRY_CACHE_DIR``
  to a folder under the test's ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

#: The dummy credentials of every test bucket (moto accepts any).
ACCESS_KEY = "AKIDASSETRYTEST"
SECRET_KEY = "assetry-test-secret-6f1c0e"  # a distinctive string: tests grep for it

_COUNTS = "/_assetry/counts"


class _Counting:
    """WSGI middleware: counts requests (by method) and response body bytes."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests: dict[str, int] = {}
            self.sent = 0
            self.received = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == _COUNTS:
            if environ["REQUEST_METHOD"] == "POST":
                self.reset()
            with self.lock:
                body = json.dumps({"requests": self.requests, "sent": self.sent,
                                   "received": self.received}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        method = environ.get("REQUEST_METHOD", "?")
        with self.lock:
            self.requests[method] = self.requests.get(method, 0) + 1
            self.received += int(environ.get("CONTENT_LENGTH") or 0)
        return self._count(self.app(environ, start_response))

    def _count(self, chunks: Any) -> Iterator[bytes]:
        try:
            for chunk in chunks:
                with self.lock:
                    self.sent += len(chunk)
                yield chunk
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


def serve(port: int) -> None:
    """Serve moto's backends on 127.0.0.1:``port`` until killed."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = _Counting(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    server.serve_forever()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    """The server process and its counters."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(self.port)], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.counts()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.kill()
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.1)

    def counts(self) -> dict[str, Any]:
        """``{"requests": {method: n}, "sent": response bytes, "received": request bytes}``."""
        with urllib.request.urlopen(self.endpoint + _COUNTS, timeout=10) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Set every counter back to zero."""
        req = urllib.request.Request(self.endpoint + _COUNTS, method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def stop(self) -> None:
        """End the server process."""
        self.process.kill()
        self.process.wait(timeout=30)


class Bucket:
    """One test's bucket on the server."""

    def __init__(self, server: S3Server, name: str) -> None:
        self.server = server
        self.name = name
        self.root = f"s3://{name}/data"
        self.storage_options: dict[str, Any] = {
            "key": ACCESS_KEY, "secret": SECRET_KEY,
            "client_kwargs": {"endpoint_url": server.endpoint, "region_name": "us-east-1"},
        }
        import s3fs

        self.fs = s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options)
        self.fs.call_s3("create_bucket", Bucket=name)

    def counts(self) -> dict[str, Any]:
        """The server's counters (every bucket's requests since the last reset)."""
        return self.server.counts()

    def reset(self) -> None:
        """Set the server's counters back to zero."""
        self.server.reset()

    def requests(self) -> int:
        """Requests since the last reset."""
        return sum(self.counts()["requests"].values())


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server process on 127.0.0.1 at a free port, for the whole session."""
    server = S3Server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Bucket:
    """A fresh bucket for this test, with endpoint and dummy keys in the environment,
    and local copies of objects (``pathlib.Path`` loads) cached under ``tmp_path``."""
    monkeypatch.setenv("ASSETRY_CACHE_DIR", str(tmp_path / "object-cache"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return Bucket(s3_server, f"assetry-{uuid.uuid4().hex[:12]}")


if __name__ == "__main__":
    serve(int(sys.argv[1]))
