"""``EnvironmentToken``: the access token of ``CARTO_API_TOKEN`` in the kernel's environment.

As CARTO's CLI, a token in the environment comes before any session: CI and
scheduled jobs set it, and JupyterLab's session (or a sign-in from the kernel) is
not used while it is set. It cannot be renewed: when it is a JWT, its ``exp``
claim says when it expires; otherwise it is used until CARTO refuses it.
"""

from __future__ import annotations

import math
import time

from ..config import API_TOKEN_VAR, CartoConfig
from ..errors import CredentialsError
from .base import SourceStatus, TokenSource, token_state


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (epoch seconds, not verified), else ``None``."""
    import base64
    import json

    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not math.isfinite(exp):
        return None
    return float(exp)


class EnvironmentToken(TokenSource):
    """``CARTO_API_TOKEN``: the token as set, until it expires (``source == "environment"``)."""

    name = "environment"
    api_base_url_hint = "CARTO_API_BASE_URL"

    def __init__(
        self, config: CartoConfig, org: str | None, api_base_url: str | None, token: str
    ) -> None:
        self._config = config
        self._org = org
        self._api_base_url_arg = api_base_url
        self._token = token
        self._expires_at = jwt_expiry(token)
        self._discovered: str | None = None
        # Never refreshed, so no margin: the token is good until the moment it expires.
        expires_at = math.inf if self._expires_at is None else self._expires_at
        self.fresh = (token, expires_at, 0.0)

    def _expires_in(self) -> float | None:
        return None if self._expires_at is None else self._expires_at - time.time()

    def access_token(self) -> str:
        left = self._expires_in()
        if left is not None and left <= 0:
            raise CredentialsError(
                f"The {API_TOKEN_VAR} set in this kernel's environment has expired. Set a new "
                f"token there (or unset {API_TOKEN_VAR} to use JupyterLab's session), then "
                "restart the kernel."
            )
        return self._token

    def _known_api_base_url(self) -> str | None:
        return self._api_base_url_arg or self._config.api_base_url or self._discovered

    def api_base_url(self) -> str | None:
        """The ``api_base_url`` argument, else ``CARTO_API_BASE_URL``, else discovered."""
        known = self._known_api_base_url()
        if known is None:
            from ..discovery import discover_api_base_url

            self._discovered = known = discover_api_base_url(self.access_token(), self._config)
        return known

    def status(self) -> SourceStatus:
        left = self._expires_in()
        return SourceStatus(
            signed_in=left is None or left > 0,
            org=self._org,
            api_base_url=self._known_api_base_url(),
            expires_in=left,
        )

    def describe(self) -> list[str]:
        parts = ["mode='oauth'", f"source={self.name!r}"]
        parts.append(f"api_base_url={self._known_api_base_url()!r}")
        if self._org:
            parts.append(f"org={self._org!r}")
        left = self._expires_in()
        parts.append(f"token=<{API_TOKEN_VAR}>" if left is None else token_state(left))
        return parts


def from_environment(
    config: CartoConfig, org: str | None, api_base_url: str | None
) -> EnvironmentToken | None:
    """The source of ``CARTO_API_TOKEN`` when it is set, else ``None``."""
    from ..config import env_api_token

    token = env_api_token()
    return None if token is None else EnvironmentToken(config, org, api_base_url, token)


__all__ = ["EnvironmentToken", "from_environment", "jwt_expiry"]
