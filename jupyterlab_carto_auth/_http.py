"""Minimal HTTP client on the standard library, with typed, secret-free errors.

Only ``urllib.request`` is used so that the kernel side needs no third-party
HTTP library; it is imported on first use, so importing this module is cheap.
Every request has a timeout; every failure becomes one of the exceptions of
``errors``, whose messages name the endpoint and never contain a request body,
a response body or a token.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

from . import __version__
from .config import DEFAULT_HTTP_TIMEOUT
from .errors import ConfigError, NetworkError, ResponseError, TokenRequestError

#: Bodies larger than this are refused: no CARTO answer comes near it.
MAX_BODY_BYTES = 1 << 20

#: Form fields whose values are secret; they are redacted from anything the server echoes.
SECRET_FORM_FIELDS = ("client_secret", "code", "code_verifier", "refresh_token")

_USER_AGENT = f"jupyterlab-carto-auth/{__version__}"
_CHUNK = 64 * 1024
_NOT_JSON = object()


class _Response(NamedTuple):
    status: int
    reason: str
    content_type: str
    body: bytes


def display_url(url: str) -> str:
    """``url`` without query string or fragment, for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _clean(text: str, secrets: Iterable[str] = (), limit: int = 200) -> str:
    """Server-supplied text made safe to show: secrets redacted, one line, bounded."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "(redacted)")
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _network_reason(exc: BaseException, timeout: float) -> str:
    import http.client
    import socket
    import ssl
    import urllib.error

    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host name not found"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return "its TLS certificate could not be verified"
    if isinstance(reason, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(reason, ConnectionError):
        return "the connection was closed unexpectedly"
    if isinstance(reason, http.client.HTTPException):
        return "the answer was cut off or malformed"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return type(reason).__name__


def _network_error(
    exc: BaseException, url: str, what: str, hint: str | None, timeout: float
) -> NetworkError:
    host = urlsplit(url).netloc
    check = f" and {hint}" if hint else ""
    return NetworkError(
        f"Could not reach {what} at {host} ({_network_reason(exc, timeout)}). "
        f"Check your network connection{check}.",
        url=display_url(url),
        host=host,
    )


def _read_body(resp: Any, deadline: float, url: str, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = resp.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ResponseError(
                f"{what} at {display_url(url)} sent an answer larger than "
                f"{MAX_BODY_BYTES} bytes; this is not a CARTO endpoint.",
                url=display_url(url),
            )
        chunks.append(chunk)


def _send(
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: Mapping[str, str],
    token: str | None,
    timeout: float,
    what: str,
    hint: str | None,
) -> _Response:
    import http.client
    import urllib.error
    import urllib.request

    try:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(url)
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310
    except ValueError:
        check = f" Check {hint}." if hint else ""
        raise ConfigError(f"The URL of {what} is not valid: {display_url(url)!r}.{check}") from None
    for name, value in headers.items():
        request.add_header(name, value)
    request.add_header("User-Agent", _USER_AGENT)
    if token is not None:
        # "Unredirected": urllib does not copy it to a redirected request, so a
        # redirect to another host never receives the token.
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    deadline = time.monotonic() + timeout
    try:
        try:
            resp = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - checked above
        except urllib.error.HTTPError as err:
            resp = err  # an HTTP error status is still an answer: read it
        with resp:
            status = resp.status if resp.status is not None else resp.code
            reason = str(getattr(resp, "reason", "") or "")
            content_type = resp.headers.get("Content-Type", "") if resp.headers else ""
            data = _read_body(resp, deadline, url, what)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise _network_error(exc, url, what, hint, timeout) from None
    return _Response(status, reason, content_type, data)


def _parse_json(resp: _Response) -> Any:
    """The body parsed as JSON, or ``_NOT_JSON``."""
    try:
        return json.loads(resp.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _NOT_JSON


#: What to do when a CARTO API refuses the access token (HTTP 401): it may have been
#: revoked at CARTO while it still looks valid here.
SIGN_IN_AGAIN_ADVICE = (
    " CARTO no longer accepts this access token (revoked or expired at CARTO):"
    " sign in to CARTO again (in JupyterLab: Sign in to CARTO), then run this again."
)


def _status_error(
    resp: _Response,
    url: str,
    what: str,
    hint: str | None,
    secrets: Iterable[str],
    *,
    oauth: bool,
) -> ResponseError:
    """The error for an answer whose status is not 2xx.

    With ``oauth``, a JSON body with an ``error`` code (RFC 6749 5.2) gives a
    ``TokenRequestError``; otherwise its code still goes into the message.
    """
    shown = display_url(url)
    parsed = _parse_json(resp)
    status_text = f"HTTP {resp.status}" + (f" {resp.reason}" if resp.reason else "")
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        error = _clean(parsed["error"], secrets, limit=80)
        raw_description = (
            parsed.get("error_description") or parsed.get("description") or parsed.get("message")
        )
        description = _clean(raw_description, secrets) if isinstance(raw_description, str) else None
        detail = error + (f": {description}" if description else "")
        message = f"{what} at {shown} refused the request ({status_text}, {detail})."
        if resp.status == 401 and not oauth:
            message += SIGN_IN_AGAIN_ADVICE
        if oauth:
            return TokenRequestError(
                message, status=resp.status, error=error, description=description, url=shown
            )
        return ResponseError(message, url=shown, status=resp.status)
    if resp.status >= 500:
        check = " CARTO may be having problems: try again in a few minutes."
    elif resp.status == 401 and not oauth:
        check = SIGN_IN_AGAIN_ADVICE
    else:
        check = f" Check {hint}." if hint else ""
    return ResponseError(
        f"{what} at {shown} answered {status_text}.{check}", url=shown, status=resp.status
    )


def _expect_json(resp: _Response, url: str, what: str, hint: str | None) -> Any:
    parsed = _parse_json(resp)
    if parsed is _NOT_JSON:
        kind = resp.content_type.split(";")[0].strip() or "no content type"
        check = f" Check {hint}." if hint else ""
        raise ResponseError(
            f"{what} at {display_url(url)} answered with something that is not JSON "
            f"(HTTP {resp.status}, {kind}).{check}",
            url=display_url(url),
            status=resp.status,
        )
    return parsed


def post_form(
    url: str,
    data: Mapping[str, str],
    timeout: float = DEFAULT_HTTP_TIMEOUT,
    *,
    what: str = "The CARTO token endpoint",
    hint: str | None = "the CARTO_TOKEN_URL setting",
) -> dict[str, Any]:
    """POST ``data`` form-encoded (an OAuth token request) and return the JSON object answered.

    Raises ``TokenRequestError`` for an OAuth error answer (RFC 6749 5.2),
    ``ResponseError`` for any other non-2xx or non-JSON-object answer and
    ``NetworkError`` when the host cannot be reached in time. ``what`` names the
    endpoint in messages, ``hint`` what to check if its URL may be wrong.
    """
    secrets = [data[k] for k in SECRET_FORM_FIELDS if data.get(k)]
    resp = _send(
        "POST",
        url,
        body=urlencode(data).encode("ascii"),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        token=None,
        timeout=timeout,
        what=what,
        hint=hint,
    )
    if not 200 <= resp.status < 300:
        raise _status_error(resp, url, what, hint, secrets, oauth=True)
    parsed = _expect_json(resp, url, what, hint)
    if not isinstance(parsed, dict):
        raise ResponseError(
            f"{what} at {display_url(url)} answered JSON that is not an object.",
            url=display_url(url),
            status=resp.status,
        )
    return parsed


def get_text(
    url: str,
    token: str | None = None,
    timeout: float = DEFAULT_HTTP_TIMEOUT,
    *,
    what: str = "The CARTO API",
    hint: str | None = None,
) -> str:
    """GET ``url`` (with a Bearer ``token`` if given) and return the body as text."""
    resp = _get(url, token, timeout, what, hint, accept="*/*")
    return resp.body.decode("utf-8", errors="replace")


def get_json(
    url: str,
    token: str | None = None,
    timeout: float = DEFAULT_HTTP_TIMEOUT,
    *,
    what: str = "The CARTO API",
    hint: str | None = None,
) -> Any:
    """GET ``url`` (with a Bearer ``token`` if given) and return the parsed JSON body."""
    resp = _get(url, token, timeout, what, hint, accept="application/json")
    return _expect_json(resp, url, what, hint)


def _get(
    url: str, token: str | None, timeout: float, what: str, hint: str | None, accept: str
) -> _Response:
    resp = _send(
        "GET",
        url,
        body=None,
        headers={"Accept": accept},
        token=token,
        timeout=timeout,
        what=what,
        hint=hint,
    )
    if not 200 <= resp.status < 300:
        raise _status_error(resp, url, what, hint, [token] if token else [], oauth=False)
    return resp
