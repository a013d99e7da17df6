"""CartoConfig: CARTO's real defaults, environment overrides and their validation."""

from __future__ import annotations

import dataclasses

import pytest

from jupyterlab_carto_auth.config import ENV_VARS, CartoConfig, is_loopback_host
from jupyterlab_carto_auth.errors import ConfigError


def test_defaults_are_cartos_production_values() -> None:
    config = CartoConfig()
    assert config.auth_url == "https://auth.carto.com/authorize"
    assert config.token_url == "https://auth.carto.com/oauth/token"
    assert config.audience == "carto-cloud-native-api"
    assert config.client_id == "0dxb8HR3ATXCxJiPOJVHsLoHoAtbRX6u"
    assert config.redirect_uri == "http://localhost:10000/callback/"
    assert config.access_code_redirect_uri == "https://app.carto.com/auth/token"
    assert config.accounts_url == "https://accounts.app.carto.com/accounts"
    assert config.tenant_config_url_template == "https://{tenant_domain}/config.yaml"
    assert config.api_base_url is None
    assert config.organization is None
    assert config.http_timeout == 30.0


def test_from_env_without_variables_gives_the_defaults() -> None:
    assert CartoConfig.from_env({}) == CartoConfig()


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        CartoConfig().token_url = "https://evil.example/token"  # type: ignore[misc]


def test_every_field_has_exactly_one_environment_variable() -> None:
    names = [var.name for var in ENV_VARS]
    assert len(set(names)) == len(names)
    assert all(name.startswith("CARTO_") for name in names)
    assert sorted(var.field for var in ENV_VARS) == sorted(
        f.name for f in dataclasses.fields(CartoConfig)
    )
    assert all(var.description.strip() for var in ENV_VARS)


GOOD_VALUES = {
    "CARTO_AUTH_URL": ("auth_url", "https://idp.example.com/authorize"),
    "CARTO_TOKEN_URL": ("token_url", "http://127.0.0.1:5000/oauth/token"),
    "CARTO_AUDIENCE": ("audience", "my-audience"),
    "CARTO_CLIENT_ID": ("client_id", "my-spa-client"),
    "CARTO_REDIRECT_URI": ("redirect_uri", "http://localhost:8888/carto-auth/callback"),
    "CARTO_ACCESS_CODE_URL": ("access_code_redirect_uri", "https://app.example.com/code"),
    "CARTO_ACCOUNTS_URL": ("accounts_url", "http://[::1]:9000/accounts"),
    "CARTO_TENANT_CONFIG_URL_TEMPLATE": (
        "tenant_config_url_template",
        "http://{tenant_domain}/config.yaml",
    ),
    "CARTO_API_BASE_URL": ("api_base_url", "https://gcp-us-east1.api.carto.com"),
    "CARTO_ORGANIZATION": ("organization", "my-org"),
    "CARTO_HTTP_TIMEOUT": ("http_timeout", 2.5),
    "CARTO_SIGNIN_TIMEOUT": ("signin_timeout", 42.0),
}


@pytest.mark.parametrize("name", [var.name for var in ENV_VARS])
def test_each_variable_overrides_its_field(name: str) -> None:
    field, value = GOOD_VALUES[name]
    config = CartoConfig.from_env({name: str(value)})
    assert getattr(config, field) == value
    others = {f.name for f in dataclasses.fields(CartoConfig)} - {field}
    assert all(getattr(config, f) == getattr(CartoConfig(), f) for f in others)


def test_os_environ_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTO_TOKEN_URL", "https://login.example.com/oauth/token")
    assert CartoConfig.from_env().token_url == "https://login.example.com/oauth/token"


def test_from_env_is_built_once_per_set_of_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """``from_env()`` caches its config (every ``from_oauth()`` asks), and every change
    of a ``CARTO_*`` variable through ``os.environ`` gives the config of the new values."""
    for var in ENV_VARS:
        monkeypatch.delenv(var.name, raising=False)
    first = CartoConfig.from_env()
    assert CartoConfig.from_env() is first
    for var, value in [
        ("CARTO_TOKEN_URL", "https://login.example.com/oauth/token"),
        ("CARTO_SIGNIN_TIMEOUT", "12"),
        ("CARTO_ORGANIZATION", "acme"),
    ]:
        monkeypatch.setenv(var, value)
        changed = CartoConfig.from_env()
        assert changed is not first
        assert changed == CartoConfig.from_env({var: value})
        assert CartoConfig.from_env() is changed
        monkeypatch.delenv(var)
        assert CartoConfig.from_env() == first
    monkeypatch.setenv("CARTO_HTTP_TIMEOUT", "soon")  # a bad value is refused every time
    for _ in range(2):
        with pytest.raises(ConfigError, match="CARTO_HTTP_TIMEOUT"):
            CartoConfig.from_env()
    monkeypatch.setenv("CARTO_HTTP_TIMEOUT", "7")
    assert CartoConfig.from_env().http_timeout == 7.0


def test_from_env_reads_a_replaced_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache's fast read of ``os.environ`` falls back to ``get`` on a plain mapping."""
    CartoConfig.from_env()
    monkeypatch.setattr("os.environ", {"CARTO_AUDIENCE": "other-audience"})
    assert CartoConfig.from_env().audience == "other-audience"


@pytest.mark.parametrize("blank", ["", "   "])
def test_empty_variable_counts_as_unset(blank: str) -> None:
    env = {var.name: blank for var in ENV_VARS}
    assert CartoConfig.from_env(env) == CartoConfig()


def test_values_are_stripped_and_api_base_url_loses_trailing_slash() -> None:
    config = CartoConfig.from_env(
        {
            "CARTO_API_BASE_URL": " https://gcp-us-east1.api.carto.com/ \n",
            "CARTO_ORGANIZATION": " org ",
        }
    )
    assert config.api_base_url == "https://gcp-us-east1.api.carto.com"
    assert config.organization == "org"


@pytest.mark.parametrize(
    "name",
    [
        "CARTO_AUTH_URL",
        "CARTO_TOKEN_URL",
        "CARTO_REDIRECT_URI",
        "CARTO_ACCESS_CODE_URL",
        "CARTO_ACCOUNTS_URL",
        "CARTO_API_BASE_URL",
    ],
)
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://auth.example.com/x", "must use https://"),
        ("http://10.0.0.1/x", "must use https://"),
        ("http://128.0.0.1/x", "must use https://"),
        ("ftp://auth.example.com/x", "must be an https:// URL"),
        ("auth.example.com/x", "must be an https:// URL"),
        ("https:///x", "has no host name"),
        ("https://auth.example.com:99999/x", "is not a valid URL"),
        ("https://auth.example.com/a b", "spaces"),
    ],
)
def test_bad_url_names_the_variable(name: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        CartoConfig.from_env({name: value})
    assert str(info.value).startswith(name + " ")
    assert problem in str(info.value)


def test_url_with_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        CartoConfig.from_env({"CARTO_TOKEN_URL": "https://user:hunter2@auth.example.com/t"})
    assert "CARTO_TOKEN_URL" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:5000/t",
        "http://LOCALHOST/t",
        "http://127.0.0.1:5000/t",
        "http://127.1.2.3/t",
        "http://[::1]:5000/t",
    ],
)
def test_plain_http_is_allowed_for_loopback_hosts(url: str) -> None:
    assert CartoConfig.from_env({"CARTO_TOKEN_URL": url}).token_url == url


def test_loopback_detection() -> None:
    assert is_loopback_host("localhost")
    assert is_loopback_host("127.255.0.1")
    assert is_loopback_host("::1")
    assert not is_loopback_host("localhost.example.com")
    assert not is_loopback_host("0.0.0.0")  # noqa: S104 - not a bind
    assert not is_loopback_host("192.168.1.1")


@pytest.mark.parametrize(
    "template",
    [
        "https://example.com/config.yaml",  # no placeholder
        "https://{tenant}/config.yaml",  # wrong placeholder
        "https://{tenant_domain}/{other}.yaml",
        "https://{tenant_domain/config.yaml",  # broken braces
        "ftp://{tenant_domain}/config.yaml",
    ],
)
def test_bad_tenant_config_template(template: str) -> None:
    with pytest.raises(ConfigError, match="CARTO_TENANT_CONFIG_URL_TEMPLATE"):
        CartoConfig.from_env({"CARTO_TENANT_CONFIG_URL_TEMPLATE": template})


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_bad_timeout(value: str) -> None:
    with pytest.raises(ConfigError, match="CARTO_HTTP_TIMEOUT"):
        CartoConfig.from_env({"CARTO_HTTP_TIMEOUT": value})


def test_direct_construction_is_validated_and_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"CartoConfig\.token_url .*https://"):
        CartoConfig(token_url="http://auth.example.com/oauth/token")
    with pytest.raises(ConfigError, match=r"CartoConfig\.http_timeout"):
        CartoConfig(http_timeout=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"CartoConfig\.audience"):
        CartoConfig(audience=" ")


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="CARTO_HTTP_TIMEOUT"):
        CartoConfig.from_env({"CARTO_HTTP_TIMEOUT": "soon"})
