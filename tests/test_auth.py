"""CartoAuth against the CARTO sandbox: M2M tokens the API accepts, clear refusals, CARTO DW."""

from __future__ import annotations

import json
import sys
import time
import traceback
import types
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import Sandbox, free_port

from jupyterlab_carto_auth import CartoAuth, CredentialsError
from jupyterlab_carto_auth.cache import CacheKey, TokenCache
from jupyterlab_carto_auth.config import CartoConfig
from jupyterlab_carto_auth.errors import MissingDependencyError, ResponseError, TokenRequestError
from jupyterlab_carto_auth.secret import Token


def api_status(sandbox: Sandbox, token: str | None) -> int:
    """Status of a SQL query on the CARTO API stand-in with this bearer token."""
    url = f"{sandbox.api_base_url}/v3/sql/carto_dw/query?q=select+1"
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert json.load(resp)["rows"][0]["ok"] == 1
            return resp.status
    except urllib.error.HTTPError as err:
        err.close()
        return err.code


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)


# --- the smoke test, in process ----------------------------------------------


def test_m2m_token_is_accepted_by_the_api(sandbox: Sandbox, tmp_path: Path) -> None:
    auth = CartoAuth.from_m2m(sandbox.credentials(tmp_path / "c.json"), config=sandbox.config())
    assert api_status(sandbox, auth.get_access_token()) == 200
    assert auth.get_api_base_url() == sandbox.api_base_url


def test_api_stand_in_refuses_requests_without_a_valid_token(sandbox: Sandbox) -> None:
    # Guards the smoke test: the stand-in really checks tokens.
    assert api_status(sandbox, None) == 401
    assert api_status(sandbox, "not-a-jwt") == 401


def test_wrong_secret_is_refused_with_a_clear_error(sandbox: Sandbox, tmp_path: Path) -> None:
    wrong = "wrong-secret-for-sandbox-m2m"
    path = sandbox.credentials(tmp_path / "carto-credentials.json", client_secret=wrong)
    with pytest.raises(TokenRequestError) as info:
        CartoAuth.from_m2m(path, config=sandbox.config())
    exc = info.value
    assert str(exc) == (
        f"Check client_id and client_secret in {path}: the CARTO token endpoint refused "
        "them (invalid_client: client authentication failed)."
    )
    assert exc.error == "invalid_client"
    assert exc.status == 401
    assert isinstance(exc, CredentialsError)
    text = format_exception(exc)
    assert wrong not in text
    assert sandbox.m2m["client_secret"] not in text


def test_wrong_client_id_is_refused_too(sandbox: Sandbox, tmp_path: Path) -> None:
    path = sandbox.credentials(tmp_path / "c.json", client_id="nobody")
    with pytest.raises(TokenRequestError, match=r"refused them \(invalid_client"):
        CartoAuth.from_m2m(path, config=sandbox.config())


def test_wrong_audience_is_refused_with_the_servers_reason(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = sandbox.credentials(tmp_path / "c.json")
    with pytest.raises(TokenRequestError) as info:
        CartoAuth.from_m2m(path, config=sandbox.config(audience="some-other-api"))
    assert info.value.error == "access_denied"  # Auth0's code for bad client credentials
    assert "(access_denied: Service not found: some-other-api)" in str(info.value)
    assert sandbox.m2m["client_secret"] not in format_exception(info.value)


# --- token lifetime ------------------------------------------------------------------


def test_token_inside_the_margin_is_fetched_again(sandbox: Sandbox, tmp_path: Path) -> None:
    # The sandbox issues 5 s tokens: always inside the 60 s margin, so every call
    # gets a new one, and each new one is accepted.
    auth = CartoAuth.from_m2m(sandbox.credentials(tmp_path / "c.json"), config=sandbox.config())
    first = auth.get_access_token()
    time.sleep(1.1)  # JWT iat has 1 s resolution
    second = auth.get_access_token()
    assert first != second
    assert api_status(sandbox, second) == 200


def test_expired_token_is_refused_by_the_api_and_replaced(sandbox: Sandbox, tmp_path: Path) -> None:
    config = sandbox.config()
    auth = CartoAuth.from_m2m(sandbox.credentials(tmp_path / "c.json"), config=config)
    old = auth.get_access_token()
    time.sleep(6)  # past the 5 s lifetime
    assert api_status(sandbox, old) == 401
    assert api_status(sandbox, auth.get_access_token()) == 200


def test_expired_cache_file_is_replaced_by_a_working_token(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = sandbox.config()
    key = CacheKey("m2m", config.token_url, sandbox.api_base_url, None, sandbox.m2m["client_id"])
    TokenCache(key).save(Token("stale-token", time.time() - 100))
    auth = CartoAuth.from_m2m(sandbox.credentials(tmp_path / "c.json"), config=config)
    token = auth.get_access_token()
    assert token != "stale-token"
    assert api_status(sandbox, token) == 200
    cached = TokenCache(key).load()
    assert cached is not None
    assert cached.access_token != "stale-token"


def test_settings_come_from_the_environment(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    auth = CartoAuth.from_m2m(sandbox.credentials(tmp_path / "c.json"))
    assert api_status(sandbox, auth.get_access_token()) == 200


# --- CARTO Data Warehouse ------------------------------------------------------------


def test_carto_dw_credentials(sandbox: Sandbox, tmp_path: Path) -> None:
    auth = CartoAuth.from_m2m(sandbox.credentials(tmp_path / "c.json"), config=sandbox.config())
    project, token = auth.get_carto_dw_credentials()
    assert project == "carto-dw-sandbox-project"
    assert isinstance(token, str)
    assert len(token) >= 16


def test_carto_dw_credentials_with_a_wrong_api_base_url(sandbox: Sandbox, tmp_path: Path) -> None:
    # The credentials are right but api_base_url points at the identity provider.
    issuer = sandbox.info["issuer"].rstrip("/")
    path = sandbox.credentials(tmp_path / "c.json", api_base_url=issuer)
    auth = CartoAuth.from_m2m(path, config=sandbox.config())
    with pytest.raises(ResponseError) as info:
        auth.get_carto_dw_credentials()
    assert f"api_base_url in {path}" in str(info.value)
    assert "/v3/connections/carto-dw/token" in str(info.value)


def test_carto_dw_client_needs_the_extra(sandbox: Sandbox, tmp_path: Path) -> None:
    import importlib.util

    try:
        installed = importlib.util.find_spec("google.cloud.bigquery") is not None
    except ModuleNotFoundError:
        installed = False
    assert not installed, "google-cloud-bigquery must not be installed in the test venv"
    auth = CartoAuth.from_m2m(sandbox.credentials(tmp_path / "c.json"), config=sandbox.config())
    with pytest.raises(MissingDependencyError) as info:
        auth.get_carto_dw_client()
    assert str(info.value) == (
        "get_carto_dw_client() needs the 'carto-dw' extra: "
        "pip install 'jupyterlab-carto-auth[carto-dw]'"
    )
    assert isinstance(info.value, ImportError)


def test_missing_extra_is_reported_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.cloud.bigquery", None)
    auth = CartoAuth(
        "m2m",
        api_base_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: a request would fail
        client_id="c",
        client_secret="s",
        access_token="tok",
        expiration=time.time() + 3600,
        use_cache=False,
    )
    with pytest.raises(MissingDependencyError, match=r"carto-dw"):
        auth.get_carto_dw_client()


def test_carto_dw_client_is_built_from_the_dw_credentials(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-ins for google-cloud-bigquery and google-auth, which the test venv lacks.
    made: dict[str, Any] = {}

    class Credentials:
        def __init__(self, token: str) -> None:
            self.token = token

    class Client:
        def __init__(self, project: str, credentials: Credentials) -> None:
            made.update(project=project, token=credentials.token)

    google = types.ModuleType("google")
    cloud = types.ModuleType("google.cloud")
    bigquery = types.ModuleType("google.cloud.bigquery")
    oauth2 = types.ModuleType("google.oauth2")
    creds_mod = types.ModuleType("google.oauth2.credentials")
    bigquery.Client = Client  # type: ignore[attr-defined]
    creds_mod.Credentials = Credentials  # type: ignore[attr-defined]
    cloud.bigquery = bigquery  # type: ignore[attr-defined]
    google.cloud = cloud  # type: ignore[attr-defined]
    google.oauth2 = oauth2  # type: ignore[attr-defined]
    oauth2.credentials = creds_mod  # type: ignore[attr-defined]
    for name, module in {
        "google": google,
        "google.cloud": cloud,
        "google.cloud.bigquery": bigquery,
        "google.oauth2": oauth2,
        "google.oauth2.credentials": creds_mod,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)

    auth = CartoAuth.from_m2m(sandbox.credentials(tmp_path / "c.json"), config=sandbox.config())
    client = auth.get_carto_dw_client()
    assert isinstance(client, Client)
    assert made["project"] == "carto-dw-sandbox-project"
    assert isinstance(made["token"], str)
    assert made["token"]


# --- nothing secret in reprs ---------------------------------------------------------


def test_repr_and_str_show_neither_token_nor_secret(sandbox: Sandbox, tmp_path: Path) -> None:
    auth = CartoAuth.from_m2m(sandbox.credentials(tmp_path / "c.json"), config=sandbox.config())
    token = auth.get_access_token()
    for text in (repr(auth), str(auth), repr(vars(auth)), f"{auth!r}"):
        assert token not in text
        assert sandbox.m2m["client_secret"] not in text
    assert "sandbox-m2m" in repr(auth)
    assert "token=<valid for" in repr(auth)


# --- the carto-auth constructor ------------------------------------------------------


def test_constructor_accepts_carto_auths_arguments() -> None:
    expiration = time.time() + 3600
    auth = CartoAuth(
        mode="oauth",
        api_base_url="https://gcp-us-east1.api.carto.com/",
        access_token="tok-oauth",
        expiration=expiration,
        client_id=None,
        client_secret=None,
        cache_filepath=None,
        use_cache=True,
        open_browser=False,
        org="my-org",
    )
    assert auth.get_access_token() == "tok-oauth"
    assert auth.get_api_base_url() == "https://gcp-us-east1.api.carto.com"
    assert "org='my-org'" in repr(auth)


def test_given_token_that_expired_cannot_be_renewed_without_credentials() -> None:
    auth = CartoAuth("oauth", access_token="tok", expiration=time.time() - 1)
    with pytest.raises(CredentialsError, match="has expired"):
        auth.get_access_token()


def test_given_m2m_token_is_used_until_it_expires(sandbox: Sandbox) -> None:
    config = sandbox.config()
    auth = CartoAuth(
        "m2m",
        api_base_url=sandbox.api_base_url,
        client_id=sandbox.m2m["client_id"],
        client_secret=sandbox.m2m["client_secret"],
        access_token="given-token",
        expiration=time.time() + 3600,
        use_cache=False,
        config=config,
    )
    assert auth.get_access_token() == "given-token"
    auth2 = CartoAuth(
        "m2m",
        api_base_url=sandbox.api_base_url,
        client_id=sandbox.m2m["client_id"],
        client_secret=sandbox.m2m["client_secret"],
        access_token="given-token",
        expiration=time.time() - 1,
        use_cache=False,
        config=config,
    )
    assert api_status(sandbox, auth2.get_access_token()) == 200


def test_api_base_url_of_the_oauth_mode_falls_back_to_the_setting() -> None:
    config = CartoConfig(api_base_url="https://gcp-europe-west1.api.carto.com")
    assert CartoAuth("oauth", config=config).get_api_base_url() == config.api_base_url
    with pytest.raises(CredentialsError, match="api_base_url must use https://"):
        CartoAuth("oauth", api_base_url="http://api.example.com")
