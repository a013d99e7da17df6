"""Sign-in without JupyterLab: the browser sign-in done in the kernel, done right.

Used where no JupyterLab extension hands the kernel a session (a plain Jupyter
client, classic notebook, VS Code, Colab, papermill, scripts):

- **local redirect**: when a browser can be opened on this machine, a one-shot
  HTTP server on the redirect URI's port (``localhost:10000`` by default),
  bound to loopback, receives the authorization code; it accepts only the
  callback path with this sign-in's ``state``, and waits a bounded time;
- **paste prompt**: otherwise (or when that port is busy), the authorize URL is
  printed with CARTO's access-code page as redirect, and the user pastes the
  code (or the page's whole URL, whose ``state`` is checked) into a password
  prompt, also bounded in a kernel.

Authorization code flow with PKCE S256 (RFC 7636), ``state`` (RFC 6749 10.12),
and CARTO's ``audience`` and ``organization`` parameters. PKCE is written by hand
here with ``secrets``, ``hashlib`` and ``base64``: the kernel side must import
nothing but the standard library. Where no one can paste a code (papermill,
``allow_stdin=False``, a script without a terminal), it fails at once with
``NoStdinError`` saying how to authenticate instead.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from . import _http
from .config import CartoConfig, is_loopback_host
from .errors import CredentialsError, NoStdinError, TokenRequestError
from .secret import Token

#: Scopes asked for: an id token with the user's name and email, and a refresh token.
DEFAULT_SCOPE = "openid profile email offline_access"
ACCESS_CODE_PROMPT = "Enter the CARTO access code: "
#: How long to wait for the browser launcher to say it could not open a browser.
BROWSER_LAUNCH_WAIT = 2.0

HOW_TO_AUTHENTICATE = (
    "Sign in from JupyterLab with the jupyterlab-carto-auth extension (Sign in to CARTO in "
    "the status bar), or authenticate without a browser with an M2M application: "
    "CartoAuth.from_m2m('carto-credentials.json')."
)

_CODE_CHARS = re.compile(r"[\x21-\x7e]{1,2048}")


class LabAnswered(Exception):
    """JupyterLab handed this kernel a signed-in session while the paste prompt waited.

    Raised by ``sign_in`` instead of returning tokens: the caller uses the lab's
    session (already in ``kernel.SESSION``) from then on.
    """

    def __init__(self, session: dict[str, Any]):
        super().__init__("JupyterLab answered with its session")
        self.session = session


# --- PKCE, URLs, token requests ------------------------------------------------------


@dataclass(frozen=True)
class Pkce:
    """A PKCE pair (RFC 7636): the secret verifier and its S256 challenge."""

    verifier: str = field(repr=False)
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)  # 86 characters of the unreserved set
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        challenge = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        return cls(verifier=verifier, challenge=challenge)


def new_state() -> str:
    return secrets.token_urlsafe(24)


def authorize_url(
    config: CartoConfig, redirect_uri: str, state: str, pkce: Pkce, org: str | None
) -> str:
    """The authorization request URL (code flow, PKCE S256, CARTO's audience)."""
    params = {
        "client_id": config.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": DEFAULT_SCOPE,
        "audience": config.audience,
        "state": state,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    if org:
        params["organization"] = org
    separator = "&" if urlsplit(config.auth_url).query else "?"
    return f"{config.auth_url}{separator}{urlencode(params)}"


@dataclass(frozen=True)
class SignInResult:
    """Tokens from a sign-in; ``lifetime`` is the ``expires_in`` CARTO gave."""

    token: Token
    refresh_token: str | None = field(default=None, repr=False)
    lifetime: float | None = None


def _token_answer(answer: dict[str, Any], config: CartoConfig) -> SignInResult:
    from .m2m import token_from_answer

    token = token_from_answer(answer, config.token_url)
    refresh = answer.get("refresh_token")
    return SignInResult(
        token=token,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        lifetime=float(answer["expires_in"]),
    )


def exchange_code(config: CartoConfig, code: str, redirect_uri: str, pkce: Pkce) -> SignInResult:
    """Exchange an authorization code (with its PKCE verifier) for tokens."""
    try:
        answer = _http.post_form(
            config.token_url,
            {
                "grant_type": "authorization_code",
                "client_id": config.client_id,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": pkce.verifier,
                "audience": config.audience,
            },
            timeout=config.http_timeout,
        )
    except TokenRequestError as exc:
        if exc.error == "invalid_grant":
            raise exc.reworded(
                "CARTO did not accept the access code (invalid_grant"
                + (f": {exc.description}" if exc.description else "")
                + "). A code works once, for about a minute, and only for the sign-in that "
                "showed it: run the sign-in again and use the new code."
            ) from None
        raise
    return _token_answer(answer, config)


def refresh(config: CartoConfig, refresh_token: str) -> SignInResult:
    """A new access token from a refresh token (RFC 6749 section 6); keeps the refresh
    token when the provider does not rotate it."""
    answer = _http.post_form(
        config.token_url,
        {
            "grant_type": "refresh_token",
            "client_id": config.client_id,
            "refresh_token": refresh_token,
        },
        timeout=config.http_timeout,
    )
    result = _token_answer(answer, config)
    if result.refresh_token is None:
        result = SignInResult(result.token, refresh_token, result.lifetime)
    return result


# --- the local redirect server -------------------------------------------------------


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{title}</h1><p>{text}</p></body></html>"""


class LocalRedirectServer:
    """A one-shot HTTP server on loopback that receives this sign-in's redirect.

    Binds at construction (``OSError`` when the port is busy), serves in a
    daemon thread after ``start()``, and ``wait()`` returns the code or raises.
    Only ``GET <callback path>`` with the right ``state`` ends the wait; other
    requests get 404 or 400 and change nothing.
    """

    def __init__(self, redirect_uri: str, state: str):
        from http.server import BaseHTTPRequestHandler, HTTPServer

        parts = urlsplit(redirect_uri)
        host = parts.hostname or ""
        if parts.scheme != "http" or not is_loopback_host(host) or not parts.port:
            raise ValueError("the redirect URI is not http://localhost:<port>/...")
        self.redirect_uri = redirect_uri
        self.port = parts.port
        self._path = (parts.path or "/").rstrip("/") or "/"
        self._state = state
        self._done = threading.Event()
        self.code: str | None = None
        self.error: str | None = None
        self.error_description = ""
        self._thread: threading.Thread | None = None
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, title, text = server_self._handle(self.path)
                body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # never log query strings
                pass

        class Server(HTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a broken connection must not print a traceback into the notebook

        bind = "::1" if host.strip("[]") == "::1" else "127.0.0.1"
        if bind == "::1":
            import socket

            Server.address_family = socket.AF_INET6
        self._server = Server((bind, self.port), Handler)

    def _handle(self, target: str) -> tuple[int, str, str]:
        parts = urlsplit(target)
        if (parts.path.rstrip("/") or "/") != self._path:
            return 404, "Not found", "This is not a page of the CARTO sign-in."
        query = parse_qs(parts.query)
        state = (query.get("state") or [""])[0]
        if self._done.is_set() or not secrets.compare_digest(
            state.encode("utf-8", "replace"), self._state.encode()
        ):
            return (
                400,
                "Not this sign-in",
                "This link is not the sign-in this notebook is waiting for. Start the "
                "sign-in again from the notebook.",
            )
        error = (query.get("error") or [""])[0]
        code = (query.get("code") or [""])[0]
        if error:
            self.error = error[:80]
            description = (query.get("error_description") or [""])[0]
            self.error_description = description[:200]
            self._done.set()
            return 200, "Sign-in to CARTO did not finish", "Go back to the notebook."
        if not code:
            return 400, "No code", "CARTO sent no authorization code."
        self.code = code
        self._done.set()
        return 200, "Signed in to CARTO", "You can close this tab and go back to the notebook."

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def wait(self, timeout: float) -> str:
        """The authorization code, waiting ``timeout`` seconds at most."""
        deadline = time.monotonic() + timeout
        while not self._done.wait(min(0.2, max(deadline - time.monotonic(), 0))):
            if time.monotonic() >= deadline:
                raise CredentialsError(
                    f"Nobody finished signing in to CARTO in the browser within {timeout:g} s. "
                    "Run the sign-in again (or set CARTO_SIGNIN_TIMEOUT to wait longer)."
                )
        if self.error:
            if self.error == "access_denied":
                raise CredentialsError(
                    "Sign-in to CARTO was cancelled in the browser. Run the sign-in again."
                )
            detail = f": {self.error_description}" if self.error_description else ""
            raise CredentialsError(f"CARTO refused the sign-in ({self.error}{detail}).")
        assert self.code is not None
        return self.code

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> LocalRedirectServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def browser_plausible() -> bool:
    """Can a browser on this machine be opened? Not in Colab or Databricks; yes with a
    display, on macOS or Windows, or when Python's ``webbrowser`` finds one."""
    if "google.colab" in sys.modules or "DATABRICKS_RUNTIME_VERSION" in os.environ:
        return False
    if sys.platform in ("darwin", "win32") or os.environ.get("DISPLAY"):
        return True
    if os.environ.get("WAYLAND_DISPLAY"):
        return True
    import webbrowser

    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def _open_browser(url: str) -> bool | None:
    """Open ``url`` in a thread (a launcher may block). ``False`` if it said it could not,
    ``None`` if it has not said yet."""
    import webbrowser

    result: list[bool] = []

    def run() -> None:
        try:
            result.append(bool(webbrowser.open(url)))
        except Exception:
            result.append(False)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BROWSER_LAUNCH_WAIT)
    return result[0] if result else None


# --- the paste prompt ----------------------------------------------------------------


def parse_pasted(value: str, state: str) -> str:
    """The code from what the user pasted: the bare code, or the page's URL (state checked)."""
    text = value.strip()
    if not text:
        raise CredentialsError("No access code was entered. Run the sign-in again.")
    if "://" in text or "code=" in text or "error=" in text:
        query = parse_qs(urlsplit(text).query) if "://" in text else parse_qs(text.lstrip("?"))
        got_state = (query.get("state") or [""])[0]
        if not secrets.compare_digest(got_state.encode("utf-8", "replace"), state.encode()):
            raise CredentialsError(
                "The pasted URL belongs to another sign-in (its state does not match). Paste "
                "the code or URL shown after following the link printed above."
            )
        if query.get("error"):
            error = query["error"][0][:80]
            if error == "access_denied":
                raise CredentialsError("Sign-in to CARTO was cancelled. Run the sign-in again.")
            raise CredentialsError(f"CARTO refused the sign-in ({error}).")
        code = (query.get("code") or [""])[0]
        if not code:
            raise CredentialsError("The pasted URL has no access code. Paste the code itself.")
        return code
    if not _CODE_CHARS.fullmatch(text):
        raise CredentialsError(
            "That does not look like a CARTO access code (it has spaces or is too long). "
            "Copy it with the Copy button of the access-code page."
        )
    return text


Ask = Callable[[str, float], "tuple[str, Any]"]


def _ask(prompt: str, timeout: float) -> tuple[str, Any]:
    """Ask for the code: a bounded password prompt in a kernel, ``getpass`` on a terminal."""
    from . import kernel

    if kernel.in_kernel():
        return kernel.ask_frontend(prompt, password=True, timeout=timeout)
    stdin = sys.stdin
    try:
        interactive = stdin is not None and stdin.isatty()
    except (ValueError, OSError):
        interactive = False
    if not interactive:
        raise NoStdinError("no terminal")
    import getpass

    return "input", getpass.getpass(prompt)


def no_stdin_error() -> NoStdinError:
    return NoStdinError(
        "Signing in to CARTO needs you to paste an access code, but nothing can ask you for "
        "input here (no terminal, or a notebook run without stdin such as papermill or "
        f"nbconvert). {HOW_TO_AUTHENTICATE}"
    )


def can_prompt() -> bool:
    """Could a paste prompt reach someone? (No: papermill, ``allow_stdin=False``, no tty.)"""
    from . import kernel

    k = kernel.running_ipykernel()
    if k is not None:
        return bool(getattr(k, "_allow_stdin", False))
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


# --- the whole flow ------------------------------------------------------------------


def sign_in(
    config: CartoConfig,
    *,
    org: str | None,
    open_browser: bool,
    timeout: float,
    out: Callable[[str], None] = print,
    ask: Ask | None = None,
) -> SignInResult:
    """Sign in with the browser: local redirect when possible, else the paste prompt.

    Returns the tokens; in a kernel, raises ``LabAnswered`` when a JupyterLab
    answered meanwhile. Raises ``CredentialsError`` (``NoStdinError`` when no one
    can be asked for a code), bounded by ``timeout`` seconds of waiting.
    """
    if open_browser and browser_plausible():
        try:
            server = LocalRedirectServer(config.redirect_uri, new_state())
        except ValueError:
            server = None  # a non-loopback redirect URI: only the paste flow can work
        except OSError:
            server = None
            out(
                f"Port {urlsplit(config.redirect_uri).port} is in use, so the browser cannot "
                "hand the sign-in back to this kernel; using an access code instead."
            )
        if server is not None:
            with server:
                pkce = Pkce.new()
                url = authorize_url(config, config.redirect_uri, server._state, pkce, org)
                server.start()
                opened = _open_browser(url)
                if opened is not False:
                    out(
                        "Sign in to CARTO in the browser window that opened. If none did, "
                        f"open this URL on this computer:\n{url}"
                    )
                    code = server.wait(timeout)
                    return exchange_code(config, code, config.redirect_uri, pkce)
                out("Could not open a browser; using an access code instead.")
    return paste_flow(config, org=org, timeout=timeout, out=out, ask=ask)


def paste_flow(
    config: CartoConfig,
    *,
    org: str | None,
    timeout: float,
    out: Callable[[str], None] = print,
    ask: Ask | None = None,
) -> SignInResult:
    """Print the authorize URL (redirect: the access-code page) and ask for the code.

    Raises ``LabAnswered`` when a signed-in session from JupyterLab arrives instead."""
    from .kernel import LabNoAnswer

    if ask is None and not can_prompt():
        raise no_stdin_error()
    ask = ask or _ask
    pkce, state = Pkce.new(), new_state()
    redirect = config.access_code_redirect_uri
    url = authorize_url(config, redirect, state, pkce, org)
    out(
        "To sign in to CARTO, open this URL in a browser, sign in, then paste the access code "
        f"it shows (or the page's whole URL) below:\n{url}"
    )
    deadline = time.monotonic() + timeout
    for _ in range(5):
        try:
            kind, value = ask(ACCESS_CODE_PROMPT, max(deadline - time.monotonic(), 0.1))
        except NoStdinError:
            raise no_stdin_error() from None
        except LabNoAnswer:
            raise CredentialsError(
                f"No access code was entered within {timeout:g} s. Run the sign-in again "
                "(or set CARTO_SIGNIN_TIMEOUT to wait longer)."
            ) from None
        except EOFError:
            raise CredentialsError("Sign-in to CARTO was cancelled (no access code).") from None
        if kind == "lab":
            from .kernel import LabError, accept_reply

            try:
                session = accept_reply(value)
            except LabError:
                continue
            if session.get("state") == "signed_in":
                raise LabAnswered(session)
            continue
        code = parse_pasted(str(value), state)
        return exchange_code(config, code, redirect, pkce)
    raise CredentialsError("No access code was entered. Run the sign-in again.")
