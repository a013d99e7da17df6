"""Allow-list matching and the ``CartoAuthServer`` settings (no server needed)."""

from __future__ import annotations

import logging

import pytest
from traitlets import TraitError
from traitlets.config import Config

from jupyterlab_carto_auth.server.app import DEFAULT_ALLOWED_ORIGINS, CartoAuthServer
from jupyterlab_carto_auth.server.errors import ApiError
from jupyterlab_carto_auth.server.proxy import (
    OriginPattern,
    check_url,
    parse_origin_patterns,
)

DEFAULTS = parse_origin_patterns(DEFAULT_ALLOWED_ORIGINS)


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.carto.com/oauth/token",
        "https://auth.carto.com:443/authorize",
        "https://AUTH.carto.com/oauth/token",
        "https://accounts.app.carto.com/accounts",
        "https://gcp-us-east1.api.carto.com/v3/connections/carto-dw/token",
        "https://clausa.app.carto.com/config.yaml",
    ],
)
def test_default_allow_list_admits_carto_hosts(url):
    origin, _ = check_url(url, DEFAULTS)
    assert origin.scheme == "https"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.com/https://auth.carto.com",
        "https://auth.carto.com.evil.com/oauth/token",
        "http://auth.carto.com/oauth/token",
        "https://auth.carto.com:8443/oauth/token",
        "https://api.carto.com/v3",  # the wildcard needs one label before the suffix
        "https://a.b.api.carto.com/v3",  # ... and exactly one
        "https://evil-api.carto.com.attacker.net/",
        "https://xapi.carto.com/",
        "https://auth.carto.com@evil.com/",
        "https://evil.com\\@auth.carto.com/",
        "https://evil.com#@auth.carto.com/",
        "javascript://auth.carto.com/%0aalert(1)",
        "https://auth.carto.com./oauth/token",
    ],
)
def test_default_allow_list_refuses_lookalikes(url):
    with pytest.raises(ApiError) as info:
        check_url(url, DEFAULTS)
    assert info.value.status in (400, 403)


def test_wildcard_matches_one_label_with_same_scheme_and_port():
    pattern = OriginPattern.parse("https://*.api.carto.com")
    assert str(pattern) == "https://*.api.carto.com"
    allowed, _ = check_url("https://gcp-us-east1.api.carto.com/x", [pattern])
    assert str(allowed) == "https://gcp-us-east1.api.carto.com"
    for url in ("http://gcp-us-east1.api.carto.com/x", "https://gcp-us-east1.api.carto.com:444/"):
        with pytest.raises(ApiError):
            check_url(url, [pattern])


def test_explicit_ports_must_match_exactly():
    patterns = parse_origin_patterns(["http://127.0.0.1:8123"])
    check_url("http://127.0.0.1:8123/oauth/token", patterns)
    for url in ("http://127.0.0.1:8124/", "http://127.0.0.1/", "https://127.0.0.1:8123/"):
        with pytest.raises(ApiError):
            check_url(url, patterns)


def test_the_forwarded_url_drops_the_fragment_and_keeps_the_query():
    _, url = check_url("https://auth.carto.com/a/b?c=d&e=f#frag", DEFAULTS)
    assert url == "https://auth.carto.com/a/b?c=d&e=f"


@pytest.mark.parametrize(
    "entry",
    [
        "auth.carto.com",
        "https://auth.carto.com/oauth",
        "https://auth.carto.com?x=1",
        "ftp://auth.carto.com",
        "https://*.com",
        "https://a.*.carto.com",
        "https://*",
    ],
)
def test_bad_allow_list_entries_are_rejected(entry):
    with pytest.raises(ValueError, match=r"origin|wildcard"):
        OriginPattern.parse(entry)
    with pytest.raises(TraitError):
        CartoAuthServer(config=Config({"CartoAuthServer": {"allowed_origins": [entry]}}))


def test_environment_adds_origins_and_skips_bad_ones(monkeypatch, caplog):
    monkeypatch.setenv(
        "CARTO_AUTH_ALLOWED_ORIGINS", "http://127.0.0.1:8123, not-an-origin ,http://[::1]:9000"
    )
    log = logging.getLogger("test-carto-auth")
    with caplog.at_level("WARNING", logger="test-carto-auth"):
        server = CartoAuthServer(log=log)
        server.initialize_settings()
    assert [str(p) for p in server.origins] == [
        *DEFAULT_ALLOWED_ORIGINS,
        "http://127.0.0.1:8123",
        "http://[::1]:9000",
    ]
    assert "not-an-origin" in caplog.text
    check_url("http://[::1]:9000/oauth/token", server.origins)


def test_defaults_match_carto():
    server = CartoAuthServer()
    assert server.relay_timeout == 300
    assert server.proxy_timeout == 30
    assert server.max_response_bytes == 1024 * 1024
    assert server.allowed_origins == [
        "https://auth.carto.com",
        "https://accounts.app.carto.com",
        "https://*.api.carto.com",
        "https://*.app.carto.com",
    ]


@pytest.mark.parametrize(
    "settings",
    [
        {"relay_timeout": 0},
        {"relay_timeout": 1801},
        {"proxy_timeout": 0},
        {"max_response_bytes": 0},
    ],
)
def test_out_of_range_settings_are_rejected(settings):
    with pytest.raises(TraitError):
        CartoAuthServer(config=Config({"CartoAuthServer": settings}))


def test_relay_timeout_up_to_thirty_minutes_is_accepted():
    server = CartoAuthServer(config=Config({"CartoAuthServer": {"relay_timeout": 1800}}))
    server.initialize_settings()
    assert server.relay.timeout == 1800
