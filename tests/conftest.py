"""Shared fixtures: the CARTO sandbox, a real kernel, a misbehaving HTTP server,
and an isolated home directory for every test."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from loopback import free_port

from jupyterlab_carto_auth.config import ENV_VARS, CartoConfig

REPO = Path(__file__).resolve().parent.parent
SANDBOX_READY_TIMEOUT = 20.0


# --- isolation -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HOME, no XDG_CACHE_HOME and no CARTO_* settings."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for var in ENV_VARS:
        monkeypatch.delenv(var.name, raising=False)
    return home


def write_credentials(path: Path, content: Any, mode: int = 0o600) -> Path:
    """Write a credentials file (JSON of ``content``, or ``content`` itself if str/bytes)."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    os.chmod(path, mode)
    return path


# --- the CARTO sandbox (sandbox/server.mjs) ------------------------------------------


@dataclass
class Sandbox:
    info: dict[str, Any]
    process: subprocess.Popen[bytes]

    @property
    def api_base_url(self) -> str:
        return self.info["api_base_url"]

    @property
    def token_url(self) -> str:
        return self.info["token_url"]

    @property
    def m2m(self) -> dict[str, str]:
        return self.info["clients"]["m2m"]

    def config(self, **overrides: Any) -> CartoConfig:
        """A ``CartoConfig`` whose every endpoint is the sandbox's."""
        values: dict[str, Any] = {
            "auth_url": self.info["authorize_url"],
            "token_url": self.info["token_url"],
            "audience": self.info["audience"],
            "accounts_url": self.info["accounts_url"],
            "tenant_config_url_template": self.info["tenant_config_url_template"],
            "http_timeout": 10.0,
        }
        values.update(overrides)
        return CartoConfig(**values)

    def env(self) -> dict[str, str]:
        """The same settings as environment variables, for subprocesses and kernels."""
        return {
            "CARTO_AUTH_URL": self.info["authorize_url"],
            "CARTO_TOKEN_URL": self.info["token_url"],
            "CARTO_AUDIENCE": self.info["audience"],
            "CARTO_ACCOUNTS_URL": self.info["accounts_url"],
            "CARTO_TENANT_CONFIG_URL_TEMPLATE": self.info["tenant_config_url_template"],
            "CARTO_HTTP_TIMEOUT": "10",
        }

    def credentials(self, path: Path, **overrides: str) -> Path:
        """Write a credentials file for the sandbox's M2M client (0600)."""
        content = {
            "api_base_url": self.api_base_url,
            "client_id": self.m2m["client_id"],
            "client_secret": self.m2m["client_secret"],
            **overrides,
        }
        return write_credentials(path, content)


def _read_ready_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes | None:
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0] if line else None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def _run_sandbox(directory: Path, *args: str) -> Iterator[Sandbox]:
    """Start ``sandbox/server.mjs`` with ``args``, wait for its ready line, stop it at the end."""
    node = shutil.which("node")
    assert node, "node is needed to run the sandbox (sandbox/server.mjs)"
    script = REPO / "sandbox" / "server.mjs"
    assert script.is_file(), f"{script} is missing"
    stderr_path = directory / "stderr.log"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [node, str(script), *args],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        line = _read_ready_line(proc, SANDBOX_READY_TIMEOUT)
        if not line:
            _stop(proc)
            log = stderr_path.read_text(errors="replace")
            pytest.fail(
                f"sandbox not ready within {SANDBOX_READY_TIMEOUT:g} s "
                f"(exit code {proc.returncode}); its stderr:\n{log}"
            )
        info = json.loads(line)
        assert info.get("ready") is True, info
        yield Sandbox(info=info, process=proc)
    finally:
        _stop(proc)
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The local OIDC provider and CARTO API stand-in, access tokens valid 5 s."""
    with _run_sandbox(tmp_path_factory.mktemp("sandbox"), "--access-token-ttl", "5") as box:
        yield box


# --- a misbehaving HTTP server (stands in for a broken or misconfigured CARTO) --------


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    content_type: str = "application/json"
    delay: float = 0.0
    drop: bool = False  # close the connection without answering
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeServer:
    base_url: str
    routes: dict[str, Reply | Callable[[bytes], Reply]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    bodies: dict[str, list[bytes]] = field(default_factory=dict)
    headers: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A stdlib HTTP server on 127.0.0.1; tests set ``routes[path] = Reply(...)``."""
    state = FakeServer(base_url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            path = self.path.split("?")[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                state.hits[path] = state.hits.get(path, 0) + 1
                state.bodies.setdefault(path, []).append(body)
                state.headers.setdefault(path, []).append(dict(self.headers))
            route = state.routes.get(path, Reply(404, {"error": "not_found"}))
            reply = route(body) if callable(route) else route
            if reply.delay:
                time.sleep(reply.delay)
            if reply.drop:
                self.close_connection = True
                return
            payload = reply.body
            if isinstance(payload, (dict, list)):
                payload = json.dumps(payload)
            if isinstance(payload, str):
                payload = payload.encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- a real kernel -------------------------------------------------------------------


@dataclass
class KernelRun:
    stdout: str
    stderr: str
    error: dict[str, Any] | None  # ename, evalue, traceback
    data: list[dict[str, Any]]  # execute_result / display_data bundles

    def all_text(self) -> str:
        """Everything the cell showed, as one string (to look for leaked secrets)."""
        parts = [self.stdout, self.stderr, json.dumps(self.data)]
        if self.error:
            parts += [self.error["ename"], self.error["evalue"], *self.error["traceback"]]
        return "\n".join(parts)


def run(kc: Any, code: str, timeout: float = 30) -> KernelRun:
    """Execute ``code`` in the kernel and collect its output, failing after ``timeout`` s."""
    msg_id = kc.execute(code, store_history=False, allow_stdin=False)
    deadline = time.monotonic() + timeout
    out = KernelRun(stdout="", stderr="", error=None, data=[])
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"cell did not finish within {timeout} s: {code[:80]!r}")
        try:
            msg = kc.get_iopub_msg(timeout=remaining)
        except Exception as exc:  # queue.Empty
            raise TimeoutError(f"cell did not finish within {timeout} s") from exc
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            if content["name"] == "stdout":
                out.stdout += content["text"]
            else:
                out.stderr += content["text"]
        elif kind == "error":
            out.error = {k: content[k] for k in ("ename", "evalue", "traceback")}
        elif kind in ("execute_result", "display_data"):
            out.data.append(content["data"])
        elif kind == "status" and content["execution_state"] == "idle":
            break
    kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
    return out


def _own_kernelspec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our own "python3" kernelspec first on JUPYTER_PATH: kernels run this venv's
    interpreter whatever other kernelspecs the machine has."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "test python3", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))


@pytest.fixture
def kernel(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Any]]:
    """A real ipykernel on this venv's Python, configured for the sandbox: (manager, client)."""
    from jupyter_client.manager import start_new_kernel

    _own_kernelspec(tmp_path, monkeypatch)

    # jupyter_client 8 takes the kernel's whole environment as ``env`` (its old
    # ``extra_env`` argument is gone): this process's (isolated HOME) plus the sandbox.
    env = {**os.environ, **sandbox.env(), "PYTHONPATH": str(REPO)}
    km, kc = start_new_kernel(startup_timeout=60, kernel_name="python3", env=env, cwd=str(REPO))
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# --- kernel bridge: a long-lived-token sandbox, kernels with chosen settings ----------


@pytest.fixture(scope="session")
def sandbox_long(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A second sandbox: access tokens valid 10 min, the public client's localhost
    callback on a free port (so the kernel-side local redirect can bind it)."""
    callback_port = free_port()
    with _run_sandbox(
        tmp_path_factory.mktemp("sandbox-long"),
        "--access-token-ttl",
        "600",
        "--callback-port",
        str(callback_port),
    ) as box:
        assert box.info["callback_port"] == callback_port
        yield box


def sandbox_kernel_env(sandbox: Sandbox) -> dict[str, str]:
    """Every CARTO_* setting a kernel-side sign-in against ``sandbox`` needs."""
    return {
        **sandbox.env(),
        "CARTO_CLIENT_ID": sandbox.info["clients"]["public"]["client_id"],
        "CARTO_REDIRECT_URI": f"http://localhost:{sandbox.info['callback_port']}/callback/",
        "CARTO_ACCESS_CODE_URL": sandbox.info["access_code_url"],
    }


@pytest.fixture
def start_kernel(
    sandbox_long: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[Any, Any]]]:
    """``start_kernel(**env)``: a real ipykernel configured for ``sandbox_long`` plus ``env``
    (a value of ``None`` removes a variable). Shut down at the end of the test."""
    from jupyter_client.manager import start_new_kernel

    _own_kernelspec(tmp_path, monkeypatch)
    started: list[tuple[Any, Any]] = []

    def start(**overrides: str | None) -> tuple[Any, Any]:
        env = {**os.environ, **sandbox_kernel_env(sandbox_long), "PYTHONPATH": str(REPO)}
        for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
            env.pop(name, None)
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        km, kc = start_new_kernel(startup_timeout=60, kernel_name="python3", env=env, cwd=str(REPO))
        started.append((km, kc))
        return km, kc

    try:
        yield start
    finally:
        for km, kc in started:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
