"""Token and discovery proxy of the server extension, restricted to CARTO hosts.

Some identity providers answer token and discovery requests without CORS
headers for the lab's origin, so the browser cannot read the answer. The lab
then sends the request here (``POST {base_url}carto-auth/proxy``, see
``docs/server-api.md``) and this module forwards it, but only to an origin on
the allow-list (:class:`OriginPattern`), with only the ``authorization``,
``content-type`` and ``accept`` headers, without following redirects and with
a cap on the answer's size. It never forwards a credential Jupyter or JupyterHub
would accept as its own (:func:`check_authorization`). It keeps nothing and logs
method, origin, path and status only: never headers, query strings or bodies.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.simple_httpclient import HTTPTimeoutError

from .errors import ApiError

#: Request headers the proxy forwards; every other header is dropped.
FORWARDED_HEADERS = ("authorization", "content-type", "accept")

#: Environment variables with a JupyterHub single-user server's API token (JupyterHub's
#: spawner sets both; the second is the old name). Never forwarded.
HUB_TOKEN_VARIABLES = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
# Characters that different URL parsers treat differently; refused outright.
_AMBIGUOUS = re.compile(r"[\x00-\x20\x7f\\]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Origin:
    """The scheme, host and port of a URL (RFC 6454), with the default port filled in."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if _DEFAULT_PORTS[self.scheme] == self.port:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"


class ForbiddenOrigin(ApiError):
    """403 ``forbidden_origin``: the URL's origin is not on the allow-list (kept for the log)."""

    def __init__(self, origin: Origin) -> None:
        super().__init__(
            403,
            "forbidden_origin",
            f"{origin} is not a configured CARTO host; add it to CartoAuthServer.allowed_origins",
        )
        self.origin = origin


def _split_http_url(url: str) -> tuple[Origin, str, str]:
    """Parse an absolute http(s) URL into (origin, path, query); ValueError if unusable."""
    if not isinstance(url, str) or not url or _AMBIGUOUS.search(url):
        raise ValueError("not a plain absolute URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("only http and https URLs are allowed")
    if "@" in parts.netloc:
        raise ValueError("URLs with user information are not allowed")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError("invalid port") from e
    if not host:
        raise ValueError("URL has no host")
    if not _HOSTNAME.match(host):
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError as e:
            raise ValueError("invalid host name") from e
    if port == 0:
        raise ValueError("invalid port")
    origin = Origin(scheme, host, port or _DEFAULT_PORTS[scheme])
    return origin, parts.path or "/", parts.query


@dataclass(frozen=True)
class OriginPattern:
    """One allow-list entry: an exact origin, or ``scheme://*.rest.of.host[:port]``.

    The wildcard stands for exactly one DNS label at the start of the host
    (``https://*.api.carto.com`` allows ``https://gcp-us-east1.api.carto.com`` but
    not ``https://api.carto.com`` nor ``https://a.b.api.carto.com``). Scheme and
    port must match exactly (a missing port means the scheme's default).
    """

    scheme: str
    host: str
    port: int
    wildcard: bool

    @classmethod
    def parse(cls, text: str) -> OriginPattern:
        """Parse ``scheme://host[:port]``; ValueError when it is not a bare origin."""
        raw = text.strip()
        wildcard = False
        candidate = raw
        scheme_sep = raw.find("://")
        if scheme_sep > 0 and raw[scheme_sep + 3 : scheme_sep + 5] == "*.":
            wildcard = True
            candidate = raw[: scheme_sep + 3] + raw[scheme_sep + 5 :]
        try:
            origin, path, query = _split_http_url(candidate)
        except ValueError as e:
            raise ValueError(f"{raw!r} is not an origin like https://auth.carto.com: {e}") from e
        if path != "/" or query or "#" in raw or "?" in raw:
            raise ValueError(f"{raw!r} is not an origin: remove the path, query or fragment")
        if wildcard and (":" in origin.host or "." not in origin.host):
            raise ValueError(f"{raw!r}: a wildcard needs a domain name with a dot after '*.'")
        return cls(origin.scheme, origin.host, origin.port, wildcard)

    def matches(self, origin: Origin) -> bool:
        """Whether ``origin`` is allowed by this entry."""
        if origin.scheme != self.scheme or origin.port != self.port:
            return False
        if not self.wildcard:
            return origin.host == self.host
        label, dot, rest = origin.host.partition(".")
        return bool(dot) and rest == self.host and bool(re.fullmatch(_LABEL, label))

    def __str__(self) -> str:
        text = str(Origin(self.scheme, self.host, self.port))
        return text.replace("://", "://*.", 1) if self.wildcard else text


@dataclass(frozen=True)
class ProxySettings:
    """What forwarding needs: the allow-list and the limits of one upstream request."""

    origins: tuple[OriginPattern, ...]
    timeout: float
    max_bytes: int
    user_agent: str


def parse_origin_patterns(values: list[str]) -> list[OriginPattern]:
    """Parse allow-list entries; ValueError naming the first bad one."""
    return [OriginPattern.parse(value) for value in values if value.strip()]


def check_url(url: str, patterns: list[OriginPattern]) -> tuple[Origin, str]:
    """Return (origin, normalized URL without fragment) if ``url`` may be proxied.

    Raises :class:`ApiError` 400 for a malformed URL and 403 ``forbidden_origin``
    when its origin is not on the allow-list.
    """
    try:
        origin, path, query = _split_http_url(url)
    except ValueError as e:
        raise ApiError(400, "bad_request", f"url: {e}.") from e
    if not any(pattern.matches(origin) for pattern in patterns):
        raise ForbiddenOrigin(origin)
    netloc = str(origin).split("://", 1)[1]
    return origin, urlunsplit((origin.scheme, netloc, path, query, ""))


@dataclass(frozen=True)
class ProxyRequest:
    """A validated request from the lab."""

    url: str
    origin: Origin
    method: str
    headers: dict[str, str]
    body: str | None

    @property
    def path(self) -> str:
        """The URL path, for logs (the query is left out on purpose)."""
        return urlsplit(self.url).path


def check_authorization(value: str, jupyter_tokens: Iterable[str]) -> None:
    """Refuse an ``Authorization`` value that is a Jupyter credential: ApiError 400.

    Jupyter and JupyterHub take ``token <t>`` and ``bearer <t>`` (any case) as their
    own. The ``token`` scheme is refused whatever follows it, since it is never
    meant for an identity provider; any other value is refused when its
    credential (or the whole value) is one of ``jupyter_tokens``, compared in
    constant time. The answer names the rule, never the value.
    """
    scheme, credential = [*value.split(None, 1), "", ""][:2]
    if scheme.lower() == "token":
        raise ApiError(
            400,
            "jupyter_credential",
            "The Authorization header uses Jupyter's own 'token' scheme, and the proxy never "
            "sends Jupyter's credentials to another host. Log in to Jupyter with its cookie "
            "and X-XSRFToken header (as JupyterLab does), and send only the identity "
            "provider's credential here.",
        )
    candidates = [value.strip().encode(), credential.strip().encode()]
    found = False
    for token in jupyter_tokens:
        if token:
            for candidate in candidates:
                found |= hmac.compare_digest(candidate, token.encode())
    if found:
        raise ApiError(
            400,
            "jupyter_credential",
            "The Authorization header holds this Jupyter server's own token (or its "
            "JupyterHub API token), and the proxy never sends Jupyter's credentials to "
            "another host. Send the identity provider's token instead.",
        )


def parse_request(
    payload: Any, patterns: list[OriginPattern], jupyter_tokens: Iterable[str] = ()
) -> ProxyRequest:
    """Validate the lab's JSON body ``{url, method, headers, body}``; ApiError if wrong.

    ``jupyter_tokens`` are the tokens Jupyter accepts for this server: an
    ``authorization`` header that carries one is refused (:func:`check_authorization`).
    """
    if not isinstance(payload, dict):
        raise ApiError(400, "bad_request", "The request body must be a JSON object.")
    method = payload.get("method", "GET")
    if method not in ("GET", "POST"):
        raise ApiError(400, "bad_request", "method must be GET or POST.")
    raw_headers = payload.get("headers") or {}
    if not isinstance(raw_headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw_headers.items()
    ):
        raise ApiError(400, "bad_request", "headers must be an object of strings.")
    headers = {k.lower(): v for k, v in raw_headers.items() if k.lower() in FORWARDED_HEADERS}
    if any(_CONTROL.search(v) for v in headers.values()):
        raise ApiError(400, "bad_request", "header values must not contain control characters.")
    if "authorization" in headers:
        check_authorization(headers["authorization"], jupyter_tokens)
    body = payload.get("body")
    if body is not None and not isinstance(body, str):
        raise ApiError(400, "bad_request", "body must be a string.")
    if method == "GET" and body:
        raise ApiError(400, "bad_request", "A GET request cannot have a body.")
    url = payload.get("url")
    if not isinstance(url, str):
        raise ApiError(400, "bad_request", "url must be a string.")
    origin, normalized = check_url(url, patterns)
    return ProxyRequest(normalized, origin, method, headers, body if method == "POST" else None)


def _decode(body: bytes, content_type: str) -> str:
    match = re.search(r"charset=\"?([\w.:-]+)", content_type, re.IGNORECASE)
    charset = match.group(1) if match else "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


async def forward(request: ProxyRequest, settings: ProxySettings) -> dict[str, Any]:
    """Send ``request`` upstream and return the envelope ``{status, content_type, body}``.

    Upstream 3xx/4xx/5xx answers are returned in the envelope, not raised.
    Raises :class:`ApiError` 502 ``response_too_large`` above ``settings.max_bytes``,
    504 ``network`` on a timeout and 502 ``network`` when the host cannot be reached.
    """
    chunks: list[bytes] = []
    size = 0

    def on_chunk(chunk: bytes) -> None:
        # Past the cap, keep reading (bounded by the timeout) but keep nothing:
        # aborting from here would look like a broken connection.
        nonlocal size
        size += len(chunk)
        if size <= settings.max_bytes:
            chunks.append(chunk)

    headers = dict(request.headers)
    headers["user-agent"] = settings.user_agent
    upstream = HTTPRequest(
        request.url,
        method=request.method,
        headers=headers,
        body=(request.body or "") if request.method == "POST" else None,
        follow_redirects=False,
        connect_timeout=settings.timeout,
        request_timeout=settings.timeout,
        streaming_callback=on_chunk,
        decompress_response=True,
    )
    try:
        response = await AsyncHTTPClient().fetch(upstream, raise_error=False)
    except (HTTPClientError, OSError) as e:
        # Timeouts and closed streams arrive as HTTPClientError 599, refused or
        # unresolvable hosts as OSError (raise_error=False only covers HTTP statuses).
        raise _network_error(request.origin, e) from None
    if size > settings.max_bytes:
        raise ApiError(
            502,
            "response_too_large",
            f"The answer from {request.origin} is larger than {settings.max_bytes} bytes.",
        )
    content_type = response.headers.get("Content-Type", "")
    return {
        "status": response.code,
        "content_type": content_type,
        "body": _decode(b"".join(chunks), content_type),
    }


def _network_error(origin: Origin, error: BaseException) -> ApiError:
    if isinstance(error, (HTTPTimeoutError, TimeoutError)):
        return ApiError(504, "network", f"Could not reach {origin}: timed out")
    if isinstance(error, HTTPClientError):
        reason = error.message or "no answer"
    else:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return ApiError(502, "network", f"Could not reach {origin}: {reason}")
