"""Token expiry is UTC epoch seconds whatever the local time zone; tokens never show in full."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import REPO, FakeServer, Reply

from jupyterlab_carto_auth.secret import Token, mask

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhYmMifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"

_CHILD = """
import json, time
from jupyterlab_carto_auth.config import CartoConfig
from jupyterlab_carto_auth.m2m import M2MCredentials, fetch_m2m_token
creds = M2MCredentials("https://api.example.com", "client", "secret")
token = fetch_m2m_token(creds, CartoConfig(token_url={url!r}))
print(json.dumps({{"expires_at": token.expires_at, "gmtoff": time.localtime().tm_gmtoff}}))
"""


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Asia/Kolkata", "UTC"])
def test_expiry_is_right_in_any_time_zone(fake_server: FakeServer, tz: str) -> None:
    fake_server.routes["/oauth/token"] = Reply(body={"access_token": "tok", "expires_in": 3600})
    env = {**os.environ, "TZ": tz, "PYTHONPATH": str(REPO)}
    before = time.time()
    result = subprocess.run(
        [sys.executable, "-c", _CHILD.format(url=fake_server.url("/oauth/token"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    after = time.time()
    out = json.loads(result.stdout)
    if tz != "UTC":
        assert out["gmtoff"] != 0, "TZ did not take effect in the child"
    # carto-auth's utcnow().timestamp() would be off by gmtoff (hours) here.
    assert before + 3600 - 1 <= out["expires_at"] <= after + 3600 + 1


def test_from_expires_in_uses_the_current_time() -> None:
    before = time.time()
    token = Token.from_expires_in("tok", 120)
    assert before + 120 <= token.expires_at <= time.time() + 120
    assert Token.from_expires_in("tok", 10, now=1000.0).expires_at == 1010.0


def test_is_valid_keeps_a_margin() -> None:
    now = time.time()
    assert Token("t", now + 120).is_valid()
    assert not Token("t", now + 30).is_valid()  # default margin: 60 s
    assert Token("t", now + 30).is_valid(margin=10)
    assert not Token("t", now - 1).is_valid(margin=0)
    assert not Token("t", float("-inf")).is_valid(margin=0)
    assert not Token("t", float("nan")).is_valid(margin=0)


def test_repr_and_str_mask_the_token() -> None:
    token = Token(JWT, time.time() + 3600)
    for text in (repr(token), str(token), repr([token]), f"{token}"):
        assert JWT not in text
        assert JWT[4:12] not in text
        assert "eyJh…(masked)" in text


def test_short_secrets_are_masked_entirely() -> None:
    assert mask("short-token") == "…(masked)"
    assert mask(JWT) == "eyJh…(masked)"
