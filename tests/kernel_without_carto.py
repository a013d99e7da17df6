"""Start an ipykernel in which jupyterlab-carto-auth is not installed (a kernel argv).

The package is importable from this venv (and from PYTHONPATH), so "not installed" is
made by hiding every place it is found at start-up: a finder first on ``sys.meta_path``
searches ``sys.path`` without those places, so the package is found only where an
uninstalled one would be, for instance a folder planted in the kernel's working
directory (``''``). ui-tests/kernels/python3-without-carto puts ``None`` in
``sys.modules`` instead, which stops a planted package too: useless to test that.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import ModuleSpec, PathFinder

# Run as a script, sys.path[0] is this folder: drop it, as ipykernel_launcher drops
# the working directory, before anything is searched.
del sys.path[0]

NAME = "jupyterlab_carto_auth"
HIDDEN = {
    entry for entry in sys.path if os.path.isfile(os.path.join(entry or ".", NAME, "__init__.py"))
}


class HideInstalled:
    """Finds ``NAME`` only outside ``HIDDEN``; elsewhere it is not installed."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if name != NAME:
            return None
        spec = PathFinder.find_spec(name, [p for p in sys.path if p not in HIDDEN])
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return spec


if __name__ == "__main__":
    assert HIDDEN, f"{NAME} is not installed here: nothing to hide"
    sys.meta_path.insert(0, HideInstalled)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
