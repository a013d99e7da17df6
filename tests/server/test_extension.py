"""The server extension as jupyter_server sees it: an enabled ExtensionApp, or nothing."""

from __future__ import annotations

import pytest
from tornado.httpclient import HTTPClientError

from jupyterlab_carto_auth.server import CartoAuthServer


def test_the_extension_is_an_enabled_and_linked_extension_app(jp_serverapp):
    package = jp_serverapp.extension_manager.extensions["jupyterlab_carto_auth"]
    assert package.enabled
    assert package.validate()
    point = package.extension_points["jupyterlab_carto_auth"]
    assert point.module_name == "jupyterlab_carto_auth.server"
    assert isinstance(point.app, CartoAuthServer)
    assert point.linked
    # Its settings came from the server's configuration (CARTO_AUTH_ALLOWED_ORIGINS here).
    assert len(point.app.origins) > len(point.app.allowed_origins)


@pytest.mark.parametrize("carto_settings", [{"allowed_origins": ["auth.carto.com"]}])
async def test_a_refused_setting_keeps_the_extension_out_and_names_the_entry(capfd, jp_fetch):
    # Given c.CartoAuthServer.allowed_origins with an entry that is not an origin,
    # the server starts without the extension rather than with its defaults,
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("carto-auth", "callback")
    assert info.value.code == 404
    # and its log (written while the server starts, before the test's log capture)
    # says which entry to fix.
    assert "CartoAuthServer.allowed_origins: 'auth.carto.com' is not an origin" in (
        capfd.readouterr().err
    )
