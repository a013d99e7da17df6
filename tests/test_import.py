"""The kernel side imports with the standard library only: no server, no lab, no HTTP stack."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

FORBIDDEN = (
    "jupyter_server",
    "jupyterlab",
    "jupyterlab_server",
    "notebook",
    "requests",
    "yaml",
    "google",
    # The HTTP stack is imported on the first request, not at import time.
    "urllib.request",
    "http.client",
    "http.server",
    # The kernel bridge imports these lazily, only inside a kernel.
    "IPython",
    "ipykernel",
    "comm",
    "zmq",
    "asyncio",
    "webbrowser",
)


def test_importing_the_kernel_side_pulls_in_nothing_heavy() -> None:
    code = (
        "import json, sys\n"
        "import jupyterlab_carto_auth\n"
        "import jupyterlab_carto_auth.auth\n"
        "import jupyterlab_carto_auth.kernel\n"
        "import jupyterlab_carto_auth.protocol\n"
        "import jupyterlab_carto_auth.fallback_signin\n"
        "import jupyterlab_carto_auth.discovery\n"
        "import jupyterlab_carto_auth.sources\n"
        "import jupyterlab_carto_auth.magics\n"
        "jupyterlab_carto_auth.load_ipython_extension\n"
        "jupyterlab_carto_auth.CartoAuth, jupyterlab_carto_auth.CredentialsError\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules = json.loads(result.stdout)
    assert "jupyterlab_carto_auth.auth" in modules
    assert "jupyterlab_carto_auth.kernel" in modules
    assert "jupyterlab_carto_auth.magics" in modules
    loaded = [
        name for name in modules if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    ]
    assert loaded == []
