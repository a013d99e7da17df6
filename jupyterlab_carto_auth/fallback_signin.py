"""Sign-in without JupyterLab: the browser sign-in done in the kernel, done right.

Used where no JupyterLab extension hands the kernel a session (a plain Jupyter
client, classic notebook, VS Code, Colab, papermill, scripts):

- **local redirect**: when a browser can be opened on this machine, an HTTP
  server on the redirect URI's port (``localhost:10000`` by default, the only
  one CARTO's public client allows), bound to loopback, receives the
  authorization code. The browser opens a one-time start link on that server,
  which sets a cookie and redirects to CARTO; the callback is accepted only
  with that cookie and this sign-in's ``state``, so it comes from the browser
  that started it. Connections are bounded in number and time, and the wait
  too;
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


_NOT_THIS_SIGN_IN = (
    "This link is not the sign-in this notebook is waiting for. Start the sign-in again "
    "from the notebook."
)
#: What a page of the local server answers: status, title, text, extra headers.
_Answer = tuple[int, str, str, list[tuple[str, str]]]
#: Seconds the browser keeps the sign-in cookie (the callback clears it sooner).
SIGN_IN_COOKIE_MAX_AGE = 3600

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{title}</h1><p>{text}</p></body></html>"""


class LocalRedirectServer:
    """An HTTP server on loopback that receives this sign-in's redirect.

    Binds at construction (``OSError`` when the port is busy), serves in a
    daemon thread after ``start(authorize_url)``, and ``wait()`` returns the code
    or raises. The browser is sent to ``start_url`` on this server, a one-time
    link that sets an HttpOnly cookie and redirects to ``authorize_url``; only
    ``GET <callback path>`` with that cookie and the right ``state`` ends the wait,
    so another user of this machine who reads ``state`` or the link from the
    process list cannot sign the kernel in to their own account (a second use of
    the link stops the sign-in). Other requests get 400, 403 or 404 and change
    nothing. Connections are served concurrently, at most ``MAX_CONNECTIONS`` at
    once, each closed after ``CONNECTION_TIMEOUT`` seconds of silence: an idle
    connection does not block the callback.
    """

    MAX_CONNECTIONS = 16
    CONNECTION_TIMEOUT = 10.0
    COOKIE = "carto_auth_signin"

    def __init__(self, redirect_uri: str, state: str):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        parts = urlsplit(redirect_uri)
        host = parts.hostname or ""
        if parts.scheme != "http" or not is_loopback_host(host) or not parts.port:
            raise ValueError("the redirect URI is not http://localhost:<port>/...")
        self.redirect_uri = redirect_uri
        self.port = parts.port
        self._path = (parts.path or "/").rstrip("/") or "/"
        self._state = state
        self._once = secrets.token_urlsafe(24)
        self._cookie = secrets.token_urlsafe(32)
        self._start_path = "/start" if self._path != "/start" else "/start-sign-in"
        #: Where to open the browser: the same host name as the redirect URI, so the
        #: cookie set here comes back with the callback.
        self.start_url = f"http://{parts.netloc}{self._start_path}?once={self._once}"
        self._authorize_url: str | None = None
        self._started = False
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.MAX_CONNECTIONS)
        self._done = threading.Event()
        self.code: str | None = None
        self.error: str | None = None
        self.error_description = ""
        self._thread: threading.Thread | None = None
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            timeout = self.CONNECTION_TIMEOUT  # per read and write of one connection

            def do_GET(self) -> None:
                status, title, text, headers = server_self._handle(
                    self.path, self.headers.get("Cookie", "")
                )
                body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # never log query strings
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def process_request(self, request: Any, client_address: Any) -> None:
                if not server_self._slots.acquire(blocking=False):
                    self.shutdown_request(request)  # too many at once: drop this one
                    return
                try:
                    super().process_request(request, client_address)
                except Exception:
                    server_self._slots.release()
                    raise

            def process_request_thread(self, request: Any, client_address: Any) -> None:
                try:
                    super().process_request_thread(request, client_address)
                finally:
                    server_self._slots.release()

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a broken connection must not print a traceback into the notebook

        bind = "::1" if host.strip("[]") == "::1" else "127.0.0.1"
        if bind == "::1":
            import socket

            Server.address_family = socket.AF_INET6
        self._server = Server((bind, self.port), Handler)

    def _handle(self, target: str, cookie_header: str) -> _Answer:
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query)
        with self._lock:
            if path == self._start_path:
                return self._handle_start((query.get("once") or [""])[0])
            if path != self._path:
                return 404, "Not found", "This is not a page of the CARTO sign-in.", []
            return self._handle_callback(query, cookie_header)

    def _handle_start(self, once: str) -> _Answer:
        if (
            self._done.is_set()
            or self._authorize_url is None
            or not secrets.compare_digest(once.encode("utf-8", "replace"), self._once.encode())
        ):
            return 400, "Not this sign-in", _NOT_THIS_SIGN_IN, []
        if self._started:
            # Someone else may have opened it first: stop, whoever it was.
            self.error = "start_reused"
            self._done.set()
            return (
                400,
                "Sign-in link already used",
                "This sign-in link was already opened, so the sign-in was stopped. Start "
                "the sign-in again from the notebook.",
                [],
            )
        self._started = True
        cookie = (
            f"{self.COOKIE}={self._cookie}; Path=/; HttpOnly; SameSite=Lax; "
            f"Max-Age={SIGN_IN_COOKIE_MAX_AGE}"
        )
        return (
            302,
            "Sign in to CARTO",
            "Continuing to CARTO.",
            [("Location", self._authorize_url), ("Set-Cookie", cookie)],
        )

    def _handle_callback(self, query: dict[str, list[str]], cookie_header: str) -> _Answer:
        state = (query.get("state") or [""])[0]
        if self._done.is_set() or not secrets.compare_digest(
            state.encode("utf-8", "replace"), self._state.encode()
        ):
            return 400, "Not this sign-in", _NOT_THIS_SIGN_IN, []
        if not self._has_cookie(cookie_header):
            return (
                403,
                "Not the browser of this sign-in",
                "This sign-in was started in another browser. Open the link the notebook "
                "printed, in the browser you sign in with.",
                [],
            )
        clear = [("Set-Cookie", f"{self.COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")]
        error = (query.get("error") or [""])[0]
        code = (query.get("code") or [""])[0]
        if error:
            self.error = error[:80]
            description = (query.get("error_description") or [""])[0]
            self.error_description = description[:200]
            self._done.set()
            return 200, "Sign-in to CARTO did not finish", "Go back to the notebook.", clear
        if not code:
            return 400, "No code", "CARTO sent no authorization code.", []
        self.code = code
        self._done.set()
        return (
            200,
            "Signed in to CARTO",
            "You can close this tab and go back to the notebook.",
            clear,
        )

    def _has_cookie(self, header: str) -> bool:
        from http.cookies import CookieError, SimpleCookie

        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            return False
        morsel = jar.get(self.COOKIE)
        return morsel is not None and secrets.compare_digest(
            morsel.value.encode("utf-8", "replace"), self._cookie.encode()
        )

    def start(self, authorize_url: str) -> None:
        """Serve; ``start_url`` then leads the browser to ``authorize_url``."""
        self._authorize_url = authorize_url
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
            if self.error == "start_reused":
                raise CredentialsError(
                    "The sign-in link was opened twice (by another browser, or by another "
                    "user of this computer), so the sign-in was stopped. Run the sign-in "
                    "again and open the link only once."
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
                server.start(url)
                opened = _open_browser(server.start_url)
                if opened is not False:
                    out(
                        "Sign in to CARTO in the browser window that opened. If none did, "
                        "open this URL once, in a browser on this computer:\n"
                        f"{server.start_url}"
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
