"""Who may use the endpoints: Jupyter's login for relay and proxy, XSRF for POST/DELETE."""

from __future__ import annotations

import json

import pytest
from loopback import free_port, nobody_listens

from server.relaykit import STATE, cookies_of


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "carto-auth/relay",
            {"redirect_uri": "http://localhost:{port}/cb/", "state": STATE},
        ),
        ("GET", "carto-auth/relay/some-attempt?wait=0", None),
        ("DELETE", "carto-auth/relay/some-attempt", None),
        ("POST", "carto-auth/proxy", {"url": "{origin}/oauth/token", "method": "POST"}),
    ],
)
async def test_requests_without_jupyter_login_are_refused(
    http_server_client, jp_base_url, upstream, method, path, body
):
    # A valid XSRF pair but no login: only the login check can refuse this.
    page = await http_server_client.fetch(f"{jp_base_url}login", raise_error=False)
    xsrf = cookies_of(page)["_xsrf"]
    port = free_port()
    payload = (
        json.dumps({k: v.format(port=port, origin=upstream.origin) for k, v in body.items()})
        if body is not None
        else None
    )
    response = await http_server_client.fetch(
        jp_base_url + path,
        method=method,
        body=payload,
        headers={"Cookie": f"_xsrf={xsrf}", "X-XSRFToken": xsrf},
        raise_error=False,
    )
    assert response.code == 403
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.body)["error"] == "forbidden"
    assert nobody_listens(port)
    assert upstream.requests == []


async def test_cookie_logged_in_posts_need_the_xsrf_token(
    http_server_client, jp_base_url, jp_auth_header
):
    # Given a browser logged in with a cookie (as the lab is),
    login = await http_server_client.fetch(f"{jp_base_url}api/status", headers=jp_auth_header)
    login_cookies = cookies_of(login)
    assert login_cookies
    page = await http_server_client.fetch(f"{jp_base_url}login", raise_error=False)
    xsrf = cookies_of(page)["_xsrf"]
    port = free_port()
    body = json.dumps({"redirect_uri": f"http://localhost:{port}/callback/", "state": STATE})

    def cookie_header(**extra: str) -> str:
        return "; ".join(f"{k}={v}" for k, v in {**login_cookies, **extra}.items())

    # when it posts without the XSRF token, it is refused and nothing listens;
    refused = await http_server_client.fetch(
        f"{jp_base_url}carto-auth/relay",
        method="POST",
        body=body,
        headers={"Cookie": cookie_header(_xsrf=xsrf)},
        raise_error=False,
    )
    assert refused.code == 403
    assert nobody_listens(port)
    # with the token (cookie + header, as JupyterLab sends it) it works.
    accepted = await http_server_client.fetch(
        f"{jp_base_url}carto-auth/relay",
        method="POST",
        body=body,
        headers={"Cookie": cookie_header(_xsrf=xsrf), "X-XSRFToken": xsrf},
        raise_error=False,
    )
    assert accepted.code == 201
    attempt = json.loads(accepted.body)["attempt"]
    # DELETE is XSRF-checked too.
    refused_delete = await http_server_client.fetch(
        f"{jp_base_url}carto-auth/relay/{attempt}",
        method="DELETE",
        headers={"Cookie": cookie_header(_xsrf=xsrf)},
        raise_error=False,
    )
    assert refused_delete.code == 403
    assert not nobody_listens(port)
    deleted = await http_server_client.fetch(
        f"{jp_base_url}carto-auth/relay/{attempt}",
        method="DELETE",
        headers={"Cookie": cookie_header(_xsrf=xsrf), "X-XSRFToken": xsrf},
        raise_error=False,
    )
    assert deleted.code == 204
