"""The localhost callback relay: ``POST/GET/DELETE {base_url}carto-auth/relay``."""

from __future__ import annotations

import asyncio
import json
import time
import types

import pytest
from loopback import HAS_IPV6_LOOPBACK, free_port, listening_socket, nobody_listens, wait_until_free
from tornado.httpclient import HTTPClientError

from jupyterlab_carto_auth.server import relay as relay_module
from server.relaykit import STATE, browser_get, expect_error, poll, start_relay


async def test_relay_hands_over_the_callback_query_once_then_frees_the_port(jp_fetch):
    port = free_port()
    response = await jp_fetch(
        "carto-auth",
        "relay",
        method="POST",
        body=json.dumps({"redirect_uri": f"http://localhost:{port}/callback/", "state": STATE}),
    )
    assert response.code == 201
    started = json.loads(response.body)
    assert started["expires_in"] == 300
    attempt = started["attempt"]
    assert await poll(jp_fetch, attempt) == {"status": "pending"}

    page = await browser_get(f"http://127.0.0.1:{port}/callback/?code=abc&state={STATE}")
    assert page.code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "Signed in to CARTO. You can close this window and return to JupyterLab." in (
        page.body.decode()
    )
    assert "window.close()" in page.body.decode()
    # The listener stops right after answering, before the lab even collects the result.
    assert await wait_until_free(port)

    assert await poll(jp_fetch, attempt, wait=5) == {
        "status": "done",
        "query": f"code=abc&state={STATE}",
    }
    # Only once: then the attempt is forgotten.
    body = await expect_error(jp_fetch("carto-auth", "relay", attempt, params={"wait": 0}), 404)
    assert body["error"] == "not_found"


async def test_long_poll_answers_as_soon_as_the_callback_arrives(jp_fetch):
    port = free_port()
    attempt = await start_relay(jp_fetch, port)
    started = time.monotonic()
    waiting = asyncio.ensure_future(poll(jp_fetch, attempt, wait=15))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await browser_get(f"http://127.0.0.1:{port}/callback/?state={STATE}&code=xyz")
    result = await asyncio.wait_for(waiting, timeout=10)
    assert result == {"status": "done", "query": f"state={STATE}&code=xyz"}
    assert time.monotonic() - started < 10


async def test_long_poll_says_pending_after_its_wait(jp_fetch):
    attempt = await start_relay(jp_fetch, free_port())
    started = time.monotonic()
    assert await poll(jp_fetch, attempt, wait=0.5) == {"status": "pending"}
    assert 0.4 <= time.monotonic() - started < 5


async def test_callback_for_another_attempt_is_refused_and_the_relay_keeps_listening(jp_fetch):
    port = free_port()
    attempt = await start_relay(jp_fetch, port)
    wrong = await browser_get(f"http://127.0.0.1:{port}/callback/?code=abc&state=other-state-123")
    assert wrong.code == 400
    assert (
        "This sign-in link is for another attempt. Start again from JupyterLab."
        in wrong.body.decode()
    )
    assert await poll(jp_fetch, attempt) == {"status": "pending"}
    right = await browser_get(f"http://127.0.0.1:{port}/callback/?code=abc&state={STATE}")
    assert right.code == 200
    assert (await poll(jp_fetch, attempt))["status"] == "done"


async def test_listener_answers_only_the_callback_path(jp_fetch):
    port = free_port()
    attempt = await start_relay(jp_fetch, port)
    other = await browser_get(f"http://127.0.0.1:{port}/favicon.ico?code=abc&state={STATE}")
    assert other.code == 404
    assert await poll(jp_fetch, attempt) == {"status": "pending"}
    assert not nobody_listens(port)


async def test_error_callback_is_relayed_and_shown_escaped(jp_fetch):
    port = free_port()
    attempt = await start_relay(jp_fetch, port)
    query = f"error=access_denied&error_description=%3Cb%3EUser+said+no&state={STATE}"
    page = await browser_get(f"http://127.0.0.1:{port}/callback/?{query}")
    assert page.code == 200
    text = page.body.decode()
    assert "&lt;b&gt;User said no" in text
    assert "<b>" not in text
    assert await poll(jp_fetch, attempt, wait=5) == {"status": "done", "query": query}
    assert await wait_until_free(port)


async def test_busy_port_is_reported_with_an_actionable_message(jp_fetch):
    port = free_port()
    with listening_socket(port):
        body = await expect_error(
            jp_fetch(
                "carto-auth",
                "relay",
                method="POST",
                body=json.dumps(
                    {"redirect_uri": f"http://localhost:{port}/callback/", "state": STATE}
                ),
            ),
            409,
        )
    assert body == {
        "error": "port_busy",
        "message": f"Port {port} on this machine is in use by another program, so the CARTO "
        "sign-in cannot receive its callback there. Close that program, or use Paste access "
        "code.",
    }


async def test_localhost_relay_listens_on_ipv6_loopback_too(jp_fetch):
    port = free_port()
    attempt = await start_relay(jp_fetch, port)
    if HAS_IPV6_LOOPBACK:
        # Chromium may resolve "localhost" to ::1 first.
        page = await browser_get(f"http://[::1]:{port}/callback/?code=v6&state={STATE}")
        assert page.code == 200
        assert (await poll(jp_fetch, attempt, wait=5))["query"] == f"code=v6&state={STATE}"
        assert await wait_until_free(port)
        # And a program holding only [::1]:port makes the port busy for "localhost".
        with listening_socket(port, "::1"):
            await expect_error(
                jp_fetch(
                    "carto-auth",
                    "relay",
                    method="POST",
                    body=json.dumps(
                        {"redirect_uri": f"http://localhost:{port}/callback/", "state": STATE}
                    ),
                ),
                409,
            )
    else:  # no IPv6 on this machine: IPv4 alone must still work
        page = await browser_get(f"http://127.0.0.1:{port}/callback/?code=v4&state={STATE}")
        assert page.code == 200


async def test_cancel_frees_the_port(jp_fetch):
    port = free_port()
    attempt = await start_relay(jp_fetch, port, host="127.0.0.1")
    assert not nobody_listens(port)
    response = await jp_fetch("carto-auth", "relay", attempt, method="DELETE")
    assert response.code == 204
    assert await wait_until_free(port)
    await expect_error(jp_fetch("carto-auth", "relay", attempt, params={"wait": 0}), 404)
    await expect_error(jp_fetch("carto-auth", "relay", attempt, method="DELETE"), 404)


async def test_a_new_attempt_cancels_the_earlier_one(jp_fetch):
    first_port, second_port = free_port(), free_port()
    first = await start_relay(jp_fetch, first_port)
    waiting = asyncio.ensure_future(
        expect_error(jp_fetch("carto-auth", "relay", first, params={"wait": 15}), 404)
    )
    await asyncio.sleep(0.2)
    second = await start_relay(jp_fetch, second_port)
    # The earlier attempt's long-poll ends at once, and its port is free.
    await asyncio.wait_for(waiting, timeout=5)
    assert await wait_until_free(first_port)
    assert await poll(jp_fetch, second) == {"status": "pending"}


@pytest.mark.parametrize("carto_settings", [{"relay_timeout": 0.5}])
async def test_relay_expires_after_relay_timeout_and_frees_the_port(jp_fetch):
    port = free_port()
    response = await jp_fetch(
        "carto-auth",
        "relay",
        method="POST",
        body=json.dumps({"redirect_uri": f"http://localhost:{port}/callback/", "state": STATE}),
    )
    started = json.loads(response.body)
    assert started["expires_in"] == 0.5
    begun = time.monotonic()
    assert await poll(jp_fetch, started["attempt"], wait=10) == {"status": "expired"}
    assert time.monotonic() - begun < 5
    assert await wait_until_free(port)
    with pytest.raises(ConnectionRefusedError):
        await browser_get(f"http://127.0.0.1:{port}/callback/?code=abc&state={STATE}")
    await expect_error(jp_fetch("carto-auth", "relay", started["attempt"]), 404)


async def test_server_shutdown_stops_the_listener(jp_fetch, jp_serverapp):
    port = free_port()
    await start_relay(jp_fetch, port)
    assert not nobody_listens(port)
    # Every shutdown path of jupyter_server (signal, /api/shutdown, tests) ends in
    # cleanup_extensions(), and the extension is stopped by it without patching it.
    assert "cleanup_extensions" not in vars(jp_serverapp)
    await jp_serverapp.cleanup_extensions()
    assert await wait_until_free(port)


async def test_stop_extension_stops_the_listener(jp_fetch, jp_serverapp):
    extension = jp_serverapp.extension_manager.extension_points["jupyterlab_carto_auth"].app
    port = free_port()
    await start_relay(jp_fetch, port)
    assert not nobody_listens(port)
    await extension.stop_extension()
    assert await wait_until_free(port)


async def test_result_survives_a_long_poll_the_lab_abandoned(jp_fetch):
    port = free_port()
    attempt = await start_relay(jp_fetch, port)
    # The lab's long-poll connection drops while waiting...
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("carto-auth", "relay", attempt, params={"wait": 10}, request_timeout=0.5)
    assert info.value.code == 599
    await asyncio.sleep(0.3)
    # ...then the callback arrives: the next poll still gets it.
    await browser_get(f"http://127.0.0.1:{port}/callback/?code=abc&state={STATE}")
    assert await poll(jp_fetch, attempt, wait=5) == {
        "status": "done",
        "query": f"code=abc&state={STATE}",
    }


@pytest.mark.parametrize(
    ("redirect_uri", "state"),
    [
        ("https://localhost:{port}/callback/", STATE),
        ("http://example.com:{port}/callback/", STATE),
        ("http://10.0.0.1:{port}/callback/", STATE),
        ("http://localhost/callback/", STATE),
        ("http://localhost:{port}/callback/?next=1", STATE),
        ("http://user@localhost:{port}/callback/", STATE),
        ("http://localhost:{port}/callback/#frag", STATE),
        ("http://localhost:{port}\\@evil.com/", STATE),
        (None, STATE),
        ("http://localhost:{port}/callback/", "short"),
        ("http://localhost:{port}/callback/", "has spaces in it"),
        ("http://localhost:{port}/callback/", "x" * 513),
        ("http://localhost:{port}/callback/", None),
    ],
)
async def test_relay_refuses_bad_requests(jp_fetch, redirect_uri, state):
    port = free_port()
    uri = redirect_uri.format(port=port) if redirect_uri else redirect_uri
    body = await expect_error(
        jp_fetch(
            "carto-auth",
            "relay",
            method="POST",
            body=json.dumps({"redirect_uri": uri, "state": state}),
        ),
        400,
    )
    assert body["error"] == "bad_request"
    assert body["message"]
    assert nobody_listens(port)


async def test_relay_refuses_a_body_that_is_not_a_json_object(jp_fetch):
    body = await expect_error(jp_fetch("carto-auth", "relay", method="POST", body="not json"), 400)
    assert body["error"] == "bad_request"


async def test_long_poll_rejects_a_wait_that_is_not_a_number(jp_fetch):
    attempt = await start_relay(jp_fetch, free_port())
    body = await expect_error(
        jp_fetch("carto-auth", "relay", attempt, params={"wait": "soon"}), 400
    )
    assert body["error"] == "bad_request"


async def test_unknown_attempt_is_not_found(jp_fetch):
    body = await expect_error(
        jp_fetch("carto-auth", "relay", "no-such-attempt", params={"wait": 0}), 404
    )
    assert body["error"] == "not_found"


async def test_relay_never_logs_the_code_or_state(jp_fetch, caplog):
    caplog.set_level("DEBUG")
    port = free_port()
    attempt = await start_relay(jp_fetch, port)
    await browser_get(
        f"http://127.0.0.1:{port}/callback/?code=secret-code-value&state=wrong-state-1"
    )
    await browser_get(f"http://127.0.0.1:{port}/callback/?code=secret-code-value&state={STATE}")
    await poll(jp_fetch, attempt, wait=5)
    assert "carto-auth relay" in caplog.text
    assert "secret-code-value" not in caplog.text
    assert STATE not in caplog.text
    assert "wrong-state-1" not in caplog.text


class _Python310TimeoutError(Exception):
    """``asyncio.TimeoutError`` as Python 3.10 has it: not the builtin ``TimeoutError``."""


class _Python310Asyncio(types.ModuleType):
    """The relay's view of ``asyncio`` on Python 3.10, where ``wait_for`` times out with
    ``asyncio.TimeoutError`` (its own class); on 3.11+ that is the builtin ``TimeoutError``."""

    TimeoutError = _Python310TimeoutError

    def __init__(self) -> None:
        super().__init__("asyncio")

    def __getattr__(self, name: str):
        return getattr(asyncio, name)

    @staticmethod
    async def wait_for(awaitable, timeout):
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except TimeoutError:
            raise _Python310TimeoutError from None


async def test_pending_poll_works_where_asyncio_timeouterror_is_not_the_builtin(
    jp_fetch, monkeypatch
):
    # Python 3.10 (declared supported) answered every pending poll with a 500:
    # the relay caught the builtin TimeoutError, which asyncio.wait_for does not raise there.
    assert not issubclass(_Python310TimeoutError, TimeoutError)
    monkeypatch.setattr(relay_module, "asyncio", _Python310Asyncio())
    attempt = await start_relay(jp_fetch, free_port())
    started = time.monotonic()
    assert await poll(jp_fetch, attempt, wait=0.3) == {"status": "pending"}
    assert await poll(jp_fetch, attempt, wait=0) == {"status": "pending"}
    assert 0.25 <= time.monotonic() - started < 5
