"""The pass-through proxy ``{base_url}carto-auth/proxy/raw?url=`` used by oidc-client-ts."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from tornado.httpclient import HTTPClientError


def form() -> dict[str, str]:
    """Fresh headers each time: jp_fetch adds its auth header to the dict it is given."""
    return {"content-type": "application/x-www-form-urlencoded"}


async def test_form_post_passes_through_with_upstream_status_and_body(jp_fetch, upstream):
    body = urlencode({"grant_type": "authorization_code", "code": "abc", "code_verifier": "v"})
    response = await jp_fetch(
        "carto-auth",
        "proxy",
        "raw",
        method="POST",
        params={"url": f"{upstream.origin}/oauth/token"},
        headers=form(),
        body=body,
    )
    assert response.code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.body) == {"access_token": "at-1", "expires_in": 3600}
    (seen,) = upstream.requests
    assert seen["body"] == body
    assert seen["headers"]["content-type"] == "application/x-www-form-urlencoded"


async def test_jupyter_credentials_never_travel_upstream(jp_fetch, upstream):
    # jp_fetch authenticates to Jupyter with "Authorization: token <jupyter token>".
    await jp_fetch(
        "carto-auth",
        "proxy",
        "raw",
        method="POST",
        params={"url": f"{upstream.origin}/oauth/token"},
        headers=form(),
        body="grant_type=refresh_token",
    )
    (seen,) = upstream.requests
    assert "authorization" not in seen["headers"]


async def test_upstream_oauth_errors_keep_their_status(jp_fetch, upstream):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "carto-auth",
            "proxy",
            "raw",
            method="POST",
            params={"url": f"{upstream.origin}/oauth/denied"},
            headers=form(),
            body="grant_type=authorization_code&code=used",
        )
    assert info.value.code == 403
    assert json.loads(info.value.response.body) == {"error": "invalid_grant"}


async def test_disallowed_origin_is_refused_in_oauth_error_shape(jp_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "carto-auth",
            "proxy",
            "raw",
            method="POST",
            params={"url": "https://evil.example.com/oauth/token"},
            headers=form(),
            body="grant_type=refresh_token",
        )
    assert info.value.code == 403
    payload = json.loads(info.value.response.body)
    assert payload["error"] == "forbidden_origin"
    assert "allowed_origins" in payload["error_description"]


async def test_unreachable_host_is_a_network_error(jp_fetch, closed_origin):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "carto-auth",
            "proxy",
            "raw",
            method="POST",
            params={"url": f"{closed_origin}/oauth/token"},
            headers=form(),
            body="grant_type=refresh_token",
        )
    assert info.value.code == 502
    assert json.loads(info.value.response.body)["error"] == "network"
