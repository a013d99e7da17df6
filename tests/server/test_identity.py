"""``GET carto-auth/identity``: whose server this is, and whether the requester owns it.

The lab scopes its browser stores by this answer and keeps the CARTO session
away from the kernels of a server the requesting user does not own (JupyterHub
admin access or sharing), so each field is checked against the environment
JupyterHub gives a single-user server.
"""

from __future__ import annotations

import json
import os

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from traitlets.config import Config


class NamedUser(IdentityProvider):
    """Every request is the user named by ``CARTO_TEST_USER`` (as a hub login would be)."""

    def get_user(self, handler):  # type: ignore[override]
        return User(username=os.environ["CARTO_TEST_USER"])


@pytest.fixture
def hub(request) -> tuple[str, str, str] | None:
    """(owner, server name, requesting user) of a JupyterHub server; None: no hub."""
    return getattr(request, "param", None)


@pytest.fixture
def jp_server_config(jp_server_config: Config, hub, monkeypatch) -> Config:
    if hub is None:
        monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
        monkeypatch.delenv("JUPYTERHUB_SERVER_NAME", raising=False)
        return jp_server_config
    owner, server_name, requester = hub
    monkeypatch.setenv("JUPYTERHUB_USER", owner)
    monkeypatch.setenv("JUPYTERHUB_SERVER_NAME", server_name)
    monkeypatch.setenv("CARTO_TEST_USER", requester)
    jp_server_config.ServerApp.identity_provider_class = NamedUser
    return jp_server_config


async def identity(jp_fetch) -> tuple[dict, object]:
    response = await jp_fetch("carto-auth", "identity")
    return json.loads(response.body), response


async def test_without_jupyterhub_the_requester_owns_the_server(jp_fetch):
    body, response = await identity(jp_fetch)
    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert body["server_owner"] is None
    assert body["server_name"] == ""
    assert body["is_owner"] is True
    assert isinstance(body["user"], str)


@pytest.mark.parametrize("hub", [("bob", "", "bob")], indirect=True)
async def test_the_hub_user_of_the_server_is_its_owner(jp_fetch):
    body, _ = await identity(jp_fetch)
    assert body == {"server_owner": "bob", "server_name": "", "user": "bob", "is_owner": True}


@pytest.mark.parametrize("hub", [("bob", "analysis", "alice")], indirect=True)
async def test_another_hub_user_is_not_the_owner(jp_fetch):
    # Alice opened bob's named server (admin access or sharing).
    body, _ = await identity(jp_fetch)
    assert body == {
        "server_owner": "bob",
        "server_name": "analysis",
        "user": "alice",
        "is_owner": False,
    }


async def test_identity_needs_the_jupyter_login(http_server_client, jp_base_url):
    response = await http_server_client.fetch(
        f"{jp_base_url}carto-auth/identity", raise_error=False
    )
    assert response.code == 403
    assert json.loads(response.body)["error"] == "forbidden"
