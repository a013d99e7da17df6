"""The kernel-side sign-in, where no JupyterLab extension answers: paste prompt, local
redirect, no stdin. Real kernels, the real sandbox provider, sign-in over plain HTTP."""

from __future__ import annotations

import http.cookiejar
import json
import re
import socket
import stat
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Sandbox, free_port
from labclient import API_CHECK, Cell, LabClient, session_message
from sandbox_browser import access_code, sign_in

from jupyterlab_carto_auth import CartoAuth, discovery, fallback_signin
from jupyterlab_carto_auth.config import CartoConfig
from jupyterlab_carto_auth.errors import CredentialsError, NoStdinError

StartKernel = Callable[..., tuple[Any, Any]]
AUTHORIZE = re.compile(r"http://127\.0\.0\.1:\d+/authorize\?\S+")

CELL = (
    API_CHECK
    + """from jupyterlab_carto_auth import CartoAuth
a = CartoAuth.from_oauth({args})
print(a.source, api_status(a.get_access_token()), a.get_api_base_url())
"""
)


def stats(sandbox: Sandbox) -> dict[str, Any]:
    with urllib.request.urlopen(sandbox.info["stats_url"], timeout=10) as resp:
        return json.load(resp)


def cache_files(home: Path) -> list[Path]:
    return sorted((home / ".cache" / "jupyterlab-carto-auth").glob("*.json"))


def paste_answer(sandbox: Sandbox, cell: Cell, answer: str) -> Callable[[LabClient, Any], None]:
    """An input handler that signs in with the URL the cell printed and pastes ``answer``
    (``code``, ``url`` or a literal value)."""
    user = sandbox.info["user"]

    def on_input(lab: LabClient, content: dict[str, Any]) -> None:
        assert content["password"] is True
        assert content["prompt"].startswith("Enter the CARTO access code")
        (url,) = AUTHORIZE.findall(cell.stdout)
        final, page = sign_in(url, user["email"], user["password"])
        if answer == "code":
            lab.send_input_reply(access_code(page))
        elif answer == "url":
            lab.send_input_reply(final)
        else:
            lab.send_input_reply(answer)

    return on_input


# --- paste prompt --------------------------------------------------------------------


def test_paste_code_signs_in_caches_and_renews_with_the_refresh_token(
    start_kernel: StartKernel, sandbox_long: Sandbox, isolated_home: Path
) -> None:
    _, kc = start_kernel()
    lab = LabClient(kc)
    cell = lab.execute(CELL.format(base=sandbox_long.api_base_url, args="open_browser=False"))
    lab.on_input = paste_answer(sandbox_long, cell, "code")
    lab.wait(cell, timeout=60)
    assert cell.error is None, cell.error
    assert cell.stdout.splitlines()[-1] == f"kernel 200 {sandbox_long.api_base_url}"
    assert len(cell.input_requests) == 1
    (url,) = AUTHORIZE.findall(cell.stdout)
    assert "code_challenge_method=S256" in url
    assert "audience=carto-cloud-native-api" in url
    assert "state=" in url
    (path,) = cache_files(isolated_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cached = json.loads(path.read_text())
    assert cached["kind"] == "oauth"
    assert cached["refresh_token"]
    assert cached["extras"]["api_base_url"] == sandbox_long.api_base_url
    assert cached["access_token"] not in cell.text()
    assert cached["refresh_token"] not in cell.text()

    # A new kernel uses the cache: no prompt.
    _, kc2 = start_kernel()
    lab2 = LabClient(kc2)
    again = lab2.run(CELL.format(base=sandbox_long.api_base_url, args="open_browser=False"))
    assert again.error is None, again.error
    assert again.stdout.splitlines()[-1] == f"kernel 200 {sandbox_long.api_base_url}"
    assert again.input_requests == []

    # Expired in the cache: renewed with the refresh token, still no prompt.
    cached["expires_at"] = time.time() - 10
    path.write_text(json.dumps(cached))
    before = stats(sandbox_long)["token_requests"]["refresh_token"]
    renewed = lab2.run(
        "b = CartoAuth.from_oauth(open_browser=False)\n"
        "print(b.get_access_token() != a.get_access_token(), api_status(b.get_access_token()))\n"
    )
    assert renewed.error is None, renewed.error
    assert renewed.stdout == "True 200\n"
    assert renewed.input_requests == []
    assert stats(sandbox_long)["token_requests"]["refresh_token"] == before + 1
    assert json.loads(path.read_text())["expires_at"] > time.time()


def test_paste_the_whole_url_of_the_access_code_page(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    _, kc = start_kernel()
    lab = LabClient(kc)
    cell = lab.execute(
        CELL.format(base=sandbox_long.api_base_url, args="open_browser=False, use_cache=False")
    )
    lab.on_input = paste_answer(sandbox_long, cell, "url")
    lab.wait(cell, timeout=60)
    assert cell.error is None, cell.error
    assert cell.stdout.splitlines()[-1].startswith("kernel 200")


def test_a_wrong_code_is_a_clear_error(start_kernel: StartKernel, sandbox_long: Sandbox) -> None:
    _, kc = start_kernel()
    lab = LabClient(kc)
    cell = lab.execute(CELL.format(base=sandbox_long.api_base_url, args="open_browser=False"))
    lab.on_input = paste_answer(sandbox_long, cell, "not-the-code-0123")
    lab.wait(cell, timeout=60)
    assert cell.error is not None
    assert cell.error["ename"] == "TokenRequestError"
    assert cell.error["evalue"].startswith("CARTO did not accept the access code (invalid_grant")
    assert "run the sign-in again" in cell.error["evalue"]


def test_a_url_of_another_sign_in_is_refused(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    _, kc = start_kernel()
    lab = LabClient(kc)
    cell = lab.execute(CELL.format(base=sandbox_long.api_base_url, args="open_browser=False"))
    lab.on_input = paste_answer(
        sandbox_long, cell, f"{sandbox_long.info['access_code_url']}?code=abc&state=forged"
    )
    lab.wait(cell, timeout=60)
    assert cell.error is not None
    assert cell.error["ename"] == "CredentialsError"
    assert "belongs to another sign-in" in cell.error["evalue"]


def test_without_stdin_it_fails_fast_saying_how_to_authenticate(
    start_kernel: StartKernel,
) -> None:
    _, kc = start_kernel()
    lab = LabClient(kc)
    cell = lab.run(
        "from jupyterlab_carto_auth import CartoAuth\nCartoAuth.from_oauth()\n",
        allow_stdin=False,
    )
    assert cell.error is not None
    assert cell.error["ename"] == "NoStdinError"
    assert "papermill" in cell.error["evalue"]
    assert (
        "Sign in from JupyterLab with the jupyterlab-carto-auth extension" in (cell.error["evalue"])
    )
    assert "CartoAuth.from_m2m(" in cell.error["evalue"]
    assert cell.seconds < 5
    assert cell.input_requests == []
    assert cell.requests == []


def test_unanswered_paste_prompt_is_bounded(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    _, kc = start_kernel(CARTO_SIGNIN_TIMEOUT="1")
    lab = LabClient(kc)
    cell = lab.run(
        "from jupyterlab_carto_auth import CartoAuth\nCartoAuth.from_oauth(open_browser=False)\n"
    )
    assert cell.error is not None
    assert cell.error["evalue"].startswith("No access code was entered within 1 s.")
    assert len(cell.input_requests) == 1
    assert cell.seconds < 8


# --- local redirect ------------------------------------------------------------------


def browser_script(tmp_path: Path, sandbox: Sandbox) -> tuple[Path, Path]:
    """An executable for BROWSER that signs in over HTTP (following the redirect)."""
    log = tmp_path / "browser.log"
    script = tmp_path / "fake-browser"
    user = sandbox.info["user"]
    script.write_text(
        "#!/bin/sh\n"
        f"exec {sys.executable} {REPO / 'tests' / 'sandbox_browser.py'} "
        f'"$1" {user["email"]} {user["password"]} {log}\n'
    )
    script.chmod(0o755)
    return script, log


def test_local_redirect_sign_in_in_the_kernel(
    start_kernel: StartKernel, sandbox_long: Sandbox, tmp_path: Path
) -> None:
    script, log = browser_script(tmp_path, sandbox_long)
    _, kc = start_kernel(BROWSER=str(script))
    lab = LabClient(kc)
    cell = lab.run(CELL.format(base=sandbox_long.api_base_url, args=""), timeout=60)
    assert cell.error is None, cell.error
    assert cell.stdout.splitlines()[-1] == f"kernel 200 {sandbox_long.api_base_url}"
    assert cell.input_requests == []
    port = sandbox_long.info["callback_port"]
    assert log.read_text().startswith(f"http://localhost:{port}/callback/?code=")
    # The one-shot server is gone.
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass


def test_busy_callback_port_falls_back_to_the_paste_prompt(
    start_kernel: StartKernel, sandbox_long: Sandbox, tmp_path: Path
) -> None:
    script, log = browser_script(tmp_path, sandbox_long)
    port = sandbox_long.info["callback_port"]
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # after the last test
        busy.bind(("127.0.0.1", port))
        busy.listen()
        _, kc = start_kernel(BROWSER=str(script))
        lab = LabClient(kc)
        cell = lab.execute(CELL.format(base=sandbox_long.api_base_url, args=""))
        lab.on_input = paste_answer(sandbox_long, cell, "code")
        lab.wait(cell, timeout=60)
    assert cell.error is None, cell.error
    assert f"Port {port} is in use" in cell.stdout
    assert cell.stdout.splitlines()[-1].startswith("kernel 200")
    assert not log.exists()  # no browser was opened for the busy port


# --- the local redirect server, in-process ------------------------------------------


def get(url: str, opener: urllib.request.OpenerDirector | None = None) -> int:
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        err.close()
        return err.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def browser() -> urllib.request.OpenerDirector:
    """A browser with cookies that does not follow redirects (the authorize URL is fake)."""
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)


FAKE_AUTHORIZE_URL = "https://auth.example.com/authorize?state=the-state"


def started(server: fallback_signin.LocalRedirectServer) -> urllib.request.OpenerDirector:
    """Start ``server`` and open its start link in a new browser: the sign-in's browser."""
    server.start(FAKE_AUTHORIZE_URL)
    opener = browser()
    assert get(server.start_url, opener) == 302
    return opener


def test_redirect_server_takes_only_its_callback_with_its_state() -> None:
    port = free_port()
    with fallback_signin.LocalRedirectServer(
        f"http://localhost:{port}/callback/", "the-state"
    ) as server:
        opener = started(server)
        base = f"http://localhost:{port}"
        assert get(f"{base}/other?code=x&state=the-state", opener) == 404
        assert get(f"{base}/callback/?code=x&state=wrong", opener) == 400
        assert get(f"{base}/callback/?code=x", opener) == 400
        assert not server._done.is_set()
        assert get(f"{base}/callback/?code=the-code&state=the-state", opener) == 200
        assert server.wait(1) == "the-code"
        assert get(f"{base}/callback/?code=again&state=the-state", opener) == 400  # one shot
        assert server.code == "the-code"


def test_redirect_server_reports_a_cancelled_sign_in() -> None:
    port = free_port()
    with fallback_signin.LocalRedirectServer(f"http://127.0.0.1:{port}/cb", "s") as server:
        opener = started(server)
        assert get(f"http://127.0.0.1:{port}/cb?error=access_denied&state=s", opener) == 200
        with pytest.raises(CredentialsError, match="cancelled in the browser"):
            server.wait(1)


def test_the_start_link_sets_an_httponly_cookie_and_leads_to_the_authorize_url() -> None:
    port = free_port()
    with fallback_signin.LocalRedirectServer(f"http://localhost:{port}/callback/", "s") as server:
        server.start(FAKE_AUTHORIZE_URL)
        assert server.start_url.startswith(f"http://localhost:{port}/start?once=")
        assert "s" not in urllib.parse.parse_qs(urllib.parse.urlsplit(server.start_url).query)
        with pytest.raises(urllib.error.HTTPError) as info:
            browser().open(server.start_url, timeout=5)
        answer = info.value
        assert answer.code == 302
        assert answer.headers["Location"] == FAKE_AUTHORIZE_URL
        cookie = answer.headers["Set-Cookie"]
        assert cookie.startswith("carto_auth_signin=")
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        answer.close()


def test_a_callback_without_the_start_cookie_is_refused() -> None:
    """Another local user who read ``state`` (the process list) cannot finish the
    sign-in with their own account: their browser never got the cookie."""
    port = free_port()
    with fallback_signin.LocalRedirectServer(f"http://localhost:{port}/callback/", "st") as server:
        opener = started(server)
        callback = f"http://localhost:{port}/callback/?code=the-attackers-code&state=st"
        assert get(callback) == 403
        assert get(callback, browser()) == 403
        assert not server._done.is_set()
        assert server.code is None
        assert get(f"http://localhost:{port}/callback/?code=the-code&state=st", opener) == 200
        assert server.wait(1) == "the-code"


def test_the_start_link_works_once_and_a_second_use_stops_the_sign_in() -> None:
    port = free_port()
    with fallback_signin.LocalRedirectServer(f"http://localhost:{port}/callback/", "st") as server:
        first = started(server)
        assert get(server.start_url, browser()) == 400
        with pytest.raises(CredentialsError, match="opened twice"):
            server.wait(1)
        # The first browser cannot finish it either.
        assert get(f"http://localhost:{port}/callback/?code=c&state=st", first) == 400
        assert server.code is None
        # A made-up link is not a start link at all.
        assert get(f"http://localhost:{port}/start?once=guess", browser()) == 400


def test_an_idle_connection_does_not_block_the_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fallback_signin.LocalRedirectServer, "CONNECTION_TIMEOUT", 1.0)
    port = free_port()
    with fallback_signin.LocalRedirectServer(f"http://localhost:{port}/callback/", "st") as server:
        server.start(FAKE_AUTHORIZE_URL)
        with socket.create_connection(("127.0.0.1", port), 2) as idle:
            idle.sendall(b"GET /callback/?state=st HTTP/1.1\r\n")  # and then nothing
            begin = time.monotonic()
            opener = browser()
            assert get(server.start_url, opener) == 302
            assert get(f"http://localhost:{port}/callback/?code=c&state=st", opener) == 200
            assert time.monotonic() - begin < 0.9  # served while the idle one still waits
            assert server.wait(1) == "c"
            # The idle connection is closed by the server after CONNECTION_TIMEOUT.
            idle.settimeout(5)
            assert idle.recv(100) == b""
            assert time.monotonic() - begin < 4


def test_connections_beyond_the_bound_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fallback_signin.LocalRedirectServer, "MAX_CONNECTIONS", 2)
    monkeypatch.setattr(fallback_signin.LocalRedirectServer, "CONNECTION_TIMEOUT", 1.0)
    port = free_port()
    with fallback_signin.LocalRedirectServer(f"http://localhost:{port}/callback/", "st") as server:
        server.start(FAKE_AUTHORIZE_URL)
        idle = [socket.create_connection(("127.0.0.1", port), 2) for _ in range(2)]
        try:
            time.sleep(0.2)  # both accepted and held
            with socket.create_connection(("127.0.0.1", port), 2) as extra:
                extra.settimeout(0.5)
                extra.sendall(b"GET /start HTTP/1.0\r\n\r\n")
                assert extra.recv(100) == b""  # closed at once, no answer
            time.sleep(1.5)  # the idle ones time out and free their places
            opener = browser()
            assert get(server.start_url, opener) == 302
            assert get(f"http://localhost:{port}/callback/?code=c&state=st", opener) == 200
            assert server.wait(1) == "c"
        finally:
            for each in idle:
                each.close()


def test_redirect_server_wait_is_bounded() -> None:
    port = free_port()
    with fallback_signin.LocalRedirectServer(f"http://localhost:{port}/callback/", "s") as server:
        server.start(FAKE_AUTHORIZE_URL)
        start = time.monotonic()
        with pytest.raises(CredentialsError, match=r"within 0\.5 s"):
            server.wait(0.5)
        assert time.monotonic() - start < 2


def test_redirect_server_refuses_a_busy_port_and_non_loopback_uris() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            fallback_signin.LocalRedirectServer(f"http://localhost:{port}/callback/", "s")
    with pytest.raises(ValueError, match="localhost"):
        fallback_signin.LocalRedirectServer("https://app.carto.com/auth/token", "s")


def test_redirect_server_is_bound_to_loopback_only() -> None:
    port = free_port()
    with fallback_signin.LocalRedirectServer(f"http://localhost:{port}/callback/", "s") as server:
        assert server._server.server_address[0] == "127.0.0.1"


# --- units: PKCE, URLs, what users paste, discovery ----------------------------------


def test_pkce_s256_pair() -> None:
    import base64
    import hashlib

    pair = fallback_signin.Pkce.new()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,128}", pair.verifier)
    expected = base64.urlsafe_b64encode(hashlib.sha256(pair.verifier.encode()).digest())
    assert pair.challenge == expected.decode().rstrip("=")
    assert pair.verifier not in repr(pair)
    assert fallback_signin.Pkce.new().verifier != pair.verifier


def test_authorize_url_has_carto_parameters() -> None:
    from urllib.parse import parse_qs, urlsplit

    config = CartoConfig()
    pkce = fallback_signin.Pkce.new()
    url = fallback_signin.authorize_url(config, config.redirect_uri, "st", pkce, "acme")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == config.auth_url
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "client_id": config.client_id,
        "response_type": "code",
        "redirect_uri": "http://localhost:10000/callback/",
        "scope": "openid profile email offline_access",
        "audience": "carto-cloud-native-api",
        "state": "st",
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        "organization": "acme",
    }
    assert "organization" not in fallback_signin.authorize_url(config, "x", "st", pkce, None)


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("  abc-DEF_123  ", "abc-DEF_123"),
        ("https://app.carto.com/auth/token?code=C0DE&state=S", "C0DE"),
        ("code=C0DE&state=S", "C0DE"),
    ],
)
def test_pasted_code_or_url(pasted: str, expected: str) -> None:
    assert fallback_signin.parse_pasted(pasted, "S") == expected


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        ("", "No access code was entered"),
        ("two words", "does not look like a CARTO access code"),
        ("https://app.carto.com/auth/token?code=C&state=other", "another sign-in"),
        ("https://app.carto.com/auth/token?code=C", "another sign-in"),
        ("https://app.carto.com/auth/token?error=access_denied&state=S", "cancelled"),
        ("https://app.carto.com/auth/token?state=S", "has no access code"),
    ],
)
def test_pasted_problems(pasted: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        fallback_signin.parse_pasted(pasted, "S")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "apis:\n  baseUrl: https://gcp-us-east1.api.carto.com\n",
            "https://gcp-us-east1.api.carto.com",
        ),
        ("name: x\napis:\n  other: 1\n  baseUrl: 'https://a.example'  # c\n", "https://a.example"),
        ('apis:  # the APIs\n\n  baseUrl: "https://b.example"\nnext: 1\n', "https://b.example"),
        ("apis:\n  baseUrl: https://c.example # comment\n", "https://c.example"),
        ("apis:\n  nested:\n    baseUrl: https://deep.example\n", None),
        ("other:\n  baseUrl: https://x.example\napis:\n  x: 1\n", None),
        ("baseUrl: https://top.example\n", None),
        ("apis:\n  baseUrl:\n", None),
        ("", None),
    ],
)
def test_tenant_config_yaml(text: str, expected: str | None) -> None:
    assert discovery.parse_base_url_yaml(text) == expected


def test_discovery_against_the_sandbox(sandbox_long: Sandbox) -> None:
    from jupyterlab_carto_auth.m2m import M2MCredentials, fetch_m2m_token

    config = sandbox_long.config()
    creds = M2MCredentials(
        sandbox_long.api_base_url, sandbox_long.m2m["client_id"], sandbox_long.m2m["client_secret"]
    )
    token = fetch_m2m_token(creds, config).access_token
    assert discovery.discover_api_base_url(token, config) == sandbox_long.api_base_url


def test_script_without_a_terminal_fails_fast(sandbox_long: Sandbox) -> None:
    # pytest's stdin is no terminal, as a script run by cron or CI.
    start = time.monotonic()
    with pytest.raises(NoStdinError, match=r"CartoAuth\.from_m2m"):
        CartoAuth.from_oauth(config=sandbox_long.config(), open_browser=False, use_cache=False)
    assert time.monotonic() - start < 2


def test_script_with_a_terminal_reads_the_code_with_getpass(
    sandbox_long: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import getpass

    user = sandbox_long.info["user"]
    config = sandbox_long.config(access_code_redirect_uri=sandbox_long.info["access_code_url"])
    prompts: list[str] = []

    class Tty:
        def isatty(self) -> bool:
            return True

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        (url,) = AUTHORIZE.findall(capsys.readouterr().out)
        return access_code(sign_in(url, user["email"], user["password"])[1])

    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    auth = CartoAuth.from_oauth(config=config, open_browser=False, use_cache=False)
    assert prompts == [fallback_signin.ACCESS_CODE_PROMPT]
    assert auth.source == "kernel"
    token = auth.get_access_token()
    request = urllib.request.Request(
        f"{sandbox_long.api_base_url}/v3/sql/carto_dw/query?q=select+1",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
    assert token not in repr(auth)
    assert token not in repr(vars(auth))
    assert "source='kernel'" in repr(auth)


def test_a_lab_session_arriving_at_the_paste_prompt_becomes_the_source(
    sandbox_long: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The paste prompt's answer is JupyterLab's session (a late answer to a request
    # of this kernel): from then on this CartoAuth uses the lab's session.
    from jupyterlab_carto_auth import kernel

    class Tty:
        def isatty(self) -> bool:
            return True

    lab_token = "the-labs-token-that-arrived-while-pasting"
    asked: list[str] = []

    def lab_answers(prompt: str, timeout: float) -> tuple[str, Any]:
        asked.append(prompt)
        return "lab", session_message(lab_token, api_base_url=sandbox_long.api_base_url)

    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr(fallback_signin, "_ask", lab_answers)
    try:
        auth = CartoAuth.from_oauth(
            config=sandbox_long.config(), open_browser=False, use_cache=False
        )
        assert asked == [fallback_signin.ACCESS_CODE_PROMPT]
        assert auth.source == "lab"
        assert auth.get_access_token() == lab_token
        assert auth.get_api_base_url() == sandbox_long.api_base_url
        assert "source='jupyterlab'" in repr(auth)
        assert lab_token not in repr(auth) + repr(vars(auth))
    finally:
        kernel.SESSION.clear()


def test_refresh_token_is_never_in_a_repr() -> None:
    from jupyterlab_carto_auth.secret import Secret

    secret = Secret("a-refresh-token-value-1234")
    assert "a-refresh-token-value-1234" not in repr(secret)
    assert "a-refresh-token-value-1234" not in str(secret)


def test_without_a_lab_the_probe_waits_once(start_kernel: StartKernel) -> None:
    _, kc = start_kernel()
    lab = LabClient(kc)
    cell = lab.run(
        "import time, jupyterlab_carto_auth.kernel as k\n"
        "t = time.monotonic(); first = k.probe_lab(); t1 = time.monotonic() - t\n"
        "t = time.monotonic(); second = k.probe_lab(); t2 = time.monotonic() - t\n"
        "print(first, second, t1 >= k.LAB_PROBE_TIMEOUT, t2 < 0.5)\n"
    )
    assert cell.error is None, cell.error
    assert cell.stdout == "False False True True\n"
    assert len(cell.requests) == 1
    (request,) = cell.requests
    assert (request["interactive"], request["reply_via"]) == (False, "stdin")
