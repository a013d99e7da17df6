"""The pass-through proxy ``{base_url}carto-auth/proxy/raw?url=`` used by oidc-client-ts.

oidc-client-ts logs in to Jupyter as the lab does, with Jupyter's login cookie and
the ``X-XSRFToken`` header (``fetchRequestCredentials: 'same-origin'``), so
``lab_post`` does the same: an ``Authorization`` header on this route is the
identity provider's, and one that Jupyter would take as its own is refused.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import HTTPClientError, HTTPResponse

LabPost = Callable[..., Awaitable[HTTPResponse]]


def cookies_of(response: HTTPResponse) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


@pytest.fixture
def lab_post(http_server_client, jp_base_url, jp_auth_header) -> LabPost:
    """POST to the raw proxy as the lab's oidc-client-ts does: login cookie + XSRF header."""
    cookies: dict[str, str] = {}

    async def log_in() -> None:
        login = await http_server_client.fetch(f"{jp_base_url}api/status", headers=jp_auth_header)
        page = await http_server_client.fetch(f"{jp_base_url}login", raise_error=False)
        cookies.update(cookies_of(login), _xsrf=cookies_of(page)["_xsrf"])
        assert len(cookies) >= 2  # a login cookie and the XSRF cookie

    async def post(url: str, body: str | None, headers: dict[str, str] | None = None, **kwargs):
        if not cookies:
            await log_in()
        return await http_server_client.fetch(
            proxy_url(jp_base_url, url),
            method=kwargs.pop("method", "POST"),
            body=body,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
                "X-XSRFToken": cookies["_xsrf"],
                **(headers or {}),
            },
            **kwargs,
        )

    return post


def proxy_url(base_url: str, target: str) -> str:
    return f"{base_url}carto-auth/proxy/raw?{urlencode({'url': target})}"


async def raw_post(lab_post: LabPost, url: str, body: str, **headers: str) -> HTTPResponse:
    """POST a form through the pass-through proxy, as oidc-client-ts does."""
    return await lab_post(url, body, headers)


async def raw_error(
    lab_post: LabPost, url: str, body: str, status: int, **headers: str
) -> dict[str, Any]:
    """POST that must fail with ``status``; the JSON body of the answer."""
    with pytest.raises(HTTPClientError) as info:
        await raw_post(lab_post, url, body, **headers)
    assert info.value.code == status
    return json.loads(info.value.response.body)


async def test_form_post_passes_through_with_upstream_status_and_body(lab_post, upstream):
    body = urlencode({"grant_type": "authorization_code", "code": "abc", "code_verifier": "v"})
    response = await raw_post(lab_post, f"{upstream.origin}/oauth/token", body)
    assert response.code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.body) == {"access_token": "at-1", "expires_in": 3600}
    (seen,) = upstream.requests
    assert seen["body"] == body
    assert seen["headers"]["content-type"] == "application/x-www-form-urlencoded"


async def test_upstream_oauth_errors_keep_their_status(lab_post, upstream):
    payload = await raw_error(
        lab_post, f"{upstream.origin}/oauth/denied", "grant_type=authorization_code", 403
    )
    assert payload == {"error": "invalid_grant"}


async def test_disallowed_origin_is_refused_in_oauth_error_shape(lab_post):
    payload = await raw_error(
        lab_post, "https://evil.example.com/oauth/token", "grant_type=refresh_token", 403
    )
    assert payload["error"] == "forbidden_origin"
    assert "allowed_origins" in payload["error_description"]


async def test_unreachable_host_is_a_network_error(lab_post, closed_origin):
    payload = await raw_error(
        lab_post, f"{closed_origin}/oauth/token", "grant_type=refresh_token", 502
    )
    assert payload["error"] == "network"


async def test_the_lab_s_cookie_and_xsrf_token_never_travel_upstream(lab_post, upstream):
    await raw_post(lab_post, f"{upstream.origin}/oauth/token", "grant_type=refresh_token")
    (seen,) = upstream.requests
    assert "authorization" not in seen["headers"]
    assert "cookie" not in seen["headers"]
    assert "x-xsrftoken" not in seen["headers"]


async def test_get_is_not_allowed(lab_post, jp_fetch, upstream):
    # The lab only POSTs here (token and revocation requests); a GET is not XSRF-checked.
    url = f"{upstream.origin}/oauth/token"
    with pytest.raises(HTTPClientError) as info:
        await lab_post(url, None, method="GET")
    assert info.value.code == 405
    assert json.loads(info.value.response.body)["error"] == "method_not_allowed"
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("carto-auth", "proxy", "raw", params={"url": url})
    assert info.value.code == 405
    assert upstream.requests == []


@pytest.mark.parametrize("scheme", ["token", "Token", "TOKEN"])
async def test_jupyter_s_token_scheme_is_refused_not_dropped(lab_post, upstream, scheme):
    payload = await raw_error(
        lab_post,
        f"{upstream.origin}/oauth/token",
        "grant_type=refresh_token",
        400,
        Authorization=f"{scheme} some-value",
    )
    assert payload["error"] == "jupyter_credential"
    assert "never sends Jupyter's credentials" in payload["error_description"]
    assert "some-value" not in payload["error_description"]
    assert upstream.requests == []


async def test_jupyter_s_own_token_scheme_login_is_refused(jp_fetch, upstream):
    # jp_fetch logs in with "Authorization: token <the server's token>": Jupyter
    # accepts it, and so it must not travel on (today's code dropped it silently).
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "carto-auth",
            "proxy",
            "raw",
            method="POST",
            params={"url": f"{upstream.origin}/oauth/token"},
            body="grant_type=refresh_token",
        )
    assert info.value.code == 400
    assert json.loads(info.value.response.body)["error"] == "jupyter_credential"
    assert upstream.requests == []


async def test_the_server_s_own_token_as_bearer_is_refused(
    http_server_client, jp_base_url, jp_serverapp, upstream, caplog
):
    # Jupyter itself accepts "Bearer <its token>": no cookie needed, which is the danger.
    token = jp_serverapp.identity_provider.token
    assert token
    with pytest.raises(HTTPClientError) as info:
        await http_server_client.fetch(
            proxy_url(jp_base_url, f"{upstream.origin}/oauth/token"),
            method="POST",
            body="grant_type=refresh_token",
            headers={
                "Authorization": f"Bearer {token}",
                "content-type": "application/x-www-form-urlencoded",
            },
        )
    assert info.value.code == 400
    body = info.value.response.body.decode()
    assert json.loads(body)["error"] == "jupyter_credential"
    assert token not in body
    assert token not in caplog.text
    assert upstream.requests == []


@pytest.mark.parametrize("variable", ["JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"])
async def test_the_jupyterhub_api_token_as_bearer_is_refused(
    lab_post, upstream, monkeypatch, variable
):
    # What JupyterHub's spawner puts in a single-user server's environment.
    monkeypatch.setenv(variable, "hub-api-token-0123456789")
    payload = await raw_error(
        lab_post,
        f"{upstream.origin}/oauth/token",
        "grant_type=refresh_token",
        400,
        Authorization="bearer hub-api-token-0123456789",
    )
    assert payload["error"] == "jupyter_credential"
    assert "hub-api-token" not in json.dumps(payload)
    assert upstream.requests == []


async def test_a_carto_bearer_is_still_forwarded(lab_post, upstream, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-api-token-0123456789")
    response = await raw_post(
        lab_post,
        f"{upstream.origin}/oauth/token",
        "token=rt-1&token_type_hint=refresh_token",
        Authorization="Bearer carto-access-token-1",
    )
    assert response.code == 200
    (seen,) = upstream.requests
    assert seen["headers"]["authorization"] == "Bearer carto-access-token-1"


async def test_a_front_proxy_s_http_authentication_is_dropped(lab_post, upstream):
    # Browsers add a reverse proxy's Negotiate/Digest credential by themselves:
    # refusing it would break every sign-in behind such a proxy; it never travels on.
    response = await raw_post(
        lab_post,
        f"{upstream.origin}/oauth/token",
        "grant_type=refresh_token",
        Authorization="Negotiate YIIB-front-door",
    )
    assert response.code == 200
    (seen,) = upstream.requests
    assert "authorization" not in seen["headers"]


async def test_a_post_without_the_xsrf_token_is_refused(lab_post, upstream):
    # Why POST only: a cookie-logged-in POST must carry the XSRF token, a GET need not.
    with pytest.raises(HTTPClientError) as info:
        await lab_post(f"{upstream.origin}/oauth/token", "grant_type=x", {"X-XSRFToken": ""})
    assert info.value.code == 403
    assert "xsrf" in json.loads(info.value.response.body)["error_description"].lower()
    assert upstream.requests == []
