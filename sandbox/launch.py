"""Start the CARTO sandbox and a JupyterLab configured to use it.

Used by ``make demo`` (interactive) and by the Galata UI tests (``--test``).
Both servers bind to 127.0.0.1; every wait is bounded; Ctrl-C or SIGTERM stops
both. Development tool only: not shipped in the wheel.

    python sandbox/launch.py [--test] [--collaborative] [--lab-port N] [--info-file F]
                             [--access-token-ttl S]

``--collaborative`` turns on real-time collaboration (jupyter-collaboration, a
test dependency) and gives the sandbox a second account; without it that
package is switched off, so the lab is the one users get without it.

SIGUSR1 restarts the Jupyter server alone, on the same port and with the same
settings and workspaces (its kernels end with it), while the sandbox and its
sessions stay: the UI test of a server restarted while signed in uses it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ports import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The second sandbox account of ``--collaborative`` (another person on the same server)
#: and of ``--test`` (the second account of the profiles tests).
SECOND_USER = {"email": "colleague@example.com", "password": "carto-sandbox-2"}
#: What jupyter-collaboration adds: its server extensions and its lab extensions.
COLLABORATION_SERVER_EXTENSIONS = ("jupyter_server_ydoc", "jupyter_server_fileid")
COLLABORATION_LAB_EXTENSIONS = (
    "@jupyter/docprovider-extension",
    "@jupyter/collaboration-extension",
)


def start_sandbox(args: argparse.Namespace, lab_port: int) -> tuple[subprocess.Popen, dict]:
    node = shutil.which("node")
    if not node:
        sys.exit("node was not found on PATH: install Node.js 20 (make demo does it for you).")
    cmd = [
        node,
        str(HERE / "server.mjs"),
        "--callback-port",
        str(args.callback_port or free_port()),
        "--access-token-ttl",
        str(args.access_token_ttl),
    ]
    for host in ("localhost", "127.0.0.1"):
        cmd += ["--spa-redirect-uri", f"http://{host}:{lab_port}/carto-auth/callback"]
    if args.collaborative or args.test:
        cmd += ["--user", f"{SECOND_USER['email']}:{SECOND_USER['password']}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)  # noqa: S603
    deadline = time.monotonic() + 30
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if line.strip().startswith("{") or proc.poll() is not None:
            break
    if not line.strip().startswith("{"):
        proc.kill()
        sys.exit("The CARTO sandbox did not start within 30 s (see its messages above).")
    info = json.loads(line)
    if args.collaborative or args.test:
        info["second_user"] = {**SECOND_USER, "name": SECOND_USER["email"]}
    return proc, info


def wait_for_lab(lab: subprocess.Popen, port: int, seconds: float = 90) -> bool:
    """Wait until JupyterLab answers on its port (bounded); False if it died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and lab.poll() is None:
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.5)
    if lab.poll() is None:
        print(f"JupyterLab did not open port {port} within {seconds:.0f} s.", file=sys.stderr)
    return False


def lab_settings(info: dict) -> dict:
    """The lab settings that point the extension at the sandbox."""
    public = info["clients"]["public"]
    return {
        "jupyterlab-carto-auth:session": {
            "issuer": info["issuer"],
            "authorizeUrl": info["authorize_url"],
            "tokenUrl": info["token_url"],
            "revocationUrl": info["revocation_url"],
            "clientId": public["client_id"],
            "redirectUri": f"http://localhost:{info['callback_port']}/callback/",
            "accessCodeRedirectUri": info["access_code_url"],
            "accountsUrl": info["accounts_url"],
            "tenantConfigUrlTemplate": info["tenant_config_url_template"],
        }
    }


def collaboration_switches(on: bool, settings_dir: Path) -> list[str]:
    """Command-line options that turn jupyter-collaboration on or off for this lab.

    Installed, it is on in every lab of the environment and shares the document
    model through the server; off, nothing of it is loaded (its lab extensions
    are disabled in this lab's page config).
    """
    if on:
        if importlib.util.find_spec("jupyter_server_ydoc") is None:
            sys.exit(
                "--collaborative needs jupyter-collaboration: pip install -c requirements/lock.txt "
                "'.[test]' (make install does it)."
            )
        # Its stores live in the lab's scratch folder, not the current directory.
        return [
            "--ServerApp.jpserver_extensions=jupyter_server_ydoc=True",
            f"--SQLiteYStore.db_path={settings_dir.parent / 'ystore.db'}",
            f"--BaseFileIdManager.db_path={settings_dir.parent / 'file_id_manager.db'}",
        ]
    (settings_dir / "page_config.json").write_text(
        json.dumps({"disabledExtensions": list(COLLABORATION_LAB_EXTENSIONS)}, indent=2)
    )
    return [
        f"--ServerApp.jpserver_extensions={name}=False" for name in COLLABORATION_SERVER_EXTENSIONS
    ]


def kernel_env(info: dict) -> dict[str, str]:
    """Environment for the server and its kernels (kernel-side settings, proxy allow-list)."""
    origins = {info["issuer"].rstrip("/"), info["api_base_url"].rstrip("/")}
    return {
        "CARTO_AUTH_URL": info["authorize_url"],
        "CARTO_TOKEN_URL": info["token_url"],
        "CARTO_CLIENT_ID": info["clients"]["public"]["client_id"],
        "CARTO_REDIRECT_URI": f"http://localhost:{info['callback_port']}/callback/",
        "CARTO_ACCESS_CODE_URL": info["access_code_url"],
        "CARTO_ACCOUNTS_URL": info["accounts_url"],
        "CARTO_TENANT_CONFIG_URL_TEMPLATE": info["tenant_config_url_template"],
        "CARTO_AUTH_ALLOWED_ORIGINS": ",".join(sorted(origins)),
    }


def private_file(path: Path) -> Path:
    """Create ``path`` empty and owner-only (it may record what the session printed)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    return path


def tee(stream, copies: list) -> threading.Thread:
    """Copy what ``stream`` gives to each of ``copies`` (bytes), until it ends."""

    def run() -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            for copy in copies:
                try:
                    copy.write(chunk)
                    copy.flush()
                except (OSError, ValueError):
                    pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_dirs(workdir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """What the UI tests isolate in the lab's scratch folder, so a test can scan it.

    Returns the environment (IPython's folder with its ``history.sqlite``, the
    kernels' cache folder, Jupyter's runtime and data folders, the server's
    log file) and the paths the info file lists.
    """
    dirs = {
        "ipython_dir": workdir / "ipython",
        "cache_dir": workdir / "cache",
        "runtime_dir": workdir / "runtime",
        "data_dir": workdir / "data",
    }
    for path in dirs.values():
        path.mkdir(mode=0o700)
    log = private_file(workdir / "server.log")
    output = private_file(workdir / "server-output.log")
    env = {
        "IPYTHONDIR": str(dirs["ipython_dir"]),
        "XDG_CACHE_HOME": str(dirs["cache_dir"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime_dir"]),
        "JUPYTER_DATA_DIR": str(dirs["data_dir"]),
        "JUPYTERLAB_GALATA_ROOT_DIR": str(workdir / "notebooks"),
        # ui-tests/jupyter_server_test_config.py logs to it at DEBUG
        "CARTO_TEST_SERVER_LOG": str(log),
    }
    paths = {
        **{name: str(path) for name, path in dirs.items()},
        "root_dir": str(workdir / "notebooks"),
        "server_log": str(log),
        "server_output": str(output),
        "lab_dir": str(workdir),
    }
    return env, paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", action="store_true", help="Galata test configuration")
    parser.add_argument(
        "--app", choices=["lab", "notebook"], default="lab", help="JupyterLab or Notebook 7"
    )
    parser.add_argument("--lab-port", type=int, default=0, help="JupyterLab port (0: free)")
    parser.add_argument("--callback-port", type=int, default=0, help="localhost callback port")
    parser.add_argument("--access-token-ttl", type=int, default=3600)
    parser.add_argument("--info-file", help="write the sandbox and lab URLs here (JSON)")
    parser.add_argument(
        "--collaborative",
        action="store_true",
        help="real-time collaboration on (jupyter-collaboration) and a second sandbox account",
    )
    args = parser.parse_args()

    lab_port = args.lab_port or free_port()
    sandbox, info = start_sandbox(args, lab_port)
    workdir = Path(tempfile.mkdtemp(prefix="carto-auth-lab-"))
    settings_dir = workdir / "app-settings"
    settings_dir.mkdir()
    (settings_dir / "overrides.json").write_text(json.dumps(lab_settings(info), indent=2))
    env = {**os.environ, **kernel_env(info), "JUPYTER_CONFIG_DIR": str(workdir / "config")}
    lab_url = f"http://localhost:{lab_port}/{'lab' if args.app == 'lab' else 'tree'}"
    # Under `jupyter notebook` the JupyterLab server extension may serve the
    # settings and workspaces too: configure both apps.
    app_classes = ["LabApp"] if args.app == "lab" else ["LabApp", "JupyterNotebookApp"]
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        args.app,
        f"--ServerApp.port={lab_port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        *(["--ServerApp.log_level=WARN"] if args.test else []),
        "--no-browser",
        *(f"--{app}.app_settings_dir={settings_dir}" for app in app_classes),
        *collaboration_switches(args.collaborative, settings_dir),
    ]
    workspaces = workdir / "workspaces"
    cmd += [f"--{app}.workspaces_dir={workspaces}" for app in app_classes]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI machines run as root
    root = workdir / "notebooks"
    root.mkdir()
    if args.test and args.app == "lab":
        cmd.append(f"--config={ROOT / 'ui-tests' / 'jupyter_server_test_config.py'}")
        # Galata's config would pick a new temporary root at every start: one
        # root (removed with the rest) keeps the notebooks across a restart.
        env.setdefault("JUPYTERLAB_GALATA_ROOT_DIR", str(root))
        # A kernel whose environment lacks this package (ui-tests/kernels/).
        env["JUPYTER_PATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "ui-tests"), os.environ.get("JUPYTER_PATH")])
        )
    elif args.test:
        # Notebook 7 UI tests: no token, a scratch root, nothing else of galata's.
        cmd += [f"--ServerApp.root_dir={root}", "--IdentityProvider.token="]
    else:
        token = os.urandom(16).hex()
        cmd += [f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}"]
        lab_url += f"?token={token}"
    test_paths: dict[str, str] = {}
    if args.test:
        test_env, test_paths = test_dirs(workdir)
        env.update(test_env)
    if args.info_file:
        Path(args.info_file).write_text(
            json.dumps(
                {**info, "lab_url": lab_url, "workspaces_dir": str(workspaces), **test_paths}
            )
        )
        os.chmod(args.info_file, 0o600)

    def start_lab() -> subprocess.Popen:
        if not args.test:
            return subprocess.Popen(cmd, env=env)  # noqa: S603
        # The server's output (its console log and what its kernels print) goes
        # on to this process's and into server-output.log, which a test scans.
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
        output = open(test_paths["server_output"], "ab")  # noqa: SIM115
        tee(proc.stdout, [sys.stdout.buffer, output])
        tee(proc.stderr, [sys.stderr.buffer, output])
        return proc

    lab = start_lab()
    restart_asked: list[int] = []
    if not args.test and wait_for_lab(lab, lab_port):
        user = info["user"]
        print(
            "\n"
            "  CARTO sandbox demo\n"
            f"  Jupyter{'Lab' if args.app == 'lab' else ' Notebook'}: {lab_url}\n"
            f"  Sandbox sign-in: {user['email']} / {user['password']}\n"
            "  Click 'Sign in to CARTO' in the status bar. Ctrl-C stops everything.\n",
            flush=True,
        )

    def stop(*_: object) -> None:
        for proc in (lab, sandbox):
            if proc.poll() is None:
                proc.terminate()
        for proc in (lab, sandbox):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    def restart_lab() -> subprocess.Popen:
        """Stop the Jupyter server (bounded) and start it again with the same command."""
        lab.terminate()
        try:
            lab.wait(timeout=15)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait(timeout=10)
        return start_lab()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, lambda *_: restart_asked.append(1))
    try:
        while lab.poll() is None and sandbox.poll() is None:
            if restart_asked:
                restart_asked.clear()
                lab = restart_lab()
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
