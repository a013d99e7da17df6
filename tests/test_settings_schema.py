"""The URL settings' schema patterns, as the Jupyter server checks them.

jupyterlab_server validates a settings PUT (and the user settings file it
reads) against ``schema/session.json`` with Python's ``jsonschema``: a URL
setting that is not https (or http to this machine) is refused there, so
kernel code cannot set one through the REST API.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator, ValidationError

SCHEMA = json.loads((Path(__file__).parent.parent / "schema" / "session.json").read_text())
URL_SETTINGS = [
    "redirectUri",
    "accessCodeRedirectUri",
    "issuer",
    "authorizeUrl",
    "tokenUrl",
    "revocationUrl",
    "accountsUrl",
    "tenantConfigUrlTemplate",
    "apiBaseUrl",
]


def validate(settings: dict) -> None:
    Draft7Validator(SCHEMA).validate(settings)


def test_every_url_setting_has_a_pattern_its_default_passes():
    for key in URL_SETTINGS:
        prop = SCHEMA["properties"][key]
        assert "pattern" in prop, key
        validate({key: prop["default"]})


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example.com/oauth/token",
        "http://localhost:10000/callback/",
        "http://127.0.0.1:4000/oauth/token",
        "http://[::1]:8080/oauth/token",
    ],
)
def test_https_and_loopback_http_pass(url):
    validate({"tokenUrl": url})


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example.com/oauth/token",
        "http://localhost.evil.example.com/token",
        "http://localhost@evil.example.com/token",
        "javascript:alert(1)",
        "data:text/html,x",
        "/relative",
        "",
    ],
)
def test_other_urls_are_refused(url):
    with pytest.raises(ValidationError):
        validate({"tokenUrl": url})


def test_placeholders_and_empty_optionals():
    validate({"redirectUri": "{baseUrl}carto-auth/callback"})
    validate({"tenantConfigUrlTemplate": "http://{tenant_domain}/config.yaml"})
    validate({"revocationUrl": "", "apiBaseUrl": ""})
    with pytest.raises(ValidationError):
        validate({"issuer": ""})
