"""``GET carto-auth/settings-check``: why the server ignores the user's CARTO settings file.

jupyterlab_server serves a user settings file that does not match the schema
as if it were empty and only logs why. The endpoint gives that warning to the
lab (which tells the user, src/settingproblems.ts); its text must keep naming
the failing keyword and setting, which the lab reads.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from jupyterlab_carto_auth.server.handlers import SESSION_SETTINGS_ID, settings_warning

SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "session.json"


@pytest.fixture
def lab(tmp_path):
    """A fake server with one lab app: its schema folder and user settings folder."""
    schemas = tmp_path / "schemas" / "jupyterlab-carto-auth"
    schemas.mkdir(parents=True)
    shutil.copy(SCHEMA, schemas / "session.json")
    (schemas / "package.json.orig").write_text('{"version": "0.0.0"}')
    user = tmp_path / "user-settings" / "jupyterlab-carto-auth"
    user.mkdir(parents=True)
    app = SimpleNamespace(
        app_settings_dir=str(tmp_path / "app-settings"),
        schemas_dir=str(tmp_path / "schemas"),
        user_settings_dir=str(tmp_path / "user-settings"),
        labextensions_path=[],
    )
    server = SimpleNamespace(
        extension_manager=SimpleNamespace(
            extension_apps={"jupyterlab": [app], "other": [object()]}
        ),
        log=SimpleNamespace(debug=lambda *a: None),
    )
    return server, user / "session.jupyterlab-settings"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '{"tokenUrl": "http://evil.example.com/t"}',
            "Failed validating 'pattern' in schema['properties']['tokenUrl']",
        ),
        ('{"tokenUrl": 5}', "Failed validating 'type' in schema['properties']['tokenUrl']"),
        (
            '{"rememberSession": "yes"}',
            "Failed validating 'type' in schema['properties']['rememberSession']",
        ),
        (
            '{"refreshMarginSeconds": 2}',
            "Failed validating 'minimum' in schema['properties']['refreshMarginSeconds']",
        ),
        (
            '{"signInMethod": "fax"}',
            "Failed validating 'enum' in schema['properties']['signInMethod']",
        ),
        ('{"tokenUrll": "https://x.test/"}', "('tokenUrll' was unexpected)"),
    ],
)
def test_an_ignored_file_gets_the_servers_warning_naming_the_setting(lab, content, expected):
    server, file = lab
    file.write_text(content)
    warning = settings_warning(server, SESSION_SETTINGS_ID)
    assert warning is not None
    assert expected in warning
    if "unexpected" in expected:
        assert "Failed validating 'additionalProperties' in schema" in warning


def test_a_file_that_is_not_json_is_said(lab):
    server, file = lab
    file.write_text('{"tokenUrl": ')
    assert "Failed loading settings" in settings_warning(server, SESSION_SETTINGS_ID)


def test_a_valid_file_or_none_gets_no_warning(lab):
    server, file = lab
    assert settings_warning(server, SESSION_SETTINGS_ID) is None
    file.write_text('{\n  // a comment\n  "tokenUrl": "https://auth.example.com/oauth/token"\n}')
    assert settings_warning(server, SESSION_SETTINGS_ID) is None


async def test_the_endpoint_answers_null_without_a_lab_app(jp_fetch):
    response = await jp_fetch("carto-auth", "settings-check")
    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.body) == {"warning": None}


async def test_the_endpoint_needs_the_jupyter_login(http_server_client, jp_base_url):
    response = await http_server_client.fetch(
        f"{jp_base_url}carto-auth/settings-check", raise_error=False
    )
    assert response.code == 403
    assert json.loads(response.body)["error"] == "forbidden"
