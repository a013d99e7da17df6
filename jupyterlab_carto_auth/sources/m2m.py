"""``M2MSource``: tokens of an M2M application (client credentials), cached owner-only."""

from __future__ import annotations

import os

from ..cache import CacheKey, TokenCache
from ..config import CartoConfig
from ..m2m import M2MCredentials, fetch_m2m_token
from ..secret import DEFAULT_MARGIN, Token
from .base import HeldToken


class M2MSource(HeldToken):
    """``CartoAuth.from_m2m`` or ``CartoAuth("m2m", ...)``: a new token from CARTO a
    minute before the held one expires, through the token cache."""

    name = "m2m"
    mode = "m2m"

    def __init__(
        self,
        credentials: M2MCredentials,
        config: CartoConfig,
        org: str | None,
        *,
        cache_filepath: str | os.PathLike[str] | None,
        use_cache: bool,
        token: Token | None = None,
    ) -> None:
        super().__init__(org, token)
        self._credentials = credentials
        self._config = config
        self._cache: TokenCache | None = None
        if use_cache:
            key = CacheKey(
                "m2m", config.token_url, credentials.api_base_url, org, credentials.client_id
            )
            self._cache = TokenCache(key, cache_filepath)
        if self._cache is not None and token is not None and token.is_valid(0):
            self._cache.save(token)

    @property
    def api_base_url_hint(self) -> str:  # type: ignore[override]
        return f"api_base_url in {self._credentials.source}"

    def _new_token(self) -> Token:
        if self._cache is not None:
            cached = self._cache.load()
            if cached is not None and cached.is_valid(DEFAULT_MARGIN):
                return cached
        token = fetch_m2m_token(self._credentials, self._config)
        if self._cache is not None:
            self._cache.save(token)
        return token

    def api_base_url(self) -> str | None:
        return self._credentials.api_base_url

    def describe(self) -> list[str]:
        return self._parts(self._credentials.api_base_url, client_id=self._credentials.client_id)
