"""The kernel side of the comm bridge, in a real ipykernel, with a test client playing the lab.

Tokens are real: M2M JWTs from the sandbox, which its API stand-in accepts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Sandbox
from labclient import API_CHECK, LabClient, session_message

from jupyterlab_carto_auth import protocol
from jupyterlab_carto_auth.m2m import M2MCredentials, fetch_m2m_token
from jupyterlab_carto_auth.secret import Token
from jupyterlab_carto_auth.sources import lab as lab_source

StartKernel = Callable[..., tuple[Any, Any]]


def real_token(sandbox: Sandbox) -> Token:
    creds = M2MCredentials(
        api_base_url=sandbox.api_base_url,
        client_id=sandbox.m2m["client_id"],
        client_secret=sandbox.m2m["client_secret"],
    )
    return fetch_m2m_token(creds, sandbox.config())


def lab_for(start_kernel: StartKernel, **env: str | None) -> LabClient:
    _, kc = start_kernel(**env)
    return LabClient(kc)


# --- attach ----------------------------------------------------------------------------


def test_attach_opens_the_comm_with_hello_and_again_on_reattach(start_kernel: StartKernel) -> None:
    lab = lab_for(start_kernel)
    cell = lab.attach()
    assert cell.stdout == cell.stderr == ""  # silent: nothing in the notebook
    assert lab.hello is not None
    assert protocol.parse_message(lab.hello, "kernel_to_lab") == lab.hello
    assert lab.hello["type"] == "hello"
    assert lab.hello["versions"] == [1]
    first = lab.comm_id
    # A reloaded lab (or a second tab) attaches again: it must get a hello too, and
    # the kernel keeps a single comm.
    lab.attach()
    assert len(lab.opens) == 2
    assert lab.closes == [first]
    assert lab.comm_id != first
    check = lab.run(
        "import comm\n"
        "print(sum(1 for c in comm.get_comm_manager().comms.values()"
        " if c.target_name == 'carto_auth'))"
    )
    assert check.stdout == "1\n"


#: Cell code printing the modules of this package that the kernel has imported.
PACKAGE_MODULES = (
    "import json as _t_json, sys as _t_sys\n"
    "print(_t_json.dumps(sorted(m for m in _t_sys.modules"
    " if m.split('.')[0] == 'jupyterlab_carto_auth')))\n"
    "del _t_json, _t_sys"
)


def test_the_attach_imports_only_the_kernel_module_until_the_lab_speaks(
    start_kernel: StartKernel,
) -> None:
    # Bench figure 1a: the attach imports nothing of the package but what it needs to
    # open the comm; what handles the lab's messages comes with the first one.
    lab = lab_for(start_kernel)
    assert json.loads(lab.run(PACKAGE_MODULES).stdout) == []
    lab.attach()
    assert lab.hello == protocol.hello()
    attached = json.loads(lab.run(PACKAGE_MODULES).stdout)
    assert [m for m in attached if not m.endswith("._version")] == [
        "jupyterlab_carto_auth",
        "jupyterlab_carto_auth.kernel",
    ]
    lab.push(session_message("t" * 40, org="acme"))
    cell = lab.run(
        PACKAGE_MODULES + "\nimport jupyterlab_carto_auth.kernel as k\n"
        "print(k.SESSION.valid_token() == 't' * 40, k.SESSION.current.org)"
    )
    loaded, held = cell.stdout.splitlines()
    assert {"jupyterlab_carto_auth.protocol", "jupyterlab_carto_auth.secret"} <= set(
        json.loads(loaded)
    )
    assert held == "True acme"


def test_a_comm_closed_by_the_lab_is_reopened_when_needed(start_kernel: StartKernel) -> None:
    lab = lab_for(start_kernel)
    lab.attach(session_message(None, reason="attach"))
    closed = lab.comm_id
    lab.kc.shell_channel.send(lab.kc.session.msg("comm_close", {"comm_id": closed, "data": {}}))
    cell = lab.run(
        "import jupyterlab_carto_auth.kernel as k\n"
        "print(k.is_attached())\n"
        "print(k.ensure_attached(), k.is_attached(), k.ensure_attached())\n"
    )
    assert cell.stdout == "False\nTrue True True\n", cell.error
    assert len(lab.opens) == 2  # reopened once, with a new hello
    assert lab.opens[-1]["comm_id"] != closed
    assert lab.opens[-1]["data"]["type"] == "hello"


def test_attach_outside_a_kernel_does_nothing() -> None:
    import subprocess
    import sys

    from conftest import REPO

    code = (
        "import sys, jupyterlab_carto_auth.kernel as k\n"
        "print(k.attach(), k.ensure_attached(), 'comm' in sys.modules, 'IPython' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == "False False False False\n"


# --- a session pushed by the lab ---------------------------------------------------------


def test_pushed_session_is_used_by_from_oauth_and_the_api_accepts_it(
    start_kernel: StartKernel, sandbox_long: Sandbox, isolated_home: Path
) -> None:
    token = real_token(sandbox_long)
    lab = lab_for(start_kernel)
    lab.attach(session_message(token.access_token, token.expires_at, org="acme"))
    cell = lab.run(
        API_CHECK.format(base=sandbox_long.api_base_url)
        + "from jupyterlab_carto_auth import CartoAuth\n"
        "a = CartoAuth.from_oauth()\n"
        f"print(a.get_access_token() == {token.access_token!r})\n"
        "print(api_status(a.get_access_token()))\n"
        "print(a.source, a.get_api_base_url())\n"
        "a\n"
    )
    assert cell.error is None, cell.error
    assert cell.stdout == f"True\n200\nlab {sandbox_long.api_base_url}\n"
    assert cell.requests == []  # the pushed token was enough: nothing asked
    (shown,) = cell.data
    assert "source='jupyterlab'" in shown["text/plain"]
    assert "analyst@example.com" in shown["text/plain"]
    assert token.access_token not in cell.text()
    # Lab tokens are never written to disk.
    assert not (isolated_home / ".cache" / "jupyterlab-carto-auth").exists()


def test_sync_signed_out_cell_waits_for_the_labs_stdin_answer(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    token = real_token(sandbox_long)
    lab = lab_for(start_kernel)
    lab.attach(session_message(None, reason="attach"))
    answered: list[float] = []

    def on_request(lab: LabClient, request: dict[str, Any]) -> None:
        assert protocol.parse_message(request, "kernel_to_lab") == request
        assert request["reply_via"] == "stdin"
        assert request["interactive"] is True
        assert request["min_ttl"] == 60
        time.sleep(1.0)  # the user signs in
        # Noise a real kernel may see first: another request's answer, a stray reply.
        lab.answer_stdin("someone-else", session_message(None, reason="reply", id="someone-else"))
        lab.send_input_reply("not for carto")
        lab.answer_stdin(
            request["id"],
            session_message(
                token.access_token,
                token.expires_at,
                reason="reply",
                id=request["id"],
                api_base_url=sandbox_long.api_base_url,
            ),
        )
        answered.append(time.monotonic())

    lab.on_request = on_request
    cell = lab.run(
        API_CHECK.format(base=sandbox_long.api_base_url)
        + (
            "import time\n"
            "from jupyterlab_carto_auth import CartoAuth\n"
            "t = time.monotonic()\n"
            "a = CartoAuth.from_oauth()\n"
            "print(a.get_access_token()[:3], api_status(a.get_access_token()))\n"
            "print(f'{time.monotonic() - t:.2f}')\n"
        )
    )
    assert cell.error is None, cell.error
    first, waited = cell.stdout.splitlines()
    assert first == f"{token.access_token[:3]} 200"
    assert 1.0 <= float(waited) < 5
    assert len(cell.requests) == 1
    assert answered
    assert cell.input_requests == []  # no password box ever shown
    assert lab.stray_input_requests == []


def test_sync_wait_is_bounded_and_says_what_to_do(start_kernel: StartKernel) -> None:
    lab = lab_for(start_kernel, CARTO_SIGNIN_TIMEOUT="2")
    lab.attach(session_message(None, reason="attach"))
    cell = lab.run("from jupyterlab_carto_auth import CartoAuth\nCartoAuth.from_oauth()\n")
    assert cell.error is not None
    assert cell.error["ename"] == "LabError"
    assert cell.error["evalue"] == (
        "JupyterLab did not answer within 2 s. Click Sign in to CARTO in JupyterLab "
        "(status bar), then run this cell again."
    )
    assert 2 <= cell.seconds < 6
    assert len(cell.requests) == 1
    assert cell.input_requests == []


def test_a_waiting_cell_can_be_interrupted(start_kernel: StartKernel) -> None:
    km, kc = start_kernel(CARTO_SIGNIN_TIMEOUT="60")
    lab = LabClient(kc)
    lab.attach(session_message(None, reason="attach"))

    def on_request(lab: LabClient, request: dict[str, Any]) -> None:
        time.sleep(0.5)
        km.interrupt_kernel()

    lab.on_request = on_request
    cell = lab.run("from jupyterlab_carto_auth import CartoAuth\nCartoAuth.from_oauth()\n")
    assert cell.error is not None
    assert cell.error["ename"] == "KeyboardInterrupt"
    assert cell.seconds < 5
    after = lab.run("print('still here')\n")
    assert after.stdout == "still here\n"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("cancelled", lab_source.CANCELLED_IN_LAB),
        ("timeout", "Nobody signed in to CARTO within 300 s."),
        ("network", "JupyterLab could not reach CARTO (offline)."),
    ],
)
def test_error_answer_gives_a_clear_credentials_error(
    start_kernel: StartKernel, code: str, expected: str
) -> None:
    lab = lab_for(start_kernel)
    lab.attach(session_message(None, reason="attach"))
    lab.on_request = lambda lab, request: lab.answer_stdin(
        request["id"], protocol.error(code, "offline", id=request["id"])
    )
    cell = lab.run(
        "from jupyterlab_carto_auth import CartoAuth, CredentialsError\n"
        "try:\n"
        "    CartoAuth.from_oauth()\n"
        "except CredentialsError as e:\n"
        "    print(type(e).__name__, e.code)\n"
        "    print(e)\n"
    )
    assert cell.error is None, cell.error
    kind, message = cell.stdout.split("\n", 1)
    assert kind == f"LabError {code}"
    assert message.startswith(expected)


def test_await_from_oauth_async_gets_the_comm_answer(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    token = real_token(sandbox_long)
    lab = lab_for(start_kernel)
    lab.attach(session_message(None, reason="attach"))

    def on_request(lab: LabClient, request: dict[str, Any]) -> None:
        assert request["reply_via"] == "comm"
        assert request["interactive"] is True
        lab.push(
            session_message(token.access_token, token.expires_at, reason="reply", id=request["id"])
        )

    lab.on_request = on_request
    cell = lab.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        "a = await CartoAuth.from_oauth_async()\n"
        f"print(a.source, a.get_access_token() == {token.access_token!r})\n"
    )
    assert cell.error is None, cell.error
    assert cell.stdout == "lab True\n"
    assert len(cell.requests) == 1
    assert cell.input_requests == []


def test_async_wait_is_bounded(start_kernel: StartKernel) -> None:
    lab = lab_for(start_kernel, CARTO_SIGNIN_TIMEOUT="1")
    lab.attach(session_message(None, reason="attach"))
    cell = lab.run(
        "from jupyterlab_carto_auth import CartoAuth\nawait CartoAuth.from_oauth_async()\n"
    )
    assert cell.error is not None
    assert cell.error["evalue"].startswith("JupyterLab did not answer within 1 s.")
    assert cell.seconds < 5


def test_pushes_refresh_and_sign_out_reach_the_next_cell(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    first, second = real_token(sandbox_long), real_token(sandbox_long)
    assert first.access_token != second.access_token
    lab = lab_for(start_kernel)
    lab.attach(session_message(first.access_token, first.expires_at))
    cell = lab.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        "a = CartoAuth.from_oauth()\n"
        f"print(a.get_access_token() == {first.access_token!r})\n"
    )
    assert cell.stdout == "True\n", cell.error
    lab.push(session_message(second.access_token, first.expires_at + 60, reason="refresh"))
    cell = lab.run(f"print(a.get_access_token() == {second.access_token!r})\n")
    assert cell.stdout == "True\n", cell.error
    # A refresh queued before a newer token is not applied over it.
    lab.push(session_message(first.access_token, first.expires_at, reason="refresh"))
    cell = lab.run(f"print(a.get_access_token() == {second.access_token!r})\n")
    assert cell.stdout == "True\n", cell.error
    lab.push(session_message(None, reason="sign_out"))
    cell = lab.run("a.get_access_token()\n")
    assert cell.error is not None
    assert cell.error["ename"] == "CredentialsError"
    assert cell.error["evalue"] == lab_source.SIGNED_OUT_IN_LAB
    assert cell.requests == []  # signed out in the lab: no point asking
    assert second.access_token not in cell.text()


def test_near_expiry_the_token_is_asked_for_on_stdin(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    short, fresh = real_token(sandbox_long), real_token(sandbox_long)
    lab = lab_for(start_kernel)
    lab.attach(session_message(short.access_token, time.time() + 2))  # lifetime 2 s

    def on_request(lab: LabClient, request: dict[str, Any]) -> None:
        assert request["reply_via"] == "stdin"
        assert request["interactive"] is False
        assert 0 < request["min_ttl"] <= 60
        lab.answer_stdin(
            request["id"],
            session_message(fresh.access_token, fresh.expires_at, reason="reply", id=request["id"]),
        )

    lab.on_request = on_request
    cell = lab.run(
        "import time\n"
        "from jupyterlab_carto_auth import CartoAuth\n"
        "a = CartoAuth.from_oauth()\n"
        f"print(a.get_access_token() == {short.access_token!r})\n"
        "time.sleep(1.8)\n"
        f"print(a.get_access_token() == {fresh.access_token!r})\n"
        f"print(a.get_access_token() == {fresh.access_token!r})\n"
    )
    assert cell.error is None, cell.error
    assert cell.stdout == "True\nTrue\nTrue\n"
    assert len(cell.requests) == 1  # the fresh token is then held
    assert cell.input_requests == []


def test_lab_answering_signed_out_to_a_refresh_is_the_signed_out_error(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    short = real_token(sandbox_long)
    lab = lab_for(start_kernel)
    lab.attach(session_message(short.access_token, time.time() + 1))
    lab.on_request = lambda lab, request: lab.answer_stdin(
        request["id"], session_message(None, reason="reply", id=request["id"])
    )
    cell = lab.run(
        "import time\n"
        "from jupyterlab_carto_auth import CartoAuth\n"
        "a = CartoAuth.from_oauth()\n"
        "time.sleep(1.1)\n"
        "a.get_access_token()\n"
    )
    assert cell.error is not None
    assert cell.error["evalue"] == lab_source.SIGNED_OUT_IN_LAB


def test_a_stray_input_reply_does_not_break_a_later_input(start_kernel: StartKernel) -> None:
    lab = lab_for(start_kernel)
    lab.attach(session_message(None, reason="attach"))
    # A lab answer nobody waits for (the kernel gave up), and a stray reply.
    lab.answer_stdin("late-id", session_message(None, reason="reply", id="late-id"))
    lab.send_input_reply("stray")
    lab.pump(0.5)
    lab.on_input = lambda lab, content: lab.send_input_reply("ana")
    cell = lab.run("x = input('name? ')\nprint(repr(x))\n")
    assert cell.error is None, cell.error
    assert cell.stdout.endswith("'ana'\n")
    assert len(cell.input_requests) == 1


def test_carto_auth_example_calls_work_with_the_labs_session(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    import importlib.util

    token = real_token(sandbox_long)
    lab = lab_for(start_kernel)
    lab.attach(
        session_message(
            token.access_token, token.expires_at, api_base_url=sandbox_long.api_base_url
        )
    )
    cell = lab.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        "carto_auth = CartoAuth.from_oauth()\n"
        "access_token = carto_auth.get_access_token()\n"
        "print(carto_auth.get_carto_dw_credentials()[0])\n"
        "try:\n"
        "    carto_dw_client = carto_auth.get_carto_dw_client()\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, e)\n"
        "else:\n"
        "    print(type(carto_dw_client).__name__)\n"
    )
    assert cell.error is None, cell.error
    project, dw = cell.stdout.splitlines()
    assert project == "carto-dw-sandbox-project"
    has_extra = importlib.util.find_spec("google") is not None and (
        importlib.util.find_spec("google.cloud.bigquery") is not None
    )
    if not has_extra:
        assert dw == (
            "MissingDependencyError get_carto_dw_client() needs the 'carto-dw' extra: "
            "pip install 'jupyterlab-carto-auth[carto-dw]'"
        )
    else:  # pragma: no cover - only with the extra installed
        assert dw == "Client"


def test_lab_session_without_api_base_url_discovers_it(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    token = real_token(sandbox_long)
    lab = lab_for(start_kernel)
    lab.attach(session_message(token.access_token, token.expires_at, api_base_url=None))
    cell = lab.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        "print(CartoAuth.from_oauth().get_api_base_url())\n"
    )
    assert cell.error is None, cell.error
    assert cell.stdout == f"{sandbox_long.api_base_url}\n"


def test_lab_session_expiry_is_utc_epoch_seconds_whatever_the_timezone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jupyterlab_carto_auth.kernel import LabSessionInfo

    if not hasattr(time, "tzset"):  # pragma: no cover - Windows
        pytest.fail("time.tzset is needed")
    for zone in ("Asia/Kolkata", "America/Los_Angeles", "UTC"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        now = time.time()
        info = LabSessionInfo.from_message(session_message("t" * 20, now + 3600), now=now)
        assert 3590 < info.expires_in() <= 3600
        assert info.is_valid()
        assert info.margin() == 60
        short = LabSessionInfo.from_message(session_message("t" * 20, now + 40), now=now)
        assert short.margin() == 10  # a quarter of a short lifetime
        expired = LabSessionInfo.from_message(session_message("t" * 20, now - 1), now=now)
        assert not expired.is_valid(0)
    monkeypatch.delenv("TZ")
    time.tzset()
    assert "t" * 20 not in repr(info)


def test_unit_lab_session_store_rules() -> None:
    from jupyterlab_carto_auth.kernel import LabSession

    store = LabSession()
    assert not store.lab_present
    assert store.current is None
    store.update(session_message(None, reason="attach"))
    assert store.lab_present
    assert not store.signed_out_in_lab  # never signed in is not "signed out"
    now = time.time()
    store.update(session_message("a" * 20, now + 100, reason="sign_in"))
    store.update(session_message("b" * 20, now + 50, reason="refresh"))  # stale: ignored
    assert store.current is not None
    assert store.current.access_token == "a" * 20
    store.update(session_message("c" * 20, now + 50, reason="sign_in", email="other@x"))
    assert store.current.access_token == "c" * 20  # another user replaces
    store.update(session_message(None, reason="sign_out"))
    assert store.signed_out_in_lab
    assert store.current.access_token is None


def test_stdin_reply_envelope_matches_the_documented_shape() -> None:
    message = session_message("t" * 20, reason="reply", id="abc")
    value = json.loads(protocol.stdin_reply_value("abc", message))
    assert set(value) == {"carto_auth", "id", "message"}
    assert value["carto_auth"] == 1


def test_from_oauth_with_an_expired_lab_token_asks_for_a_fresh_one(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    fresh = real_token(sandbox_long)
    lab = lab_for(start_kernel)
    lab.attach(session_message("an-expired-token-0123456789", time.time() - 5))

    def on_request(lab: LabClient, request: dict[str, Any]) -> None:
        assert (request["interactive"], request["min_ttl"]) == (False, 60)
        lab.answer_stdin(
            request["id"],
            session_message(fresh.access_token, fresh.expires_at, reason="reply", id=request["id"]),
        )

    lab.on_request = on_request
    cell = lab.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        f"print(CartoAuth.from_oauth().get_access_token() == {fresh.access_token!r})\n"
    )
    assert cell.error is None, cell.error
    assert cell.stdout == "True\n"
    assert len(cell.requests) == 1


def test_a_lab_that_has_not_attached_yet_is_found_by_the_first_cell(
    start_kernel: StartKernel, sandbox_long: Sandbox
) -> None:
    # Restart and Run All: the first cell can run before the lab's attach code.
    token = real_token(sandbox_long)
    lab = lab_for(start_kernel)
    assert lab.comm_id is None

    def on_request(lab: LabClient, request: dict[str, Any]) -> None:
        assert request["interactive"] is False
        assert request["reply_via"] == "stdin"
        lab.answer_stdin(
            request["id"],
            session_message(token.access_token, token.expires_at, reason="reply", id=request["id"]),
        )

    lab.on_request = on_request
    cell = lab.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        "a = CartoAuth.from_oauth()\n"
        f"print(a.source, a.get_access_token() == {token.access_token!r})\n"
    )
    assert cell.error is None, cell.error
    assert cell.stdout == "lab True\n"
    assert lab.hello is not None  # from_oauth opened the comm itself
    assert len(cell.requests) == 1
    assert cell.input_requests == []


def test_a_notebook_not_allowed_says_so_and_a_deny_says_how_to_allow(
    start_kernel: StartKernel,
) -> None:
    # Given a lab that holds the session back: the user has not allowed this notebook
    lab = lab_for(start_kernel)
    lab.attach(session_message(None, reason="not_granted"))
    denial = (
        "You denied work/a.ipynb the use of your CARTO account. To allow it, open CARTO "
        "Account in JupyterLab (status bar) and click Allow, or run the cell again in two "
        "minutes."
    )

    def on_request(lab: LabClient, request: dict[str, Any]) -> None:
        if request["interactive"]:  # from_oauth asks; the user clicks Deny
            lab.answer_stdin(request["id"], protocol.error("denied", denial, request["id"]))
        else:  # the near-expiry re-ask: no UI, the lab says not_granted again
            message = session_message(None, reason="not_granted", id=request["id"])
            lab.answer_stdin(request["id"], message)

    lab.on_request = on_request
    # When a cell asks for the session
    cell = lab.run("from jupyterlab_carto_auth import CartoAuth\nCartoAuth.from_oauth()\n")
    # Then the lab's message says what to do
    assert cell.error is not None
    assert cell.error["ename"] == "LabError"
    assert cell.error["evalue"] == f"JupyterLab refused this kernel a CARTO session: {denial}"
    # And a token asked for while not allowed names the grant, not a sign-out
    cell = lab.run(
        "from jupyterlab_carto_auth.sources.lab import LabSource\n"
        "from jupyterlab_carto_auth.config import CartoConfig\n"
        "LabSource(CartoConfig.from_env(), None, None).access_token()\n"
    )
    assert cell.error is not None
    assert cell.error["evalue"] == lab_source.NOT_GRANTED_IN_LAB, cell.error
