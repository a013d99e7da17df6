"""The pass-through proxy ``{base_url}carto-auth/proxy/raw?url=`` used by oidc-client-ts."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import HTTPClientError


async def raw_post(jp_fetch, url: str, body: str) -> Any:
    """POST a form through the pass-through proxy, as oidc-client-ts does."""
    # Fresh headers each time: jp_fetch adds its auth header to the dict it is given.
    return await jp_fetch(
        "carto-auth",
        "proxy",
        "raw",
        method="POST",
        params={"url": url},
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=body,
    )


async def raw_error(jp_fetch, url: str, body: str, status: int) -> dict[str, Any]:
    """POST that must fail with ``status``; the JSON body of the answer."""
    with pytest.raises(HTTPClientError) as info:
        await raw_post(jp_fetch, url, body)
    assert info.value.code == status
    return json.loads(info.value.response.body)


async def test_form_post_passes_through_with_upstream_status_and_body(jp_fetch, upstream):
    body = urlencode({"grant_type": "authorization_code", "code": "abc", "code_verifier": "v"})
    response = await raw_post(jp_fetch, f"{upstream.origin}/oauth/token", body)
    assert response.code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.body) == {"access_token": "at-1", "expires_in": 3600}
    (seen,) = upstream.requests
    assert seen["body"] == body
    assert seen["headers"]["content-type"] == "application/x-www-form-urlencoded"


async def test_jupyter_credentials_never_travel_upstream(jp_fetch, upstream):
    # jp_fetch authenticates to Jupyter with "Authorization: token <jupyter token>".
    await raw_post(jp_fetch, f"{upstream.origin}/oauth/token", "grant_type=refresh_token")
    (seen,) = upstream.requests
    assert "authorization" not in seen["headers"]


async def test_upstream_oauth_errors_keep_their_status(jp_fetch, upstream):
    payload = await raw_error(
        jp_fetch, f"{upstream.origin}/oauth/denied", "grant_type=authorization_code", 403
    )
    assert payload == {"error": "invalid_grant"}


async def test_disallowed_origin_is_refused_in_oauth_error_shape(jp_fetch):
    payload = await raw_error(
        jp_fetch, "https://evil.example.com/oauth/token", "grant_type=refresh_token", 403
    )
    assert payload["error"] == "forbidden_origin"
    assert "allowed_origins" in payload["error_description"]


async def test_unreachable_host_is_a_network_error(jp_fetch, closed_origin):
    payload = await raw_error(
        jp_fetch, f"{closed_origin}/oauth/token", "grant_type=refresh_token", 502
    )
    assert payload["error"] == "network"
