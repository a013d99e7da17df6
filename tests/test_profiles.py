"""Several CARTO accounts at once (issue 12), kernel side: a real ipykernel in front of the
stand-in lab (tests/labclient.py) that knows profiles (docs/protocol.md, "Profiles")."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from labclient import LabClient, StandInLab, profile_name, session_message

from jupyterlab_carto_auth import protocol
from jupyterlab_carto_auth.secret import LabSessionInfo

StartKernel = Callable[..., tuple[Any, Any]]

ACME_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJvcmciOiJhY21lIn0.YWNtZS10b2tlbi1zaWduYXR1cmU"
BETA_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJvcmciOiJiZXRhIn0.YmV0YS10b2tlbi1zaWduYXR1cmU"
GAMMA_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJvcmciOiJnYW1tYSJ9.Z2FtbWEtdG9rZW4tc2lnbmF0dXJl"


def account(token: str, org: str | None, expires_in: float = 3000) -> dict[str, Any]:
    """A lab session (StandInLab's shape) of ana@example.com in ``org``."""
    return {
        "access_token": token,
        "expires_at": time.time() + expires_in,
        "api_base_url": "https://gcp-us-east1.api.carto.com",
        "user": {"email": "ana@example.com", "name": "Ana", "org": org},
    }


ACME = account(ACME_TOKEN, "acme")
PROFILE_ENTRY = {"name": "Work", "email": "ana@example.com", "org": "acme", "default": True}
ACME_NAME = profile_name(ACME["user"])  # "ana@example.com · acme"
BETA_NAME = "ana@example.com · beta"


def lab_with_two_profiles(
    start_kernel: StartKernel, *, beta_expires_in: float = 3000, **env: str | None
) -> tuple[LabClient, StandInLab]:
    """A real kernel attached by a lab signed in to acme (default) and beta, magics loaded."""
    _, kc = start_kernel(**env)
    client = LabClient(kc)
    lab = client.play(
        StandInLab(ACME, sign_in_gives=account(GAMMA_TOKEN, "gamma"), sign_in_timeout_seconds=30)
    )
    lab.add_profile(account(BETA_TOKEN, "beta", beta_expires_in))
    client.attach()
    cell = client.run("%load_ext jupyterlab_carto_auth\n")
    assert cell.error is None, cell.error
    return client, lab


def answer_requests(client: LabClient, lab: StandInLab) -> list[dict[str, Any]]:
    """An interactive request the stand-in keeps waiting is answered by the user's click."""
    asked: list[dict[str, Any]] = []

    def on_request(client: LabClient, request: dict[str, Any]) -> None:
        asked.append(request)
        if lab._waiting:
            client.deliver(lab.click_sign_in())

    client.on_request = on_request
    return asked


def test_hello_announces_the_profiles_feature(start_kernel: StartKernel) -> None:
    client, _ = lab_with_two_profiles(start_kernel)
    assert client.hello is not None
    assert client.hello["features"] == ["profiles"]
    assert client.hello == protocol.hello()
    assert client.from_kernel == []  # every session with profile fields was taken


def test_profiles_lists_the_labs_accounts_and_use_switches_the_notebook(
    start_kernel: StartKernel,
) -> None:
    client, _ = lab_with_two_profiles(start_kernel)
    cell = client.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        "a = CartoAuth.from_oauth()\n"
        f"print(a.get_access_token() == {ACME_TOKEN!r})\n"
        "%carto profiles\n"
    )
    assert cell.error is None, cell.error
    lines = cell.stdout.splitlines()
    assert lines[0] == "True"
    assert lines[1] == "CARTO profiles in JupyterLab (* this notebook):"
    assert lines[2].split() == ["name", "email", "organization"]
    assert lines[3].split() == ["*", *ACME_NAME.split(), "ana@example.com", "acme", "default"]
    assert lines[4].split() == ["ana@example.com", "·", "beta", "ana@example.com", "beta"]
    assert lines[5] == "Switch this notebook with: %carto use <name>"
    assert cell.requests == []  # the list came with the session: no round trip
    for token in (ACME_TOKEN, BETA_TOKEN):
        assert token not in cell.text()

    # When the notebook is switched with %carto use (a name with spaces, as listed)
    cell = client.run(
        f"%carto use {BETA_NAME}\n"
        "print(a.get_access_token() == " + repr(BETA_TOKEN) + ")\n"
        "%carto status\n"
    )
    # Then the lab was asked for that profile on stdin, and the kernel took its token at once
    assert cell.error is None, cell.error
    assert [(r["profile"], r["reply_via"], r["interactive"]) for r in cell.requests] == [
        (BETA_NAME, "stdin", True)
    ]
    assert cell.stdout.splitlines()[:2] == [
        f"This notebook now uses the CARTO profile {BETA_NAME!r}: ana@example.com (beta).",
        "True",
    ]
    (status,) = cell.data
    assert f"profile        {BETA_NAME}" in status["text/plain"]
    cell = client.run("a\n")
    assert f"profile={BETA_NAME!r}" in cell.data[0]["text/plain"]
    assert "beta" in status["text/html"]
    assert BETA_TOKEN not in cell.text()
    cell = client.run("%carto profiles\n")
    assert cell.stdout.splitlines()[3].startswith("*  ana@example.com · beta"), cell.stdout


def test_use_of_an_unknown_profile_shows_the_labs_message(start_kernel: StartKernel) -> None:
    client, _ = lab_with_two_profiles(start_kernel)
    cell = client.run(
        "%carto use 'Home'\nimport jupyterlab_carto_auth.kernel as k\n"
        "print(k.SESSION.current.org)\n"
    )
    assert cell.error is None, cell.error
    assert [r["profile"] for r in cell.requests] == ["Home"]  # the quotes are not the name
    assert cell.stderr.startswith(
        "%carto use: JupyterLab has no such CARTO profile: JupyterLab has no CARTO profile "
        f"'Home'. Its profiles: {ACME_NAME!r}, {BETA_NAME!r}."
    ), cell.stderr
    assert "Traceback" not in cell.text()
    assert cell.stdout == "acme\n"  # nothing changed


def test_a_switch_pushed_by_the_lab_is_taken_at_once_even_if_it_expires_sooner(
    start_kernel: StartKernel,
) -> None:
    # The other profile's token expires before the one held: for the same user and
    # organization that would be a stale push; another profile is the notebook switched.
    client, lab = lab_with_two_profiles(start_kernel, beta_expires_in=600)
    lab.others[BETA_NAME]["user"] = {**lab.others[BETA_NAME]["user"], "org": "acme"}
    client.deliver(lab.switch("k1", BETA_NAME))
    cell = client.run(
        "import jupyterlab_carto_auth.kernel as k\n"
        "from jupyterlab_carto_auth import CartoAuth\n"
        f"print(CartoAuth.from_oauth().get_access_token() == {BETA_TOKEN!r})\n"
        "print(k.SESSION.profiles()[1][0])\n"
    )
    assert cell.error is None, cell.error
    assert cell.stdout == f"True\n{BETA_NAME}\n"
    assert cell.requests == []


def test_from_oauth_with_org_gets_that_orgs_profile_from_the_lab(
    start_kernel: StartKernel,
) -> None:
    client, lab = lab_with_two_profiles(start_kernel)
    asked = answer_requests(client, lab)
    cell = client.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        "a = CartoAuth.from_oauth()\n"
        "b = CartoAuth.from_oauth(org='beta')\n"
        f"print(b.get_access_token() == {BETA_TOKEN!r}, b.source)\n"
        "c = CartoAuth.from_oauth(org='beta')\n"  # held now: no second request
        "print(c.get_access_token() == b.get_access_token())\n"
    )
    assert cell.error is None, cell.error
    assert cell.stdout == "True lab\nTrue\n"
    assert [(r["org"], r.get("profile"), r["interactive"]) for r in asked] == [("beta", None, True)]
    # The notebook is bound to beta now: a CartoAuth made for acme says so, also on the
    # lock-free path, instead of handing out beta's token.
    cell = client.run(
        "try:\n"
        "    acme = CartoAuth._over(a._source.__class__(a._config, 'acme', None), a._config)\n"
        "    acme.get_access_token()\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    assert cell.stdout.startswith(
        "CredentialsError This notebook now uses a CARTO profile of the organization 'beta'"
    ), cell.stdout
    assert "from_oauth(org='acme')" in cell.stdout


def test_from_oauth_with_an_org_no_profile_has_offers_the_sign_in_to_it(
    start_kernel: StartKernel,
) -> None:
    client, lab = lab_with_two_profiles(start_kernel)
    asked = answer_requests(client, lab)
    cell = client.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        "g = CartoAuth.from_oauth(org='gamma')\n"
        f"print(g.get_access_token() == {GAMMA_TOKEN!r})\n"
        "%carto profiles\n"
    )
    assert cell.error is None, cell.error
    assert [(r["org"], r["interactive"]) for r in asked] == [("gamma", True)]
    lines = cell.stdout.splitlines()
    assert lines[0] == "True"
    assert [line.split()[:1] for line in lines[3:6]] == [["ana@example.com"]] * 2 + [["*"]]
    assert "gamma" in lines[5]


def test_a_lab_answering_with_another_orgs_profile_is_a_clear_error(
    start_kernel: StartKernel,
) -> None:
    client, _ = lab_with_two_profiles(start_kernel)
    client.stand_in = None  # a misbehaving lab, played by the test

    def on_request(client: LabClient, request: dict[str, Any]) -> None:
        client.answer_stdin(
            request["id"],
            session_message(
                BETA_TOKEN,
                reason="reply",
                id=request["id"],
                email="ana@example.com",
                org="beta",
                profile={"name": BETA_NAME, "org": "beta"},
            ),
        )

    client.on_request = on_request
    cell = client.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        "try:\n"
        "    CartoAuth.from_oauth(org='delta')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    assert cell.stdout.startswith(
        "CredentialsError JupyterLab answered with the CARTO account ana@example.com of the "
        "organization 'beta', not of the organization 'delta' asked for."
    ), cell.stdout
    assert BETA_TOKEN not in cell.text()


def test_unit_a_session_of_another_profile_is_never_stale() -> None:
    from jupyterlab_carto_auth.kernel import LabSession

    store = LabSession()
    later = time.time() + 3000

    def pushed(token: str, expires_at: float, name: str) -> dict[str, Any]:
        return session_message(
            token, expires_at, org="acme", profile={"name": name, "org": "acme"}, profiles=[]
        )

    store.update(pushed("t" * 30, later, "Work"))
    # The same profile with an earlier expiry: a stale push, not applied; its list is news.
    stale = {**pushed("s" * 30, later - 100, "Work"), "profiles": [PROFILE_ENTRY]}
    assert store.update(stale).access_token == "t" * 30
    assert store.profiles()[2] == (("Work", "ana@example.com", "acme", True),)
    # Another profile (the notebook switched): applied, whatever its expiry.
    assert store.update(pushed("u" * 30, later - 100, "Work 2")).access_token == "u" * 30
    assert store.profiles() == (True, ("Work 2", "acme"), ())
    assert store.pinned[1:] == ("acme", True)
    # A lab that predates profiles: no profile field, so it is said so.
    store.update(session_message("v" * 30, later, org="acme"))
    assert store.speaks_profiles is False
    info = LabSessionInfo.from_message(pushed("w" * 30, later, "Work"))
    assert "Work" in repr(info)
    assert "w" * 30 not in repr(info)
