"""Where a ``CartoAuth`` gets its tokens: one small class per source, one interface.

- ``LabSource``: the session JupyterLab pushes to this kernel (``source == "lab"``);
- ``KernelSignIn``: a browser or paste sign-in run by this kernel, with its
  owner-only cache and refresh token (``"kernel"``);
- ``M2MSource``: an M2M application's client credentials (``"m2m"``);
- ``GivenToken``: only the token given to the constructor (``"token"``);
- ``EnvironmentToken``: ``CARTO_API_TOKEN`` of the kernel's environment (``"environment"``).

``CartoAuth`` (``auth.py``) is the carto-auth-compatible facade over one of them.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .base import SourceChanged, SourceStatus, TokenSource
    from .environment import EnvironmentToken
    from .given import GivenToken
    from .kernel_signin import KernelSignIn
    from .lab import LabSource
    from .m2m import M2MSource

#: Each name, imported from its module on first use: a lab session loads neither the
#: token cache (``kernel_signin``) nor M2M and its HTTP stack.
_LAZY = {
    "SourceChanged": "base",
    "SourceStatus": "base",
    "TokenSource": "base",
    "EnvironmentToken": "environment",
    "GivenToken": "given",
    "KernelSignIn": "kernel_signin",
    "LabSource": "lab",
    "M2MSource": "m2m",
    "steps": None,
}

__all__ = [
    "EnvironmentToken",
    "GivenToken",
    "KernelSignIn",
    "LabSource",
    "M2MSource",
    "SourceChanged",
    "SourceStatus",
    "TokenSource",
]


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module = _LAZY[name]
    if module is None:
        value: object = importlib.import_module(f"{__name__}.{name}")
    else:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
