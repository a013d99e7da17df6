"""Endpoints and client settings of the CARTO identity provider and APIs.

The defaults are CARTO's real values (the ones carto-auth hard-codes); every one
can be overridden with an environment variable (see ``ENV_VARS``), which is how
tests and the demo point the package at the local sandbox.
"""

from __future__ import annotations

import ipaddress
import math
import os
import string
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .errors import ConfigError

DEFAULT_AUTH_URL = "https://auth.carto.com/authorize"
DEFAULT_TOKEN_URL = "https://auth.carto.com/oauth/token"  # noqa: S105 - a URL
DEFAULT_AUDIENCE = "carto-cloud-native-api"
DEFAULT_CLIENT_ID = "0dxb8HR3ATXCxJiPOJVHsLoHoAtbRX6u"
DEFAULT_REDIRECT_URI = "http://localhost:10000/callback/"
DEFAULT_ACCESS_CODE_REDIRECT_URI = "https://app.carto.com/auth/token"
DEFAULT_ACCOUNTS_URL = "https://accounts.app.carto.com/accounts"
DEFAULT_TENANT_CONFIG_URL_TEMPLATE = "https://{tenant_domain}/config.yaml"
DEFAULT_HTTP_TIMEOUT = 30.0
DEFAULT_SIGNIN_TIMEOUT = 300.0


class EnvVar(NamedTuple):
    """One environment variable that overrides one ``CartoConfig`` field."""

    name: str
    field: str
    description: str


#: Every environment variable ``CartoConfig.from_env`` reads. The README's
#: configuration table is checked against this tuple by a test.
ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("CARTO_AUTH_URL", "auth_url", "OAuth authorization endpoint."),
    EnvVar("CARTO_TOKEN_URL", "token_url", "OAuth token endpoint (also used for M2M)."),
    EnvVar("CARTO_AUDIENCE", "audience", "`audience` parameter sent to both endpoints."),
    EnvVar("CARTO_CLIENT_ID", "client_id", "Public OAuth client used for browser sign-in."),
    EnvVar("CARTO_REDIRECT_URI", "redirect_uri", "Redirect URI for sign-in on this machine."),
    EnvVar(
        "CARTO_ACCESS_CODE_URL",
        "access_code_redirect_uri",
        "Redirect URI of the page that shows an access code to paste (remote sign-in).",
    ),
    EnvVar("CARTO_ACCOUNTS_URL", "accounts_url", "Accounts endpoint used to find the tenant."),
    EnvVar(
        "CARTO_TENANT_CONFIG_URL_TEMPLATE",
        "tenant_config_url_template",
        "URL of a tenant's config.yaml; must contain `{tenant_domain}`.",
    ),
    EnvVar(
        "CARTO_API_BASE_URL",
        "api_base_url",
        "API Base URL of the account; unset means discover it after sign-in.",
    ),
    EnvVar("CARTO_ORGANIZATION", "organization", "SSO organization sent as `organization`."),
    EnvVar("CARTO_HTTP_TIMEOUT", "http_timeout", "Timeout in seconds of every HTTP request."),
    EnvVar(
        "CARTO_SIGNIN_TIMEOUT",
        "signin_timeout",
        "Seconds a kernel waits for a sign-in (lab, browser or pasted code).",
    ),
)

_URL_FIELDS = frozenset(
    {"auth_url", "token_url", "redirect_uri", "access_code_redirect_uri", "accounts_url"}
)
_TEXT_FIELDS = frozenset({"audience", "client_id"})

_LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``: the hosts plain http is allowed for."""
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Say what is wrong with ``url`` as a CARTO endpoint, or ``None`` if it is fine.

    A valid URL is absolute http(s) with a host and no user info; plain http is
    accepted only for loopback hosts.
    """
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an https:// URL"
    if not parts.hostname:
        return "has no host name"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return (
            "must use https:// (plain http:// is only allowed for localhost, 127.0.0.0/8 and ::1)"
        )
    return None


def _describe(label: str, problem: str, value: str) -> str:
    shown = "" if "user name or password" in problem else f": {value!r}"
    return f"{label} {problem}{shown}."


def _check_url(label: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{label} must be a string URL, not {type(value).__name__}.")
    value = value.strip()
    problem = url_problem(value)
    if problem:
        raise ConfigError(_describe(label, problem, value))
    return value


def _check_template(label: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{label} must be a string, not {type(value).__name__}.")
    value = value.strip()
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError:
        names = set()
    if names != {"tenant_domain"}:
        raise ConfigError(
            f"{label} must contain {{tenant_domain}} and no other placeholder: {value!r}."
        )
    problem = url_problem(value.replace("{tenant_domain}", "localhost"))
    if problem:
        raise ConfigError(_describe(label, problem, value))
    return value


def _check_text(label: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{label} must be a non-empty string.")
    return value.strip()


def _check_timeout(label: str, value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(
                f"{label} must be a number of seconds, such as 30: {value!r}."
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{label} must be a number of seconds, not {type(value).__name__}.")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{label} must be a positive number of seconds: {value!r}.")
    return float(value)


def _check_field(name: str, label: str, value: Any) -> Any:
    if name in _URL_FIELDS:
        return _check_url(label, value)
    if name in _TEXT_FIELDS:
        return _check_text(label, value)
    if name == "tenant_config_url_template":
        return _check_template(label, value)
    if name == "api_base_url":
        return None if value is None else _check_url(label, value).rstrip("/")
    if name == "organization":
        return None if value is None else _check_text(label, value)
    if name in ("http_timeout", "signin_timeout"):
        return _check_timeout(label, value)
    raise AssertionError(f"unknown CartoConfig field {name}")  # pragma: no cover


@dataclass(frozen=True)
class CartoConfig:
    """Where CARTO is and how to talk to it. Defaults are CARTO's production values.

    Fields are validated on construction (``ConfigError`` naming the field);
    ``from_env`` reads the overrides listed in ``ENV_VARS``.
    """

    auth_url: str = DEFAULT_AUTH_URL
    token_url: str = DEFAULT_TOKEN_URL
    audience: str = DEFAULT_AUDIENCE
    client_id: str = DEFAULT_CLIENT_ID
    redirect_uri: str = DEFAULT_REDIRECT_URI
    access_code_redirect_uri: str = DEFAULT_ACCESS_CODE_REDIRECT_URI
    accounts_url: str = DEFAULT_ACCOUNTS_URL
    tenant_config_url_template: str = DEFAULT_TENANT_CONFIG_URL_TEMPLATE
    #: API Base URL of the account; ``None`` means discover it from the accounts endpoint.
    api_base_url: str | None = None
    #: SSO organization (carto-auth's ``org``); ``None`` for none.
    organization: str | None = None
    #: Timeout in seconds of every HTTP request.
    http_timeout: float = DEFAULT_HTTP_TIMEOUT
    #: How long a kernel waits for an interactive sign-in, in seconds.
    signin_timeout: float = DEFAULT_SIGNIN_TIMEOUT

    def __post_init__(self) -> None:
        for f in fields(self):
            value = _check_field(f.name, f"CartoConfig.{f.name}", getattr(self, f.name))
            object.__setattr__(self, f.name, value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CartoConfig:
        """Defaults overridden by the environment variables of ``ENV_VARS``.

        An empty (or all-blank) variable counts as unset. A bad value raises
        ``ConfigError`` naming the variable.

        From ``os.environ`` the config is built and validated once per set of
        values of those variables: every ``CartoAuth.from_oauth()`` asks for it,
        and checking six URLs each time was most of that call. A changed variable
        gives a new config; a config is immutable, so sharing one is safe.
        """
        global _env_config
        if environ is None and cls is CartoConfig:
            key = _env_values()
            cached = _env_config  # one read of an immutable pair: safe without a lock
            if cached is not None and cached[0] == key:
                return cached[1]
            config = cls._read(os.environ)
            _env_config = (key, config)
            return config
        return cls._read(os.environ if environ is None else environ)

    @classmethod
    def _read(cls, env: Mapping[str, str]) -> CartoConfig:
        values: dict[str, Any] = {}
        for var in ENV_VARS:
            raw = env.get(var.name, "")
            if raw.strip():
                values[var.field] = _check_field(var.field, var.name, raw)
        return cls(**values)


_ENV_NAMES = tuple(var.name for var in ENV_VARS)
#: The same names as keys of ``os.environ._data``, CPython's dict of the encoded
#: environment (bytes on POSIX, upper-case str on Windows), which ``os.environ``
#: keeps in step with every change made through it.
_ENCODED_NAMES = tuple(map(os.environ.encodekey, _ENV_NAMES))
#: ``(values of ENV_VARS, the config built from them)`` of the last ``from_env()``.
_env_config: tuple[tuple[Any, ...], CartoConfig] | None = None


def _env_values() -> tuple[Any, ...]:
    """The raw values of ``ENV_VARS`` in ``os.environ`` (``None`` for unset), cheaply:
    twelve ``os.environ.get`` calls cost more than the rest of ``from_oauth()``."""
    environ = os.environ
    data = getattr(environ, "_data", None)
    if type(environ) is type(_OS_ENVIRON) and isinstance(data, dict):
        return tuple(map(data.get, _ENCODED_NAMES))
    return tuple(map(environ.get, _ENV_NAMES))  # os.environ replaced by a plain mapping


_OS_ENVIRON = os.environ

#: A CARTO access token in the kernel's environment: when set, ``CartoAuth.from_oauth()``
#: and the ``%carto`` magics use it before JupyterLab's session, as CARTO's CLI does
#: (for CI and scheduled jobs). Not a ``CartoConfig`` field: a config is shown in reprs.
API_TOKEN_VAR = "CARTO_API_TOKEN"  # noqa: S105 - a variable name
_API_TOKEN_KEY = os.environ.encodekey(API_TOKEN_VAR)
#: ``os.environ``'s dict of encoded values, which every change made through it updates
#: in place (``None`` if this Python has none): asking it is one dict lookup.
_OS_DATA = getattr(os.environ, "_data", None)
if not isinstance(_OS_DATA, dict):  # pragma: no cover - not CPython's os.environ
    _OS_DATA = None


def env_api_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The token of ``CARTO_API_TOKEN`` (``None`` when unset or blank); ``ConfigError``
    naming the variable, never quoting it, when it cannot be one token."""
    if environ is None:
        # Every from_oauth() asks: unset, as it mostly is, costs one dict lookup.
        if _OS_DATA is not None and os.environ is _OS_ENVIRON and _API_TOKEN_KEY not in _OS_DATA:
            return None
        environ = os.environ
    value = environ.get(API_TOKEN_VAR, "").strip()
    if not value:
        return None
    if value.lower().startswith("bearer "):
        raise ConfigError(
            f"{API_TOKEN_VAR} must be the access token alone, without 'Bearer ': set it to "
            "the token only, then restart the kernel."
        )
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ConfigError(
            f"{API_TOKEN_VAR} must be one CARTO access token, without spaces or control "
            "characters (its value is not shown here). Set it to the token only, or unset it "
            "to use JupyterLab's session, then restart the kernel."
        )
    return value
