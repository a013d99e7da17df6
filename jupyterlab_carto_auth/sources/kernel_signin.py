"""``KernelSignIn``: a sign-in run by this kernel, where no JupyterLab hands it a session.

A valid cached token first (renewed with its refresh token when possible),
else the browser sign-in of ``fallback_signin``. Tokens are cached per account
and organization, owner-only. When JupyterLab answers while the paste prompt
waits, ``SourceChanged`` hands the caller a ``LabSource``.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from ..cache import CacheEntry, CacheKey, TokenCache
from ..config import CartoConfig, url_problem
from ..errors import CredentialsError, NetworkError
from ..secret import DEFAULT_MARGIN, Secret, Token
from .base import HeldToken, SourceChanged, SourceStatus


class KernelSignIn(HeldToken):
    """``CartoAuth.from_oauth()`` without JupyterLab: carto-auth's flow, done right."""

    name = "kernel"
    _snapshots = False  # the margin changes with the lifetime read from the cache

    def __init__(
        self,
        config: CartoConfig,
        org: str | None,
        api_base_url: str | None,
        *,
        cache_filepath: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        open_browser: bool = True,
    ) -> None:
        super().__init__(org)
        self._config = config
        self._open_browser = open_browser
        self._api_base_url_arg = api_base_url
        self._api_base_url = api_base_url or config.api_base_url
        self._discovered: str | None = None
        self._refresh_token: Secret | None = None
        self._lifetime: float | None = None  # expires_in of the token CARTO issued last
        self._cache: TokenCache | None = None
        if use_cache:
            key = CacheKey("oauth", config.token_url, self._api_base_url, org, config.client_id)
            self._cache = TokenCache(key, cache_filepath)

    # --- the cache and the refresh token ----------------------------------------------

    def _read_cache(self) -> CacheEntry | None:
        """The cache entry, whose lifetime, API base URL and refresh token are taken."""
        entry = self._cache.load_entry() if self._cache is not None else None
        if entry is None:
            return None
        lifetime = entry.extras.get("lifetime")
        if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool) and lifetime > 0:
            self._lifetime = float(lifetime)
        found = entry.extras.get("api_base_url")
        if isinstance(found, str) and not url_problem(found):
            self._discovered = found
        self._refresh_token = Secret(entry.refresh_token) if entry.refresh_token else None
        return entry

    def load_cached(self) -> bool:
        """Take a valid token from the cache (renewing it with its refresh token if needed)."""
        entry = self._read_cache()
        if entry is None:
            return False
        if entry.token.is_valid(self._margin()):
            self._token = entry.token
            return True
        return self._try_refresh()

    def forget(self) -> bool:
        """Remove the cached sign-in; ``False`` if there was none."""
        if self._cache is None:
            return False
        had = self._cache.path.exists()
        self._cache.clear()
        return had

    def _try_refresh(self) -> bool:
        """Renew with the refresh token; ``False`` if there is none or CARTO refused it."""
        if self._refresh_token is None:
            return False
        from .. import fallback_signin

        try:
            result = fallback_signin.refresh(self._config, self._refresh_token.value)
        except NetworkError:
            raise
        except CredentialsError:
            self._refresh_token = None  # revoked or expired: a new sign-in is needed
            return False
        self._take(result)
        return True

    def _take(self, result: Any) -> None:
        self._token = result.token
        self._lifetime = result.lifetime
        if result.refresh_token:
            self._refresh_token = Secret(result.refresh_token)
        self._save()

    def _save(self) -> None:
        if self._cache is None or self._token is None:
            return
        extras: dict[str, Any] = {}
        if self._lifetime:
            extras["lifetime"] = self._lifetime
        if self._discovered:
            extras["api_base_url"] = self._discovered
        self._cache.save(
            self._token,
            refresh_token=self._refresh_token.value if self._refresh_token else None,
            extras=extras,
        )

    # --- the sign-in --------------------------------------------------------------------

    def sign_in(self) -> None:
        """The browser sign-in (local redirect or paste); bounded. ``SourceChanged`` when
        JupyterLab answered meanwhile: its session serves from then on."""
        from .. import fallback_signin, kernel
        from .lab import SIGNED_OUT_IN_LAB, LabSource

        try:
            result = fallback_signin.sign_in(
                self._config,
                org=self._org,
                open_browser=self._open_browser,
                timeout=self._config.signin_timeout,
            )
        except fallback_signin.LabAnswered:
            info = kernel.SESSION.current
            if info is None or not info.signed_in:
                raise CredentialsError(SIGNED_OUT_IN_LAB) from None
            raise SourceChanged(
                LabSource(self._config, self._org, self._api_base_url_arg)
            ) from None
        self._take(result)

    def _margin(self) -> float:
        if self._lifetime is None:
            return DEFAULT_MARGIN
        return min(DEFAULT_MARGIN, self._lifetime / 4)

    def _new_token(self) -> Token:
        if not (self.load_cached() or self._try_refresh()):
            self.sign_in()
        assert self._token is not None
        return self._token

    # --- the account --------------------------------------------------------------------

    def api_base_url(self) -> str | None:
        """The argument, else the setting, else discovered with the token (once, cached)."""
        if self._api_base_url:
            return self._api_base_url
        if self._discovered is None:
            from ..discovery import discover_api_base_url

            self._discovered = discover_api_base_url(self.access_token(), self._config)
            if self._token is not None:
                self._save()
        return self._discovered

    def status(self) -> SourceStatus:
        """The cached sign-in, as ``%carto status`` shows it (read from the cache, no request).

        ``expires_in`` is ``None`` when nothing is cached.
        """
        entry = self._read_cache()
        token = entry.token if entry is not None else self._token
        if token is None:
            return SourceStatus(signed_in=False)
        claims = jwt_claims(token.access_token)
        return SourceStatus(
            signed_in=token.expires_in() > 0,
            email=_claim(claims, "https://carto.com/email", "email"),
            name=_claim(claims, "name"),
            org=_claim(claims, "org_id", "https://carto.com/org") or self._org,
            api_base_url=self._api_base_url or self._discovered,
            expires_in=token.expires_in(),
        )

    def describe(self) -> list[str]:
        return self._parts(self._api_base_url or self._discovered, tag="kernel")


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified, for display only (``{}`` if not a JWT)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _claim(claims: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None
