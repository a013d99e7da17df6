"""``CartoAuth``: carto-auth's public API, with owner-only caching and correct expiry.

Differences from carto-auth that users may notice: tokens are cached per
account (not in one shared file) under ``~/.cache/jupyterlab-carto-auth`` with
owner-only permissions; expiry is computed in UTC; an expired M2M token is
fetched again a minute before it expires; errors say what to do.

``from_oauth()`` takes the session of JupyterLab when the lab extension is
attached to this kernel (no browser round trip, no token on disk; the lab keeps
it fresh), and otherwise signs in from the kernel as carto-auth did, with PKCE,
``state``, a bounded wait and refresh tokens (see ``oauth``).
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any

from . import _http
from .cache import CacheKey, TokenCache
from .config import CartoConfig, url_problem
from .errors import (
    CredentialsError,
    LabError,
    MissingDependencyError,
    NetworkError,
    ResponseError,
)
from .m2m import M2MCredentials, check_credentials, fetch_m2m_token, load_credentials
from .secret import DEFAULT_MARGIN, Secret, Token

MODES = ("oauth", "m2m")

#: Where a CartoAuth gets its tokens: JupyterLab's session, a sign-in done by this
#: kernel, an M2M application, or only the token given to the constructor.
SOURCES = ("lab", "kernel", "m2m", "token")

SIGNED_OUT_IN_LAB = (
    "You signed out of CARTO in JupyterLab. Click Sign in to CARTO and run "
    "CartoAuth.from_oauth() again."
)
CANCELLED_IN_LAB = (
    "Sign-in to CARTO was cancelled in JupyterLab. Click Sign in to CARTO, then run this "
    "cell again."
)

_DW_EXTRA_MESSAGE = (
    "get_carto_dw_client() needs the 'carto-dw' extra: "
    "pip install 'jupyterlab-carto-auth[carto-dw]'"
)


class CartoAuth:
    """CARTO authentication: gives a valid access token and the account's API base URL.

    Same constructor as carto-auth's ``CartoAuth``; most code uses a
    classmethod instead: ``from_oauth`` (a user: JupyterLab's session, or a
    sign-in from the kernel), ``await from_oauth_async()`` in a cell that
    awaits, or ``from_m2m`` (an M2M application's credentials file).

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
        self._source = "m2m" if mode == "m2m" else "token"
        self._refresh_token: Secret | None = None
        self._lifetime: float | None = None  # expires_in of the token CARTO issued last
        self._api_base_url_arg = _checked_api_base_url(api_base_url) if mode == "oauth" else None
        self._discovered_api_base_url: str | None = None

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

    # --- OAuth: JupyterLab's session, or a sign-in from this kernel --------------------

    @classmethod
    def from_oauth(
        cls,
        cache_filepath: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        open_browser: bool = True,
        api_base_url: str | None = None,
        org: str | None = None,
        *,
        config: CartoConfig | None = None,
    ) -> CartoAuth:
        """Sign in as a CARTO user.

        In a notebook whose JupyterLab has jupyterlab-carto-auth, this returns at
        once with the lab's session (nothing is written to disk; the lab keeps the
        token fresh). Signed out there, it asks JupyterLab to show the sign-in
        and waits for it (``CARTO_SIGNIN_TIMEOUT``, default 300 s), and the cell
        goes on when you have signed in.

        Anywhere else it signs in from the kernel, as carto-auth did: a cached
        token if valid (renewed with its refresh token when possible), else the
        browser with a local redirect when one can open here, else a link to
        open and an access code to paste. Without any way to ask for a code
        (papermill, a script without a terminal) it fails at once, saying how
        to authenticate instead.

        Args:
            cache_filepath: where the kernel-side sign-in caches its tokens
                (default: one owner-only file per account and organization).
            use_cache: read and write that cache.
            open_browser: may the kernel-side sign-in open a browser.
            api_base_url: API Base URL of the account (default: JupyterLab's, the
                ``CARTO_API_BASE_URL`` setting, else discovered after sign-in).
            org: SSO organization (default: the ``CARTO_ORGANIZATION`` setting).
            config: endpoints and settings (default: ``CartoConfig.from_env()``).
        """
        from . import kernel as bridge

        config = config if config is not None else CartoConfig.from_env()
        bridge.ensure_attached()
        if bridge.SESSION.lab_present:
            return cls._from_lab(config, org, api_base_url)
        auth = cls._kernel_side(config, org, api_base_url, cache_filepath, use_cache, open_browser)
        if auth._use_cached():
            return auth
        if bridge.probe_lab():
            return cls._from_lab(config, org, api_base_url)
        auth._sign_in()
        return auth

    @classmethod
    async def from_oauth_async(
        cls,
        cache_filepath: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        open_browser: bool = True,
        api_base_url: str | None = None,
        org: str | None = None,
        *,
        config: CartoConfig | None = None,
    ) -> CartoAuth:
        """``await CartoAuth.from_oauth_async()``: ``from_oauth`` for a cell that awaits.

        While a cell awaits, JupyterLab's answers arrive as comm messages, so a
        sign-in the lab shows is waited for without the stdin channel. Without
        JupyterLab, the kernel-side sign-in runs in a thread.
        """
        import asyncio

        from . import kernel as bridge

        config = config if config is not None else CartoConfig.from_env()
        bridge.ensure_attached()
        if bridge.SESSION.lab_present:
            return await cls._from_lab_async(config, org, api_base_url)
        auth = cls._kernel_side(config, org, api_base_url, cache_filepath, use_cache, open_browser)
        if await asyncio.to_thread(auth._use_cached):
            return auth
        if await bridge.probe_lab_async():
            return await cls._from_lab_async(config, org, api_base_url)
        await asyncio.to_thread(auth._sign_in)
        return auth

    @classmethod
    def _lab_auth(cls, config: CartoConfig, org: str | None, api_base_url: str | None) -> CartoAuth:
        auth = cls("oauth", api_base_url=api_base_url, use_cache=False, org=org, config=config)
        auth._source = "lab"
        return auth

    @classmethod
    def _from_lab(cls, config: CartoConfig, org: str | None, api_base_url: str | None) -> CartoAuth:
        from . import kernel as bridge

        auth = cls._lab_auth(config, org, api_base_url)
        info = bridge.SESSION.current
        if info is not None and info.is_valid():
            return auth
        if info is not None and info.signed_in:  # about to expire: the lab refreshes
            try:
                answer = bridge.request_session(min_ttl=DEFAULT_MARGIN, org=auth._org)
            except LabError as exc:
                raise _lab_failure(exc, bridge.LAB_REPLY_TIMEOUT) from None
            if answer["state"] == "signed_in":
                return auth
        try:
            answer = bridge.request_session(
                min_ttl=DEFAULT_MARGIN,
                interactive=True,
                org=auth._org,
                timeout=config.signin_timeout,
            )
        except LabError as exc:
            raise _lab_failure(exc, config.signin_timeout) from None
        _require_signed_in(answer)
        return auth

    @classmethod
    async def _from_lab_async(
        cls, config: CartoConfig, org: str | None, api_base_url: str | None
    ) -> CartoAuth:
        from . import kernel as bridge

        auth = cls._lab_auth(config, org, api_base_url)
        info = bridge.SESSION.current
        if info is not None and info.is_valid():
            return auth
        if info is not None and info.signed_in:  # about to expire: the lab refreshes
            try:
                answer = await bridge.request_session_async(min_ttl=DEFAULT_MARGIN, org=auth._org)
            except LabError as exc:
                raise _lab_failure(exc, bridge.LAB_REPLY_TIMEOUT) from None
            if answer["state"] == "signed_in":
                return auth
        try:
            answer = await bridge.request_session_async(
                min_ttl=DEFAULT_MARGIN,
                interactive=True,
                org=auth._org,
                timeout=config.signin_timeout,
            )
        except LabError as exc:
            raise _lab_failure(exc, config.signin_timeout) from None
        _require_signed_in(answer)
        return auth

    @classmethod
    def _kernel_side(
        cls,
        config: CartoConfig,
        org: str | None,
        api_base_url: str | None,
        cache_filepath: str | os.PathLike[str] | None,
        use_cache: bool,
        open_browser: bool,
    ) -> CartoAuth:
        auth = cls(
            "oauth",
            api_base_url=api_base_url,
            cache_filepath=cache_filepath,
            use_cache=False,
            open_browser=open_browser,
            org=org,
            config=config,
        )
        auth._source = "kernel"
        if use_cache:
            key = CacheKey(
                "oauth", config.token_url, auth._api_base_url, auth._org, config.client_id
            )
            auth._cache = TokenCache(key, cache_filepath)
        return auth

    @property
    def source(self) -> str:
        """Where the tokens come from: ``lab``, ``kernel``, ``m2m`` or ``token``."""
        return self._source

    # --- tokens and URLs ---------------------------------------------------------------

    def get_api_base_url(self) -> str | None:
        """The API Base URL of the account.

        M2M: from the credentials file. OAuth: the ``api_base_url`` argument, else
        JupyterLab's, else the ``CARTO_API_BASE_URL`` setting, else discovered from
        CARTO's accounts endpoint with the token (once).
        """
        if self._source == "lab":
            from . import kernel as bridge

            info = bridge.SESSION.current
            if self._api_base_url_arg:
                return self._api_base_url_arg
            if info is not None and info.signed_in and info.api_base_url:
                return info.api_base_url
        if self._api_base_url or self._source not in ("lab", "kernel"):
            return self._api_base_url
        if self._discovered_api_base_url is None:
            from .oauth import discover_api_base_url

            self._discovered_api_base_url = discover_api_base_url(
                self.get_access_token(), self._config
            )
            if self._source == "kernel" and self._cache is not None and self._token is not None:
                self._save()
        return self._discovered_api_base_url

    def get_access_token(self) -> str:
        """An access token with at least a minute left (unless CARTO issues shorter ones).

        With JupyterLab's session this never blocks while the token pushed by the
        lab is fresh; near expiry it asks the lab, which refreshes and answers.
        """
        if self._source == "lab":
            return self._lab_token()
        with self._lock:
            token = self._token
            if token is None or not token.is_valid(self._margin()):
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
        if self._source == "lab":
            return self._lab_repr()
        base = self._api_base_url or self._discovered_api_base_url
        parts = [f"mode={self._mode!r}", f"api_base_url={base!r}"]
        if self._source == "kernel":
            parts.insert(1, "source='kernel'")
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

    def _lab_repr(self) -> str:
        from . import kernel as bridge

        info = bridge.SESSION.current
        parts = ["mode='oauth'", "source='jupyterlab'"]
        if info is None or not info.signed_in:
            parts.append("signed out")
        else:
            parts.append(f"user={info.email!r}")
            if info.org or self._org:
                parts.append(f"org={info.org or self._org!r}")
            parts.append(f"api_base_url={self._api_base_url_arg or info.api_base_url!r}")
            left = info.expires_in()
            state = f"valid for {left:.0f} s" if left > 0 else "expired"
            parts.append(f"token=<{state}>")
        return f"CartoAuth({', '.join(parts)})"

    def _lab_token(self) -> str:
        """The lab's token; near expiry, ask the lab (which refreshes) for a fresh one."""
        from . import kernel as bridge

        if bridge.SESSION.signed_out_in_lab:
            raise CredentialsError(SIGNED_OUT_IN_LAB)
        info = bridge.SESSION.current
        if info is not None and info.is_valid():
            return info.access_token  # type: ignore[return-value]
        margin = info.margin() if info is not None else DEFAULT_MARGIN
        try:
            answer = bridge.request_session(min_ttl=math.ceil(margin), org=self._org)
        except LabError as exc:
            raise _lab_failure(exc, bridge.LAB_REPLY_TIMEOUT) from None
        fresh = bridge.SESSION.current
        if answer["state"] != "signed_in" or fresh is None or not fresh.signed_in:
            raise CredentialsError(SIGNED_OUT_IN_LAB)
        if fresh.expires_in() <= 0:
            raise CredentialsError(
                "JupyterLab has no valid CARTO token (it could not refresh it). Click Sign in "
                "to CARTO, then run this cell again."
            )
        return fresh.access_token  # type: ignore[return-value]

    def _margin(self) -> float:
        if self._lifetime is None:
            return DEFAULT_MARGIN
        return min(DEFAULT_MARGIN, self._lifetime / 4)

    def _use_cached(self) -> bool:
        """Take a valid token from the cache (renewing it with its refresh token if needed)."""
        if self._cache is None:
            return False
        entry = self._cache.load_entry()
        if entry is None:
            return False
        lifetime = entry.extras.get("lifetime")
        if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool) and lifetime > 0:
            self._lifetime = float(lifetime)
        found = entry.extras.get("api_base_url")
        if isinstance(found, str) and not url_problem(found):
            self._discovered_api_base_url = found
        self._refresh_token = Secret(entry.refresh_token) if entry.refresh_token else None
        if entry.token.is_valid(self._margin()):
            self._token = entry.token
            return True
        return self._try_refresh()

    def _try_refresh(self) -> bool:
        """Renew with the refresh token; ``False`` if there is none or CARTO refused it."""
        if self._refresh_token is None:
            return False
        from . import oauth

        try:
            result = oauth.refresh(self._config, self._refresh_token.value)
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
        if self._discovered_api_base_url:
            extras["api_base_url"] = self._discovered_api_base_url
        self._cache.save(
            self._token,
            refresh_token=self._refresh_token.value if self._refresh_token else None,
            extras=extras,
        )

    def _sign_in(self) -> None:
        """The kernel-side browser sign-in (local redirect or paste); bounded."""
        from . import kernel as bridge
        from . import oauth

        result = oauth.sign_in(
            self._config,
            org=self._org,
            open_browser=self._open_browser,
            timeout=self._config.signin_timeout,
        )
        if isinstance(result, dict):  # JupyterLab answered meanwhile: use its session
            self._source = "lab"
            if not bridge.SESSION.current or not bridge.SESSION.current.signed_in:
                raise CredentialsError(SIGNED_OUT_IN_LAB)
            return
        self._take(result)

    def _new_token(self) -> Token:
        """A fresh token: from the cache when it has a valid one, else from CARTO."""
        if self._source == "kernel":
            if self._use_cached() or self._try_refresh():
                assert self._token is not None
                return self._token
            self._sign_in()
            if self._source == "lab":
                return Token(self._lab_token(), float("inf"))
            assert self._token is not None
            return self._token
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


def _lab_failure(exc: LabError, timeout: float) -> LabError:
    """What to tell the user when JupyterLab could not provide a session."""
    from .kernel import LabNoAnswer

    if isinstance(exc, LabNoAnswer):
        message = (
            f"JupyterLab did not answer within {timeout:g} s. Click Sign in to CARTO in "
            "JupyterLab (status bar), then run this cell again."
        )
    elif exc.code == "cancelled":
        message = CANCELLED_IN_LAB
    elif exc.code == "timeout":
        message = (
            f"Nobody signed in to CARTO within {timeout:g} s. Click Sign in to CARTO in "
            "JupyterLab, then run this cell again."
        )
    elif exc.code == "network":
        message = (
            f"JupyterLab could not reach CARTO ({exc}). Check your network connection, then "
            "run this cell again."
        )
    elif exc.code == "denied":
        message = f"CARTO refused the sign-in ({exc}). Click Sign in to CARTO to try again."
    else:
        message = f"JupyterLab could not hand this kernel a CARTO session: {exc}"
    return LabError(exc.code, message)


def _require_signed_in(answer: dict) -> None:
    """The lab's answer to an interactive request must be a signed-in session."""
    if answer["state"] != "signed_in":
        raise CredentialsError(
            "You are not signed in to CARTO in JupyterLab. Click Sign in to CARTO, then run "
            "this cell again."
        )
