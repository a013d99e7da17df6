"""Localhost callback relay: receive CARTO's redirect on a fixed loopback port.

CARTO's default public OAuth client only accepts the redirect URI
``http://localhost:10000/callback/``. The browser that runs the lab cannot listen
on a port, so the lab asks the Jupyter server (``POST {base_url}carto-auth/relay``,
see ``docs/server-api.md``) to listen there for one sign-in attempt. The
listener is a one-shot tornado ``HTTPServer`` on 127.0.0.1 (and ::1 for
``localhost``, since browsers may try IPv6 first). It accepts exactly one
callback carrying the attempt's ``state``, keeps its query string in memory
until the lab collects it (once), and stops listening right after answering,
at ``relay_timeout``, on cancel and on server shutdown.

This only works when the browser runs on the machine that runs Jupyter; for
remote servers the lab uses the paste-the-access-code flow instead.

Logs never contain the state, the code or the query string.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import hmac
import html
import logging
import os
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tornado import web
from tornado.httpserver import HTTPServer

from .errors import ApiError

#: ``state`` values the relay accepts: RFC 3986 unreserved characters, 8 to 512 of them.
STATE_PATTERN = re.compile(r"^[A-Za-z0-9._~-]{8,512}$")
#: How long a finished attempt's result waits for the lab before it is dropped.
RESULT_TTL = 120.0

_LOOPBACK = {"localhost": ("127.0.0.1", "::1"), "127.0.0.1": ("127.0.0.1",), "::1": ("::1",)}
_AMBIGUOUS = re.compile(r"[\x00-\x20\x7f\\]")
_CLOSE_SCRIPT = "setTimeout(function () { window.close(); }, 1500);"


def inline_script_csp(script: str) -> str:
    """A Content-Security-Policy allowing only this one inline script and nothing else."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


@dataclass(frozen=True)
class LoopbackTarget:
    """Where to listen: the port, the callback path and the loopback addresses."""

    port: int
    path: str
    addresses: tuple[str, ...]


def parse_redirect_uri(uri: Any) -> LoopbackTarget:
    """Accept only ``http://localhost|127.0.0.1|[::1]:<port>/<path>``; ApiError 400 otherwise."""

    def bad(why: str) -> ApiError:
        return ApiError(400, "bad_request", f"redirect_uri {why}.")

    if not isinstance(uri, str) or not uri or _AMBIGUOUS.search(uri):
        raise bad("must be a URL like http://localhost:10000/callback/")
    parts = urlsplit(uri)
    if parts.scheme != "http":
        raise bad("must use http:// (a loopback address)")
    if "@" in parts.netloc or parts.query or parts.fragment or "#" in uri or "?" in uri:
        raise bad("must not contain user information, a query or a fragment")
    host = (parts.hostname or "").lower()
    if host not in _LOOPBACK:
        raise bad("must point at localhost, 127.0.0.1 or [::1]")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not port:
        raise bad("must name a port, like http://localhost:10000/callback/")
    path = parts.path or "/"
    if not path.startswith("/"):
        raise bad("must have an absolute path")
    return LoopbackTarget(port, path, _LOOPBACK[host])


def _page(message: str, *, close: bool) -> str:
    script = f"<script>{_CLOSE_SCRIPT}</script>" if close else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>CARTO sign-in</title></head>"
        '<body style="font-family: system-ui, sans-serif; margin: 3em;">'
        f"<p>{html.escape(message)}</p>{script}</body></html>"
    )


def _listen(address: str, port: int) -> socket.socket:
    """A non-blocking listening TCP socket on ``address``; closed again if anything fails."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt":
            # Like every server: connections of an earlier attempt left in TIME_WAIT
            # must not block the port (a live listener still does).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setblocking(False)
        sock.bind((address, port))
        sock.listen(16)
    except BaseException:
        sock.close()
        raise
    return sock


class _CallbackHandler(web.RequestHandler):
    """Answers the browser's redirect on the one-shot loopback listener."""

    attempt: Attempt

    def initialize(self, attempt: Attempt) -> None:
        self.attempt = attempt

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", inline_script_csp(_CLOSE_SCRIPT))
        self.set_header("Content-Type", "text/html; charset=UTF-8")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(_page(f"{status_code} {self._reason}", close=False))

    async def get(self) -> None:
        attempt = self.attempt
        if self.request.path != attempt.target.path:
            self.set_status(404)
            await self.finish(_page("Not found.", close=False))
            return
        params = parse_qs(self.request.query, keep_blank_values=True)
        states = params.get("state", [])
        if len(states) != 1 or not hmac.compare_digest(
            states[0].encode("utf-8"), attempt.state.encode("utf-8")
        ):
            self.set_status(400)
            await self.finish(
                _page(
                    "This sign-in link is for another attempt. Start again from JupyterLab.",
                    close=False,
                )
            )
            return
        if "code" not in params and "error" not in params:
            self.set_status(400)
            await self.finish(_page("This link carries no sign-in result.", close=False))
            return
        if not attempt.complete(self.request.query):
            self.set_status(400)
            await self.finish(_page("This sign-in link was already used.", close=False))
            return
        if "error" in params:
            description = (params.get("error_description") or params["error"])[0]
            message = f"CARTO sign-in failed: {description}. Return to JupyterLab to try again."
        else:
            message = "Signed in to CARTO. You can close this window and return to JupyterLab."
        await self.finish(_page(message, close=True))
        attempt.stop_listening("callback received")


class Attempt:
    """One sign-in attempt: its listener, its state and, once received, its callback query.

    ``status`` goes from ``pending`` to ``done`` (callback received), ``expired``
    (``timeout`` passed) or ``cancelled``. The timer first fires at the relay
    timeout, then, for a finished attempt, ``result_ttl`` later; ``on_timer`` decides.
    """

    def __init__(
        self,
        target: LoopbackTarget,
        state: str,
        log: logging.Logger,
        on_timer: Callable[[Attempt], None],
        result_ttl: float,
    ) -> None:
        self.id = secrets.token_urlsafe(16)
        self.target = target
        self.state = state
        self.log = log
        self.status = "pending"
        self.query: str | None = None
        self.changed = asyncio.Event()
        self._on_timer = on_timer
        self._result_ttl = result_ttl
        self._servers: list[HTTPServer] = []
        self._closing: set[asyncio.Future[None]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def listen(self, timeout: float) -> None:
        """Bind the port on every loopback address of the target; ApiError 409 if busy."""
        port = self.target.port
        sockets: list[socket.socket] = []
        try:
            for address in self.target.addresses:
                try:
                    sockets.append(_listen(address, port))
                except OSError as e:
                    if (
                        address == "::1"
                        and len(self.target.addresses) > 1
                        and e.errno
                        not in (
                            errno.EADDRINUSE,
                            errno.EACCES,
                        )
                    ):
                        # No usable IPv6 loopback here: browsers then use 127.0.0.1.
                        self.log.debug("carto-auth relay: no IPv6 loopback (%s), IPv4 only", e)
                        continue
                    raise
        except OSError as e:
            for sock in sockets:
                sock.close()
            if e.errno == errno.EADDRINUSE:
                raise ApiError(
                    409,
                    "port_busy",
                    f"Port {port} on this machine is in use by another program, so the CARTO "
                    "sign-in cannot receive its callback there. Close that program, or use "
                    "Paste access code.",
                ) from None
            raise ApiError(
                409,
                "port_unavailable",
                f"This server cannot listen on port {port} ({e.strerror or e}), so the CARTO "
                "sign-in cannot receive its callback there. Use Paste access code.",
            ) from None

        log = self.log

        def log_request(handler: web.RequestHandler) -> None:
            # Method, path and status only: the query holds the code and the state.
            log.debug(
                "carto-auth relay: %s %s -> %d",
                handler.request.method,
                handler.request.path,
                handler.get_status(),
            )

        app = web.Application(
            [(r".*", _CallbackHandler, {"attempt": self})], log_function=log_request
        )
        for sock in sockets:
            server = HTTPServer(
                app, idle_connection_timeout=30, body_timeout=10, max_body_size=64 * 1024
            )
            server.add_sockets([sock])
            self._servers.append(server)
        self._arm(timeout)

    def complete(self, query: str) -> bool:
        """Record the callback's query; False if the attempt is no longer pending."""
        if self.status != "pending":
            return False
        self.status, self.query = "done", query
        self.log.info("carto-auth relay: sign-in callback received on port %d", self.target.port)
        self._arm(self._result_ttl)
        self.changed.set()
        return True

    def finish(self, status: str) -> None:
        """End the attempt as ``expired`` or ``cancelled``: stop listening, wake the pollers."""
        if status == "cancelled":
            self.query = None
            if self._timer is not None:
                self._timer.cancel()
            self.status = status
        elif self.status == "pending":
            self.status = status
            self._arm(self._result_ttl)
        self.stop_listening(status)
        self.changed.set()

    def stop_listening(self, reason: str) -> None:
        """Close the listening sockets now and every open connection soon after."""
        if not self._servers:
            return
        servers, self._servers = self._servers, []
        for server in servers:
            server.stop()
            task = asyncio.ensure_future(server.close_all_connections())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        self.log.debug(
            "carto-auth relay: stopped listening on port %d (%s)", self.target.port, reason
        )

    async def closed(self) -> None:
        """Wait (briefly) until the listener's open connections are closed too."""
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=5)

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer, self)


class RelayManager:
    """Owns at most one attempt at a time, as the lab runs at most one sign-in at a time."""

    def __init__(self, timeout: float, log: logging.Logger, result_ttl: float = RESULT_TTL) -> None:
        self.timeout = timeout
        self.log = log
        self.result_ttl = result_ttl
        self._current: Attempt | None = None

    def start(self, redirect_uri: Any, state: Any) -> Attempt:
        """Cancel any earlier attempt and listen for a new one; ApiError on bad input or port."""
        target = parse_redirect_uri(redirect_uri)
        if not isinstance(state, str) or not STATE_PATTERN.match(state):
            raise ApiError(
                400, "bad_request", "state must be 8 to 512 characters of A-Z a-z 0-9 . _ ~ -."
            )
        self._drop()
        attempt = Attempt(target, state, self.log, self._on_timer, self.result_ttl)
        attempt.listen(self.timeout)
        self._current = attempt
        self.log.info("carto-auth relay: listening on port %d for %gs", target.port, self.timeout)
        return attempt

    def get(self, attempt_id: str) -> Attempt | None:
        current = self._current
        if current is not None and hmac.compare_digest(current.id, attempt_id):
            return current
        return None

    async def wait(self, attempt_id: str, seconds: float) -> None:
        """Return when the attempt leaves ``pending`` or after ``seconds``."""
        attempt = self.get(attempt_id)
        if attempt is None or attempt.status != "pending":
            return
        # asyncio.TimeoutError: on Python 3.10 it is not the builtin TimeoutError.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(attempt.changed.wait(), timeout=seconds)

    def poll(self, attempt_id: str) -> dict[str, str] | None:
        """The attempt's status; a finished attempt is reported once, then forgotten."""
        attempt = self.get(attempt_id)
        if attempt is None or attempt.status == "cancelled":
            return None
        if attempt.status == "pending":
            return {"status": "pending"}
        if attempt.status == "done":
            result = {"status": "done", "query": attempt.query or ""}
        else:
            result = {"status": "expired"}
        self._drop()
        return result

    def cancel(self, attempt_id: str) -> bool:
        """Cancel the attempt and free its port; False if it is unknown."""
        if self.get(attempt_id) is None:
            return False
        self._drop()
        return True

    async def close(self) -> None:
        """Stop everything (server shutdown)."""
        attempt = self._current
        self._drop()
        if attempt is not None:
            await attempt.closed()

    def _drop(self) -> None:
        attempt, self._current = self._current, None
        if attempt is not None:
            attempt.finish("cancelled")

    def _on_timer(self, attempt: Attempt) -> None:
        if attempt is not self._current:
            return
        if attempt.status == "pending":
            self.log.info("carto-auth relay: sign-in on port %d timed out", attempt.target.port)
            attempt.finish("expired")
        else:
            # A finished result the lab did not collect in time: drop it.
            self._drop()
