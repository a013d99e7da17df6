"""A real kernel refuses a pushed session whose API URL its own discovery would refuse
(issue 8, section 4): it answers ``bad_request`` and keeps the session it had."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from labclient import LabClient, session_message

StartKernel = Callable[..., tuple[Any, Any]]

CHECK = (
    "import jupyterlab_carto_auth.kernel as k\n"
    "from jupyterlab_carto_auth import CartoAuth\n"
    "auth = CartoAuth.from_oauth()\n"
    "print(k.SESSION.current.access_token, auth.get_api_base_url())\n"
)


@pytest.mark.parametrize("url", ["http://api.example.com", "https://u:p@api.example.com"])
def test_a_push_with_a_bad_api_url_is_refused_and_the_held_session_kept(
    start_kernel: StartKernel, url: str
) -> None:
    _, kc = start_kernel()
    lab = LabClient(kc)
    good = "https://gcp-us-east1.api.carto.com"
    lab.attach(session_message("token-one-1234567890", time.time() + 3600, api_base_url=good))

    # session_message() checks what it builds, so the bad URL goes in afterwards.
    bad = {
        **session_message("token-two-1234567890", time.time() + 7200, reason="refresh"),
        "api_base_url": url,
    }
    msg_id = lab.push(bad)
    lab.pump(10, until=lambda: msg_id in lab.answers)

    (answer,) = lab.answers[msg_id]
    assert answer["type"] == "error"
    assert answer["code"] == "bad_request"
    assert "api_base_url" in answer["message"]
    assert "token-two" not in answer["message"]
    cell = lab.run(CHECK)
    assert cell.error is None, cell.error
    assert cell.stdout.split() == ["token-one-1234567890", good]
