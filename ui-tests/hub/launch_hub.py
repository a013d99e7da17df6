"""Start the CARTO sandbox and a real JupyterHub for the JupyterHub UI test.

JupyterHub from PyPI, configurable-http-proxy from npm (the project's
node_modules), the SimpleLocalProcessSpawner (every user's server runs as this
process's user, in its own home directory: test only) and the
SharedPasswordAuthenticator (JupyterHub 5.3's successor of the
DummyAuthenticator with a password): one password for users, one for admins.
Users: alice (a hub admin, so she may open bob's server: the
``access:servers`` scope of the admin role), bob, and carol, who also has a
named server (``/user/carol/work/``, ``allow_named_servers``).
Each single-user server runs this extension with the settings that
``docs/jupyterhub.md`` tells an organization to use: ``docs/jupyterhub/overrides.json``
(its own SPA client, the callback under each server's base URL), the sandbox's
SPA client id in place of the placeholder, and the sandbox's endpoints in place
of CARTO's (as ``sandbox/launch.py`` configures the lab). The sandbox's SPA
client allows exactly the callback of each server, as CARTO's allowed callback
URLs would. Hub, proxy API, proxy and sandbox
listen on free 127.0.0.1 ports; every wait is bounded; SIGTERM (Playwright's
webServer stop) or Ctrl-C stops the hub, its servers and kernels, the proxy
and the sandbox. Development tool only.

    python ui-tests/hub/launch_hub.py --port N --info-file F
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import NoReturn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: The lab settings docs/jupyterhub.md gives an organization (quoted there verbatim).
DOCS_OVERRIDES = ROOT / "docs" / "jupyterhub" / "overrides.json"
#: The placeholder of the organization's SPA client id in DOCS_OVERRIDES.
CLIENT_ID_PLACEHOLDER = "YOUR_SPA_CLIENT_ID"
PLUGIN = "jupyterlab-carto-auth:session"
sys.path.insert(0, str(ROOT / "sandbox"))

from launch import free_port, kernel_env, lab_settings  # noqa: E402

#: JupyterHub users and the sandbox (CARTO) account each signs in with.
USERS = {
    "alice": {"email": "alice@example.com", "password": "alice-carto"},
    "bob": {"email": "bob@example.com", "password": "bob-carto"},
    "carol": {"email": "carol@example.com", "password": "carol-carto"},
}
#: Carol's named server (``/user/carol/work/``).
NAMED_SERVER = {"user": "carol", "name": "work"}
ADMIN = "alice"
#: The hub's shared password for users; admins need their own (at least 32 characters).
HUB_PASSWORD = "hub-test-password"  # noqa: S105 - a throwaway hub on loopback
ADMIN_PASSWORD = f"hub-admin-{uuid.uuid4().hex}"
#: Marks every process of one run (hub, proxy, servers, kernels) for the final sweep.
MARKER = "CARTO_HUB_TEST_RUN"


def server_paths() -> list[str]:
    """The base path of every single-user server of the test: the default ones and the named one."""
    paths = [f"/user/{name}/" for name in USERS]
    paths.append(f"/user/{NAMED_SERVER['user']}/{NAMED_SERVER['name']}/")
    return paths


def harness_error(message: str) -> NoReturn:
    """Stop the launcher: the hub spec's setup is broken, so the spec fails with this message."""
    raise SystemExit(message)  # exit 1: Playwright's webServer fails and so does the spec; no skip


def start_sandbox(hub_url: str) -> tuple[subprocess.Popen, dict]:
    node = shutil.which("node")
    if not node:
        harness_error("node was not found on PATH: install Node.js 20 (make install does it).")
    cmd = [node, str(ROOT / "sandbox" / "server.mjs"), "--callback-port", str(free_port())]
    for account in USERS.values():
        cmd += ["--user", f"{account['email']}:{account['password']}"]
    # Each server's callback, exactly: CARTO's identity provider matches them exactly too.
    for path in server_paths():
        cmd += ["--spa-redirect-uri", f"{hub_url}{path}carto-auth/callback"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)  # noqa: S603
    deadline = time.monotonic() + 30
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if line.strip().startswith("{") or proc.poll() is not None:
            break
    if not line.strip().startswith("{"):
        proc.kill()
        harness_error("The CARTO sandbox did not start within 30 s (see its messages above).")
    return proc, json.loads(line)


def hub_lab_settings(info: dict) -> dict:
    """The single-user servers' overrides.json: the documented one, on the sandbox.

    The sandbox's endpoints replace CARTO's defaults (a deployment keeps the
    defaults), and the sandbox's SPA client replaces the placeholder; every
    other documented setting is used as written.
    """
    documented = json.loads(DOCS_OVERRIDES.read_text())[PLUGIN]
    if documented.get("clientId") != CLIENT_ID_PLACEHOLDER:
        harness_error(f"{DOCS_OVERRIDES}: clientId must be the placeholder {CLIENT_ID_PLACEHOLDER}")
    session = {
        **lab_settings(info)[PLUGIN],
        **documented,
        "clientId": info["clients"]["spa"]["client_id"],
    }
    return {PLUGIN: session}


def hub_config(workdir: Path, ports: dict[str, int], info: dict, run_id: str) -> str:
    """The jupyterhub_config.py of this run."""
    settings_dir = workdir / "app-settings"
    settings_dir.mkdir()
    (settings_dir / "overrides.json").write_text(json.dumps(hub_lab_settings(info), indent=2))
    proxy = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    if not proxy.exists():
        harness_error(
            f"{proxy} is missing: run `jlpm install` (configurable-http-proxy, a dev dependency)."
        )
    singleuser = Path(sys.executable).with_name("jupyterhub-singleuser")
    environment = {**kernel_env(info), MARKER: run_id}
    args = [
        "--ServerApp.allow_root=True",
        "--ServerApp.log_level=WARN",
        f"--LabApp.app_settings_dir={settings_dir}",
        # Galata's way to reach the application object (window.jupyterapp).
        "--LabApp.expose_app_in_browser=True",
    ]
    config = {
        "JupyterHub": {
            "bind_url": f"http://127.0.0.1:{ports['proxy']}",
            "hub_bind_url": f"http://127.0.0.1:{ports['hub']}",
            "authenticator_class": "shared-password",
            "spawner_class": "simple",
            "db_url": f"sqlite:///{workdir / 'jupyterhub.sqlite'}",
            "cookie_secret_file": str(workdir / "jupyterhub_cookie_secret"),
            "log_level": "WARN",
            "cleanup_servers": True,
            "cleanup_proxy": True,
            "allow_named_servers": True,
        },
        "ConfigurableHTTPProxy": {
            "api_url": f"http://127.0.0.1:{ports['proxy_api']}",
            "command": [str(proxy)],
            "pid_file": str(workdir / "proxy.pid"),
            "auth_token": uuid.uuid4().hex,
        },
        "Authenticator": {"allowed_users": sorted(USERS), "admin_users": [ADMIN]},
        "SharedPasswordAuthenticator": {
            "user_password": HUB_PASSWORD,
            "admin_password": ADMIN_PASSWORD,
        },
        "SimpleLocalProcessSpawner": {"home_dir_template": str(workdir / "home" / "{username}")},
        "Spawner": {
            "cmd": [str(singleuser)],
            "args": args,
            "environment": environment,
            "default_url": "/lab",
            "start_timeout": 90,
            "http_timeout": 90,
        },
    }
    lines = ["# Written by ui-tests/hub/launch_hub.py for one test run."]
    for section, values in config.items():
        for key, value in values.items():
            lines.append(f"c.{section}.{key} = {value!r}")
    return "\n".join(lines) + "\n"


def wait_for_hub(hub: subprocess.Popen, url: str, seconds: float = 60) -> bool:
    """Wait until the hub answers through the proxy (bounded); False if it died or never did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and hub.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def marked_pids(run_id: str) -> list[int]:
    """Processes of this run that are still alive (found by their environment marker)."""
    needle = f"{MARKER}={run_id}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="public (proxy) port; 0: free")
    parser.add_argument("--info-file", required=True, help="write the URLs and users here (JSON)")
    args = parser.parse_args()

    run_id = uuid.uuid4().hex
    os.environ[MARKER] = run_id  # inherited by the sandbox and the hub's whole tree
    ports = {"proxy": args.port or free_port(), "hub": free_port(), "proxy_api": free_port()}
    hub_url = f"http://127.0.0.1:{ports['proxy']}"
    sandbox, info = start_sandbox(hub_url)
    workdir = Path(tempfile.mkdtemp(prefix="carto-auth-hub-"))
    (workdir / "jupyterhub_config.py").write_text(hub_config(workdir, ports, info, run_id))
    Path(args.info_file).write_text(
        json.dumps(
            {
                **info,
                "hub_url": hub_url,
                "hub_passwords": {
                    name: ADMIN_PASSWORD if name == ADMIN else HUB_PASSWORD for name in USERS
                },
                "hub_users": USERS,
                "hub_admin": ADMIN,
                "hub_named_server": NAMED_SERVER,
            }
        )
    )
    os.chmod(args.info_file, 0o600)
    hub = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "jupyterhub", "-f", str(workdir / "jupyterhub_config.py")],
        cwd=workdir,
    )

    def stop(*_: object) -> None:
        for proc in (hub, sandbox):
            if proc.poll() is None:
                proc.terminate()
        for proc in (hub, sandbox):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        # Whatever the hub did not stop (a server or kernel of a killed hub).
        for pid in marked_pids(run_id):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if not wait_for_hub(hub, f"{hub_url}/hub/health"):
            print("JupyterHub did not answer within 60 s.", file=sys.stderr)
            return 1
        print(f"JupyterHub for the CARTO UI test: {hub_url}", flush=True)
        while hub.poll() is None and sandbox.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
