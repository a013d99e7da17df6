"""``CartoAuth``: carto-auth's public API, with owner-only caching and correct expiry.

Differences from carto-auth that users may notice: tokens are cached per
account (not in one shared file) under ``~/.cache/jupyterlab-carto-auth`` with
owner-only permissions; expiry is computed in UTC; an expired M2M token is
fetched again a minute before it expires; errors say what to do.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from . import _http
from .cache import CacheKey, TokenCache
from .config import CartoConfig, url_problem
from .errors import CredentialsError, MissingDependencyError, ResponseError
from .m2m import M2MCredentials, check_credentials, fetch_m2m_token, load_credentials
from .tokens import DEFAULT_MARGIN, Token

MODES = ("oauth", "m2m")

_DW_EXTRA_MESSAGE = (
    "get_carto_dw_client() needs the 'carto-dw' extra: "
    "pip install 'jupyterlab-carto-auth[carto-dw]'"
)


class CartoAuth:
    """CARTO authentication: gives a valid access token and the account's API base URL.

    Same constructor as carto-auth's ``CartoAuth``; most code uses a
    classmethod instead (``from_m2m``).

    Args:
        mode: ``"m2m"`` (client credentials) or ``"oauth"`` (a user's token).
        api_base_url: API Base URL of the CARTO account.
        access_token: a token already obtained from CARTO.
        expiration: when ``access_token`` expires, UTC epoch seconds.
        client_id: Client ID of an M2M application (``mode="m2m"``).
        client_secret: Client Secret of that application (``mode="m2m"``).
        cache_filepath: where to cache the token (default: one owner-only file
            per account under ``~/.cache/jupyterlab-carto-auth``).
        use_cache: read and write the token cache.
        open_browser: whether a browser sign-in may open a browser.
        org: SSO organization (default: the ``CARTO_ORGANIZATION`` setting).
        config: endpoints and settings (default: ``CartoConfig.from_env()``).
    """

    def __init__(
        self,
        mode: str,
        api_base_url: str | None = None,
        access_token: str | None = None,
        expiration: float | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        cache_filepath: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        open_browser: bool = True,
        org: str | None = None,
        *,
        config: CartoConfig | None = None,
    ) -> None:
        if mode not in MODES:
            raise CredentialsError(f"Mode {mode!r} is not supported. Available modes: oauth, m2m.")
        self._mode = mode
        self._config = config if config is not None else CartoConfig.from_env()
        self._org = org if org is not None else self._config.organization
        self._open_browser = open_browser
        self._lock = threading.Lock()
        self._credentials: M2MCredentials | None = None
        self._token: Token | None = None
        self._cache: TokenCache | None = None

        if mode == "m2m":
            self._credentials = check_credentials(
                {
                    "api_base_url": api_base_url,
                    "client_id": client_id,
                    "client_secret": client_secret,
                },
                "CartoAuth(mode='m2m')",
            )
            self._api_base_url: str | None = self._credentials.api_base_url
            key = CacheKey(
                "m2m",
                self._config.token_url,
                self._api_base_url,
                self._org,
                self._credentials.client_id,
            )
            if use_cache:
                self._cache = TokenCache(key, cache_filepath)
        else:
            self._api_base_url = _checked_api_base_url(api_base_url) or self._config.api_base_url

        if access_token is not None:
            self._token = _given_token(access_token, expiration)
            if self._cache is not None and self._token.is_valid(0):
                self._cache.save(self._token)

    @classmethod
    def from_m2m(
        cls,
        filepath: str | os.PathLike[str],
        cache_filepath: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        *,
        config: CartoConfig | None = None,
    ) -> CartoAuth:
        """Sign in with a CARTO credentials file (an M2M application's client credentials).

        Gets a token right away (from the cache when it holds a valid one), so a
        wrong file or secret fails here with a ``CredentialsError`` saying what to fix.
        """
        creds = load_credentials(filepath)
        auth = cls(
            "m2m",
            api_base_url=creds.api_base_url,
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            cache_filepath=cache_filepath,
            use_cache=use_cache,
            config=config,
        )
        auth._credentials = creds  # same values; its source names the file in messages
        auth.get_access_token()
        return auth

    def get_api_base_url(self) -> str | None:
        """The API Base URL of the account (from the credentials file for M2M)."""
        return self._api_base_url

    def get_access_token(self) -> str:
        """An access token with at least a minute left (unless CARTO issues shorter ones)."""
        with self._lock:
            token = self._token
            if token is None or not token.is_valid(DEFAULT_MARGIN):
                token = self._new_token()
                self._token = token
            return token.access_token

    def get_carto_dw_credentials(self) -> tuple[str, str]:
        """The CARTO Data Warehouse project id and a token for it: ``(project_id, token)``."""
        base = self.get_api_base_url()
        if not base:
            raise CredentialsError(
                "The API Base URL of the CARTO account is unknown. Set CARTO_API_BASE_URL "
                "or pass api_base_url."
            )
        url = f"{base}/v3/connections/carto-dw/token"
        hint = (
            f"api_base_url in {self._credentials.source}"
            if self._credentials is not None
            else "the API Base URL"
        )
        answer = _http.get_json(
            url,
            token=self.get_access_token(),
            timeout=self._config.http_timeout,
            what="The CARTO API",
            hint=hint,
        )
        project = answer.get("projectId") if isinstance(answer, dict) else None
        dw_token = answer.get("token") if isinstance(answer, dict) else None
        if not (isinstance(project, str) and project and isinstance(dw_token, str) and dw_token):
            raise ResponseError(
                f"The CARTO API at {_http.display_url(url)} answered without a projectId and "
                f"token. Check {hint}, and that your organization has the CARTO Data Warehouse.",
                url=_http.display_url(url),
            )
        return project, dw_token

    def get_carto_dw_client(self) -> Any:
        """A ``google.cloud.bigquery.Client`` for the CARTO Data Warehouse.

        Needs the ``carto-dw`` extra (google-cloud-bigquery).
        """
        try:
            from google.cloud import bigquery
            from google.oauth2.credentials import Credentials
        except ImportError as exc:
            raise MissingDependencyError(_DW_EXTRA_MESSAGE) from exc
        project, dw_token = self.get_carto_dw_credentials()
        return bigquery.Client(project=project, credentials=Credentials(dw_token))

    def __repr__(self) -> str:
        parts = [f"mode={self._mode!r}", f"api_base_url={self._api_base_url!r}"]
        if self._credentials is not None:
            parts.append(f"client_id={self._credentials.client_id!r}")
        if self._org:
            parts.append(f"org={self._org!r}")
        token = self._token
        if token is None:
            state = "none yet"
        elif token.expires_in() > 0:
            state = f"valid for {token.expires_in():.0f} s"
        else:
            state = "expired"
        parts.append(f"token=<{state}>")
        return f"CartoAuth({', '.join(parts)})"

    def _new_token(self) -> Token:
        """A fresh token: from the cache when it has a valid one, else from CARTO."""
        if self._cache is not None:
            cached = self._cache.load()
            if cached is not None and cached.is_valid(DEFAULT_MARGIN):
                return cached
        if self._credentials is None:
            raise CredentialsError(
                "The CARTO access token given to CartoAuth has expired (or had no expiration) "
                "and this object cannot get a new one: sign in to CARTO again."
            )
        token = fetch_m2m_token(self._credentials, self._config)
        if self._cache is not None:
            self._cache.save(token)
        return token


def _checked_api_base_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CredentialsError(f"api_base_url must be a string, not {type(value).__name__}.")
    value = value.strip().rstrip("/")
    problem = url_problem(value)
    if problem:
        raise CredentialsError(f"api_base_url {problem}.")
    return value


def _given_token(access_token: Any, expiration: Any) -> Token:
    if not isinstance(access_token, str) or not access_token:
        raise CredentialsError("access_token must be a non-empty string.")
    if expiration is None:
        return Token(access_token, float("-inf"))  # unknown expiry: treated as expired
    if isinstance(expiration, bool) or not isinstance(expiration, (int, float)):
        raise CredentialsError(
            f"expiration must be UTC epoch seconds (a number), not {type(expiration).__name__}."
        )
    return Token(access_token, float(expiration))
