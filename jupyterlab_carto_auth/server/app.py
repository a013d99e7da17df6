"""Jupyter server extension of jupyterlab-carto-auth: only what a browser cannot do alone.

Registers, under ``{base_url}carto-auth/`` (full contract in ``docs/server-api.md``):

``GET  callback``
    Redirect page for a user's own CARTO SPA OAuth client (redirect URI
    ``http(s)://<jupyter host>{base_url}carto-auth/callback``). No login needed;
    posts ``{type: "carto-auth:callback", url}`` on the BroadcastChannel
    ``jupyterlab-carto-auth`` and to ``window.opener``, then drops the code from
    the address bar.
``POST relay`` ``{"redirect_uri", "state"}`` -> 201 ``{"attempt", "expires_in"}``
    Listen once on the loopback redirect URI of CARTO's default public client
    (``http://localhost:10000/callback/``). 409 ``port_busy`` if the port is taken.
``GET relay/<attempt>?wait=25`` -> ``{"status": "pending" | "done" | "expired"}``
    Long-poll; ``done`` carries ``query`` (the callback's query string, once).
``DELETE relay/<attempt>`` -> 204
    Cancel and free the port.
``POST proxy`` ``{"url", "method", "headers", "body"}`` -> ``{"status", "content_type", "body"}``
    Forward a token or discovery request to an allow-listed CARTO host.

Configuration (``c.CartoAuthServer.<name>`` in ``jupyter_server_config.py``):
``allowed_origins``, ``relay_timeout``, ``proxy_timeout``, ``max_response_bytes``;
extra origins also come from the environment variable ``CARTO_AUTH_ALLOWED_ORIGINS``
(comma-separated), which the demo and tests use for the sandbox.

Server-side only: the kernel-side package must never import this module.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from traitlets import Float, Int, List, TraitError, Unicode, validate
from traitlets.config import LoggingConfigurable

from .. import __version__
from .handlers import handlers
from .proxy import OriginPattern, parse_origin_patterns
from .relay import RelayManager

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

#: Environment variable with extra allowed origins, comma-separated.
ENV_ALLOWED_ORIGINS = "CARTO_AUTH_ALLOWED_ORIGINS"

DEFAULT_ALLOWED_ORIGINS = [
    "https://auth.carto.com",
    "https://accounts.app.carto.com",
    "https://*.api.carto.com",
    "https://*.app.carto.com",
]

MAX_RELAY_TIMEOUT = 1800.0


class CartoAuthServer(LoggingConfigurable):
    """Settings of the jupyterlab-carto-auth server extension, and its live state."""

    allowed_origins = List(
        Unicode(),
        default_value=DEFAULT_ALLOWED_ORIGINS,
        help="""Origins the token/discovery proxy may reach, like https://auth.carto.com.
        An entry may start its host with one '*.' label wildcard
        (https://*.api.carto.com); scheme and port must match exactly. Origins
        listed in the environment variable CARTO_AUTH_ALLOWED_ORIGINS
        (comma-separated) are added to these.""",
    ).tag(config=True)

    relay_timeout = Float(
        300.0,
        help="Seconds the localhost callback relay waits for the sign-in (at most 1800).",
    ).tag(config=True)

    proxy_timeout = Float(
        30.0, help="Seconds the proxy waits to connect to, and to hear from, a CARTO host."
    ).tag(config=True)

    max_response_bytes = Int(
        1024 * 1024, help="Largest answer body, in bytes, the proxy passes back to the lab."
    ).tag(config=True)

    @validate("allowed_origins")
    def _check_origins(self, proposal: dict[str, Any]) -> list[str]:
        try:
            parse_origin_patterns(proposal["value"])
        except ValueError as e:
            raise TraitError(f"CartoAuthServer.allowed_origins: {e}") from None
        return list(proposal["value"])

    @validate("relay_timeout")
    def _check_relay_timeout(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not 0 < value <= MAX_RELAY_TIMEOUT:
            raise TraitError("CartoAuthServer.relay_timeout must be > 0 and at most 1800 seconds")
        return value

    @validate("proxy_timeout")
    def _check_proxy_timeout(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if value <= 0:
            raise TraitError("CartoAuthServer.proxy_timeout must be > 0 seconds")
        return value

    @validate("max_response_bytes")
    def _check_max_response_bytes(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if value <= 0:
            raise TraitError("CartoAuthServer.max_response_bytes must be > 0")
        return value

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user_agent = f"jupyterlab-carto-auth/{__version__}"
        self.origins: list[OriginPattern] = self._origin_patterns()
        self.relay = RelayManager(self.relay_timeout, self.log)

    def _origin_patterns(self) -> list[OriginPattern]:
        """The configured origins plus valid ones from the environment (bad ones are logged)."""
        patterns = parse_origin_patterns(self.allowed_origins)
        for entry in os.environ.get(ENV_ALLOWED_ORIGINS, "").split(","):
            if not entry.strip():
                continue
            try:
                patterns.append(OriginPattern.parse(entry))
            except ValueError as e:
                self.log.warning("carto-auth: ignoring %s entry: %s", ENV_ALLOWED_ORIGINS, e)
        return patterns


def _load_jupyter_server_extension(serverapp: ServerApp) -> None:
    """Add the handlers to the server and arrange for the relay to stop with it."""
    carto = CartoAuthServer(parent=serverapp, log=serverapp.log)
    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", handlers(base_url, carto))
    serverapp.web_app.settings["carto_auth"] = carto
    _stop_with_server(serverapp)
    serverapp.log.info(
        "jupyterlab_carto_auth: serving %scarto-auth/ (proxy allows %s)",
        base_url,
        ", ".join(str(p) for p in carto.origins),
    )


async def _unload_jupyter_server_extension(serverapp: ServerApp) -> None:
    """Stop any relay listener (called when the server shuts down)."""
    carto = serverapp.web_app.settings.get("carto_auth")
    if carto is not None:
        await carto.relay.close()


def _stop_with_server(serverapp: ServerApp) -> None:
    # jupyter_server 2 calls shutdown hooks only for ExtensionApp extensions, not for
    # module extensions like this one; its cleanup_extensions() runs on every
    # shutdown (signal, /api/shutdown, tests), so chain onto it.
    previous = serverapp.cleanup_extensions

    async def cleanup_extensions() -> None:
        try:
            await _unload_jupyter_server_extension(serverapp)
        finally:
            await previous()

    serverapp.cleanup_extensions = cleanup_extensions  # type: ignore[method-assign]


# Older name, still looked up by some tools.
load_jupyter_server_extension = _load_jupyter_server_extension
