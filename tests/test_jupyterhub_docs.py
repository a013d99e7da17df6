"""docs/jupyterhub.md and the JupyterHub test run one configuration.

The page quotes ``docs/jupyterhub/overrides.json`` and ``docs/jupyterhub/values.yaml``
verbatim; ``ui-tests/hub/launch_hub.py`` gives every single-user server that
``overrides.json`` (the sandbox's SPA client in place of the placeholder, the
sandbox's endpoints in place of CARTO's). These tests fail when the page, the
files, the schema, the chart values or the test hub drift apart.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from pathlib import Path

import yaml
from jsonschema import Draft7Validator

from jupyterlab_carto_auth.server.handlers import CallbackPageHandler, handlers
from jupyterlab_carto_auth.server.proxy import ProxySettings
from jupyterlab_carto_auth.server.relay import RelayManager

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "jupyterhub.md").read_text(encoding="utf-8")
OVERRIDES_FILE = ROOT / "docs" / "jupyterhub" / "overrides.json"
VALUES_FILE = ROOT / "docs" / "jupyterhub" / "values.yaml"
SCHEMA = json.loads((ROOT / "schema" / "session.json").read_text())
PLUGIN = "jupyterlab-carto-auth:session"


def code_blocks(language: str) -> list[str]:
    """The page's fenced code blocks in ``language``, as written."""
    return re.findall(rf"^```{language}\n(.*?)^```$", PAGE, flags=re.DOTALL | re.MULTILINE)


def launch_hub():
    spec = importlib.util.spec_from_file_location(
        "launch_hub", ROOT / "ui-tests" / "hub" / "launch_hub.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def callback_route() -> str:
    """The path, under the server's base URL, of the callback page the extension serves."""
    routes = handlers(
        RelayManager(1.0, logging.getLogger("test")), ProxySettings((), 1.0, 1, "test")
    )
    (route,) = [path for path, cls, _ in routes if cls is CallbackPageHandler]
    return route


def test_the_page_quotes_the_overrides_file_the_test_hub_reads():
    assert OVERRIDES_FILE.read_text() in code_blocks("json")
    assert launch_hub().DOCS_OVERRIDES == OVERRIDES_FILE


def test_the_page_quotes_the_chart_values_file():
    assert VALUES_FILE.read_text() in code_blocks("yaml")


def test_the_documented_settings_are_valid_lab_settings():
    overrides = json.loads(OVERRIDES_FILE.read_text())
    assert list(overrides) == [PLUGIN]
    settings = overrides[PLUGIN]
    Draft7Validator(SCHEMA).validate(settings)
    assert set(settings) <= set(SCHEMA["properties"])
    # The organization's own client, and the callback the server extension serves
    # under every server's base URL (default and named servers alike).
    assert settings["clientId"] != SCHEMA["properties"]["clientId"]["default"]
    assert settings["redirectUri"] == "{baseUrl}" + callback_route()


def test_the_documented_callback_urls_are_what_the_setting_resolves_to():
    redirect = json.loads(OVERRIDES_FILE.read_text())[PLUGIN]["redirectUri"]
    for base in (
        "https://hub.example.org/user/<name>/",
        "https://hub.example.org/user/<name>/<server>/",
    ):
        assert f"`{redirect.replace('{baseUrl}', base)}`" in PAGE


def test_the_chart_values_mount_the_same_overrides_into_the_lab_settings_directory():
    values = yaml.safe_load(VALUES_FILE.read_text())
    files = values["singleuser"]["extraFiles"]
    (entry,) = files.values()
    assert entry["mountPath"].endswith("/share/jupyter/lab/settings/overrides.json")
    assert entry["data"] == json.loads(OVERRIDES_FILE.read_text())
    assert values["hub"]["allowNamedServers"] is True
    assert values["singleuser"]["defaultUrl"] == "/lab"
    assert f"`{entry['mountPath']}`" in PAGE


def test_the_documented_image_installs_this_package():
    project = (ROOT / "pyproject.toml").read_text()
    name = re.search(r'^\[project\]\nname = "([^"]+)"', project, flags=re.MULTILINE)[1]
    (dockerfile,) = code_blocks("dockerfile")
    assert re.search(rf"^RUN pip install .*\b{re.escape(name)}$", dockerfile, flags=re.MULTILINE)


#: What the sandbox reports about itself (its info line), as launch_hub.py reads it.
SANDBOX_INFO = {
    "issuer": "http://127.0.0.1:1/",
    "api_base_url": "http://127.0.0.1:2",
    "authorize_url": "http://127.0.0.1:1/authorize",
    "token_url": "http://127.0.0.1:1/oauth/token",
    "revocation_url": "http://127.0.0.1:1/oauth/revoke",
    "access_code_url": "http://127.0.0.1:1/auth/token",
    "accounts_url": "http://127.0.0.1:2/accounts",
    "tenant_config_url_template": "http://{tenant_domain}/config.yaml",
    "callback_port": 3,
    "clients": {"public": {"client_id": "public"}, "spa": {"client_id": "sandbox-spa"}},
}


def test_the_test_hub_uses_the_documented_settings_on_the_sandbox():
    hub = launch_hub()
    documented = json.loads(OVERRIDES_FILE.read_text())[PLUGIN]
    used = hub.hub_lab_settings(SANDBOX_INFO)[PLUGIN]
    # Every documented setting as written, but the placeholder client id.
    for key, value in documented.items():
        assert used[key] == ("sandbox-spa" if key == "clientId" else value), key
    # Anything else only points the CARTO endpoints at the sandbox.
    extra = set(used) - set(documented)
    assert extra <= {k for k, p in SCHEMA["properties"].items() if "pattern" in p}
    assert all(
        used[k].startswith("http://127.0.0.1:") or "{tenant_domain}" in used[k] for k in extra
    )
    Draft7Validator(SCHEMA).validate(used)


def test_the_test_hub_allows_named_servers_and_registers_each_servers_callback(tmp_path):
    hub = launch_hub()
    assert f"/user/{hub.NAMED_SERVER['user']}/{hub.NAMED_SERVER['name']}/" in hub.server_paths()
    assert {f"/user/{name}/" for name in hub.USERS} <= set(hub.server_paths())
    ports = {"proxy": 4, "hub": 5, "proxy_api": 6}
    config = hub.hub_config(tmp_path, ports, SANDBOX_INFO, "run")
    assert "c.JupyterHub.allow_named_servers = True" in config.splitlines()
