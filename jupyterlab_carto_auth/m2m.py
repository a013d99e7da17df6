"""Machine-to-machine (M2M) sign-in: a CARTO credentials file and the client credentials grant.

The client secret is read here, sent only to the configured token endpoint,
and never appears in a repr, a message or the token cache.
"""

from __future__ import annotations

import json
import math
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import _http
from .config import CartoConfig, url_problem
from .errors import CredentialsError, InsecureFileWarning, ResponseError, TokenRequestError
from .secret import Token

_WHERE = "the CARTO Workspace (Developers > Credentials)"
_FIELD_HINTS = {
    "api_base_url": f"Copy the API Base URL of your account from {_WHERE}.",
    "client_id": f"Copy the Client ID of your M2M application from {_WHERE}.",
    "client_secret": f"Copy the Client Secret of your M2M application from {_WHERE}.",
}
_FIELDS = tuple(_FIELD_HINTS)

#: OAuth error codes that mean "these client credentials are wrong" (Auth0 sends
#: ``access_denied`` for a wrong secret, RFC 6749 servers ``invalid_client``).
_BAD_CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client", "access_denied"})


@dataclass(frozen=True)
class M2MCredentials:
    """The content of a CARTO credentials file. ``source`` names where it came from."""

    api_base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    source: str = "the credentials given to CartoAuth"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, dict):
        return "a JSON object"
    return "a string"


def check_credentials(values: dict[str, object], source: str) -> M2MCredentials:
    """Validate the three fields; ``CredentialsError`` names ``source`` and the field."""
    cleaned: dict[str, str] = {}
    for name in _FIELDS:
        hint = _FIELD_HINTS[name]
        if values.get(name) is None:
            raise CredentialsError(f"{source}: field {name!r} is missing. {hint}")
        value = values[name]
        if not isinstance(value, str):
            raise CredentialsError(
                f"{source}: field {name!r} must be a string, not {_json_type(value)}. {hint}"
            )
        if not value.strip():
            raise CredentialsError(f"{source}: field {name!r} is empty. {hint}")
        cleaned[name] = value.strip()
    api_base_url = cleaned["api_base_url"].rstrip("/")
    problem = url_problem(api_base_url)
    if problem:
        shown = "" if "user name" in problem else f" ({api_base_url!r})"
        raise CredentialsError(
            f"{source}: field 'api_base_url' {problem}{shown}. {_FIELD_HINTS['api_base_url']}"
        )
    return M2MCredentials(
        api_base_url=api_base_url,
        client_id=cleaned["client_id"],
        client_secret=cleaned["client_secret"],
        source=source,
    )


def _warn_if_shared(path: Path, source: str) -> None:
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        warnings.warn(
            f"{source} holds a client secret but other users can access it "
            f"(mode {mode:04o}). Run: chmod 600 {str(path)!r}",
            InsecureFileWarning,
            stacklevel=3,
        )


def load_credentials(path: str | os.PathLike[str]) -> M2MCredentials:
    """Read and validate a CARTO credentials file (``api_base_url``, ``client_id``,
    ``client_secret``). Every problem raises ``CredentialsError`` naming the file
    and the field; a file other users can read gives an ``InsecureFileWarning``.
    """
    source = os.fspath(path)
    file = Path(source).expanduser()
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise CredentialsError(
            f"{source}: file not found (looked for {str(file.absolute())!r}). Download the "
            f"credentials file of your M2M application from {_WHERE}, or pass its path."
        ) from None
    except IsADirectoryError:
        raise CredentialsError(f"{source}: is a directory, not a credentials file.") from None
    except OSError as exc:
        raise CredentialsError(
            f"{source}: cannot be read ({exc.strerror or type(exc).__name__})."
        ) from None
    _warn_if_shared(file, source)
    try:
        content = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise CredentialsError(f"{source}: is not a UTF-8 text file.") from None
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: the document may hold the secret.
        raise CredentialsError(
            f"{source}: is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})."
        ) from None
    if not isinstance(content, dict):
        raise CredentialsError(
            f"{source}: expected a JSON object with api_base_url, client_id and "
            f"client_secret, found {_json_type(content)}."
        )
    return check_credentials(content, source)


def fetch_m2m_token(creds: M2MCredentials, config: CartoConfig) -> Token:
    """Get an access token with the OAuth client credentials grant (RFC 6749 4.4)."""
    try:
        answer = _http.post_form(
            config.token_url,
            {
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
                "audience": config.audience,
            },
            timeout=config.http_timeout,
        )
    except TokenRequestError as exc:
        if exc.error in _BAD_CLIENT_ERRORS:
            reason = exc.error + (f": {exc.description}" if exc.description else "")
            raise exc.reworded(
                f"Check client_id and client_secret in {creds.source}: the CARTO token "
                f"endpoint refused them ({reason})."
            ) from None
        raise
    return token_from_answer(answer, config.token_url)


def token_from_answer(answer: dict[str, object], token_url: str) -> Token:
    """The ``Token`` of a successful token response, or ``ResponseError`` saying what is missing."""
    where = f"The CARTO token endpoint at {_http.display_url(token_url)}"
    access_token = answer.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise ResponseError(
            f"{where} answered without an access_token. Check the CARTO_TOKEN_URL setting.",
            url=_http.display_url(token_url),
        )
    expires_in = answer.get("expires_in")
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, (int, float))
        or not math.isfinite(expires_in)
        or expires_in <= 0
    ):
        missing = "without" if expires_in is None else "with an invalid"
        raise ResponseError(
            f"{where} answered {missing} expires_in (a positive number of seconds is "
            "needed). Check the CARTO_TOKEN_URL setting.",
            url=_http.display_url(token_url),
        )
    return Token.from_expires_in(access_token, expires_in)
