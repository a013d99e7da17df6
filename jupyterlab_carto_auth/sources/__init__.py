"""Where a ``CartoAuth`` gets its tokens: one small class per source, one interface.

- ``LabSource``: the session JupyterLab pushes to this kernel (``source == "lab"``);
- ``KernelSignIn``: a browser or paste sign-in run by this kernel, with its
  owner-only cache and refresh token (``"kernel"``);
- ``M2MSource``: an M2M application's client credentials (``"m2m"``);
- ``GivenToken``: only the token given to the constructor (``"token"``).

``CartoAuth`` (``auth.py``) is the carto-auth-compatible facade over one of them.
"""

from __future__ import annotations

from .base import SourceChanged, SourceStatus, TokenSource
from .given import GivenToken
from .kernel_signin import KernelSignIn
from .lab import LabSource
from .m2m import M2MSource

__all__ = [
    "GivenToken",
    "KernelSignIn",
    "LabSource",
    "M2MSource",
    "SourceChanged",
    "SourceStatus",
    "TokenSource",
]
