"""Secret values, never shown in full: an access token with its expiry, a refresh token,
the session a lab pushed (``LabSessionInfo``, held by ``kernel.SESSION``)."""

from __future__ import annotations

import math
import time

# Not ``from typing import ...``: importing ``typing`` costs more than this module
# in a fresh interpreter (bench figure 2).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: A token is refreshed when it has less than this many seconds left.
DEFAULT_MARGIN = 60.0


def mask(secret: str) -> str:
    """A secret's first four characters (for tokens longer than 16) then ``…(masked)``."""
    prefix = secret[:4] if len(secret) > 16 else ""
    return f"{prefix}…(masked)"


class Record:
    """What ``@dataclass(frozen=True)`` gives a small value class (``==``, ``hash``,
    ``FrozenInstanceError`` on assignment, pickling), written out: the decorator
    generates and compiles its methods when the module is imported, which is most
    of what attaching a kernel costs (bench figure 1a). Subclasses set ``_fields``
    and fill ``__dict__`` in ``__init__``."""

    _fields: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(self.__dict__[name] for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __setattr__(self, name: str, value: object) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")


class Token(Record):
    """An OAuth access token with its expiry as UTC epoch seconds.

    ``expires_at`` is computed from ``time.time()``, which is UTC everywhere:
    carto-auth's ``datetime.utcnow().timestamp()`` is off by the local UTC offset.
    Immutable.
    """

    _fields = ("access_token", "expires_at")
    access_token: str
    expires_at: float

    def __init__(self, access_token: str, expires_at: float) -> None:
        self.__dict__.update(access_token=access_token, expires_at=expires_at)

    @classmethod
    def from_expires_in(
        cls, access_token: str, expires_in: float, now: float | None = None
    ) -> Token:
        """A token that expires ``expires_in`` seconds after ``now`` (default: now)."""
        start = time.time() if now is None else now
        return cls(access_token=access_token, expires_at=start + float(expires_in))

    def expires_in(self, now: float | None = None) -> float:
        """Seconds left before expiry (negative once expired)."""
        return self.expires_at - (time.time() if now is None else now)

    def is_valid(self, margin: float = DEFAULT_MARGIN) -> bool:
        """True while the token has more than ``margin`` seconds left."""
        return math.isfinite(self.expires_at) and self.expires_in() > margin

    def __repr__(self) -> str:
        return (
            f"Token(access_token={mask(self.access_token)!r}, "
            f"expires_at={self.expires_at:.0f}, expires_in={self.expires_in():.0f}s)"
        )


class Secret:
    """A secret string (a refresh token) whose repr and str never show it."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return f"Secret({mask(self.value)!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


class LabSessionInfo(Record):
    """One ``session`` message as received, with the time it arrived (epoch seconds).

    Immutable (a frozen record), so one can be shared between threads. Here, not in
    ``kernel.py`` (which re-exports it): attaching a kernel (bench figure 1a) imports
    no module of this package but ``kernel``; the first message from the lab does."""

    _fields = (
        "state",
        "reason",
        "received_at",
        "access_token",
        "expires_at",
        "api_base_url",
        "email",
        "name",
        "org",
        "profile",
        "profiles",
    )
    state: str
    reason: str
    received_at: float
    access_token: str | None
    expires_at: float | None
    api_base_url: str | None
    email: str | None
    name: str | None
    org: str | None
    #: ``(name, org)`` of the lab's profile this session is of; ``None`` from a lab that
    #: predates profiles (docs/protocol.md, "Profiles").
    profile: tuple[str, str | None] | None
    #: Every profile of the lab, ``(name, email, org, default)`` each (nothing secret), when
    #: the session listed them; else ``None``.
    profiles: tuple[tuple[str, str, str | None, bool], ...] | None

    def __init__(
        self,
        state: str,
        reason: str,
        received_at: float,
        access_token: str | None = None,
        expires_at: float | None = None,
        api_base_url: str | None = None,
        email: str | None = None,
        name: str | None = None,
        org: str | None = None,
        profile: tuple[str, str | None] | None = None,
        profiles: tuple[tuple[str, str, str | None, bool], ...] | None = None,
    ) -> None:
        self.__dict__.update(
            state=state,
            reason=reason,
            received_at=received_at,
            access_token=access_token,
            expires_at=expires_at,
            api_base_url=api_base_url,
            email=email,
            name=name,
            org=org,
            profile=profile,
            profiles=profiles,
        )

    @classmethod
    def from_message(cls, message: dict[str, Any], now: float | None = None) -> LabSessionInfo:
        """From a message that ``protocol.parse_message`` accepted."""
        received = time.time() if now is None else now
        profile = message.get("profile")
        about = {
            "profile": None if profile is None else (profile["name"], profile["org"]),
            "profiles": (
                tuple((p["name"], p["email"], p["org"], p["default"]) for p in message["profiles"])
                if "profiles" in message
                else None
            ),
        }
        if message["state"] != "signed_in":
            return cls(state="signed_out", reason=message["reason"], received_at=received, **about)
        user = message["user"]
        base = message.get("api_base_url")
        return cls(
            state="signed_in",
            reason=message["reason"],
            received_at=received,
            access_token=message["access_token"],
            expires_at=float(message["expires_at"]),
            api_base_url=base.rstrip("/") if isinstance(base, str) and base.strip() else None,
            email=user["email"],
            name=user["name"],
            org=user.get("org"),
            **about,
        )

    @property
    def signed_in(self) -> bool:
        return self.state == "signed_in" and bool(self.access_token)

    def expires_in(self, now: float | None = None) -> float:
        """Seconds left (``-inf`` when signed out). ``expires_at`` is UTC epoch seconds."""
        if self.expires_at is None:
            return -math.inf
        return self.expires_at - (time.time() if now is None else now)

    def margin(self) -> float:
        """Seconds before expiry at which the token counts as expired: a minute, or a
        quarter of the token's lifetime for tokens shorter than four minutes."""
        if self.expires_at is None:
            return DEFAULT_MARGIN
        lifetime = max(self.expires_at - self.received_at, 0.0)
        return min(DEFAULT_MARGIN, lifetime / 4)

    def is_valid(self, margin: float | None = None) -> bool:
        """Signed in, with more than ``margin`` (default: ``margin()``) seconds left."""
        left = self.expires_in()
        return (
            self.signed_in
            and math.isfinite(left)
            and left > (self.margin() if margin is None else margin)
        )

    def __repr__(self) -> str:
        profile = "" if self.profile is None else f", profile={self.profile[0]!r}"
        if not self.signed_in:
            return f"LabSessionInfo(state={self.state!r}, reason={self.reason!r}{profile})"
        return (
            f"LabSessionInfo(state='signed_in', reason={self.reason!r}, email={self.email!r}, "
            f"org={self.org!r}{profile}, api_base_url={self.api_base_url!r}, "
            f"access_token={mask(self.access_token or '')!r}, "
            f"expires_in={self.expires_in():.0f}s)"
        )
