"""Figures 1-5 and 8: Python, against carto-auth (and against no extension), each
comparison alternating the variants within one run.

Kernels are real ipykernels started with jupyter_client on this interpreter;
fresh interpreters run with ``-X importtime``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from common import ROOT, Figure, median, rotations

KERNEL_TIMEOUT = 60.0
CELL_TIMEOUT = 120.0

#: What the lab executes, silently, on every Python kernel it attaches: ``ATTACH_CODE``
#: in src/kernels.ts, which src/__tests__/kernels.spec.ts holds to this text (with its
#: ``sys.path`` handling, that keeps a planted package in the notebook's folder out).
ATTACH_CODE = json.loads((ROOT / "docs" / "protocol-examples.json").read_text("utf-8"))[
    "attach_code"
]

#: The statement each variant of figure 1 times inside a fresh kernel.
KERNEL_IMPORTS = {
    "attach": ATTACH_CODE,
    "api": (
        "import jupyterlab_carto_auth.kernel\n"
        "from jupyterlab_carto_auth import CartoAuth, CredentialsError\n"
        "import jupyterlab_carto_auth.magics"
    ),
    "carto_auth": "from carto_auth import CartoAuth, CredentialsError",
    "none": "pass",
}

#: Around the statement: time and resident memory, kept for a second cell to print.
PROBE = """
import os as _b_os, time as _b_time
def _b_rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * _b_os.sysconf('SC_PAGE_SIZE')
_b_r0 = _b_rss()
_b_t0 = _b_time.perf_counter()
{stmt}
_b_t1 = _b_time.perf_counter()
_b_result = {{'import_s': _b_t1 - _b_t0, 'rss_bytes': _b_rss() - _b_r0}}
"""

FRESH_IMPORTS = {
    "ours": "from jupyterlab_carto_auth import CartoAuth, CredentialsError",
    "carto_auth": "from carto_auth import CartoAuth, CredentialsError",
}


def have_carto_auth() -> bool:
    return find_spec("carto_auth") is not None


# --- kernels -------------------------------------------------------------------------


class Kernels:
    """Starts ipykernels on this interpreter with an isolated HOME and runtime dir."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        spec = workdir / "jupyter" / "kernels" / "bench-python"
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "bench", "language": "python"})
        )
        home = workdir / "home"
        home.mkdir()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CARTO_") and k not in ("BROWSER", "DISPLAY")
        }
        self.env.update(
            HOME=str(home),
            JUPYTER_PATH=str(workdir / "jupyter"),
            JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
            CARTO_SIGNIN_TIMEOUT="10",
        )

    @contextlib.contextmanager
    def start(self) -> Iterator[tuple[Any, Any, float]]:
        """A started kernel: (manager, client, time when start was asked, perf_counter)."""
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        specs = KernelSpecManager(kernel_dirs=[self.env["JUPYTER_PATH"] + "/kernels"])
        runtime = Path(self.env["JUPYTER_RUNTIME_DIR"])
        runtime.mkdir(exist_ok=True)
        km = KernelManager(
            kernel_name="bench-python",
            kernel_spec_manager=specs,
            connection_file=str(runtime / f"kernel-{uuid.uuid4()}.json"),
        )
        t0 = time.perf_counter()
        km.start_kernel(env=self.env, cwd=str(self.workdir), stderr=subprocess.DEVNULL)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=KERNEL_TIMEOUT)
            yield km, kc, t0
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


def wait_idle(kc: Any, msg_id: str, timeout: float = CELL_TIMEOUT) -> tuple[str, str | None]:
    """Wait for the idle status of ``msg_id``; returns (stdout, error text)."""
    deadline = time.monotonic() + timeout
    out, error = "", None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"cell did not finish within {timeout:g} s")
        try:
            msg = kc.get_iopub_msg(timeout=remaining)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            out += content["text"]
        elif kind == "error":
            error = f"{content['ename']}: {content['evalue']}"
        elif kind == "status" and content["execution_state"] == "idle":
            return out, error


def run_json(kc: Any, code: str, timeout: float = CELL_TIMEOUT) -> Any:
    """Run ``code`` (which prints one JSON line last) and return that value."""
    out, error = wait_idle(kc, kc.execute(code, store_history=False), timeout)
    if error:
        raise RuntimeError(error)
    return json.loads(out.strip().splitlines()[-1])


def kernel_imports(kernels: Kernels, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Per variant: import seconds, RSS bytes and start-to-first-idle seconds."""
    names = [n for n in KERNEL_IMPORTS if n != "carto_auth" or have_carto_auth()]
    found: dict[str, dict[str, list[float]]] = {
        n: {"import_s": [], "rss_bytes": [], "start_to_idle_s": []} for n in names
    }
    for order in rotations(names, repeats):
        for name in order:
            with kernels.start() as (_km, kc, t0):
                msg_id = kc.execute(
                    PROBE.format(stmt=KERNEL_IMPORTS[name]), silent=True, store_history=False
                )
                _, error = wait_idle(kc, msg_id)
                idle = time.perf_counter() - t0
                if error:
                    raise RuntimeError(f"{name}: {error}")
                result = run_json(kc, "import json; print(json.dumps(_b_result))")
            found[name]["import_s"].append(result["import_s"])
            found[name]["rss_bytes"].append(result["rss_bytes"])
            found[name]["start_to_idle_s"].append(idle)
    return found


# --- per call, in one kernel that holds a lab session --------------------------------


def push_session(kc: Any, token: str, timeout: float = 30) -> None:
    """Play the lab: run the attach code, answer its hello with a signed-in session."""
    msg_id = kc.execute(ATTACH_CODE, silent=True, store_history=False)
    deadline = time.monotonic() + timeout
    comm_id = None
    idle = False
    while comm_id is None or not idle:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the attach code opened no carto_auth comm")
        try:
            msg = kc.get_iopub_msg(timeout=remaining)
        except queue.Empty:
            continue
        content = msg["content"]
        if msg["msg_type"] == "comm_open" and content.get("target_name") == "carto_auth":
            comm_id = content["comm_id"]
        elif (
            msg["msg_type"] == "status"
            and msg["parent_header"].get("msg_id") == msg_id
            and content["execution_state"] == "idle"
        ):
            idle = True
    session = {
        "v": 1,
        "type": "session",
        "state": "signed_in",
        "access_token": token,
        "expires_at": time.time() + 3600,
        "api_base_url": "https://gcp-us-east1.api.carto.com",
        "user": {"email": "bench@example.com", "name": "Bench", "org": None},
        "reason": "attach",
    }
    # Shell messages are handled in order: the session is held before the next cell runs.
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm_id, "data": session}))


PER_CALL = """
import json, time
from jupyterlab_carto_auth import CartoAuth as Ours
TOKEN = {token!r}
EXP = time.time() + 3600
BASE = 'https://gcp-us-east1.api.carto.com'
variants = {{}}
ours_given = Ours('oauth', access_token=TOKEN, expiration=EXP, use_cache=False)
variants['ours_given'] = ours_given.get_access_token
ours_lab = Ours.from_oauth()
assert getattr(ours_lab, 'source', 'lab') == 'lab', ours_lab.source
assert ours_lab.get_access_token() == TOKEN
variants['ours_lab'] = ours_lab.get_access_token
variants['ours_from_oauth'] = lambda: Ours.from_oauth().get_access_token()
try:
    import carto_auth
except ImportError:
    carto_auth = None
if carto_auth is not None:
    theirs = carto_auth.CartoAuth(
        'oauth', api_base_url=BASE, access_token=TOKEN, expiration=EXP, use_cache=False
    )
    variants['carto_auth_given'] = theirs.get_access_token
    cache = {cache!r}
    carto_auth.CartoAuth(
        'oauth', api_base_url=BASE, access_token=TOKEN, expiration=EXP, cache_filepath=cache
    )
    assert carto_auth.CartoAuth.from_oauth(cache_filepath=cache).get_access_token() == TOKEN
    variants['carto_auth_from_oauth_cached'] = (
        lambda: carto_auth.CartoAuth.from_oauth(cache_filepath=cache).get_access_token()
    )

def per_call(fn, seconds):
    n, spent = 1, 0.0
    while spent < seconds / 4:  # calibrate: a sample lasts about `seconds`
        n *= 4
        t = time.perf_counter()
        for _ in range(n):
            fn()
        spent = time.perf_counter() - t
    n = max(1, int(n * seconds / spent))
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n

names = list(variants)
samples = {{name: [] for name in names}}
for rep in range({repeats}):
    k = rep % len(names)
    for name in names[k:] + names[:k]:
        samples[name].append(per_call(variants[name], {sample_s}))
print(json.dumps(samples))
"""


def per_call(kernels: Kernels, repeats: int, sample_s: float) -> dict[str, list[float]]:
    token = "eyJ" + "x" * 900  # the size of a CARTO access token
    cache = str(kernels.workdir / "carto-auth-cache.json")
    with kernels.start() as (_km, kc, _t0):
        push_session(kc, token)
        code = PER_CALL.format(token=token, cache=cache, repeats=repeats, sample_s=sample_s)
        return run_json(kc, code)


# --- fresh interpreters --------------------------------------------------------------


#: A small stdlib module that site does not import: its line ends the start-up imports.
MARKER = "colorsys"


def importtime_us(stmt: str, env: dict[str, str], cwd: Path) -> float:
    """Cumulative microseconds of the top-level imports ``stmt`` caused (``-X importtime``).

    Run in ``cwd`` (the scratch dir, as the kernels are): ``-c`` puts the working
    directory first on ``sys.path``, so run from the checkout it would import the
    source tree instead of the installed wheel."""
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-X", "importtime", "-c", f"import {MARKER}\n{stmt}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
        cwd=cwd,
    )
    total = 0.0
    started = False
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3:
            continue
        if not parts[1].strip().isdigit():
            continue  # the header line
        name = parts[2].rstrip()
        top = name.startswith(" ") and not name.startswith("  ")
        if not top:
            continue
        # Everything before the marker's line is the interpreter's own start-up.
        if name.strip() == MARKER:
            started = True
        elif started:
            total += int(parts[1])
    return total


def fresh_imports(kernels: Kernels, repeats: int) -> dict[str, list[float]]:
    names = [n for n in FRESH_IMPORTS if n != "carto_auth" or have_carto_auth()]
    found: dict[str, list[float]] = {n: [] for n in names}
    for order in rotations(names, repeats):
        for name in order:
            found[name].append(
                importtime_us(FRESH_IMPORTS[name], kernels.env, kernels.workdir) / 1e6
            )
    return found


# --- the figures ---------------------------------------------------------------------


def figures(repeats: int, calls_repeats: int, sample_s: float) -> list[Figure]:
    out: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="carto-bench-py-") as tmp:
        kernels = Kernels(Path(tmp))
        anchor = "carto-auth 0.2.0" if have_carto_auth() else None
        missing = None if anchor else "carto-auth is not installed here (make bench installs it)"

        f1a = Figure("1a", "import in a running ipykernel: the attach", "s", "<= 2 ms")
        f1b = Figure("1b", "import in a running ipykernel: the whole API", "s", "<= 0.05x")
        f5 = Figure("5", "RSS added to a kernel by the attach", "bytes", "<= 1 MiB")
        f8 = Figure("8", "kernel start to first idle, attach vs none", "s", "<= 1.02x")
        try:
            k = kernel_imports(kernels, repeats)
            f1a.ours = median(k["attach"]["import_s"])
            f1a.samples = {"attach": k["attach"]["import_s"]}
            f1b.ours = median(k["api"]["import_s"])
            f1b.samples = {"api": k["api"]["import_s"]}
            if "carto_auth" in k:
                f1b.comparator = median(k["carto_auth"]["import_s"])
                f1b.comparator_name = anchor
                f1b.samples["carto_auth"] = k["carto_auth"]["import_s"]
            f1a.comparator = f1b.comparator
            f1a.comparator_name = f1b.comparator_name
            f5.ours = median(
                [
                    a - n
                    for a, n in zip(k["attach"]["rss_bytes"], k["none"]["rss_bytes"], strict=True)
                ]
            )
            f5.samples = {v: k[v]["rss_bytes"] for v in k}
            if "carto_auth" in k:
                f5.comparator = median(
                    [
                        c - n
                        for c, n in zip(
                            k["carto_auth"]["rss_bytes"], k["none"]["rss_bytes"], strict=True
                        )
                    ]
                )
                f5.comparator_name = "import carto_auth"
            f5.notes.append("resident set after minus before, minus the same for `pass`")
            f8.ours = median(k["attach"]["start_to_idle_s"])
            f8.comparator = median(k["none"]["start_to_idle_s"])
            f8.comparator_name = "no attach"
            f8.samples = {v: k[v]["start_to_idle_s"] for v in k}
        except Exception as exc:
            for f in (f1a, f1b, f5, f8):
                f.error = f"{type(exc).__name__}: {exc}"
        out += [
            f1a.finish(lambda f: f.ours <= 0.002),
            f1b.finish(lambda f: f.ratio <= 0.05),
        ]

        f2 = Figure("2", "import in a fresh interpreter (-X importtime)", "s", "<= 0.25x")
        try:
            fresh = fresh_imports(kernels, repeats)
            f2.ours = median(fresh["ours"])
            f2.samples = fresh
            if "carto_auth" in fresh:
                f2.comparator = median(fresh["carto_auth"])
                f2.comparator_name = anchor
        except Exception as exc:
            f2.error = f"{type(exc).__name__}: {exc}"
        out.append(f2.finish(lambda f: f.ratio <= 0.25))

        f3a = Figure("3a", "get_access_token(), given token, per call", "per_call_s", "<= 1x")
        f3b = Figure("3b", "get_access_token(), lab session, per call", "per_call_s", "<= 1x")
        f4 = Figure("4", "from_oauth().get_access_token(), lab session", "per_call_s", "<= 5 us")
        try:
            calls = per_call(kernels, calls_repeats, sample_s)
            f3a.ours = median(calls["ours_given"])
            f3b.ours = median(calls["ours_lab"])
            f4.ours = median(calls["ours_from_oauth"])
            f3a.samples = {k: calls[k] for k in calls if "given" in k}
            f3b.samples = {k: calls[k] for k in ("ours_lab", "carto_auth_given") if k in calls}
            f4.samples = {k: calls[k] for k in calls if "from_oauth" in k}
            if "carto_auth_given" in calls:
                f3a.comparator = f3b.comparator = median(calls["carto_auth_given"])
                f3a.comparator_name = f3b.comparator_name = "carto-auth, given token"
            if "carto_auth_from_oauth_cached" in calls:
                f4.comparator = median(calls["carto_auth_from_oauth_cached"])
                f4.comparator_name = "carto-auth from_oauth(), cached"
            f4.notes.append("the comparator is context only: the target is absolute")
        except Exception as exc:
            for f in (f3a, f3b, f4):
                f.error = f"{type(exc).__name__}: {exc}"
        out += [
            f3a.finish(lambda f: f.ratio <= 1),
            f3b.finish(lambda f: f.ratio <= 1),
            f4.finish(lambda f: f.ours <= 5e-6),
            f5.finish(lambda f: f.ours <= 2**20),
            f8.finish(lambda f: f.ratio <= 1.02),
        ]
        if missing:
            for f in out:
                if f.comparator is None and f.id in ("1a", "1b", "2", "3a", "3b"):
                    f.notes.append(missing)
    return out
