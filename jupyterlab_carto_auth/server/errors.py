"""The one error type of the server extension: an HTTP status, a code and a message.

The relay, the proxy and the handlers raise :class:`ApiError`; the JSON
handlers answer it as ``{"error": code, "message": message}`` (the codes are
listed in ``docs/server-api.md``). It is a tornado ``HTTPError`` so that
tornado sets the status and logs the refusal like any other HTTP error.
"""

from __future__ import annotations

from tornado import web


class ApiError(web.HTTPError):
    """A request the extension refuses or could not complete.

    ``status`` is the HTTP status of the answer, ``code`` names the failure for
    the lab, ``message`` tells a person what to do about it.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message
