"""The installed package registers the prebuilt lab extension and the server extension."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def _jupyter(*args: str) -> str:
    done = subprocess.run(
        [str(BIN / "jupyter"), *args], capture_output=True, text=True, timeout=120, check=True
    )
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)


def test_labextension_is_installed_enabled_and_ok():
    out = _jupyter("labextension", "list")
    assert re.search(
        r"jupyterlab-carto-auth v\S+ enabled OK \(python, jupyterlab-carto-auth\)", out
    )


def test_server_extension_is_enabled_and_valid():
    out = _jupyter("server", "extension", "list")
    assert re.search(r"jupyterlab_carto_auth enabled", out)
    assert re.search(r"jupyterlab_carto_auth \S+ OK", out)
