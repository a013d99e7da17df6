"""The allow-listed token/discovery proxy: ``POST {base_url}carto-auth/proxy``."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from tornado.httpclient import HTTPClientError


async def proxy(jp_fetch, **request) -> dict:
    response = await jp_fetch("carto-auth", "proxy", method="POST", body=json.dumps(request))
    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return json.loads(response.body)


async def proxy_error(jp_fetch, status: int, **request) -> dict:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("carto-auth", "proxy", method="POST", body=json.dumps(request))
    assert info.value.code == status
    assert info.value.response.headers["Cache-Control"] == "no-store"
    return json.loads(info.value.response.body)


async def test_token_request_is_forwarded_with_only_the_allowed_headers(jp_fetch, upstream):
    form = urlencode({"grant_type": "authorization_code", "code": "abc", "code_verifier": "v"})
    envelope = await proxy(
        jp_fetch,
        url=f"{upstream.origin}/oauth/token",
        method="POST",
        headers={
            "Authorization": "Basic Y2xpZW50OnNlY3JldA==",
            "Content-Type": "application/x-www-form-urlencoded",
            "accept": "application/json",
            "Cookie": "session=should-not-travel",
            "X-Forwarded-For": "10.0.0.1",
        },
        body=form,
    )
    assert envelope == {
        "status": 200,
        "content_type": "application/json",
        "body": json.dumps({"access_token": "at-1", "expires_in": 3600}),
    }
    (seen,) = upstream.requests
    assert seen["method"] == "POST"
    assert seen["path"] == "/oauth/token"
    assert seen["body"] == form
    assert seen["headers"]["authorization"] == "Basic Y2xpZW50OnNlY3JldA=="
    assert seen["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert seen["headers"]["accept"] == "application/json"
    assert "cookie" not in seen["headers"]
    assert "x-forwarded-for" not in seen["headers"]
    assert "x-xsrftoken" not in seen["headers"]
    assert seen["headers"]["user-agent"].startswith("jupyterlab-carto-auth/")


async def test_discovery_get_keeps_the_query_and_sends_no_body(jp_fetch, upstream):
    envelope = await proxy(
        jp_fetch,
        url=f"{upstream.origin}/accounts?x=1#fragment",
        headers={"authorization": "Bearer at-1"},
    )
    assert envelope["status"] == 404  # the stand-in has no /accounts: passed back as is
    (seen,) = upstream.requests
    assert seen == {
        "method": "GET",
        "path": "/accounts?x=1",
        "headers": seen["headers"],
        "body": "",
    }
    assert seen["headers"]["authorization"] == "Bearer at-1"


async def test_upstream_oauth_error_comes_back_inside_the_envelope(jp_fetch, upstream):
    envelope = await proxy(jp_fetch, url=f"{upstream.origin}/oauth/denied", method="POST", body="")
    assert envelope == {
        "status": 403,
        "content_type": "application/json; charset=utf-8",
        "body": '{"error": "invalid_grant"}',
    }


async def test_redirects_are_returned_not_followed(jp_fetch, upstream):
    envelope = await proxy(jp_fetch, url=f"{upstream.origin}/redirect")
    assert envelope["status"] == 302
    assert envelope["body"] == "moved"
    assert [r["path"] for r in upstream.requests] == ["/redirect"]


async def test_oversized_answer_is_refused(jp_fetch, upstream):
    body = await proxy_error(jp_fetch, 502, url=f"{upstream.origin}/big")
    assert body["error"] == "response_too_large"


@pytest.mark.parametrize("carto_settings", [{"max_response_bytes": 10}])
async def test_max_response_bytes_is_configurable(jp_fetch, upstream):
    body = await proxy_error(jp_fetch, 502, url=f"{upstream.origin}/oauth/token", method="POST")
    assert body == {
        "error": "response_too_large",
        "message": f"The answer from {upstream.origin} is larger than 10 bytes.",
    }
    assert (await proxy(jp_fetch, url=f"{upstream.origin}/redirect"))["body"] == "moved"


async def test_unreachable_host_is_a_network_error(jp_fetch, closed_origin):
    body = await proxy_error(jp_fetch, 502, url=f"{closed_origin}/oauth/token")
    assert body["error"] == "network"
    assert body["message"].startswith(f"Could not reach {closed_origin}: ")


@pytest.mark.parametrize("carto_settings", [{"proxy_timeout": 0.5}])
async def test_slow_host_is_a_timeout(jp_fetch, upstream):
    body = await proxy_error(jp_fetch, 504, url=f"{upstream.origin}/slow")
    assert body == {"error": "network", "message": f"Could not reach {upstream.origin}: timed out"}


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/oauth/token",
        "https://auth.carto.com.evil.com/oauth/token",
        "http://auth.carto.com/oauth/token",
        "https://auth.carto.com:8443/oauth/token",
    ],
)
async def test_hosts_off_the_allow_list_are_forbidden(jp_fetch, upstream, url):
    body = await proxy_error(jp_fetch, 403, url=url)
    assert body["error"] == "forbidden_origin"
    assert body["message"].endswith(
        "is not a configured CARTO host; add it to CartoAuthServer.allowed_origins"
    )
    assert upstream.requests == []


@pytest.mark.parametrize(
    "request_body",
    [
        {"url": "ftp://127.0.0.1/x"},
        {"url": "file:///etc/passwd"},
        {"url": "not a url"},
        {"url": 42},
        {"method": "GET"},
        {"url": "{origin}/oauth/token", "method": "PUT"},
        {"url": "{origin}/oauth/token", "method": "GET", "body": "x=1"},
        {"url": "{origin}/oauth/token", "headers": ["authorization"]},
        {"url": "{origin}/oauth/token", "headers": {"accept": "a\r\nX-Injected: 1"}},
        {"url": "{origin}/oauth/token", "method": "POST", "body": {"a": 1}},
        {"url": "http://user:pw@{host}/oauth/token"},
    ],
)
async def test_malformed_requests_are_refused(jp_fetch, upstream, request_body):
    host = upstream.origin.split("://", 1)[1]
    request = {
        k: v.format(origin=upstream.origin, host=host) if isinstance(v, str) else v
        for k, v in request_body.items()
    }
    body = await proxy_error(jp_fetch, 400, **request)
    assert body["error"] == "bad_request"
    assert upstream.requests == []


async def test_proxy_logs_no_secrets(jp_fetch, upstream, caplog):
    caplog.set_level("DEBUG")
    await proxy(
        jp_fetch,
        url=f"{upstream.origin}/oauth/token?client_hint=query-secret",
        method="POST",
        headers={"authorization": "Bearer header-secret"},
        body="refresh_token=body-secret",
    )
    assert f"carto-auth proxy: POST {upstream.origin}/oauth/token -> 200" in caplog.text
    for secret in ("query-secret", "header-secret", "body-secret", "at-1"):
        assert secret not in caplog.text


@pytest.mark.parametrize(
    "authorization",
    ["token {token}", "Bearer {token}", "bearer {hub}", "Token anything-at-all"],
)
async def test_jupyter_credentials_in_the_request_are_refused(
    jp_fetch, jp_serverapp, upstream, monkeypatch, authorization
):
    # The lab puts only CARTO's bearer here; Jupyter's or JupyterHub's own token never leaves.
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-api-token-0123456789")
    token = jp_serverapp.identity_provider.token
    header = authorization.format(token=token, hub="hub-api-token-0123456789")
    body = await proxy_error(
        jp_fetch,
        400,
        url=f"{upstream.origin}/oauth/token",
        method="POST",
        headers={"authorization": header},
        body="grant_type=refresh_token",
    )
    assert body["error"] == "jupyter_credential"
    assert token not in body["message"]
    assert "hub-api-token" not in body["message"]
    assert upstream.requests == []
