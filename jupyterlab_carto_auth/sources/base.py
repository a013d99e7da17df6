"""The interface every token source implements, and what it reports about itself."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from ..secret import DEFAULT_MARGIN, Token


@dataclass(frozen=True)
class SourceStatus:
    """Who a source signs in as, for ``%carto status`` and ``CartoAuth``'s repr.

    ``expires_in`` is ``None`` while the source holds no token yet.
    """

    signed_in: bool
    email: str | None = None
    name: str | None = None
    org: str | None = None
    api_base_url: str | None = None
    expires_in: float | None = None


class SourceChanged(Exception):
    """From now on ``source`` serves the ``CartoAuth`` that asked (JupyterLab answered
    while a kernel-side sign-in waited for an access code)."""

    def __init__(self, source: TokenSource):
        super().__init__("the token source changed")
        self.source = source


class TokenSource(ABC):
    """Gives a valid access token and the account's API base URL."""

    #: What ``CartoAuth.source`` says: ``lab``, ``kernel``, ``m2m`` or ``token``.
    name: str
    #: carto-auth's mode: ``oauth`` (a user's token) or ``m2m``.
    mode: str = "oauth"
    #: Where a wrong API base URL comes from, for error messages.
    api_base_url_hint: str = "the API Base URL"
    #: ``(access_token, expires_at, margin)`` while the held token is known valid
    #: (``expires_at - time.time() > margin``), else ``None``: ``CartoAuth``'s lock-free
    #: hot path reads it (on ``fresh_holder()``). Replaced whole, never mutated.
    fresh: tuple[str, float, float] | None = None

    def fresh_holder(self) -> Any:
        """The object whose ``fresh`` snapshot stands for this source's token."""
        return self

    @abstractmethod
    def access_token(self) -> str:
        """A token with at least the margin left; may raise ``SourceChanged``."""

    @abstractmethod
    def api_base_url(self) -> str | None:
        """The account's API base URL (``None`` if unknown); may raise ``SourceChanged``."""

    @abstractmethod
    def status(self) -> SourceStatus:
        """What this source holds now; no network request."""

    @abstractmethod
    def describe(self) -> list[str]:
        """The ``key=value`` parts of ``CartoAuth``'s repr; never a token."""

    def sign_in(self) -> None:  # noqa: B027 - most sources need no sign-in
        """Get a first token where that needs the user (only ``KernelSignIn`` does)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self.describe())})"


def token_state(expires_in: float | None) -> str:
    """``token=<...>`` of a repr: ``none yet``, ``valid for N s`` or ``expired``."""
    if expires_in is None:
        state = "none yet"
    elif expires_in > 0:
        state = f"valid for {expires_in:.0f} s"
    else:
        state = "expired"
    return f"token=<{state}>"


class HeldToken(TokenSource):
    """A source that keeps its newest token and gets a new one inside the margin."""

    #: The margin never changes and the token is replaced only once it is inside the
    #: margin: then a snapshot of a valid token (``fresh``) stays right until it expires.
    #: ``KernelSignIn`` (its margin follows the lifetime it reads from the cache) has none.
    _snapshots = True

    def __init__(self, org: str | None, token: Token | None = None) -> None:
        self._lock = threading.Lock()
        self._org = org
        self._token = token

    def access_token(self) -> str:
        # Double-checked: a valid held token is returned without the lock (a token is
        # immutable and replaced by one assignment, so the unlocked read is safe).
        token = self._token
        if token is None or not token.is_valid(self._margin()):
            with self._lock:
                token = self._token
                if token is None or not token.is_valid(self._margin()):
                    token = self._new_token()
                    self._token = token
        if self._snapshots:
            margin = self._margin()
            # Unlocked too: a snapshot of a token that another thread has replaced
            # meanwhile is checked against that token's own expiry, so it can only
            # ever give a token that is still valid, and the next miss stores anew.
            if token.is_valid(margin):
                self.fresh = (token.access_token, token.expires_at, margin)
        return token.access_token

    def status(self) -> SourceStatus:
        token = self._token
        left = None if token is None else token.expires_in()
        return SourceStatus(
            signed_in=left is not None and left > 0,
            org=self._org,
            api_base_url=self.api_base_url(),
            expires_in=left,
        )

    def _margin(self) -> float:
        return DEFAULT_MARGIN

    @abstractmethod
    def _new_token(self) -> Token:
        """A fresh token (the held one is missing or inside the margin)."""

    def _parts(
        self,
        api_base_url: str | None,
        *,
        client_id: str | None = None,
        tag: str | None = None,
    ) -> list[str]:
        """carto-auth's repr fields, the same for every source that holds its token."""
        parts = [f"mode={self.mode!r}", f"api_base_url={api_base_url!r}"]
        if tag:
            parts.insert(1, f"source={tag!r}")
        if client_id is not None:
            parts.append(f"client_id={client_id!r}")
        if self._org:
            parts.append(f"org={self._org!r}")
        token = self._token
        parts.append(token_state(None if token is None else token.expires_in()))
        return parts
