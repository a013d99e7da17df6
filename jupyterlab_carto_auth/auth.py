"""``CartoAuth``: carto-auth's public API, with owner-only caching and correct expiry.

Differences from carto-auth that users may notice: tokens are cached per
account (not in one shared file) under ``~/.cache/jupyterlab-carto-auth`` with
owner-only permissions; expiry is computed in UTC; an expired M2M token is
fetched again a minute before it expires; errors say what to do.

``from_oauth()`` takes the session of JupyterLab when the lab extension is
attached to this kernel (no browser round trip, no token on disk; the lab keeps
it fresh), and otherwise signs in from the kernel as carto-auth did, with PKCE,
``state``, a bounded wait and refresh tokens (see ``fallback_signin``).

``CartoAuth`` is a facade: where the tokens come from is one object of
``sources`` (the lab's session, a sign-in in the kernel, M2M, a given token).
"""

from __future__ import annotations

import time

from .errors import CredentialsError

# Only what defining the class needs is imported here: ``from jupyterlab_carto_auth
# import CartoAuth`` must stay cheap (bench figures 1b and 2), and a lab session
# needs neither the HTTP stack, the token cache nor M2M. The rest is imported where
# it is used (``_sources()`` for the sources); ``typing`` not at all.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from collections.abc import Callable
    from typing import Any, TypeVar

    from .config import CartoConfig
    from .secret import Token
    from .sources import TokenSource, steps

    _T = TypeVar("_T")

MODES = ("oauth", "m2m")

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
        sources = _sources()
        self._config = config if config is not None else _config_from_env()
        org = org if org is not None else self._config.organization
        self._source: TokenSource
        if mode == "m2m":
            from .m2m import check_credentials

            credentials = check_credentials(
                {
                    "api_base_url": api_base_url,
                    "client_id": client_id,
                    "client_secret": client_secret,
                },
                "CartoAuth(mode='m2m')",
            )
            token = _given_token(access_token, expiration)
            self._source = sources.M2MSource(
                credentials,
                self._config,
                org,
                cache_filepath=cache_filepath,
                use_cache=use_cache,
                token=token,
            )
        else:
            base = _checked_api_base_url(api_base_url)
            self._source = sources.GivenToken(
                self._config, org, base, _given_token(access_token, expiration)
            )
        self._fresh_in = self._source.fresh_holder()

    @classmethod
    def _over(cls, source: TokenSource, config: CartoConfig) -> CartoAuth:
        """A ``CartoAuth`` whose tokens come from ``source``."""
        auth = cls.__new__(cls)
        auth._config = config
        auth._source = source
        auth._fresh_in = source.fresh_holder()
        return auth

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
        from .m2m import load_credentials

        creds = load_credentials(filepath)  # its source names the file in messages
        config = config if config is not None else _config_from_env()
        source = _sources().M2MSource(
            creds, config, config.organization, cache_filepath=cache_filepath, use_cache=use_cache
        )
        auth = cls._over(source, config)
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

        ``CARTO_API_TOKEN`` in the kernel's environment comes first, as in CARTO's
        CLI (CI, scheduled jobs): its token is used as it is (``source ==
        "environment"``) and JupyterLab is not asked.

        In a notebook whose JupyterLab has jupyterlab-carto-auth, this returns at
        once with the lab's session (nothing is written to disk; the lab keeps the
        token fresh). Signed out there, it asks JupyterLab to show the sign-in
        and waits for it (``CARTO_SIGNIN_TIMEOUT``, default 300 s), and the cell
        goes on when you have signed in. With ``org`` and a lab signed in to
        several accounts (profiles), the lab gives this notebook the profile of
        that organization, offering to sign in to it when it has none.

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
                ``CARTO_API_BASE_URL`` setting, else discovered after sign-in; with
                ``CARTO_API_TOKEN``: ``CARTO_API_BASE_URL``, else discovered).
            org: SSO organization (default: the ``CARTO_ORGANIZATION`` setting).
            config: endpoints and settings (default: ``CartoConfig.from_env()``).
        """
        auth = cls._from_environment(config, org, api_base_url)
        if auth is None:
            auth = cls._lab_at_once(config, org, api_base_url)
        if auth is not None:
            return auth
        return _sources().steps.run(
            cls._oauth(config, org, api_base_url, cache_filepath, use_cache, open_browser)
        )

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
        auth = cls._from_environment(config, org, api_base_url)
        if auth is None:
            auth = cls._lab_at_once(config, org, api_base_url)
        if auth is not None:
            return auth
        return await _sources().steps.run_async(
            cls._oauth(config, org, api_base_url, cache_filepath, use_cache, open_browser)
        )

    @classmethod
    def _from_environment(
        cls, config: CartoConfig | None, org: str | None, api_base_url: str | None
    ) -> CartoAuth | None:
        """``CARTO_API_TOKEN`` of the kernel's environment, which comes before JupyterLab's
        session and the kernel's sign-in (as in CARTO's CLI); ``None`` when it is unset."""
        token = (_env_token_reader or _env_api_token)()
        if token is None:
            return None
        config = config if config is not None else _config_from_env()
        org = org if org is not None else config.organization
        _kernel().ensure_attached()  # still attached: %carto status says the lab is ignored
        from .sources.environment import EnvironmentToken

        base = _checked_api_base_url(api_base_url)
        return cls._over(EnvironmentToken(config, org, base, token), config)

    @classmethod
    def _lab_at_once(
        cls, config: CartoConfig | None, org: str | None, api_base_url: str | None
    ) -> CartoAuth | None:
        """``from_oauth``'s answer when the lab's session is valid now (the common cell),
        without the decision machinery of ``_oauth``; ``None`` otherwise. The same checks
        in the same order as ``_oauth``: a valid session implies ``lab_present``."""
        kernel = _kernel()
        config = config if config is not None else _config_from_env()
        org = org if org is not None else config.organization
        kernel.ensure_attached()
        if kernel.SESSION.valid_token() is None:
            return None
        if org is not None:
            # With a lab that knows profiles, a session of another organization is not
            # this one's: ``_oauth`` asks the lab for the profile of ``org``.
            _, held_org, speaks_profiles = kernel.SESSION.pinned
            if speaks_profiles and held_org != org:
                return None
        base = _checked_api_base_url(api_base_url)
        return cls._over(_sources().LabSource(config, org, base), config)

    @classmethod
    def _oauth(
        cls,
        config: CartoConfig | None,
        org: str | None,
        api_base_url: str | None,
        cache_filepath: str | os.PathLike[str] | None,
        use_cache: bool,
        open_browser: bool,
    ) -> steps.Decision[CartoAuth]:
        """``from_oauth``'s choice of source, for the sync and the async driver."""
        kernel = _kernel()
        sources = _sources()
        steps = sources.steps
        config = config if config is not None else _config_from_env()
        org = org if org is not None else config.organization
        kernel.ensure_attached()
        base = _checked_api_base_url(api_base_url)
        lab = sources.LabSource(config, org, base)
        if kernel.SESSION.lab_present:
            yield from lab.signed_in()
            return cls._over(lab, config)
        signin = sources.KernelSignIn(
            config,
            org,
            base,
            cache_filepath=cache_filepath,
            use_cache=use_cache,
            open_browser=open_browser,
        )
        auth = cls._over(signin, config)
        if (yield steps.Blocking(signin.load_cached)):
            return auth
        if (yield steps.ProbeLab()):
            yield from lab.signed_in()
            return cls._over(lab, config)
        yield steps.Blocking(lambda: auth._ask(lambda source: source.sign_in()))
        return auth

    @property
    def source(self) -> str:
        """Where the tokens come from: ``lab``, ``kernel``, ``m2m``, ``token`` or
        ``environment`` (``CARTO_API_TOKEN``)."""
        return self._source.name

    def _ask(self, ask: Callable[[TokenSource], _T]) -> _T:
        """``ask(source)``; when a kernel-side sign-in got JupyterLab's session instead,
        the lab's source serves this object from then on (the one place it changes)."""
        try:
            return ask(self._source)
        except _sources().SourceChanged as change:  # evaluated only when ask() raised
            self._source = change.source
            self._fresh_in = change.source.fresh_holder()
            return ask(self._source)

    # --- tokens and URLs ---------------------------------------------------------------

    def get_api_base_url(self) -> str | None:
        """The API Base URL of the account.

        M2M: from the credentials file. OAuth: the ``api_base_url`` argument, else
        JupyterLab's, else the ``CARTO_API_BASE_URL`` setting, else discovered from
        CARTO's accounts endpoint with the token (once).
        """
        return self._ask(lambda source: source.api_base_url())

    def get_access_token(self) -> str:
        """An access token with at least a minute left (unless CARTO issues shorter ones).

        With JupyterLab's session this never blocks while the token pushed by the
        lab is fresh; near expiry it asks the lab, which refreshes and answers.
        """
        # The hot path: one attribute read and one comparison. The snapshot is an
        # immutable (token, expires_at, margin) tuple that its source replaces whole
        # (never mutates) whenever its token changes, so reading it without a lock
        # is safe in CPython: a reader gets the old or the new tuple, and either was
        # valid when it was stored; the check is the sources' own validity check.
        fresh = self._fresh_in.fresh
        if fresh is not None and fresh[1] - time.time() > fresh[2]:
            return fresh[0]
        return self._ask(_access_token)

    def get_carto_dw_credentials(self) -> tuple[str, str]:
        """The CARTO Data Warehouse project id and a token for it: ``(project_id, token)``."""
        base = self.get_api_base_url()
        if not base:
            raise CredentialsError(
                "The API Base URL of the CARTO account is unknown. Set CARTO_API_BASE_URL "
                "or pass api_base_url."
            )
        from . import _http
        from .errors import ResponseError

        url = f"{base}/v3/connections/carto-dw/token"
        hint = self._source.api_base_url_hint
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
            from .errors import MissingDependencyError

            raise MissingDependencyError(_DW_EXTRA_MESSAGE) from exc
        project, dw_token = self.get_carto_dw_credentials()
        return bigquery.Client(project=project, credentials=Credentials(dw_token))

    def __repr__(self) -> str:
        return f"CartoAuth({', '.join(self._source.describe())})"


def _checked_api_base_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CredentialsError(f"api_base_url must be a string, not {type(value).__name__}.")
    value = value.strip().rstrip("/")
    from .config import url_problem

    problem = url_problem(value)
    if problem:
        raise CredentialsError(f"api_base_url {problem}.")
    return value


def _given_token(access_token: Any, expiration: Any) -> Token | None:
    from .secret import Token

    if access_token is None:
        return None
    if not isinstance(access_token, str) or not access_token:
        raise CredentialsError("access_token must be a non-empty string.")
    if expiration is None:
        return Token(access_token, float("-inf"))  # unknown expiry: treated as expired
    if isinstance(expiration, bool) or not isinstance(expiration, (int, float)):
        raise CredentialsError(
            f"expiration must be UTC epoch seconds (a number), not {type(expiration).__name__}."
        )
    return Token(access_token, float(expiration))


def _access_token(source: TokenSource) -> str:
    return source.access_token()


_sources_package: Any = None
_kernel_module: Any = None


def _sources() -> Any:
    """The ``sources`` package: imported on first use, then a global read."""
    global _sources_package
    if _sources_package is None:
        from . import sources

        _sources_package = sources
    return _sources_package


def _kernel() -> Any:
    """The ``kernel`` module: imported once, then a global read (``from . import``
    runs importlib's Python code on every call)."""
    global _kernel_module
    if _kernel_module is None:
        from . import kernel

        _kernel_module = kernel
    return _kernel_module


_config_class: Any = None
_env_token_reader: Any = None


def _env_api_token() -> str | None:
    """``config.env_api_token()``, the function imported once (then ``_env_token_reader``)."""
    global _env_token_reader
    from .config import env_api_token

    _env_token_reader = env_api_token
    return env_api_token()


def _config_from_env() -> CartoConfig:
    """``CartoConfig.from_env()`` (cached there), the class imported once."""
    global _config_class
    if _config_class is None:
        from .config import CartoConfig

        _config_class = CartoConfig
    return _config_class.from_env()
