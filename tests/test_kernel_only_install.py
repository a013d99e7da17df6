"""A kernel-only install: ``pip install jupyterlab-carto-auth`` in a kernel's environment
pulls in nothing but what the kernel side imports, and that kernel gets the lab's session.

The wheel is built from this checkout, installed with ipykernel (nothing else) into a
fresh venv, registered as a kernelspec, and started by a real JupyterLab running in this
venv (where the server extension is). The test plays the lab's side of the comm as the
other kernel tests do (labclient.LabClient) with a real sandbox token.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Sandbox
from labclient import API_CHECK, LabClient, session_message
from loopback import free_port

from jupyterlab_carto_auth.m2m import M2MCredentials, fetch_m2m_token

#: The pip cache of whoever runs the tests, read before any test isolates HOME.
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip"
)
LOCK = REPO / "requirements" / "lock.txt"
PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check")
KERNEL_NAME = "carto-kernel-only"
LAB_READY_TIMEOUT = 60.0


def _run(*cmd: str, timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _wheelhouse() -> Path:
    """ipykernel and its dependencies at the pins of lock.txt, as wheels, downloaded once
    into the test venv (keyed by the lock), so the fresh venv installs offline."""
    key = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:12]
    house = Path(sys.prefix) / "kernel-only-wheels" / key
    if not house.is_dir():
        house.parent.mkdir(exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=house.parent))
        _run(
            *PIP,
            "download",
            "-q",
            "--only-binary=:all:",
            *("-c", str(LOCK), "-d", str(partial), "ipykernel"),
            timeout=300,
            env={**os.environ, "PIP_CACHE_DIR": PIP_CACHE},
        )
        try:
            partial.rename(house)  # whole or not at all, even with another run beside
        except OSError:
            shutil.rmtree(partial)
    return house


@dataclass
class KernelOnlyVenv:
    root: Path
    python: Path
    packages: list[str]  # `pip list` names, lower case

    def site_packages(self) -> Path:
        return next((self.root / "lib").glob("python3*/site-packages"))


@pytest.fixture(scope="module")
def kernel_only_venv(tmp_path_factory: pytest.TempPathFactory) -> KernelOnlyVenv:
    """The checkout's wheel and ipykernel, and nothing else, in a fresh venv."""
    work = tmp_path_factory.mktemp("kernel-only")
    wheels = work / "wheels"
    # jlpm and node of this venv, as `make install` has them.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {**os.environ, "PATH": path, "PIP_CACHE_DIR": PIP_CACHE}
    # hatchling's wheel of this checkout, as `pip install .` builds it; the npm step is
    # skipped when `make install` has built the labextension already (the kernel side
    # does not need it; the release check, .ci/check_release.py, builds everything).
    built = (REPO / "jupyterlab_carto_auth" / "labextension" / "package.json").is_file()
    _run(
        str(Path(sys.executable).parent / "hatchling"),
        *("build", "-t", "wheel", "-d", str(wheels)),
        timeout=300,
        env={**env, "SKIP_JUPYTER_BUILDER": "1"} if built else env,
        cwd=REPO,
    )
    (wheel,) = wheels.glob("jupyterlab_carto_auth-*.whl")
    root = work / "venv"
    # No pip of its own (ensurepip is slow): this venv's pip installs into it.
    _run(sys.executable, "-m", "venv", "--without-pip", str(root), timeout=120)
    python = root / "bin" / "python"
    pip = (*PIP, "--python", str(python))
    _run(
        *pip,
        *("install", "-q", "--no-compile", "--no-index", "--find-links", str(_wheelhouse())),
        *("ipykernel", str(wheel)),
        timeout=300,
        env=env,
    )
    listed = _run(*pip, "list", "--format=json", timeout=60, env=env)
    packages = sorted(p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout))
    return KernelOnlyVenv(root=root, python=python, packages=packages)


def test_the_kernel_only_install_has_no_server_and_no_lab(kernel_only_venv: KernelOnlyVenv):
    packages = kernel_only_venv.packages
    assert "jupyterlab-carto-auth" in packages
    assert "ipykernel" in packages
    for heavy in ("jupyter-server", "jupyterlab", "jupyterlab-server", "notebook"):
        assert heavy not in packages
    # The installed package, not this checkout, and jupyter_server is not importable.
    probe = _run(
        str(kernel_only_venv.python),
        "-c",
        "import importlib.util, jupyterlab_carto_auth as p\n"
        "print(p.__file__)\n"
        "print(importlib.util.find_spec('jupyter_server'))\n",
        timeout=60,
        cwd=kernel_only_venv.root,
        env={"PATH": "/usr/bin:/bin"},
    )
    where, server = probe.stdout.splitlines()
    assert Path(where).is_relative_to(kernel_only_venv.site_packages())
    assert server == "None"


# --- a real JupyterLab (this venv) starting the kernel-only environment's kernel ------


@dataclass
class Lab:
    url: str
    token: str
    runtime_dir: Path

    def api(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None


@pytest.fixture
def lab(kernel_only_venv: KernelOnlyVenv, tmp_path: Path) -> Iterator[Lab]:
    """``jupyter lab`` of this venv; the kernel-only venv's kernelspec on its JUPYTER_PATH."""
    data = tmp_path / "jupyter-data"
    _run(
        str(kernel_only_venv.python),
        *("-m", "ipykernel", "install", "--prefix", str(data), "--name", KERNEL_NAME),
        timeout=60,
    )
    kernelspec = data / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    assert json.loads(kernelspec.read_text())["argv"][0] == str(kernel_only_venv.python)
    port, token = free_port(), secrets.token_hex(16)
    runtime, root = tmp_path / "runtime", tmp_path / "notebooks"
    root.mkdir()
    env = {
        **os.environ,
        "JUPYTER_PATH": str(data / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    env.pop("PYTHONPATH", None)  # the kernel imports the package it has installed
    cmd = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.log_level=WARN",
        # The lab users get without jupyter-collaboration (a test dependency).
        "--ServerApp.jpserver_extensions=jupyter_server_ydoc=False",
        "--ServerApp.jpserver_extensions=jupyter_server_fileid=False",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp_path / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    served = Lab(url=f"http://127.0.0.1:{port}", token=token, runtime_dir=runtime)
    try:
        deadline = time.monotonic() + LAB_READY_TIMEOUT
        while True:
            assert proc.poll() is None, f"the lab exited:\n{log.read_text(errors='replace')}"
            try:
                served.api("GET", "/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"no lab within {LAB_READY_TIMEOUT:g} s:\n{log.read_text()}")
                time.sleep(0.2)
        yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_ready(kc: Any, timeout: float = 60) -> None:
    """Until ``kc`` gets replies on shell and iopub: jupyter_client's wait_for_ready
    without its heartbeat check, which a client that did not start the kernel can fail
    while the heartbeat warms up."""
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"the kernel did not answer within {timeout:g} s"
        kc.kernel_info()
        try:
            reply = kc.get_shell_msg(timeout=1)
            if reply["msg_type"] != "kernel_info_reply":
                continue
            kc.get_iopub_msg(timeout=1)  # iopub is connected too
        except queue.Empty:
            continue
        break
    while True:  # what iopub still holds belongs to no cell of the test
        try:
            kc.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            break


def test_a_kernel_only_environment_gets_the_labs_session(
    kernel_only_venv: KernelOnlyVenv, lab: Lab, sandbox_long: Sandbox
):
    from jupyter_client import BlockingKernelClient

    # The lab runs the server extension (this venv has jupyter_server).
    assert lab.api("GET", "/carto-auth/identity")["is_owner"] is True
    assert KERNEL_NAME in lab.api("GET", "/api/kernelspecs")["kernelspecs"]
    kernel = lab.api("POST", "/api/kernels", {"name": KERNEL_NAME})
    kc = BlockingKernelClient(connection_file=str(lab.runtime_dir / f"kernel-{kernel['id']}.json"))
    kc.load_connection_file()
    kc.start_channels()
    try:
        _wait_ready(kc)
        token = fetch_m2m_token(
            M2MCredentials(
                api_base_url=sandbox_long.api_base_url,
                client_id=sandbox_long.m2m["client_id"],
                client_secret=sandbox_long.m2m["client_secret"],
            ),
            sandbox_long.config(),
        )
        client = LabClient(kc)
        client.attach(session_message(token.access_token, token.expires_at))
        cell = client.run(
            API_CHECK.format(base=sandbox_long.api_base_url) + "import importlib.util, sys\n"
            "from jupyterlab_carto_auth import CartoAuth\n"
            "a = CartoAuth.from_oauth()\n"
            "print(sys.executable)\n"
            "print(importlib.util.find_spec('jupyter_server'))\n"
            f"print(a.source, a.get_access_token() == {token.access_token!r})\n"
            "print(api_status(a.get_access_token()))\n"
        )
        assert cell.error is None, cell.error
        assert cell.stdout == f"{kernel_only_venv.python}\nNone\nlab True\n200\n"
        assert cell.requests == []  # the pushed session was enough
    finally:
        kc.stop_channels()
        lab.api("DELETE", f"/api/kernels/{kernel['id']}")
