"""``GivenToken``: only the access token given to ``CartoAuth(...)``; it cannot be renewed."""

from __future__ import annotations

from ..config import CartoConfig
from ..errors import CredentialsError
from ..secret import Token
from .base import HeldToken


class GivenToken(HeldToken):
    """``CartoAuth("oauth", access_token=...)``: the token as given, until it expires."""

    name = "token"

    def __init__(
        self, config: CartoConfig, org: str | None, api_base_url: str | None, token: Token | None
    ) -> None:
        super().__init__(org, token)
        self._api_base_url = api_base_url or config.api_base_url

    def _new_token(self) -> Token:
        raise CredentialsError(
            "The CARTO access token given to CartoAuth has expired (or had no expiration) "
            "and this object cannot get a new one: sign in to CARTO again."
        )

    def api_base_url(self) -> str | None:
        return self._api_base_url

    def describe(self) -> list[str]:
        return self._parts(self._api_base_url)
