"""The lock-free token paths (issue 10) give exactly what the checked paths gave.

``get_access_token()`` reads a snapshot of the held token and ``from_oauth()``
returns the lab's source at once while its session is valid; these tests
drive the session store in this process (no kernel: the lab's pushes are
``SESSION.update`` calls, as ``kernel._dispatch`` makes them) and move the
clock to cross the refresh margin.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jupyterlab_carto_auth import CartoAuth, CredentialsError, kernel
from jupyterlab_carto_auth.secret import Token
from jupyterlab_carto_auth.sources.lab import SIGNED_OUT_IN_LAB


def session(token: str, expires_in: float, *, reason: str = "refresh") -> dict[str, Any]:
    return {
        "v": 1,
        "type": "session",
        "state": "signed_in",
        "access_token": token,
        "expires_at": time.time() + expires_in,
        "api_base_url": "https://gcp-us-east1.api.carto.com",
        "user": {"email": "ada@example.com", "name": "Ada", "org": None},
        "reason": reason,
    }


@pytest.fixture
def lab_session() -> Iterator[kernel.LabSession]:
    kernel.SESSION.clear()
    yield kernel.SESSION
    kernel.SESSION.clear()


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move ``time.time()`` forward by ``seconds``."""
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + seconds)


def test_a_given_token_stops_at_the_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = CartoAuth("oauth", access_token="given-token", expiration=time.time() + 70)
    assert auth.get_access_token() == "given-token"
    assert auth.get_access_token() == "given-token"  # now from the snapshot
    later(monkeypatch, 11)  # 59 s left: inside the 60 s margin
    with pytest.raises(CredentialsError, match="has expired"):
        auth.get_access_token()


def test_a_given_token_without_expiry_is_never_served() -> None:
    auth = CartoAuth("oauth", access_token="given-token")
    for _ in range(2):
        with pytest.raises(CredentialsError, match="has expired"):
            auth.get_access_token()


def test_the_lab_token_follows_every_push(lab_session: kernel.LabSession) -> None:
    lab_session.update(session("first-token", 3600, reason="attach"))
    auth = CartoAuth.from_oauth()
    assert auth.source == "lab"
    assert auth.get_access_token() == "first-token"
    lab_session.update(session("second-token", 3600))
    assert auth.get_access_token() == "second-token"
    assert CartoAuth.from_oauth().get_access_token() == "second-token"
    # A push for the same user that expires earlier is stale and changes nothing.
    lab_session.update(session("stale-token", 1800))
    assert auth.get_access_token() == "second-token"
    lab_session.mark_signed_out()
    with pytest.raises(CredentialsError) as raised:
        auth.get_access_token()
    assert str(raised.value) == SIGNED_OUT_IN_LAB


def test_a_lab_token_inside_its_margin_is_not_served(
    lab_session: kernel.LabSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab_session.update(session("short-token", 100, reason="attach"))  # margin: 25 s
    auth = CartoAuth.from_oauth()
    assert auth.get_access_token() == "short-token"
    later(monkeypatch, 76)
    # Inside the margin the kernel asks the lab, which outside a kernel it cannot.
    with pytest.raises(CredentialsError, match="Jupyter kernel"):
        auth.get_access_token()
    with pytest.raises(CredentialsError, match="Jupyter kernel"):
        CartoAuth.from_oauth()


def test_from_oauth_checks_its_arguments_on_the_fast_path(
    lab_session: kernel.LabSession,
) -> None:
    lab_session.update(session("the-token", 3600, reason="attach"))
    with pytest.raises(CredentialsError, match="api_base_url"):
        CartoAuth.from_oauth(api_base_url="http://example.com")
    auth = CartoAuth.from_oauth(api_base_url="https://other.api.carto.com/", org="acme")
    assert auth.get_api_base_url() == "https://other.api.carto.com"
    assert "org='acme'" in repr(auth)


def test_readers_during_pushes_only_see_pushed_valid_tokens(
    lab_session: kernel.LabSession,
) -> None:
    lab_session.update(session("token-0", 3600, reason="attach"))
    auth = CartoAuth.from_oauth()
    pushed = {"token-0"}
    seen: set[str] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(auth.get_access_token())

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for i in range(1, 300):
            pushed.add(f"token-{i}")
            lab_session.update(session(f"token-{i}", 3600 + i))
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=10)
    assert seen <= pushed
    assert auth.get_access_token() == "token-299"


def test_token_and_session_info_are_still_frozen_values() -> None:
    token = Token("tok", 1e10)
    assert token == Token(access_token="tok", expires_at=1e10)
    assert token != Token("tok", 2e10)
    assert hash(token) == hash(Token("tok", 1e10))
    with pytest.raises(dataclasses.FrozenInstanceError):
        token.expires_at = 0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(token)) == token  # noqa: S301 - our own bytes
    assert copy.copy(token) == token
    message = session("the-secret-value", 3600)
    info = kernel.LabSessionInfo.from_message(message, now=5.0)
    assert info == kernel.LabSessionInfo.from_message(message, now=5.0)
    assert hash(info) == hash(kernel.LabSessionInfo.from_message(message, now=5.0))
    assert info != kernel.LabSessionInfo("signed_out", "sign_out", 5.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.state = "signed_out"  # type: ignore[misc]
    assert "the-secret-value" not in repr(info)
