"""The kernel side never reaches into the server side: ``server/`` is a one-way boundary.

Kernels often run where jupyter_server and tornado are not installed, so no module
of ``jupyterlab_carto_auth`` outside ``server/`` (and the prebuilt ``labextension/``)
may import ``jupyterlab_carto_auth.server``, ``jupyter_server`` or ``tornado``, at
any level: top, function body or ``TYPE_CHECKING`` block. The one crossing is the
entry point jupyter_server itself calls, ``_jupyter_server_extension_points``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "jupyterlab_carto_auth"
SERVER_SIDE = ("server", "labextension")
FORBIDDEN = ("jupyterlab_carto_auth.server", "jupyter_server", "tornado")
#: (module, function) allowed to import the server side: jupyter_server's entry point.
ENTRY_POINT = ("jupyterlab_carto_auth", "_jupyter_server_extension_points")


def kernel_side_modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package outside server/ and labextension/."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if parts[0] in SERVER_SIDE:
            continue
        names = [PACKAGE.name, *parts[:-1]]
        if parts[-1] != "__init__.py":
            names.append(path.stem)
        modules[".".join(names)] = path
    return modules


def _is_forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def _imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The absolute module names an import statement (or import_module call) may load."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            base = ".".join(package[: len(package) - node.level + 1])
            target = f"{base}.{node.module}" if node.module else base
        else:
            target = node.module or ""
        # ``from . import server`` imports the submodule ``server``.
        return [target, *(f"{target}.{alias.name}" for alias in node.names)]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, (ast.Name, ast.Attribute))
        and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
        in ("import_module", "__import__")
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return [node.args[0].value]
    return []


def forbidden_imports(module: str, path: Path) -> list[str]:
    """``module:line: name`` for each statement of one module that imports the server side."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    allowed: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (module, node.name) == ENTRY_POINT:
            allowed.update(ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if node in allowed:
            continue
        names = _imported_names(node, module, path.name == "__init__.py")
        hit = next((name for name in names if _is_forbidden(name)), None)
        if hit is not None:
            found.append((node.lineno, f"{module}:{node.lineno}: {hit}"))
    return [text for _, text in sorted(found)]


def test_the_kernel_side_is_every_module_outside_server():
    modules = kernel_side_modules()
    assert "jupyterlab_carto_auth" in modules
    assert "jupyterlab_carto_auth.kernel" in modules
    assert "jupyterlab_carto_auth.auth" in modules
    assert not [name for name in modules if name.startswith("jupyterlab_carto_auth.server")]


def test_no_kernel_side_module_imports_the_server_side():
    found = [
        hit
        for module, path in kernel_side_modules().items()
        for hit in forbidden_imports(module, path)
    ]
    assert found == []


def test_the_checker_sees_every_kind_of_import(tmp_path):
    # Guards the test above: each of these lines must be reported.
    source = tmp_path / "probe.py"
    source.write_text(
        "import tornado.web\n"
        "from jupyter_server.base import handlers\n"
        "from .server import app\n"
        "from . import server\n"
        "def later():\n"
        "    import importlib\n"
        "    importlib.import_module('jupyterlab_carto_auth.server')\n"
        "if False:\n"
        "    from jupyterlab_carto_auth import server\n"
        "from . import config, protocol\n"
        "import jupyterlab_carto_auth.service\n",
        encoding="utf-8",
    )
    found = forbidden_imports("jupyterlab_carto_auth.probe", source)
    assert [hit.split(":")[1] for hit in found] == ["1", "2", "3", "4", "7", "9"]


def test_the_entry_point_is_the_only_allowed_crossing(tmp_path):
    source = tmp_path / "__init__.py"
    source.write_text(
        "def _jupyter_server_extension_points():\n"
        "    from .server import CartoAuthServer\n"
        "def something_else():\n"
        "    from .server import CartoAuthServer\n",
        encoding="utf-8",
    )
    assert forbidden_imports("jupyterlab_carto_auth", source) == [
        "jupyterlab_carto_auth:4: jupyterlab_carto_auth.server"
    ]


# Runs in a fresh interpreter where jupyter_server and tornado (and the server side)
# cannot be imported, like a kernel environment that has neither.
_WITHOUT_SERVER = """
import importlib, json, sys

BLOCKED = ("jupyter_server", "tornado", "jupyterlab_carto_auth.server")

class Unavailable:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{name} is not installed here")
        return None

sys.meta_path.insert(0, Unavailable())
for name in BLOCKED[:2]:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"the blocker let {name} through")  # exit 1 fails the test; no skip

from jupyterlab_carto_auth import CartoAuth, CredentialsError
import jupyterlab_carto_auth.kernel
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_kernel_side_imports_without_jupyter_server_or_tornado():
    modules = sorted(kernel_side_modules())
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SERVER, json.dumps(modules)],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert set(modules) <= set(loaded)
    assert not [name for name in loaded if _is_forbidden(name)]
