"""A misbehaving or unreachable token endpoint gives a clear, typed, secret-free error.

The stdlib server of ``fake_server`` stands in for a broken CARTO; the code
under test (``_http`` and ``fetch_m2m_token``) runs for real against it.
"""

from __future__ import annotations

import socket
import time
import traceback
from pathlib import Path

import pytest
from conftest import FakeServer, Reply, free_port, write_credentials

from jupyterlab_carto_auth import CartoAuth, _http
from jupyterlab_carto_auth.config import CartoConfig
from jupyterlab_carto_auth.errors import (
    ConfigError,
    CredentialsError,
    NetworkError,
    ResponseError,
    TokenRequestError,
)
from jupyterlab_carto_auth.m2m import M2MCredentials, fetch_m2m_token

SECRET = "very-secret-client-secret-42"
CREDS = M2MCredentials(
    api_base_url="http://127.0.0.1:1",
    client_id="client-abc",
    client_secret=SECRET,
    source="carto-credentials.json",
)


def _config(token_url: str, timeout: float = 5.0) -> CartoConfig:
    return CartoConfig(token_url=token_url, http_timeout=timeout)


def _fetch_error(server: FakeServer, reply: Reply) -> CredentialsError:
    """The error ``fetch_m2m_token`` raises when the token endpoint answers ``reply``."""
    server.routes["/oauth/token"] = reply
    with pytest.raises(CredentialsError) as info:
        fetch_m2m_token(CREDS, _config(server.url("/oauth/token")))
    _assert_no_secret(info.value)
    return info.value


def _assert_no_secret(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc)
    assert SECRET not in text


def test_good_answer_gives_a_token(fake_server: FakeServer) -> None:
    fake_server.routes["/oauth/token"] = Reply(
        body={"access_token": "tok-1", "expires_in": 86400, "token_type": "Bearer"}
    )
    before = time.time()
    token = fetch_m2m_token(CREDS, _config(fake_server.url("/oauth/token")))
    assert token.access_token == "tok-1"
    assert before + 86400 <= token.expires_at <= time.time() + 86400


def test_request_is_a_form_encoded_client_credentials_grant(fake_server: FakeServer) -> None:
    from urllib.parse import parse_qs

    fake_server.routes["/oauth/token"] = Reply(body={"access_token": "t", "expires_in": 60})
    fetch_m2m_token(CREDS, _config(fake_server.url("/oauth/token")))
    (body,) = fake_server.bodies["/oauth/token"]
    assert parse_qs(body.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["client-abc"],
        "client_secret": [SECRET],
        "audience": ["carto-cloud-native-api"],
    }


@pytest.mark.parametrize("code", ["invalid_client", "access_denied", "unauthorized_client"])
def test_refused_client_credentials_say_to_check_the_file(
    fake_server: FakeServer, code: str
) -> None:
    exc = _fetch_error(
        fake_server,
        Reply(401, {"error": code, "error_description": "Unauthorized"}),
    )
    assert isinstance(exc, TokenRequestError)
    assert (exc.status, exc.error, exc.description) == (401, code, "Unauthorized")
    assert str(exc) == (
        "Check client_id and client_secret in carto-credentials.json: the CARTO token "
        f"endpoint refused them ({code}: Unauthorized)."
    )


def test_other_oauth_error_is_reported_with_its_code(fake_server: FakeServer) -> None:
    exc = _fetch_error(
        fake_server, Reply(400, {"error": "invalid_request", "error_description": "bad audience"})
    )
    assert isinstance(exc, TokenRequestError)
    assert exc.error == "invalid_request"
    assert "invalid_request: bad audience" in str(exc)
    assert "HTTP 400" in str(exc)


def test_server_echoing_the_secret_in_its_error_is_redacted(fake_server: FakeServer) -> None:
    exc = _fetch_error(
        fake_server,
        Reply(400, {"error": "invalid_grant", "error_description": f"bad secret {SECRET}"}),
    )
    assert "(redacted)" in str(exc)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, "<html>Login</html>", content_type="text/html"),
        Reply(200, b"\x00\xff garbage", content_type="application/octet-stream"),
        Reply(200, "{not json", content_type="application/json"),
        Reply(200, "", content_type="application/json"),
    ],
)
def test_non_json_answer(fake_server: FakeServer, reply: Reply) -> None:
    exc = _fetch_error(fake_server, reply)
    assert type(exc) is ResponseError
    assert "not JSON" in str(exc)
    assert "CARTO_TOKEN_URL" in str(exc)
    assert fake_server.url("/oauth/token") in str(exc)


@pytest.mark.parametrize("status", [200, 400, 500])
def test_echoed_request_is_never_shown(fake_server: FakeServer, status: int) -> None:
    # A wrong URL that echoes the form back (as some debug servers do) must not
    # put the secret into the message: bodies are never quoted.
    fake_server.routes["/oauth/token"] = lambda body: Reply(status, body, content_type="text/plain")
    with pytest.raises(ResponseError) as info:
        fetch_m2m_token(CREDS, _config(fake_server.url("/oauth/token")))
    assert SECRET.encode() in fake_server.bodies["/oauth/token"][0]  # it was echoed back
    _assert_no_secret(info.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error(fake_server: FakeServer, status: int) -> None:
    exc = _fetch_error(fake_server, Reply(status, "<h1>oops</h1>", content_type="text/html"))
    assert type(exc) is ResponseError
    assert exc.status == status
    assert f"HTTP {status}" in str(exc)
    assert "try again" in str(exc)


def test_not_found_points_at_the_setting(fake_server: FakeServer) -> None:
    exc = _fetch_error(fake_server, Reply(404, "nope", content_type="text/plain"))
    assert exc.status == 404
    assert "HTTP 404" in str(exc)
    assert "CARTO_TOKEN_URL" in str(exc)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"expires_in": 3600}, "without an access_token"),
        ({"access_token": "", "expires_in": 3600}, "without an access_token"),
        ({"access_token": 5, "expires_in": 3600}, "without an access_token"),
        ({"access_token": "tok"}, "without expires_in"),
        ({"access_token": "tok", "expires_in": "3600"}, "invalid expires_in"),
        ({"access_token": "tok", "expires_in": 0}, "invalid expires_in"),
        ({"access_token": "tok", "expires_in": -5}, "invalid expires_in"),
        ({"access_token": "tok", "expires_in": True}, "invalid expires_in"),
        ([1, 2, 3], "not an object"),
    ],
)
def test_incomplete_token_answer(fake_server: FakeServer, body: object, problem: str) -> None:
    exc = _fetch_error(fake_server, Reply(200, body))
    assert type(exc) is ResponseError
    assert problem in str(exc)


def test_huge_answer_is_refused(fake_server: FakeServer) -> None:
    exc = _fetch_error(fake_server, Reply(200, b"[" * (_http.MAX_BODY_BYTES + 10)))
    assert "larger than" in str(exc)


def test_closed_port_is_a_network_error_naming_the_host() -> None:
    port = free_port()
    start = time.monotonic()
    with pytest.raises(NetworkError) as info:
        fetch_m2m_token(CREDS, _config(f"http://127.0.0.1:{port}/oauth/token", timeout=3))
    assert time.monotonic() - start < 3
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message
    assert "connection refused" in message
    assert "Check your network connection and the CARTO_TOKEN_URL setting" in message
    assert isinstance(info.value, ConnectionError)
    assert info.value.host == f"127.0.0.1:{port}"
    _assert_no_secret(info.value)


def test_silent_server_times_out_within_the_timeout() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        port = listener.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(NetworkError) as info:
            fetch_m2m_token(CREDS, _config(f"http://127.0.0.1:{port}/oauth/token", timeout=0.5))
        elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 3
    assert "no answer within 0.5 s" in str(info.value)


def test_slow_answer_times_out(fake_server: FakeServer) -> None:
    fake_server.routes["/oauth/token"] = Reply(body={"access_token": "t"}, delay=2)
    start = time.monotonic()
    with pytest.raises(NetworkError, match=r"no answer within 0\.3 s"):
        fetch_m2m_token(CREDS, _config(fake_server.url("/oauth/token"), timeout=0.3))
    assert time.monotonic() - start < 1.5


def test_connection_dropped_without_answer(fake_server: FakeServer) -> None:
    fake_server.routes["/oauth/token"] = Reply(drop=True)
    with pytest.raises(NetworkError, match="closed unexpectedly"):
        fetch_m2m_token(CREDS, _config(fake_server.url("/oauth/token")))


def test_from_m2m_reports_the_network_error(tmp_path: Path) -> None:
    port = free_port()
    path = write_credentials(
        tmp_path / "c.json",
        {"api_base_url": "https://api.example.com", "client_id": "a", "client_secret": SECRET},
    )
    with pytest.raises(NetworkError, match=f"127.0.0.1:{port}"):
        CartoAuth.from_m2m(path, config=_config(f"http://127.0.0.1:{port}/t", timeout=2))


def test_get_json_sends_the_bearer_token_and_parses(fake_server: FakeServer) -> None:
    fake_server.routes["/data"] = Reply(body={"ok": 1})
    assert _http.get_json(fake_server.url("/data?q=1"), token="tok", timeout=5) == {"ok": 1}
    (headers,) = fake_server.headers["/data"]
    assert headers["Authorization"] == "Bearer tok"
    assert headers["User-Agent"].startswith("jupyterlab-carto-auth/")


def test_redirect_does_not_carry_the_token(fake_server: FakeServer) -> None:
    port = fake_server.base_url.rsplit(":", 1)[1]
    fake_server.routes["/moved"] = Reply(
        302, "", headers={"Location": f"http://localhost:{port}/landing"}
    )
    fake_server.routes["/landing"] = Reply(body={"landed": True})
    assert _http.get_json(fake_server.url("/moved"), token="tok-xyz", timeout=5) == {"landed": True}
    assert fake_server.headers["/moved"][0]["Authorization"] == "Bearer tok-xyz"
    assert "Authorization" not in fake_server.headers["/landing"][0]


def test_get_json_http_error_names_the_endpoint_without_query(fake_server: FakeServer) -> None:
    fake_server.routes["/v3/x"] = Reply(401, {"error": "invalid_token", "description": "expired"})
    with pytest.raises(ResponseError) as info:
        _http.get_json(fake_server.url("/v3/x?q=secret-sql"), token="tok-123", timeout=5)
    assert type(info.value) is ResponseError  # not a token-endpoint error
    assert info.value.status == 401
    assert "invalid_token: expired" in str(info.value)
    assert fake_server.url("/v3/x") in str(info.value)
    assert "secret-sql" not in str(info.value)
    assert "tok-123" not in str(info.value)


@pytest.mark.parametrize(
    "reply",
    [Reply(401, {"error": "invalid_token", "description": "revoked"}), Reply(401, "no")],
)
def test_a_refused_token_says_sign_in_again(fake_server: FakeServer, reply: Reply) -> None:
    # A token revoked at CARTO still looks valid here: the message says what to do.
    fake_server.routes["/v3/x"] = reply
    with pytest.raises(ResponseError) as info:
        _http.get_json(fake_server.url("/v3/x"), token="tok-123", timeout=5)
    assert "sign in to CARTO again (in JupyterLab: Sign in to CARTO)" in str(info.value)
    assert "tok-123" not in str(info.value)
    # Not for a token endpoint's 401 (a refused client), nor for other statuses
    fake_server.routes["/v3/y"] = Reply(403, {"error": "forbidden"})
    with pytest.raises(ResponseError) as other:
        _http.get_json(fake_server.url("/v3/y"), token="tok-123", timeout=5)
    assert "sign in to CARTO again" not in str(other.value)


def test_get_text_returns_the_body(fake_server: FakeServer) -> None:
    fake_server.routes["/config.yaml"] = Reply(
        body="apis:\n  baseUrl: x\n", content_type="text/yaml"
    )
    assert _http.get_text(fake_server.url("/config.yaml"), timeout=5) == "apis:\n  baseUrl: x\n"


def test_non_http_url_is_refused_before_any_request() -> None:
    with pytest.raises(ConfigError):
        _http.get_text("file:///etc/passwd", timeout=1)
