"""The OAuth redirect page for a user's own SPA client: ``GET {base_url}carto-auth/callback``."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest


def _script(response) -> str:
    """The page's one inline script (found here, not with the server's own pattern,
    so that the CSP check below does not take the server's word for it)."""
    (script,) = re.findall(r"<script>(.*?)</script>", response.body.decode(), re.DOTALL)
    return script


@pytest.mark.parametrize("jp_base_url", ["/user/alice/"])
async def test_callback_page_is_served_under_base_url_without_login(
    http_server_client, jp_base_url
):
    # Given a server under /user/alice/ and a browser with no Jupyter login,
    # when the identity provider redirects back with a code and state,
    response = await http_server_client.fetch(
        "/user/alice/carto-auth/callback?code=SECRET-CODE&state=STATE%3Cb%3E123",
        raise_error=False,
    )
    # then the page is served, uncached, without a referrer, with no echo of the query.
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = response.body.decode()
    assert "SECRET-CODE" not in page
    assert "STATE" not in page
    assert "<b>" not in page


async def test_callback_page_posts_its_url_to_the_lab_and_clears_it(
    http_server_client, jp_base_url
):
    response = await http_server_client.fetch(f"{jp_base_url}carto-auth/callback?code=c&state=s")
    page = response.body.decode()
    assert "type: 'carto-auth:callback', url: window.location.href" in page
    # One channel per server, named for its base path: never the origin-wide one.
    assert "new BroadcastChannel('jupyterlab-carto-auth')" not in page
    # The sign-in window has no opener (the lab cuts it): the channel is the only path.
    assert "window.opener" not in page
    assert "history.replaceState(null, '', window.location.pathname)" in page
    assert "Sign-in finished. You can close this window." in page
    assert "window.close()" in page


async def test_callback_page_csp_allows_exactly_its_own_script(http_server_client, jp_base_url):
    response = await http_server_client.fetch(f"{jp_base_url}carto-auth/callback")
    csp = response.headers["Content-Security-Policy"]
    script = _script(response)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]


#: Runs the page's script as a browser would at a URL (shared with scope.spec.ts).
PAGE_RUNNER = Path(__file__).with_name("run_callback_page.mjs")


@pytest.mark.parametrize("jp_base_url", ["/", "/user/alice/", "/user/a%40b.c/named-1/"])
async def test_callback_page_posts_on_the_channel_of_its_servers_base_path(
    http_server_client, jp_base_url
):
    # Given the page as this server sends it,
    response = await http_server_client.fetch(f"{jp_base_url}carto-auth/callback?code=c&state=s")
    script = _script(response)
    href = f"http://127.0.0.1:8888{jp_base_url}carto-auth/callback?code=c&state=s"
    # when it runs at its URL,
    node = shutil.which("node")
    assert node, "Node.js is needed to run the callback page's script"
    done = subprocess.run(
        [node, str(PAGE_RUNNER)],
        input=json.dumps([script, href]),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    # then it posts its URL once, on the channel src/scope.ts's callbackChannelName
    # gives this base path (the lab listens there), and on no other.
    assert json.loads(done.stdout) == [
        [f"jupyterlab-carto-auth {jp_base_url}", {"type": "carto-auth:callback", "url": href}]
    ]
