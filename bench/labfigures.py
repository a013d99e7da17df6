"""Figures 7, 9 and 10: a real JupyterLab (this interpreter's), the sandbox identity
provider and Debian's Chromium, driven by ``bench/lab.mjs``.

Every server runs on a free 127.0.0.1 port in its own process group and is stopped
at the end, also on failure; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import CHROMIUM, ROOT, Figure, free_port, median, stop

sys.path.insert(0, str(ROOT / "sandbox"))
from launch import kernel_env, lab_settings  # the demo's own settings

OURS = "jupyterlab-carto-auth"


class Servers:
    """The sandbox and the JupyterLab servers of one run."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.procs: list[subprocess.Popen[Any]] = []
        self.logs: dict[str, Path] = {}
        self.info: dict[str, Any] = {}
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CARTO_", "JUPYTER_")) and k not in ("BROWSER", "DISPLAY")
        }
        self.env["HOME"] = str(workdir / "home")
        (workdir / "home").mkdir()

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str], **kw: Any) -> Any:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        with open(log, "wb") as err:
            proc = subprocess.Popen(  # noqa: S603
                cmd, env=env, stderr=err, start_new_session=True, **kw
            )
        self.procs.append(proc)
        return proc

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.logs.get(name)
        if not path or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def sandbox(self, lab_ports: list[int]) -> dict[str, Any]:
        node = shutil.which("node")
        if not node:
            raise RuntimeError("node is not on PATH")
        cmd = [node, str(ROOT / "sandbox" / "server.mjs"), "--callback-port", str(free_port())]
        for port in lab_ports:
            for host in ("localhost", "127.0.0.1"):
                cmd += ["--spa-redirect-uri", f"http://{host}:{port}/carto-auth/callback"]
        proc = self._spawn(
            "sandbox", cmd, self.env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT
        )
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(30)
        if not line or not line[0].strip():
            raise RuntimeError(f"sandbox not ready within 30 s:\n{self.tail('sandbox')}")
        self.info = json.loads(line[0])
        return self.info

    def lab(self, name: str, port: int, variant: str, *, every_kernel: bool = False) -> str:
        """A JupyterLab: ``ours`` (installed, enabled), ``absent`` (its files hidden from
        the lab, server extension off) or ``disabled`` (``jupyter labextension disable``).

        ``every_kernel``: ``kernelAccess: all`` (lab.mjs confirms it once, as a user
        who set it would), so the session figures time pushes, not grant dialogs."""
        base = self.workdir / name
        config = base / "config"
        settings = base / "app-settings"
        for d in (config, settings, base / "notebooks", base / "runtime"):
            d.mkdir(parents=True)
        overrides = lab_settings(self.info)
        if every_kernel:
            overrides["jupyterlab-carto-auth:session"]["kernelAccess"] = "all"
        (settings / "overrides.json").write_text(json.dumps(overrides))
        server_config: dict[str, Any] = {}
        if variant == "absent":
            server_config = {
                "LabApp": {"labextensions_path": [str(self._without_ours(base))]},
                "ServerApp": {"jpserver_extensions": {"jupyterlab_carto_auth": False}},
            }
        elif variant == "disabled":
            (config / "labconfig").mkdir()
            (config / "labconfig" / "page_config.json").write_text(
                json.dumps({"disabledExtensions": {OURS: True}})
            )
        (config / "jupyter_server_config.json").write_text(json.dumps(server_config))
        env = {
            **self.env,
            **kernel_env(self.info),
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        }
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.log_level=WARN",
            f"--ServerApp.root_dir={base / 'notebooks'}",
            "--IdentityProvider.token=",
            f"--LabApp.app_settings_dir={settings}",
            f"--LabApp.workspaces_dir={base / 'workspaces'}",
            # window.jupyterapp, for lab.mjs to open consoles (every variant alike).
            "--LabApp.expose_app_in_browser=True",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._spawn(name, cmd, env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        return f"http://127.0.0.1:{port}/"

    def _without_ours(self, base: Path) -> Path:
        """Every installed labextension but ours, as links in one directory."""
        from jupyter_core.paths import jupyter_path

        target = base / "labextensions"
        target.mkdir()
        for root in jupyter_path("labextensions"):
            root_path = Path(root)
            if not root_path.is_dir():
                continue
            for entry in root_path.iterdir():
                if entry.name != OURS and not (target / entry.name).exists():
                    (target / entry.name).symlink_to(entry.resolve())
        return target

    def wait_ready(self, url: str, name: str, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            proc = self.procs[-1]
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url + "api/status", timeout=2) as response,  # noqa: S310
            ):
                if response.status == 200:
                    return
            if proc.poll() is not None:
                break
            time.sleep(0.3)
        raise RuntimeError(f"{name} not ready within {seconds:g} s:\n{self.tail(name)}")

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    with tempfile.TemporaryDirectory(prefix="carto-bench-lab-") as tmp:
        s = Servers(Path(tmp))
        try:
            yield s
        finally:
            s.close()


def run_browser(config: dict[str, Any], workdir: Path, timeout_s: float) -> dict[str, Any]:
    node = shutil.which("node")
    if not node:
        raise RuntimeError("node is not on PATH")
    config = {**config, "chromium": CHROMIUM, "timeout_s": timeout_s}
    path = workdir / f"browser-{config['mode']}.json"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen(  # noqa: S603
        [node, str(ROOT / "bench" / "lab.mjs"), str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s + 30)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise RuntimeError(f"lab.mjs {config['mode']} did not finish in {timeout_s:g} s") from None
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"lab.mjs {config['mode']} failed:\n{err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def _ms(values: list[float]) -> list[float]:
    return [v / 1000 for v in values]


def page_figures(pairs: int, profile: Path | None) -> list[Figure]:
    """Figure 7: page to launcher and to status bar, with the extension vs absent."""
    launcher = Figure("7a", "lab page to launcher, ours vs absent", "s", "<= 1.02x")
    status = Figure("7b", "lab page to status bar, ours vs absent", "s", "<= 1.02x")
    try:
        with servers() as s:
            ports = {n: free_port() for n in ("ours", "absent", "disabled")}
            s.sandbox(list(ports.values()))
            urls = {n: s.lab(f"lab-{n}", p, n) for n, p in ports.items()}
            for n, url in urls.items():
                s.wait_ready(url, f"lab-{n}")
            result = run_browser(
                {
                    "mode": "pageload",
                    "ours_url": urls["ours"],
                    "absent_url": urls["absent"],
                    "disabled_url": urls["disabled"],
                    "pairs": pairs,
                    "profile": str(profile) if profile else None,
                },
                s.workdir,
                timeout_s=120 + pairs * 60,
            )
        runs = result["runs"]
        for fig, mark in ((launcher, "launcher"), (status, "statusbar")):
            fig.samples = {n: _ms([r[mark] for r in runs[n]]) for n in runs}
            fig.ours = median(fig.samples["ours"])
            fig.comparator = median(fig.samples["absent"])
            fig.comparator_name = "extension absent"
            disabled = median(fig.samples["disabled"])
            fig.notes.append(
                f"same run, `jupyter labextension disable`d (our JS fetched, no plugin "
                f"of ours activated): {disabled * 1000:.1f} ms; ours/disabled "
                f"{fig.ours / disabled:.3f}x (our plugins), disabled/absent "
                f"{disabled / fig.comparator:.3f}x (fetching our files)"
            )
        js = {n: median([r["ourBytes"] for r in runs[n]]) for n in runs}
        launcher.notes += [
            f"{len(runs['ours'])} rounds of the labs in turn (ours, absent, disabled; the "
            "order rotates), a fresh browser context (cold cache) each",
            f"our JS fetched per page load: ours {js['ours']:.0f} B, absent {js['absent']:.0f} B, "
            f"`jupyter labextension disable`d {js['disabled']:.0f} B "
            f"in {median([r['ourRequests'] for r in runs['disabled']]):.0f} requests",
        ]
        if result.get("profile_top"):
            launcher.notes.append(f"profile: {profile}")
            launcher.samples["profile_top"] = result["profile_top"]  # type: ignore[assignment]
    except Exception as exc:
        launcher.error = status.error = f"{type(exc).__name__}: {exc}"
    return [
        launcher.finish(lambda f: f.ratio <= 1.02),
        status.finish(lambda f: f.ratio <= 1.02),
    ]


def session_figures(
    kernels: list[int], fanout_repeats: int, signin_repeats: int, ttl: int, profile: Path | None
) -> list[Figure]:
    """Figures 9 (refresh fan-out to N kernels) and 10 (click to first kernel's token)."""
    fan = {
        n: Figure(f"9/{n}", f"lab refresh to the last of {n} kernels holding it", "s", "")
        for n in kernels
    }
    big, mid = max(kernels), sorted(kernels)[-2]
    fan[big].target = "<= 300 ms" if big >= 50 else ""
    ratio = Figure("9r", f"t({big}) / t({mid})", "x", "<= 5")
    signin = Figure("10", "sign-in: click to the first kernel holding a token", "s", "<= 1.5 s")
    try:
        with servers() as s:
            port = free_port()
            info = s.sandbox([port])
            url = s.lab("lab", port, "ours", every_kernel=True)
            s.wait_ready(url, "lab")
            watch = s.workdir / "watch"
            watch.mkdir()
            result = run_browser(
                {
                    "mode": "session",
                    "lab_url": url,
                    "issuer": info["issuer"],
                    "user": info["user"],
                    "watch_dir": str(watch),
                    "kernels": kernels,
                    "fanout_repeats": fanout_repeats,
                    "signin_repeats": signin_repeats,
                    "ttl": ttl,
                    "profile": str(profile) if profile else None,
                },
                s.workdir,
                timeout_s=300 + big * 9 + len(kernels) * fanout_repeats * (ttl + 20),
            )
        errors = result.get("errors", {})
        for n in kernels:
            fan[n].samples = {"ours": result["fanout_s"].get(str(n), [])}
            fan[n].ours = median(fan[n].samples["ours"])
            problem = errors.get(str(n)) or errors.get("fanout")
            if problem or fan[n].ours is None:
                fan[n].error = problem or "not measured (an earlier N failed)"
        fan[big].notes.append(
            f"access tokens of {ttl} s: the lab refreshes at 3/4 of their lifetime"
        )
        if result.get("setup_retries"):
            fan[big].notes.append(
                f"{result['setup_retries']} console(s) opened again: their kernel went away "
                "while the watcher was being installed (setup, not timed)"
            )
        if result.get("profile_top"):
            fan[big].notes.append(f"profile: {profile}")
            fan[big].samples["profile_top"] = result["profile_top"]  # type: ignore[assignment]
        if fan[big].ours is not None and fan[mid].ours:
            ratio.ours = fan[big].ours / fan[mid].ours
        else:
            ratio.error = "needs both t(N)"
        signin.samples = {"ours": result["signin_s"]}
        signin.ours = median(result["signin_s"])
        if errors.get("signin"):
            signin.error = errors["signin"]
        signin.notes.append("automated login on the sandbox's form, fresh browser each time")
    except Exception as exc:
        for f in (*fan.values(), ratio, signin):
            f.error = f"{type(exc).__name__}: {exc}"
    out = [fan[n].finish(None) for n in kernels]
    if big >= 50:
        fan[big].met = fan[big].ours <= 0.3 if fan[big].ours is not None else None
    return [*out, ratio.finish(lambda f: f.ours <= 5), signin.finish(lambda f: f.ours <= 1.5)]
