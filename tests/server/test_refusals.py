"""Requests every endpoint must refuse, one test per row of docs/reliability.md's table.

The rows other files already hold (login, the allow-list, a wrong ``state``) are
named in that table; these are the ones that had no test: the JSON proxy without
the XSRF token, the pass-through proxy without a login, methods an endpoint does
not have, oversized bodies, and a replayed callback.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from loopback import free_port, nobody_listens, wait_until_free

from jupyterlab_carto_auth.server.handlers import MAX_REQUEST_BYTES
from server.relaykit import STATE, browser_get, cookies_of, expect_error, poll, start_relay


async def test_raw_proxy_without_jupyter_login_is_expect_error(
    http_server_client, jp_base_url, upstream
):
    # A valid XSRF pair but no login: only the login check can refuse this.
    page = await http_server_client.fetch(f"{jp_base_url}login", raise_error=False)
    xsrf = cookies_of(page)["_xsrf"]
    query = urlencode({"url": f"{upstream.origin}/oauth/token"})
    response = await http_server_client.fetch(
        f"{jp_base_url}carto-auth/proxy/raw?{query}",
        method="POST",
        body="grant_type=x",
        headers={"Cookie": f"_xsrf={xsrf}", "X-XSRFToken": xsrf},
        raise_error=False,
    )
    assert response.code == 403
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.body)["error"] == "forbidden"
    assert upstream.requests == []


async def test_json_proxy_post_without_the_xsrf_token_is_expect_error(
    http_server_client, jp_base_url, jp_auth_header, upstream
):
    # Given a browser logged in with a cookie (as the lab is)
    login = await http_server_client.fetch(f"{jp_base_url}api/status", headers=jp_auth_header)
    page = await http_server_client.fetch(f"{jp_base_url}login", raise_error=False)
    cookies = {**cookies_of(login), "_xsrf": cookies_of(page)["_xsrf"]}
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = json.dumps({"url": f"{upstream.origin}/oauth/token", "method": "POST", "body": "x=1"})

    async def post(**headers: str):
        return await http_server_client.fetch(
            f"{jp_base_url}carto-auth/proxy",
            method="POST",
            body=body,
            headers={"Cookie": cookie, **headers},
            raise_error=False,
        )

    # when it posts without the XSRF header, nothing goes upstream;
    without = await post()
    assert without.code == 403
    assert json.loads(without.body)["error"] == "forbidden"
    assert upstream.requests == []
    # with it, the same request is forwarded.
    accepted = await post(**{"X-XSRFToken": cookies["_xsrf"]})
    assert accepted.code == 200
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "carto-auth/relay"),
        ("GET", "carto-auth/relay"),
        ("PUT", "carto-auth/relay/some-attempt"),
        ("POST", "carto-auth/relay/some-attempt"),
        ("PUT", "carto-auth/proxy"),
        ("DELETE", "carto-auth/proxy"),
        ("GET", "carto-auth/proxy"),
        ("PUT", "carto-auth/proxy/raw"),
        ("POST", "carto-auth/identity"),
        ("DELETE", "carto-auth/identity"),
    ],
)
async def test_methods_an_endpoint_does_not_have_are_expect_error(jp_fetch, upstream, method, path):
    body = "{}" if method in ("PUT", "POST") else None
    answer = await expect_error(
        jp_fetch(*path.split("/"), method=method, body=body, allow_nonstandard_methods=True),
        405,
    )
    assert answer["error"] == "method_not_allowed"
    assert upstream.requests == []


def oversized(payload: dict) -> str:
    """``payload`` as JSON padded past the endpoints' body limit."""
    text = json.dumps({**payload, "padding": ""})
    return text[:-2] + "x" * (MAX_REQUEST_BYTES - len(text) + 3) + '"}'


async def test_relay_refuses_an_oversized_body_and_listens_nowhere(jp_fetch):
    port = free_port()
    body = oversized({"redirect_uri": f"http://localhost:{port}/callback/", "state": STATE})
    assert len(body) > MAX_REQUEST_BYTES
    answer = await expect_error(jp_fetch("carto-auth", "relay", method="POST", body=body), 400)
    assert answer == {"error": "bad_request", "message": "The request body is too large."}
    assert nobody_listens(port)


async def test_json_proxy_refuses_an_oversized_body_and_sends_nothing(jp_fetch, upstream):
    body = oversized({"url": f"{upstream.origin}/oauth/token", "method": "POST"})
    assert len(body) > MAX_REQUEST_BYTES
    answer = await expect_error(jp_fetch("carto-auth", "proxy", method="POST", body=body), 400)
    assert answer == {"error": "bad_request", "message": "The request body is too large."}
    assert upstream.requests == []


async def test_raw_proxy_refuses_an_oversized_body_and_sends_nothing(
    http_server_client, jp_base_url, jp_auth_header, upstream
):
    # Logged in as oidc-client-ts is (cookie + XSRF header): Jupyter's token
    # scheme in Authorization would be refused first, as jupyter_credential.
    login = await http_server_client.fetch(f"{jp_base_url}api/status", headers=jp_auth_header)
    page = await http_server_client.fetch(f"{jp_base_url}login", raise_error=False)
    cookies = {**cookies_of(login), "_xsrf": cookies_of(page)["_xsrf"]}
    query = urlencode({"url": f"{upstream.origin}/oauth/token"})
    answer = await expect_error(
        http_server_client.fetch(
            f"{jp_base_url}carto-auth/proxy/raw?{query}",
            method="POST",
            body="grant_type=x&padding=" + "x" * MAX_REQUEST_BYTES,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
                "X-XSRFToken": cookies["_xsrf"],
            },
        ),
        400,
    )
    assert answer == {"error": "bad_request", "error_description": "The request body is too large."}
    assert upstream.requests == []


async def test_a_replayed_callback_reaches_no_listener_and_the_result_is_not_given_twice(
    jp_fetch,
):
    port = free_port()
    attempt = await start_relay(jp_fetch, port)
    callback = f"http://127.0.0.1:{port}/callback/?code=abc&state={STATE}"
    assert (await browser_get(callback)).code == 200
    assert await wait_until_free(port)
    assert (await poll(jp_fetch, attempt))["status"] == "done"
    # The same redirect again (a reload, the back button, an attacker's replay):
    with pytest.raises(ConnectionRefusedError):  # nothing listens any more
        await browser_get(callback)
    answer = await expect_error(jp_fetch("carto-auth", "relay", attempt, params={"wait": 0}), 404)
    assert answer["error"] == "not_found"


async def test_a_callback_of_an_earlier_attempt_is_refused_by_the_next_one(jp_fetch):
    # Given a finished attempt, and the next sign-in listening on the same port
    port = free_port()
    first = await start_relay(jp_fetch, port)
    old = f"http://127.0.0.1:{port}/callback/?code=abc&state={STATE}"
    assert (await browser_get(old)).code == 200
    assert await wait_until_free(port)
    assert (await poll(jp_fetch, first))["status"] == "done"
    second = await start_relay(jp_fetch, port, state="n3xt-attempt-state-0123")
    # When the first redirect is replayed, it is refused and hands nothing over
    replay = await browser_get(old)
    assert replay.code == 400
    assert "This sign-in link is for another attempt." in replay.body.decode()
    assert await poll(jp_fetch, second) == {"status": "pending"}
    assert not nobody_listens(port)
    deleted = await jp_fetch("carto-auth", "relay", second, method="DELETE")
    assert deleted.code == 204
