"""``%load_ext jupyterlab_carto_auth`` and ``%carto``, in a real kernel, with and without a lab."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import Sandbox
from labclient import LabClient, session_message

from jupyterlab_carto_auth.cache import CACHE_VERSION
from jupyterlab_carto_auth.secret import mask

StartKernel = Callable[..., tuple[Any, Any]]
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLW1hZ2ljcw"


def signed_in_lab(start_kernel: StartKernel) -> LabClient:
    _, kc = start_kernel()
    lab = LabClient(kc)
    lab.attach(
        session_message(
            TOKEN,
            time.time() + 3000,
            api_base_url="https://gcp-us-east1.api.carto.com",
            email="ana@example.com",
            name="Ana",
            org="acme",
        )
    )
    cell = lab.run("%load_ext jupyterlab_carto_auth\n")
    assert cell.error is None, cell.error
    assert cell.stdout == ""
    return lab


def test_status_with_a_lab_session(start_kernel: StartKernel) -> None:
    lab = signed_in_lab(start_kernel)
    cell = lab.run("%carto status\n")
    assert cell.error is None, cell.error
    (bundle,) = cell.data
    text, html = bundle["text/plain"], bundle["text/html"]
    for shown in (text, html):
        assert "yes (JupyterLab)" in shown
        assert "ana@example.com" in shown
        assert "acme" in shown
        assert "https://gcp-us-east1.api.carto.com" in shown
        assert "attached" in shown
        assert "not attached" not in shown
        assert TOKEN not in shown
    assert "<table>" in html
    assert "expires in" in text
    assert " 49 min " in text or " 50 min " in text


def test_status_without_a_lab(start_kernel: StartKernel) -> None:
    _, kc = start_kernel()
    lab = LabClient(kc)
    cell = lab.run("%load_ext jupyterlab_carto_auth\n%carto status\n")
    assert cell.error is None, cell.error
    (bundle,) = cell.data
    assert "signed in      no" in bundle["text/plain"]
    assert "not attached" in bundle["text/plain"]
    assert "%carto login" in bundle["text/plain"]
    assert "not attached" in bundle["text/html"]


def test_status_shows_the_kernels_cached_sign_in(
    start_kernel: StartKernel, sandbox_long: Sandbox, isolated_home: Path
) -> None:
    import base64

    from jupyterlab_carto_auth.cache import CacheKey, TokenCache
    from jupyterlab_carto_auth.secret import Token

    # What a kernel-side sign-in leaves in the default cache (a JWT with CARTO's claims).
    claims = {"https://carto.com/email": "bo@example.com", "org_id": "bo-org"}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    jwt = f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln"
    key = CacheKey(
        "oauth",
        sandbox_long.token_url,
        None,
        None,
        sandbox_long.info["clients"]["public"]["client_id"],
    )
    TokenCache(key).save(
        Token(jwt, time.time() + 600), extras={"api_base_url": sandbox_long.api_base_url}
    )
    assert json.loads(TokenCache(key).path.read_text())["version"] == CACHE_VERSION
    _, kc = start_kernel()
    lab = LabClient(kc)
    cell = lab.run("%load_ext jupyterlab_carto_auth\n%carto status\n%carto whoami\n")
    assert cell.error is None, cell.error
    (bundle,) = cell.data
    assert "cached sign-in" in bundle["text/plain"]
    assert "bo@example.com" in bundle["text/plain"]
    assert sandbox_long.api_base_url in bundle["text/plain"]
    assert "email:        bo@example.com" in cell.stdout
    assert "organization: bo-org" in cell.stdout
    cell = lab.run("%carto logout\n%carto status\n")
    assert "Forgot this kernel's CARTO sign-in" in cell.stdout
    assert not TokenCache(key).path.exists()
    assert "signed in      no" in cell.data[0]["text/plain"]


def test_token_is_masked_unless_show(start_kernel: StartKernel) -> None:
    lab = signed_in_lab(start_kernel)
    cell = lab.run("%carto token\n")
    assert cell.error is None, cell.error
    assert cell.stdout == f"{mask(TOKEN)}\n"
    assert cell.stdout.startswith(TOKEN[:4] + "…")
    assert TOKEN not in cell.text()
    lab.run("import jupyterlab_carto_auth.magics as m; m.TOKEN_SHOW_SECONDS = 0.5\n")
    cell = lab.run("%carto token --show\n")
    assert cell.error is None, cell.error
    assert TOKEN in cell.data[0]["text/plain"]  # shown (then replaced: see below)
    assert TOKEN not in cell.stdout


class RecordingLab(LabClient):
    """A LabClient that also keeps every iopub message, in order."""

    def __init__(self, kc: Any):
        super().__init__(kc)
        self.iopub: list[dict[str, Any]] = []

    def _iopub(self, msg: dict[str, Any], waiting: Any) -> bool:
        self.iopub.append(msg)
        return super()._iopub(msg, waiting)


def notebook_outputs(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outputs a notebook keeps from a cell's iopub messages, as JupyterLab's output
    area builds its model (@jupyterlab/outputarea: update_display_data replaces the
    output of that display_id in place)."""
    outputs: list[dict[str, Any]] = []
    by_id: dict[str, list[int]] = {}
    for msg in messages:
        kind, content = msg["msg_type"], msg["content"]
        display_id = (content.get("transient") or {}).get("display_id")
        if kind in ("stream", "error", "execute_result", "display_data"):
            outputs.append({"output_type": kind, **content})
            if kind == "display_data" and display_id:
                by_id.setdefault(display_id, []).append(len(outputs) - 1)
        elif kind == "update_display_data":
            for index in by_id.get(display_id, []):
                outputs[index] = {"output_type": "display_data", **content}
    return outputs


def test_token_show_is_replaced_by_the_masked_token_before_the_cell_ends(
    start_kernel: StartKernel,
) -> None:
    _, kc = start_kernel()
    lab = RecordingLab(kc)
    lab.attach(session_message(TOKEN, time.time() + 3000, api_base_url=None))
    setup = "%load_ext jupyterlab_carto_auth\nimport jupyterlab_carto_auth.magics as m\n"
    assert lab.run(setup + "m.TOKEN_SHOW_SECONDS = 1.5\n").error is None

    cell = lab.run("%carto token --show\n")

    assert cell.error is None, cell.error
    mine = [m for m in lab.iopub if m["parent_header"].get("msg_id") == cell.msg_id]
    kinds = [m["msg_type"] for m in mine]
    # Shown: a display with a display_id holding the token, saying it will not be saved.
    first = mine[kinds.index("display_data")]["content"]
    assert TOKEN in first["data"]["text/plain"]
    assert "Shown for 1.5 s" in first["data"]["text/plain"]
    assert "not saved in the notebook" in first["data"]["text/plain"]
    assert first["transient"]["display_id"]
    # Replaced while the cell still runs (before its idle), after the time it said.
    assert kinds.index("update_display_data") < len(kinds) - 1
    assert kinds[-1] == "status"
    assert cell.seconds >= 1.5
    # What the notebook keeps: the masked token and why, never the token.
    kept = notebook_outputs(mine)
    assert len(kept) == 1
    assert TOKEN not in json.dumps(kept)
    assert mask(TOKEN) in kept[0]["data"]["text/plain"]
    assert "not saved in the notebook" in kept[0]["data"]["text/plain"]
    assert not any(m["msg_type"] == "stream" and TOKEN in m["content"]["text"] for m in mine)


def test_whoami_with_a_lab_session(start_kernel: StartKernel) -> None:
    lab = signed_in_lab(start_kernel)
    cell = lab.run("%carto whoami\n")
    assert cell.stdout == "email:        ana@example.com\nname:         Ana\norganization: acme\n"


def test_wrong_arguments_print_the_usage_without_a_traceback(start_kernel: StartKernel) -> None:
    lab = signed_in_lab(start_kernel)
    for line in ("%carto bogus", "%carto token --reveal", "%carto status now", "%carto"):
        cell = lab.run(line + "\n")
        assert cell.error is None, (line, cell.error)
        assert "Usage: %carto <command>" in cell.stdout, line
        assert "Traceback" not in cell.text()
    cell = lab.run("%carto help token\n")
    assert cell.stdout.startswith("%carto token [--show]")
    cell = lab.run("%carto?\n")
    assert cell.error is None


def test_logout_asks_the_lab_to_sign_out(start_kernel: StartKernel) -> None:
    lab = signed_in_lab(start_kernel)
    before = len(lab.from_kernel)
    cell = lab.run("%carto logout\n%carto token\n")
    assert cell.error is None, cell.error
    assert lab.from_kernel[before:] == [{"v": 1, "type": "sign_out"}]
    assert cell.stdout == (
        "Signed out of CARTO in this kernel. JupyterLab asks whether to sign out "
        "everywhere (every tab and kernel).\n"
        "Not signed in to CARTO. Sign in with: %carto login\n"
    )


def test_login_asks_the_lab_and_errors_print_without_traceback(start_kernel: StartKernel) -> None:
    _, kc = start_kernel(CARTO_SIGNIN_TIMEOUT="30")
    lab = LabClient(kc)
    lab.attach(session_message(None, reason="attach"))
    asked: list[dict[str, Any]] = []

    def on_request(lab: LabClient, request: dict[str, Any]) -> None:
        asked.append(request)
        lab.answer_stdin(
            request["id"],
            {
                "v": 1,
                "type": "error",
                "id": request["id"],
                "code": "cancelled",
                "message": "Sign-in cancelled.",
            },
        )

    lab.on_request = on_request
    cell = lab.run("%load_ext jupyterlab_carto_auth\n%carto login --org acme\n")
    assert cell.error is None, cell.error
    assert [(r["interactive"], r["org"]) for r in asked] == [(True, "acme")]
    assert cell.stderr.startswith("%carto login: Sign-in to CARTO was cancelled in JupyterLab.")
    assert "Traceback" not in cell.text()
    lab.on_request = lambda lab, request: lab.answer_stdin(
        request["id"],
        session_message(TOKEN, time.time() + 3000, reason="reply", id=request["id"]),
    )
    cell = lab.run("%carto login\n")
    assert cell.stdout == "Signed in to CARTO as analyst@example.com (JupyterLab's session).\n"


def test_unload_removes_the_magic(start_kernel: StartKernel) -> None:
    lab = signed_in_lab(start_kernel)
    cell = lab.run("%unload_ext jupyterlab_carto_auth\n%carto status\n")
    assert "Line magic function `%carto` not found" in cell.stderr
