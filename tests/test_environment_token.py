"""``CARTO_API_TOKEN`` (and ``CARTO_API_BASE_URL``) in the kernel's environment come before
JupyterLab's session, as in CARTO's CLI (README, "Configuration")."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import Sandbox
from labclient import API_CHECK, LabClient, session_message
from test_lab_bridge import real_token

from jupyterlab_carto_auth import CartoAuth
from jupyterlab_carto_auth.config import env_api_token
from jupyterlab_carto_auth.errors import ConfigError, CredentialsError
from jupyterlab_carto_auth.secret import mask

StartKernel = Callable[..., tuple[Any, Any]]
OPAQUE = "carto-api-access-token-0123456789abcdef"
LAB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJsYWIiOjF9.bGFiLXRva2VuLXNpZ25hdHVyZQ"


def jwt(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_from_oauth_uses_the_environments_token_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTO_API_TOKEN", f"  {OPAQUE}\n")
    monkeypatch.setenv("CARTO_API_BASE_URL", "https://gcp-us-east1.api.carto.com/")
    auth = CartoAuth.from_oauth(org="acme")
    assert auth.source == "environment"
    assert auth.get_access_token() == OPAQUE
    assert auth.get_api_base_url() == "https://gcp-us-east1.api.carto.com"
    shown = repr(auth)
    assert OPAQUE not in shown
    assert shown == (
        "CartoAuth(mode='oauth', source='environment', "
        "api_base_url='https://gcp-us-east1.api.carto.com', org='acme', token=<CARTO_API_TOKEN>)"
    )
    # The api_base_url argument comes first, as every explicit argument.
    explicit = CartoAuth.from_oauth(api_base_url="https://eu.api.example.com")
    assert explicit.get_api_base_url() == "https://eu.api.example.com"
    assert asyncio.run(CartoAuth.from_oauth_async()).source == "environment"
    # A token given to the constructor is explicit: the environment does not replace it.
    given = CartoAuth("oauth", access_token="given-token-0123456789", expiration=time.time() + 600)
    assert given.get_access_token() == "given-token-0123456789"


def test_a_jwt_in_the_environment_is_used_until_its_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = jwt({"exp": time.time() + 600})
    monkeypatch.setenv("CARTO_API_TOKEN", fresh)
    auth = CartoAuth.from_oauth()
    assert auth.get_access_token() == fresh
    assert "token=<valid for 6" in repr(auth)
    expired = jwt({"exp": time.time() - 5})
    monkeypatch.setenv("CARTO_API_TOKEN", expired)
    auth = CartoAuth.from_oauth()
    with pytest.raises(
        CredentialsError, match="CARTO_API_TOKEN set in this kernel's environment has expired"
    ) as info:
        auth.get_access_token()
    assert expired not in str(info.value)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (f"Bearer {OPAQUE}", "without 'Bearer '"),
        (f"{OPAQUE} {OPAQUE}", "without spaces or control characters"),
        (f"{OPAQUE}\x01", "without spaces or control characters"),
    ],
)
def test_a_bad_token_in_the_environment_is_a_clear_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("CARTO_API_TOKEN", value)
    with pytest.raises(ConfigError, match="CARTO_API_TOKEN") as info:
        CartoAuth.from_oauth()
    assert says in str(info.value)
    assert OPAQUE not in str(info.value)


def test_blank_token_is_unset_and_a_bad_base_url_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert env_api_token({"CARTO_API_TOKEN": "   "}) is None
    monkeypatch.setenv("CARTO_API_TOKEN", " \t")
    assert env_api_token() is None
    monkeypatch.setenv("CARTO_API_TOKEN", OPAQUE)
    monkeypatch.setenv("CARTO_API_BASE_URL", "http://api.example.com")
    with pytest.raises(ConfigError, match=r"^CARTO_API_BASE_URL must use https://"):
        CartoAuth.from_oauth()


def test_the_environments_token_comes_before_the_labs_session_in_a_kernel(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    # Given a real token in the kernel's environment and a lab signed in to another account
    token = real_token(sandbox_long)
    _, kc = start_kernel(
        CARTO_API_TOKEN=token.access_token, CARTO_API_BASE_URL=sandbox_long.api_base_url
    )
    lab = LabClient(kc)
    lab.attach(session_message(LAB_TOKEN, time.time() + 3000, org="acme"))
    # When a cell signs in and uses the magics
    cell = lab.run(
        API_CHECK.format(base=sandbox_long.api_base_url) + "%load_ext jupyterlab_carto_auth\n"
        "from jupyterlab_carto_auth import CartoAuth\n"
        "a = CartoAuth.from_oauth()\n"
        f"print(a.source, a.get_access_token() == {token.access_token!r})\n"
        "print(api_status(a.get_access_token()), a.get_api_base_url())\n"
        "%carto token\n"
        "%carto login\n"
        "%carto logout\n"
        "%carto status\n"
    )
    # Then the environment's token is used, the lab is never asked and is said to be ignored
    assert cell.error is None, cell.error
    note = (
        "This kernel uses CARTO_API_TOKEN from its environment, which comes before "
        "JupyterLab's session: unset it (and restart the kernel) to use JupyterLab's "
        "CARTO account."
    )
    assert cell.stdout.splitlines() == [
        "environment True",
        f"200 {sandbox_long.api_base_url}",
        mask(token.access_token),
        note,
        note,
    ]
    assert cell.requests == []
    assert lab.from_kernel == []  # no sign_out either
    (status,) = cell.data
    text = status["text/plain"]
    assert "yes (CARTO_API_TOKEN of the kernel's environment)" in text
    assert "not used while CARTO_API_TOKEN is set" in text
    assert "attached" in text
    assert "not attached" not in text
    assert token.access_token not in cell.text()
    assert LAB_TOKEN not in cell.text()
