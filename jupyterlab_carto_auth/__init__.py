"""Sign in to CARTO from JupyterLab; hand every kernel an authenticated CARTO client.

This package has three parts (README.md; the comm between lab and kernel is
specified in docs/protocol.md), each behind one name here:

- ``labextension/``: the prebuilt JupyterLab extension (built from ``src/``).
- ``server/``: the Jupyter server extension (``_jupyter_server_extension_points``):
  ``app.py`` the ExtensionApp and its settings, ``handlers.py`` the HTTP API,
  ``relay.py`` the localhost callback relay, ``proxy.py`` the allow-listed proxy.
- The kernel side, which never imports ``server/`` (tests/test_layout.py):
  ``CartoAuth`` in ``auth.py``, a facade over one of ``sources/`` (``lab``: the
  lab's pushed session; ``kernel_signin``: a sign-in done by this kernel through
  ``fallback_signin.py``; ``m2m``; ``given``); ``kernel.py`` the comm client the
  lab attaches (``attach``, over ``protocol.py``); ``magics.py`` the ``%carto``
  magics (``load_ipython_extension``); ``m2m.py`` credentials files,
  ``discovery.py`` the API base URL, ``cache.py`` the owner-only token cache,
  ``config.py`` the ``CARTO_*`` settings, ``secret.py`` masked token values.

Importing the package must stay cheap and must not need ``jupyter_server`` or
``jupyterlab``: kernels often run in an environment that has neither.
Everything heavy is imported lazily.
"""

from __future__ import annotations

# Not ``from typing import ...``: importing ``typing`` costs more than the rest of
# ``from jupyterlab_carto_auth import CartoAuth`` (bench figure 2).
TYPE_CHECKING = False

try:
    from ._version import __version__
except ImportError:  # pragma: no cover - only in a source tree that was never built
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from typing import Any

    from .auth import CartoAuth
    from .errors import CredentialsError

__all__ = ["CartoAuth", "CredentialsError", "__version__"]


def __getattr__(name: str) -> Any:
    # Plain imports, not importlib (one module fewer to import: bench figure 2).
    if name == "CartoAuth":
        from .auth import CartoAuth as value
    elif name == "CredentialsError":
        from .errors import CredentialsError as value
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyterlab-carto-auth"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    # Imported here, not at the top: importing the package must not load jupyter_server.
    from .server import CartoAuthServer

    return [{"module": "jupyterlab_carto_auth.server", "app": CartoAuthServer}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyterlab_carto_auth``: the ``%carto`` magic, and attach to the lab."""
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupyterlab_carto_auth``: remove the ``%carto`` magic."""
    from .magics import unload

    unload(ipython)
