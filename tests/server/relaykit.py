"""What several server tests do alike: start a relay attempt, poll it, read a
refusal, read cookies, and be the browser that CARTO redirects to loopback."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse

STATE = "st4te-Value_0123456789abcdef"


def cookies_of(response) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


async def start_relay(jp_fetch, port: int, *, host: str = "localhost", state: str = STATE) -> str:
    response = await jp_fetch(
        "carto-auth",
        "relay",
        method="POST",
        body=json.dumps({"redirect_uri": f"http://{host}:{port}/callback/", "state": state}),
    )
    assert response.code == 201
    assert response.headers["Cache-Control"] == "no-store"
    return json.loads(response.body)["attempt"]


async def poll(jp_fetch, attempt: str, wait: float = 0) -> dict:
    response = await jp_fetch("carto-auth", "relay", attempt, params={"wait": wait})
    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return json.loads(response.body)


async def expect_error(call, status: int) -> dict:
    """The JSON body of an answer that must have ``status`` and ``no-store``."""
    with pytest.raises(HTTPClientError) as info:
        await call
    assert info.value.code == status
    assert info.value.response.headers["Cache-Control"] == "no-store"
    return json.loads(info.value.response.body)


async def browser_get(url: str) -> HTTPResponse:
    """What the browser does after CARTO redirects it to the loopback URI."""
    return await AsyncHTTPClient().fetch(url, raise_error=False, request_timeout=10)
