"""Exceptions raised by the kernel-side CARTO API.

Every message says what went wrong and what to do about it, and none ever
contains an access token or a client secret: messages are built only from
names, URLs, HTTP statuses and OAuth error codes, never from request bodies.

``CredentialsError`` keeps carto-auth's name so that code written against
carto-auth (``except CredentialsError``) keeps working.
"""

from __future__ import annotations


class CartoAuthError(Exception):
    """Base class of every error this package raises."""


class CredentialsError(CartoAuthError):
    """Credentials are missing or invalid, or CARTO refused them (carto-auth's name)."""


class ConfigError(CartoAuthError, ValueError):
    """A setting (environment variable or ``CartoConfig`` field) has an invalid value."""


class ResponseError(CredentialsError):
    """A CARTO endpoint answered with an HTTP error or with something unusable.

    ``url`` is the endpoint without its query string; ``status`` is the HTTP
    status (``None`` if the status was fine but the body was not).
    """

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class TokenRequestError(ResponseError):
    """The OAuth token endpoint refused the request (RFC 6749, section 5.2).

    ``error`` is the OAuth error code (``invalid_client``, ``access_denied``...),
    ``description`` the server's ``error_description`` if it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        error: str | None,
        description: str | None = None,
        url: str | None = None,
    ):
        super().__init__(message, url=url, status=status)
        self.error = error
        self.description = description

    def reworded(self, message: str) -> TokenRequestError:
        """The same refusal with a message that says what to do."""
        return TokenRequestError(
            message,
            status=self.status,
            error=self.error,
            description=self.description,
            url=self.url,
        )


class NetworkError(CartoAuthError, ConnectionError):
    """A CARTO host could not be reached (refused, DNS failure, timeout, TLS failure).

    Also a ``ConnectionError``, so generic network handlers catch it too.
    """

    def __init__(self, message: str, *, url: str | None = None, host: str | None = None):
        super().__init__(message)
        self.url = url
        self.host = host

    def __str__(self) -> str:
        # OSError.__str__ would format errno/strerror; we only ever pass a message.
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(CartoAuthError, ImportError):
    """An optional extra is needed for this call but is not installed."""


class InsecureFileWarning(UserWarning):
    """A file that holds a secret can be read or changed by other users."""


class LabError(CredentialsError):
    """JupyterLab could not hand this kernel a CARTO session.

    ``code`` is the comm protocol's error code (``cancelled``, ``timeout``,
    ``network``, ``denied``, ``unsupported_version`` or ``bad_request``); the
    message says what to do.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class LabNoAnswer(LabError):
    """Nothing answered a request to JupyterLab in time (no lab, or the lab is gone)."""

    def __init__(self, message: str):
        super().__init__("timeout", message)


class NoStdinError(CredentialsError):
    """A sign-in needs someone to paste a code, but this process cannot ask for input."""
