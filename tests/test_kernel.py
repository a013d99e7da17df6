"""The issue's smoke test inside a real ipykernel: M2M sign-in works and fails cleanly."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from conftest import REPO, Sandbox, run

CELL_OK = """
import urllib.request
from jupyterlab_carto_auth import CartoAuth
auth = CartoAuth.from_m2m({path!r})
request = urllib.request.Request(
    auth.get_api_base_url() + "/v3/sql/carto_dw/query?q=select+1",
    headers={{"Authorization": "Bearer " + auth.get_access_token()}},
)
with urllib.request.urlopen(request, timeout=10) as response:
    print(response.status)
auth
"""

CELL_WRONG_SECRET = """
from jupyterlab_carto_auth import CartoAuth
CartoAuth.from_m2m({path!r})
"""


def _cached_tokens(home: Path) -> list[str]:
    cache_dir = home / ".cache" / "jupyterlab-carto-auth"
    return [json.loads(p.read_text())["access_token"] for p in cache_dir.glob("*.json")]


def test_kernel_runs_this_venv_and_this_source(kernel: tuple[Any, Any]) -> None:
    _, kc = kernel
    result = run(kc, "import sys, jupyterlab_carto_auth as p; print(sys.prefix); print(p.__file__)")
    assert result.error is None, result.error
    prefix, module_file = result.stdout.split()
    assert prefix == sys.prefix
    assert Path(module_file).parent == REPO / "jupyterlab_carto_auth"


def test_m2m_token_in_the_kernel_is_accepted_by_the_api(
    kernel: tuple[Any, Any], sandbox: Sandbox, tmp_path: Path, isolated_home: Path
) -> None:
    _, kc = kernel
    path = sandbox.credentials(tmp_path / "carto-credentials.json")
    result = run(kc, CELL_OK.format(path=str(path)))
    assert result.error is None, result.error
    assert result.stdout == "200\n"
    assert result.stderr == ""
    (shown,) = result.data
    assert shown["text/plain"].startswith("CartoAuth(mode='m2m'")
    # The kernel cached its token under the test HOME: it appears in no output.
    tokens = _cached_tokens(isolated_home)
    assert len(tokens) == 1
    assert tokens[0] not in result.all_text()
    assert sandbox.m2m["client_secret"] not in result.all_text()


def test_wrong_secret_in_the_kernel_is_a_clear_error(
    kernel: tuple[Any, Any], sandbox: Sandbox, tmp_path: Path
) -> None:
    _, kc = kernel
    wrong = "wrong-secret-typed-by-hand"
    path = sandbox.credentials(tmp_path / "carto-credentials.json", client_secret=wrong)
    result = run(kc, CELL_WRONG_SECRET.format(path=str(path)))
    assert result.error is not None
    assert result.error["ename"] == "TokenRequestError"
    assert result.error["evalue"].startswith(f"Check client_id and client_secret in {path}")
    assert "invalid_client" in result.error["evalue"]
    assert wrong not in result.all_text()
    assert sandbox.m2m["client_secret"] not in result.all_text()
