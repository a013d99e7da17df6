"""HTTP handlers of the server extension, all under ``{base_url}carto-auth/``.

The contract the lab relies on is written down in ``docs/server-api.md``. In short:

- ``GET callback``: static redirect page for a user's own SPA OAuth client (no auth).
- ``POST relay`` / ``GET relay/<attempt>?wait=`` / ``DELETE relay/<attempt>``: the
  localhost callback relay (:mod:`jupyterlab_carto_auth.server.relay`).
- ``POST proxy``: the allow-listed token/discovery proxy
  (:mod:`jupyterlab_carto_auth.server.proxy`).
- ``GET identity``: whose server this is and who is asking (JupyterHub).

Every JSON answer carries ``Cache-Control: no-store``; errors are
``{"error": <code>, "message": <text for humans>}``. The JSON endpoints need
Jupyter's authentication, and Jupyter's XSRF check for POST and DELETE. Each
handler is given what it works with (the relay, or the proxy's settings) by
:class:`~jupyterlab_carto_auth.server.app.CartoAuthServer`; none imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import re
from http.client import responses
from importlib.resources import files
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web

from . import proxy
from .errors import ApiError
from .relay import RelayManager, inline_script_csp

#: Default and largest ``wait`` of the relay long-poll, in seconds.
DEFAULT_WAIT = 25.0
MAX_WAIT = 30.0
#: Largest JSON request body the endpoints accept.
MAX_REQUEST_BYTES = 256 * 1024

_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
}


class _JsonHandler(APIHandler):
    """JSON in, JSON out, never cached; errors as ``{"error", "message"}``."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            code, message = error.code, error.message
        else:
            code = _ERROR_CODES.get(status_code, "server_error")
            message = responses.get(status_code, "Unknown error")
            if isinstance(error, web.HTTPError) and error.log_message and status_code < 500:
                message = error.log_message % error.args if error.args else error.log_message
        self.finish(json.dumps(self.error_payload(code, message)))

    def error_payload(self, code: str, message: str) -> dict[str, str]:
        """The JSON body of an error answer."""
        return {"error": code, "message": message}

    def send_json(self, status: int, payload: dict[str, Any]) -> None:
        self.set_status(status)
        self.finish(json.dumps(payload))

    def read_json(self) -> dict[str, Any]:
        if len(self.request.body) > MAX_REQUEST_BYTES:
            raise ApiError(400, "bad_request", "The request body is too large.")
        try:
            payload = json.loads(self.request.body or b"null")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ApiError(400, "bad_request", "The request body must be a JSON object.")
        return payload


class CallbackPageHandler(JupyterHandler):
    """``GET carto-auth/callback``: forwards its own URL to the lab, renders nothing from it.

    Needs no Jupyter login: it holds no secret and only talks to same-origin
    windows (a BroadcastChannel; the sign-in window has no ``window.opener``).
    """

    @property
    def content_security_policy(self) -> str:
        return callback_page()[1]

    @allow_unauthenticated
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.finish(callback_page()[0])


class _RelayHandler(_JsonHandler):
    """A JSON endpoint of the localhost callback relay."""

    relay: RelayManager

    def initialize(self, relay: RelayManager) -> None:
        self.relay = relay


class RelayHandler(_RelayHandler):
    """``POST carto-auth/relay``: listen on the loopback redirect URI for one attempt."""

    @web.authenticated
    def post(self) -> None:
        payload = self.read_json()
        attempt = self.relay.start(payload.get("redirect_uri"), payload.get("state"))
        timeout = self.relay.timeout
        self.send_json(
            201,
            {
                "attempt": attempt.id,
                "expires_in": int(timeout) if timeout.is_integer() else timeout,
            },
        )


class RelayAttemptHandler(_RelayHandler):
    """``GET`` (long-poll) and ``DELETE`` (cancel) ``carto-auth/relay/<attempt>``."""

    _waiter: asyncio.Future[None] | None = None
    _gone = False

    @web.authenticated
    async def get(self, attempt_id: str) -> None:
        raw = self.get_query_argument("wait", str(DEFAULT_WAIT))
        try:
            wait = float(raw)
        except ValueError:
            wait = math.nan
        if math.isnan(wait):
            raise ApiError(400, "bad_request", "wait must be a number of seconds.")
        wait = min(max(wait, 0.0), MAX_WAIT)
        relay = self.relay
        self._waiter = asyncio.ensure_future(relay.wait(attempt_id, wait))
        with contextlib.suppress(asyncio.CancelledError):
            await self._waiter
        if self._gone:
            # The lab hung up while waiting: leave a result for its next poll.
            return
        result = relay.poll(attempt_id)
        if result is None:
            raise ApiError(
                404, "not_found", "This sign-in attempt was cancelled or is already finished."
            )
        self.send_json(200, result)

    def on_connection_close(self) -> None:
        self._gone = True
        if self._waiter is not None:
            self._waiter.cancel()

    @web.authenticated
    def delete(self, attempt_id: str) -> None:
        if not self.relay.cancel(attempt_id):
            raise ApiError(404, "not_found", "No such sign-in attempt.")
        self.set_status(204)
        self.finish()


class _ProxyHandler(_JsonHandler):
    """A JSON endpoint of the token/discovery proxy."""

    proxy_settings: proxy.ProxySettings

    def initialize(self, proxy_settings: proxy.ProxySettings) -> None:
        self.proxy_settings = proxy_settings

    def jupyter_tokens(self) -> list[str]:
        """The tokens Jupyter or JupyterHub accept for this server: never sent upstream.

        The identity provider's token (under JupyterHub, the server's API token)
        and the JupyterHub API token of a single-user server's environment.
        """
        tokens = [os.environ.get(name, "") for name in proxy.HUB_TOKEN_VARIABLES]
        tokens.append(self.token or "")
        return [token for token in tokens if token]

    async def forward(self, payload: Any) -> dict[str, Any]:
        """Validate a proxy request and send it upstream; the envelope, or an ApiError."""
        try:
            request = proxy.parse_request(
                payload, self.proxy_settings.origins, self.jupyter_tokens()
            )
        except proxy.ForbiddenOrigin as e:
            self.log.warning("carto-auth proxy: refused %s (not allowed)", e.origin)
            raise
        try:
            envelope = await proxy.forward(request, self.proxy_settings)
        except ApiError as e:
            self.log.info(
                "carto-auth proxy: %s %s%s failed: %s",
                request.method,
                request.origin,
                request.path,
                e.code,
            )
            raise
        self.log.info(
            "carto-auth proxy: %s %s%s -> %d",
            request.method,
            request.origin,
            request.path,
            envelope["status"],
        )
        return envelope


class ProxyHandler(_ProxyHandler):
    """``POST carto-auth/proxy``: forward one request to an allow-listed CARTO host."""

    @web.authenticated
    async def post(self) -> None:
        self.send_json(200, await self.forward(self.read_json()))


class RawProxyHandler(_ProxyHandler):
    """``POST carto-auth/proxy/raw?url=<target>``: the same proxy, pass-through.

    For OAuth libraries that speak plain HTTP to a token endpoint (oidc-client-ts
    in the lab, which posts its token and revocation requests here): the form
    body and the allowed headers are forwarded as they are, and the upstream
    status, content type and body come back unchanged. Failures of the proxy
    itself answer in OAuth's error shape (``{"error", "error_description"}``) so
    such a library reports them.

    POST only: the lab never GETs through it (its OIDC metadata is configured,
    not fetched), and a GET would not be XSRF-checked. A Jupyter credential in
    the ``Authorization`` header is refused (400 ``jupyter_credential``), not
    dropped; another scheme than Bearer or Basic is the HTTP authentication of
    a proxy in front of Jupyter, which the browser adds by itself: dropped.
    """

    def error_payload(self, code: str, message: str) -> dict[str, str]:
        return {"error": code, "error_description": message}

    @web.authenticated
    async def post(self) -> None:
        headers = {
            name: value
            for name in proxy.FORWARDED_HEADERS
            if (value := self.request.headers.get(name)) is not None
        }
        authorization = headers.get("authorization")
        if authorization is not None:
            proxy.check_authorization(authorization, self.jupyter_tokens())
            # Only an OAuth credential meant for the provider may travel on.
            if not re.match(r"(?i)(bearer|basic)\s", authorization):
                del headers["authorization"]
        if len(self.request.body) > MAX_REQUEST_BYTES:
            raise ApiError(400, "bad_request", "The request body is too large.")
        payload = {
            "url": self.get_query_argument("url", ""),
            "method": "POST",
            "headers": headers,
            "body": self.request.body.decode("utf-8", errors="replace"),
        }
        envelope = await self.forward(payload)
        self.set_status(envelope["status"])
        self.set_header("Content-Type", envelope["content_type"] or "application/octet-stream")
        self.finish(envelope["body"])


class IdentityHandler(_JsonHandler):
    """``GET carto-auth/identity``: the server's owner and the requesting user.

    Under JupyterHub every user's server shares one origin; the lab scopes its
    browser stores to this server and, when the requesting user is not the
    server's owner (admin access, sharing), never hands the CARTO session to
    the server's kernels. Without JupyterHub the server has no other user: the
    requester is the owner.
    """

    @web.authenticated
    def get(self) -> None:
        owner = os.environ.get("JUPYTERHUB_USER") or None
        user = self.current_user
        username = getattr(user, "username", None) or (user if isinstance(user, str) else "")
        self.send_json(
            200,
            {
                "server_owner": owner,
                "server_name": os.environ.get("JUPYTERHUB_SERVER_NAME", ""),
                "user": username,
                "is_owner": owner is None or username == owner,
            },
        )


#: The lab plugin whose user settings file ``SettingsCheckHandler`` checks.
SESSION_SETTINGS_ID = "jupyterlab-carto-auth:session"


class SettingsCheckHandler(_JsonHandler):
    """``GET carto-auth/settings-check`` -> ``{"warning": str | null}``.

    A user settings file that does not match the schema (a malformed URL, a
    wrong type, an unknown key: edited by hand or by code, since the settings
    editor refuses these) is served by jupyterlab_server as if it were empty,
    and why is only logged here; JupyterLab shows it nowhere. The lab asks at
    start and tells the user what to fix. The answer is jupyterlab_server's own
    warning for this plugin (its text names the setting), or null.
    """

    @web.authenticated
    def get(self) -> None:
        self.send_json(200, {"warning": settings_warning(self.serverapp, SESSION_SETTINGS_ID)})


def settings_warning(serverapp: Any, schema_name: str) -> str | None:
    """jupyterlab_server's warning about the user settings of ``schema_name``, or None.

    Asks each loaded app that serves lab settings (JupyterLab, Notebook 7), as
    its settings handler does.
    """
    try:
        from jupyterlab_server.settings_utils import get_settings
    except ImportError:  # pragma: no cover - no lab app, so no settings either
        return None
    seen: set[tuple[str, str, str]] = set()
    for apps in serverapp.extension_manager.extension_apps.values():
        for app in apps:
            dirs = tuple(
                getattr(app, name, None)
                for name in ("app_settings_dir", "schemas_dir", "user_settings_dir")
            )
            if not all(isinstance(d, str) and d for d in dirs) or dirs in seen:
                continue
            seen.add(dirs)  # type: ignore[arg-type]
            paths = [
                *getattr(app, "extra_labextensions_path", []),
                *getattr(app, "labextensions_path", []),
            ]
            try:
                _, warnings = get_settings(*dirs, schema_name=schema_name, labextensions_path=paths)
            except web.HTTPError as e:  # a file that is not JSON
                return e.log_message
            except Exception as e:  # no such schema in this app: nothing to say
                serverapp.log.debug("carto-auth: no settings check in %s (%s)", app, e)
                continue
            for warning in warnings:
                if warning:
                    return str(warning)
    return None


_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@functools.cache
def callback_page() -> tuple[bytes, str]:
    """The callback page and a CSP that allows exactly its one inline script."""
    text = (files(__package__) / "static" / "callback.html").read_text(encoding="utf-8")
    scripts = _SCRIPT.findall(text)
    if len(scripts) != 1:  # pragma: no cover - guards edits of the page
        raise RuntimeError("static/callback.html must contain exactly one inline <script>")
    return text.encode("utf-8"), inline_script_csp(scripts[0])


def handlers(
    relay: RelayManager, proxy_settings: proxy.ProxySettings
) -> list[tuple[str, type, dict[str, Any]]]:
    """The URL specs of the extension, relative to the server's base URL."""
    callback_page()  # fail at start-up, not on first use, if the page is missing
    return [
        ("carto-auth/callback", CallbackPageHandler, {}),
        ("carto-auth/relay", RelayHandler, {"relay": relay}),
        (r"carto-auth/relay/([A-Za-z0-9_-]{1,64})", RelayAttemptHandler, {"relay": relay}),
        ("carto-auth/proxy", ProxyHandler, {"proxy_settings": proxy_settings}),
        ("carto-auth/proxy/raw", RawProxyHandler, {"proxy_settings": proxy_settings}),
        ("carto-auth/identity", IdentityHandler, {}),
        ("carto-auth/settings-check", SettingsCheckHandler, {}),
    ]
