"""The server extension as a Jupyter ``ExtensionApp``: its settings, handlers and shutdown.

Registers, under ``{base_url}carto-auth/`` (full contract in ``docs/server-api.md``):

``GET  callback``
    Redirect page for a user's own CARTO SPA OAuth client (redirect URI
    ``http(s)://<jupyter host>{base_url}carto-auth/callback``). No login needed;
    posts ``{type: "carto-auth:callback", url}`` on the BroadcastChannel
    ``jupyterlab-carto-auth`` (the sign-in window has no opener), then drops the
    code from the address bar.
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

:class:`CartoAuthServer` reads these settings once they are final, builds the
allow-list and the relay, hands each handler what it needs, and closes the
relay in ``stop_extension``, which jupyter_server calls on every shutdown.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int, List, TraitError, Unicode, validate

from .. import __version__
from .handlers import handlers
from .proxy import OriginPattern, ProxySettings, parse_origin_patterns
from .relay import RelayManager

#: Environment variable with extra allowed origins, comma-separated.
ENV_ALLOWED_ORIGINS = "CARTO_AUTH_ALLOWED_ORIGINS"

DEFAULT_ALLOWED_ORIGINS = [
    "https://auth.carto.com",
    "https://accounts.app.carto.com",
    "https://*.api.carto.com",
    "https://*.app.carto.com",
]

MAX_RELAY_TIMEOUT = 1800.0


class CartoAuthServer(ExtensionApp):
    """Settings of the jupyterlab-carto-auth server extension, and its live state.

    Loaded next to whatever app the server runs (JupyterLab, Notebook), never as
    the server's own app: it has no landing page and leaves ``default_url`` alone.
    """

    name = "jupyterlab_carto_auth"
    description = "Sign in to CARTO from JupyterLab: callback relay and token proxy."

    #: Built by :meth:`initialize_settings` from the final settings.
    origins: list[OriginPattern]
    relay: RelayManager

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

    def initialize(self) -> None:
        if not self._linked:
            # Linking applies the configuration; the server has logged why it failed
            # (e.g. a bad allowed_origins entry). Serve nothing rather than defaults.
            raise RuntimeError("not loaded: its configuration was refused (see above)")
        # Log to the server's log, as Jupyter's own components do.
        self.log = self.serverapp.log
        super().initialize()

    def initialize_settings(self) -> None:
        """Build the allow-list and the relay from the settings, now that they are final."""
        self.origins = self._origin_patterns()
        self.relay = RelayManager(self.relay_timeout, self.log)

    def initialize_handlers(self) -> None:
        proxy_settings = ProxySettings(
            origins=tuple(self.origins),
            timeout=self.proxy_timeout,
            max_bytes=self.max_response_bytes,
            user_agent=f"jupyterlab-carto-auth/{__version__}",
        )
        self.handlers.extend(handlers(self.relay, proxy_settings))
        self.log.info(
            "jupyterlab_carto_auth: serving %scarto-auth/ (proxy allows %s)",
            self.serverapp.base_url,
            ", ".join(str(p) for p in self.origins),
        )

    async def stop_extension(self) -> None:
        """Stop any relay listener: the server is shutting down."""
        relay = getattr(self, "relay", None)  # None if the extension was refused at start
        if relay is not None:
            await relay.close()

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
