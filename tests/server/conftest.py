"""Fixtures for the server extension tests: a real Jupyter server, real sockets.

Run them from ``tests/`` as ``make pytest`` does, so the installed package is the
one under test: ``cd tests && pytest -c ../pyproject.toml --rootdir=.. server``
(``pyproject.toml`` loads the ``pytest_jupyter.jupyter_server`` plugin for every run).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from loopback import free_port
from traitlets.config import Config

#: Upstream answers larger than this trip the proxy's default 1 MiB cap.
BIG_BODY_BYTES = 1024 * 1024 + 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Bound every server test, when pytest-timeout is installed.
    if config.pluginmanager.hasplugin("timeout"):
        for item in items:
            if "tests/server/" in item.nodeid.replace("\\", "/"):
                item.add_marker(pytest.mark.timeout(60))


@dataclass
class Upstream:
    """A stand-in identity provider: a stdlib HTTP server in a thread."""

    origin: str
    requests: list[dict[str, Any]] = field(default_factory=list)


class _UpstreamHandler(BaseHTTPRequestHandler):
    upstream: Upstream

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        self.upstream.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        self._record()
        path = self.path.split("?", 1)[0]
        if path == "/oauth/token":
            body = json.dumps({"access_token": "at-1", "expires_in": 3600}).encode()
            self._send(200, body, "application/json")
        elif path == "/oauth/denied":
            body = json.dumps({"error": "invalid_grant"}).encode()
            self._send(403, body, "application/json; charset=utf-8")
        elif path == "/redirect":
            self._send(302, b"moved", "text/plain", Location=f"{self.upstream.origin}/oauth/token")
        elif path == "/big":
            self._send(200, b"x" * BIG_BODY_BYTES, "text/plain")
        elif path == "/slow":
            time.sleep(3)
            self._send(200, b"late", "text/plain")
        else:
            self._send(404, b"no such path", "text/plain")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _UpstreamHandler)
    server.daemon_threads = True
    server.block_on_close = False
    state = Upstream(origin=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = type("Handler", (_UpstreamHandler,), {"upstream": state})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_origin() -> str:
    """An http origin on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def carto_settings() -> dict[str, Any]:
    """``CartoAuthServer`` config; tests override it with ``pytest.mark.parametrize``."""
    return {}


@pytest.fixture
def jp_server_config(
    upstream: Upstream, closed_origin: str, carto_settings: dict[str, Any], monkeypatch: Any
) -> Config:
    # The environment variable path is the one the demo uses for the sandbox.
    monkeypatch.setenv("CARTO_AUTH_ALLOWED_ORIGINS", f"{upstream.origin}, {closed_origin}")
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"jupyterlab_carto_auth": True}},
            "CartoAuthServer": carto_settings,
        }
    )
