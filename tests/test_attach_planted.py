"""The lab's attach code in a real ipykernel whose working directory holds a planted
``jupyterlab_carto_auth`` package (issue 8, section 1): the planted code never runs,
``sys.path`` and the user's namespace are left as they were, with or without the real
package installed."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from labclient import ATTACH_CODE, LabClient, session_message

PLANTED = """
import pathlib
pathlib.Path({marker!r}).write_text("planted code ran")
def attach():
    return True
"""

STATE = """
import json as _t_json, sys as _t_sys
print(json.dumps({{
    "path": _t_sys.path,
    "names": sorted(n for n in globals() if "carto" in n),
    "planted": sorted(
        n for n, m in list(_t_sys.modules.items())
        if str(getattr(m, "__file__", None) or "").startswith({folder!r})
    ),
    "package": getattr(_t_sys.modules.get("jupyterlab_carto_auth"), "__file__", None),
}}))
del _t_json, _t_sys
""".replace("json.dumps", "_t_json.dumps")


def _installed() -> str:
    """The sys.path entry this venv has the package installed in (``make install``)."""
    elsewhere = [p for p in sys.path if p and Path(p).resolve() != REPO]
    spec = PathFinder.find_spec("jupyterlab_carto_auth", elsewhere)
    assert spec is not None, "jupyterlab-carto-auth is not installed in this venv: make install"
    assert spec.origin is not None
    return str(Path(spec.origin).parent.parent)


INSTALLED = _installed()


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path]:
    """(folder, marker): a notebook folder with a planted package that writes ``marker``
    when imported (its ``kernel`` module too, and the modules the kernel imports on the
    lab's first message)."""
    folder = tmp_path / "notebooks"
    package = folder / "jupyterlab_carto_auth"
    package.mkdir(parents=True)
    marker = tmp_path / "marker"
    (package / "__init__.py").write_text(PLANTED.format(marker=str(marker)))
    for name in ("kernel", "protocol", "errors", "secret", "config"):
        (package / f"{name}.py").write_text(PLANTED.format(marker=str(marker)))
    return folder, marker


@pytest.fixture
def start_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., LabClient]]:
    """``start_in(argv, cwd, pythonpath)``: a real ipykernel started by ``argv`` in ``cwd``,
    its LabClient; shut down at the end. With ``pythonpath`` (as every kernel fixture)
    PYTHONPATH=REPO, ahead of IPython's '': then REPO's package shadows a planted one
    whatever the attach does, so the planted case runs the installed package instead,
    as JupyterLab's kernels do."""
    from jupyter_client.manager import start_new_kernel

    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    started: list[tuple[Any, Any]] = []

    def start(argv: list[str], cwd: Path, pythonpath: bool = True) -> LabClient:
        spec_dir = tmp_path / "jupyter" / "kernels" / "attach-test"
        spec_dir.mkdir(parents=True, exist_ok=True)
        spec = {
            "argv": [*argv, "-f", "{connection_file}"],
            "display_name": "t",
            "language": "python",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        if not pythonpath:
            del env["PYTHONPATH"]
        km, kc = start_new_kernel(
            startup_timeout=60, kernel_name="attach-test", env=env, cwd=str(cwd)
        )
        started.append((km, kc))
        return LabClient(kc)

    try:
        yield start
    finally:
        for km, kc in started:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


def _state(lab: LabClient, folder: Path) -> dict[str, Any]:
    cell = lab.run(STATE.format(folder=str(folder)), silent=True)
    assert cell.error is None, cell.error
    return json.loads(cell.stdout)


def test_attach_with_the_package_installed_never_imports_a_planted_one(
    planted: tuple[Path, Path], start_in: Callable[..., LabClient]
) -> None:
    folder, marker = planted
    lab = start_in([sys.executable, "-m", "ipykernel_launcher"], folder, pythonpath=False)
    before = _state(lab, folder)
    # What makes the planted package importable: IPython's '' (the working directory)
    # ahead of site-packages, where the package is installed.
    assert "" in before["path"], before["path"]
    assert before["path"].index("") < before["path"].index(INSTALLED)

    # The session pushed on the hello is handled once ``sys.path`` is back, with ''
    # first: what the kernel imports then comes from the installed package too.
    lab.attach(session_message("t" * 40, api_base_url="https://gcp-us-east1.api.carto.com"))

    after = _state(lab, folder)
    assert not marker.exists(), "the attach ran the planted package"
    assert after["path"] == before["path"]
    assert after["planted"] == []
    assert after["names"] == before["names"] == []
    assert after["package"] == str(Path(INSTALLED, "jupyterlab_carto_auth", "__init__.py"))
    assert lab.hello is not None
    assert lab.hello["type"] == "hello"
    held = lab.run(
        "import jupyterlab_carto_auth.kernel as _t_k\n"
        "print(_t_k.SESSION.current.api_base_url)\n"
        "del _t_k",
        silent=True,
    )
    assert held.stdout == "https://gcp-us-east1.api.carto.com\n", held.error
    assert _state(lab, folder)["planted"] == []
    assert not marker.exists(), "the lab's first message ran the planted package"


def test_attach_without_the_package_says_not_installed_and_never_imports_a_planted_one(
    planted: tuple[Path, Path], start_in: Callable[..., LabClient]
) -> None:
    folder, marker = planted
    launcher = str(Path(__file__).with_name("kernel_without_carto.py"))
    lab = start_in([sys.executable, launcher], folder)
    before = _state(lab, folder)
    assert "" in before["path"], before["path"]

    cell = lab.run(ATTACH_CODE, silent=True, allow_stdin=False)

    # The lab's bridge (src/kernels.ts) reads this ename as "install the package".
    assert cell.error is not None
    assert cell.error["ename"] == "ModuleNotFoundError", cell.error
    after = _state(lab, folder)
    assert not marker.exists(), "the attach ran the planted package"
    assert after["path"] == before["path"]
    assert after["planted"] == []
    assert after["package"] is None
    assert after["names"] == before["names"] == []
    assert lab.comm_id is None


def test_the_launcher_without_the_package_finds_a_package_in_the_working_directory(
    planted: tuple[Path, Path], start_in: Callable[..., LabClient]
) -> None:
    """The "not installed" kernel hides only the installed package: a user's own import
    in that folder finds the planted one, as it would in a kernel without the package."""
    folder, marker = planted
    lab = start_in(
        [sys.executable, str(Path(__file__).with_name("kernel_without_carto.py"))], folder
    )
    cell = lab.run("import jupyterlab_carto_auth")
    assert cell.error is None, cell.error
    assert marker.exists()
