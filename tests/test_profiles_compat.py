"""Profiles stay compatible both ways (docs/protocol.md, "Profiles"), with real kernels:

(a) a kernel of today's package (commit ``cff71ba``, 0.1.0, from ``git archive``) in
    front of tomorrow's stand-in lab (tests/labclient.py): it gets sign-in pushes,
    refreshes and answers as before, and never a profile field, reason or code;
(b) a kernel of this package in front of today's stand-in lab (``tests/labclient.py``
    of ``cff71ba`` with that commit's ``protocol.py``): ``from_oauth`` works, and the
    profile magics say the lab predates profiles.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from labclient import LabClient, StandInLab

from jupyterlab_carto_auth.sources.lab import PREDATES_PROFILES

StartKernel = Callable[..., tuple[Any, Any]]
#: main when profiles began: package 0.1.0, the kernel and lab "of today".
TODAY = "cff71ba"
ALIAS = "carto_auth_cff71ba"  # today's package, imported beside this one in the test process

OLD_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJ0b2RheSI6MX0.dG9kYXktYWNtZS1zaWduYXR1cmU"
NEW_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJ0b2RheSI6Mn0.dG9kYXktcmVmcmVzaC1zaWduYXR1cmU"
BETA_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJ0b2RheSI6M30.dG9kYXktYmV0YS1zaWduYXR1cmU"


def account(token: str, org: str | None) -> dict[str, Any]:
    return {
        "access_token": token,
        "expires_at": time.time() + 3000,
        "api_base_url": "https://gcp-us-east1.api.carto.com",
        "user": {"email": "ana@example.com", "name": "Ana", "org": org},
    }


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def today(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``jupyterlab_carto_auth/`` and ``tests/labclient.py`` of ``TODAY``."""
    top = _git("rev-parse", "--show-toplevel", cwd=REPO)
    if top.returncode != 0:
        pytest.fail(
            f"These tests need the git repository of {REPO} (git rev-parse failed: "
            f"{top.stderr.decode(errors='replace').strip()}): run them from a git checkout."
        )
    root = Path(top.stdout.decode().strip())
    if _git("cat-file", "-e", f"{TODAY}^{{commit}}", cwd=root).returncode != 0:
        pytest.fail(
            f"Commit {TODAY} (package 0.1.0, today's kernel and lab) is missing from {root}: "
            f"fetch it (git fetch origin {TODAY}, or unshallow the clone), then run again."
        )
    archive = _git("archive", TODAY, "jupyterlab_carto_auth", "tests/labclient.py", cwd=root)
    assert archive.returncode == 0, archive.stderr.decode(errors="replace")
    dest = tmp_path_factory.mktemp("today")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    assert (dest / "jupyterlab_carto_auth" / "kernel.py").is_file()
    return dest


def _load_today(today: Path) -> tuple[types.ModuleType, types.ModuleType]:
    """Today's package (as ``ALIAS``) and today's labclient, which speaks its protocol."""
    if ALIAS not in sys.modules:
        package = today / "jupyterlab_carto_auth"
        spec = importlib.util.spec_from_file_location(
            ALIAS, package / "__init__.py", submodule_search_locations=[str(package)]
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[ALIAS] = module
        spec.loader.exec_module(module)
    protocol = importlib.import_module(f"{ALIAS}.protocol")
    assert "features" not in protocol.hello()  # it is today's
    source = (today / "tests" / "labclient.py").read_text(encoding="utf-8")
    line = "from jupyterlab_carto_auth import protocol\n"
    assert source.count(line) == 1, "today's labclient no longer imports protocol like this"
    labclient = types.ModuleType("labclient_cff71ba")
    labclient.__file__ = str(today / "tests" / "labclient.py")
    sys.modules["labclient_cff71ba"] = labclient  # dataclasses look their module up
    code = compile(
        source.replace(line, f"from {ALIAS} import protocol\n"), labclient.__file__, "exec"
    )
    try:
        exec(code, labclient.__dict__)  # noqa: S102 - today's labclient, from git
    except BaseException:
        del sys.modules["labclient_cff71ba"]
        raise
    return protocol, labclient


@pytest.fixture(scope="module")
def today_modules(today: Path) -> Iterator[tuple[types.ModuleType, types.ModuleType]]:
    yield _load_today(today)
    for name in [m for m in sys.modules if m == ALIAS or m.startswith(ALIAS + ".")]:
        del sys.modules[name]
    sys.modules.pop("labclient_cff71ba", None)


def _recording(client: Any) -> list[dict[str, Any]]:
    """Everything the stand-in lab sends to the kernel from now on."""
    sent: list[dict[str, Any]] = []
    deliver = client.deliver

    def recorded(outgoing: list[dict[str, Any]]) -> None:
        sent.extend(outgoing)
        deliver(outgoing)

    client.deliver = recorded
    return sent


# --- (a) today's kernel, tomorrow's lab --------------------------------------------------


def test_todays_kernel_with_tomorrows_lab_gets_pushes_and_answers_and_no_profile_field(
    start_kernel: StartKernel,
    today: Path,
    today_modules: tuple[types.ModuleType, types.ModuleType],
) -> None:
    old_protocol, _ = today_modules
    _, kc = start_kernel(PYTHONPATH=str(today))
    client = LabClient(kc)
    sent = _recording(client)
    lab = client.play(StandInLab(None, sign_in_gives=account(OLD_TOKEN, "acme")))
    lab.add_profile(account(BETA_TOKEN, "beta"))  # tomorrow's lab has another profile
    client.attach()
    assert client.hello is not None
    assert "features" not in client.hello  # today's kernel: no profiles
    cell = client.run(
        "import jupyterlab_carto_auth as p, jupyterlab_carto_auth.protocol as q\n"
        "print(p.__file__.startswith(" + repr(str(today)) + "), 'features' in q.hello())\n"
    )
    assert cell.stdout == "True False\n", (cell.stdout, cell.error)

    # The sign-in push
    client.deliver(lab.sign_in(account(OLD_TOKEN, "acme")))
    cell = client.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        "a = CartoAuth.from_oauth()\n"
        f"print(a.source, a.get_access_token() == {OLD_TOKEN!r})\n"
    )
    assert cell.stdout == "lab True\n", (cell.stdout, cell.error)
    assert cell.requests == []

    # A refresh push
    client.deliver(lab.refresh(NEW_TOKEN, time.time() + 3500))
    cell = client.run(f"print(a.get_access_token() == {NEW_TOKEN!r})\n")
    assert cell.stdout == "True\n", (cell.stdout, cell.error)

    # A request (signed out in the lab; the user clicks Sign in), answered on stdin
    client.deliver(lab.sign_out())
    client.on_request = lambda client, request: client.deliver(lab.click_sign_in())
    cell = client.run(
        f"b = CartoAuth.from_oauth(org='beta')\nprint(b.get_access_token() == {OLD_TOKEN!r})\n"
    )
    assert cell.stdout == "True\n", (cell.stdout, cell.error)
    assert [(r["reply_via"], r["org"], "profile" in r) for r in cell.requests] == [
        ("stdin", "beta", False)
    ]
    # The user binds the notebook to another profile in the lab: today's kernel gets
    # that profile's session as a refresh, without profile fields, and takes it.
    client.deliver(lab.switch("k1", "ana@example.com · beta"))
    cell = client.run(f"print(CartoAuth.from_oauth().get_access_token() == {BETA_TOKEN!r})\n")
    assert cell.stdout == "True\n", (cell.stdout, cell.error)

    # Then: every message was one today's protocol accepts, with no profile field
    messages = [each.get("comm_msg") or each["input_reply"]["message"] for each in sent]
    assert [m["reason"] for m in messages] == [
        "attach",
        "sign_in",
        "refresh",
        "sign_out",
        "sign_in",
        "reply",
        "refresh",
    ]
    for message in messages:
        assert old_protocol.parse_message(message, "lab_to_kernel") == message
        assert not {"profile", "profiles"} & set(message), message
    # The kernel refused nothing it was sent: it only ever sent its request.
    assert [m["type"] for m in client.from_kernel] == ["request"]


# --- (b) tomorrow's kernel, today's lab --------------------------------------------------


def test_tomorrows_kernel_with_todays_lab_works_and_says_the_lab_predates_profiles(
    start_kernel: StartKernel, today_modules: tuple[types.ModuleType, types.ModuleType]
) -> None:
    old_protocol, old_labclient = today_modules
    _, kc = start_kernel()
    client = old_labclient.LabClient(kc)
    sent = _recording(client)
    lab = client.play(
        old_labclient.StandInLab(account(OLD_TOKEN, "acme"), sign_in_gives=account(NEW_TOKEN, None))
    )
    client.attach()
    assert client.hello["features"] == ["profiles"]  # tomorrow's hello, taken by today's lab
    cell = client.run(
        "%load_ext jupyterlab_carto_auth\n"
        "from jupyterlab_carto_auth import CartoAuth\n"
        "a = CartoAuth.from_oauth()\n"
        f"print(a.source, a.get_access_token() == {OLD_TOKEN!r})\n"
        # With org, as today: the lab's one session, no error.
        f"print(CartoAuth.from_oauth(org='beta').get_access_token() == {OLD_TOKEN!r})\n"
        "%carto profiles\n"
        "%carto use ana@example.com · beta\n"
        "%carto status\n"
    )
    assert cell.error is None, cell.error
    assert cell.stdout == f"lab True\nTrue\n{PREDATES_PROFILES}\n{PREDATES_PROFILES}\n"
    assert cell.requests == []  # %carto use sent nothing
    (status,) = cell.data
    assert "yes (JupyterLab)" in status["text/plain"]
    assert "profile " not in status["text/plain"]

    # A request (signed out; the user clicks Sign in): today's lab answers it
    client.deliver(lab.sign_out())
    client.on_request = lambda client, request: client.deliver(lab.click_sign_in())
    cell = client.run(f"print(CartoAuth.from_oauth().get_access_token() == {NEW_TOKEN!r})\n")
    assert cell.stdout == "True\n", (cell.stdout, cell.error)
    assert [sorted(r) for r in cell.requests] == [
        ["id", "interactive", "min_ttl", "org", "reply_via", "type", "v"]
    ]
    # Today's lab only ever answered the kernel with what today's protocol has, and the
    # kernel refused none of it.
    messages = [each.get("comm_msg") or each["input_reply"]["message"] for each in sent]
    assert [m["type"] for m in messages] == ["session"] * len(messages)
    for message in messages:
        assert old_protocol.parse_message(message, "lab_to_kernel") == message
    assert [m["type"] for m in client.from_kernel] == ["request"]
