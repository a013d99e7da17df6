"""Secret values, never shown in full: an access token with its expiry, a refresh token."""

from __future__ import annotations

import math
import time

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
