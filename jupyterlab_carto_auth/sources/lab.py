"""``LabSource``: the session JupyterLab pushes to this kernel over the comm.

The lab refreshes the token and pushes the new one; when the held one is
about to expire (a push still on its way), the kernel asks the lab, once, in
``LabSource._asked``. Nothing is written to disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .. import kernel
from ..config import CartoConfig
from ..errors import CredentialsError, LabError
from ..secret import DEFAULT_MARGIN
from . import steps
from .base import SourceStatus, TokenSource, token_state

SIGNED_OUT_IN_LAB = (
    "You signed out of CARTO in JupyterLab. Click Sign in to CARTO and run "
    "CartoAuth.from_oauth() again."
)
NOT_GRANTED_IN_LAB = (
    "JupyterLab has not allowed this notebook to use your CARTO account. Run "
    "CartoAuth.from_oauth() (or %carto login) and click Allow when JupyterLab asks; "
    "allowed notebooks are listed in CARTO Account in JupyterLab."
)
PREDATES_PROFILES = (
    "This JupyterLab's jupyterlab-carto-auth predates profiles: upgrade it where JupyterLab runs."
)
CANCELLED_IN_LAB = (
    "Sign-in to CARTO was cancelled in JupyterLab. Click Sign in to CARTO, then run this "
    "cell again."
)


@dataclass(frozen=True)
class AskLab(steps.Step):
    """Ask the lab for a session (``kernel.request_session``); its errors say what to do."""

    min_ttl: float
    org: str | None
    interactive: bool = False
    timeout: float | None = None
    #: A profile name: the session of that profile, the notebook bound to it (``%carto use``).
    profile: str | None = None

    def run(self) -> dict[str, Any]:
        try:
            return kernel.request_session(**self._arguments())
        except LabError as exc:
            raise self._failure(exc) from None

    async def run_async(self) -> dict[str, Any]:
        try:
            return await kernel.request_session_async(**self._arguments())
        except LabError as exc:
            raise self._failure(exc) from None

    def _arguments(self) -> dict[str, Any]:
        return {
            "min_ttl": self.min_ttl,
            "interactive": self.interactive,
            "org": self.org,
            "timeout": self.timeout,
            **({} if self.profile is None else {"profile": self.profile}),
        }

    def _failure(self, exc: LabError) -> LabError:
        """What to tell the user when JupyterLab could not provide a session."""
        timeout = kernel.LAB_REPLY_TIMEOUT if self.timeout is None else self.timeout
        if isinstance(exc, kernel.LabNoAnswer):
            message = (
                f"JupyterLab did not answer within {timeout:g} s. Click Sign in to CARTO in "
                "JupyterLab (status bar), then run this cell again."
            )
        elif exc.code == "cancelled":
            message = CANCELLED_IN_LAB
        elif exc.code == "timeout":
            message = (
                f"Nobody signed in to CARTO within {timeout:g} s. Click Sign in to CARTO in "
                "JupyterLab, then run this cell again."
            )
        elif exc.code == "network":
            message = (
                f"JupyterLab could not reach CARTO ({exc}). Check your network connection, "
                "then run this cell again."
            )
        elif exc.code == "unknown_profile":
            message = f"JupyterLab has no such CARTO profile: {exc}"
        elif exc.code == "denied":
            # The user's Deny in the lab, or CARTO's refusal: the lab says what to do.
            message = f"JupyterLab refused this kernel a CARTO session: {exc}"
        else:
            message = f"JupyterLab could not hand this kernel a CARTO session: {exc}"
        return LabError(exc.code, message)


class LabSource(TokenSource):
    """JupyterLab's session: never blocks while the pushed token is fresh."""

    name = "lab"

    def __init__(self, config: CartoConfig, org: str | None, api_base_url: str | None) -> None:
        self._config = config
        self._org = org
        self._api_base_url_arg = api_base_url
        #: ``((email, org, profile), url)``: the URL discovered for that account.
        self._discovered: tuple[Any, str] | None = None

    def fresh_holder(self) -> Any:
        """The session store: its snapshot stands for the lab's token; for one
        organization, only while the session held is of it (``_OrgPinned``)."""
        if self._org is None:
            return kernel.SESSION
        return _OrgPinned(self._org)

    def _other_org(self) -> bool:
        """The lab knows profiles and the session held is not of ``org`` (asked for)."""
        if self._org is None:
            return False
        _, held_org, speaks_profiles = kernel.SESSION.pinned
        return speaks_profiles and held_org != self._org

    def signed_in(self) -> steps.Decision[None]:
        """Make sure the lab has a session for this kernel: refreshed near expiry, else
        the lab's sign-in, waited for (``CARTO_SIGNIN_TIMEOUT``). For ``org``, with a lab
        that knows profiles: the profile of that organization (the lab offers to sign
        in to it when it has none)."""
        info = kernel.SESSION.current
        other_org = self._other_org()
        if not other_org:
            if info is not None and info.is_valid():
                return
            if info is not None and info.signed_in and (yield from self._asked(DEFAULT_MARGIN)):
                return
        answer = yield AskLab(
            DEFAULT_MARGIN, self._org, interactive=True, timeout=self._config.signin_timeout
        )
        if answer["state"] != "signed_in":
            raise CredentialsError(
                "You are not signed in to CARTO in JupyterLab. Click Sign in to CARTO, then "
                "run this cell again."
            )
        if self._org is not None and "profile" in answer and answer["user"]["org"] != self._org:
            user = answer["user"]
            raise CredentialsError(
                f"JupyterLab answered with the CARTO account {user['email']} of "
                f"{_org_text(user['org'])}, not of the organization {self._org!r} asked for. "
                f"Sign in to {self._org!r} in JupyterLab (CARTO Account), or check the org "
                "argument (or CARTO_ORGANIZATION), then run this cell again."
            )

    def _asked(self, min_ttl: float) -> steps.Decision[bool]:
        """The near-expiry re-ask: the lab refreshes and answers; ``True`` if signed in."""
        answer = yield AskLab(min_ttl, self._org)
        return answer["state"] == "signed_in"

    def _token(self) -> steps.Decision[str]:
        if self._other_org():
            info = kernel.SESSION.current
            held = "no organization" if info is None else _org_text(info.org)
            raise CredentialsError(
                f"This notebook now uses a CARTO profile of {held} (%carto profiles), not "
                f"of the organization {self._org!r} this CartoAuth was made for. Run "
                f"CartoAuth.from_oauth(org={self._org!r}) again, or %carto use <profile>."
            )
        if kernel.SESSION.signed_out_in_lab:
            raise CredentialsError(SIGNED_OUT_IN_LAB)
        if kernel.SESSION.not_granted:
            raise CredentialsError(NOT_GRANTED_IN_LAB)
        info = kernel.SESSION.current
        if info is not None and info.is_valid():
            return info.access_token  # type: ignore[return-value]
        margin = info.margin() if info is not None else DEFAULT_MARGIN
        answered = yield from self._asked(math.ceil(margin))
        fresh = kernel.SESSION.current
        if not answered or fresh is None or not fresh.signed_in:
            raise CredentialsError(SIGNED_OUT_IN_LAB)
        if fresh.expires_in() <= 0:
            raise CredentialsError(
                "JupyterLab has no valid CARTO token (it could not refresh it). Click Sign in "
                "to CARTO, then run this cell again."
            )
        return fresh.access_token  # type: ignore[return-value]

    def access_token(self) -> str:
        """The lab's token; near expiry, ask the lab (which refreshes) for a fresh one."""
        return steps.run(self._token())

    def api_base_url(self) -> str | None:
        """The ``api_base_url`` argument, else the lab's, else the setting, else discovered."""
        info = kernel.SESSION.current
        if self._api_base_url_arg:
            return self._api_base_url_arg
        if info is not None and info.signed_in and info.api_base_url:
            return info.api_base_url
        if self._config.api_base_url:
            return self._config.api_base_url
        # Per account: the notebook may be switched to another profile (%carto use).
        account = None if info is None else (info.email, info.org, info.profile)
        if self._discovered is None or self._discovered[0] != account:
            from ..discovery import discover_api_base_url

            url = discover_api_base_url(self.access_token(), self._config)
            self._discovered = (account, url)
        return self._discovered[1]

    def status(self) -> SourceStatus:
        info = kernel.SESSION.current
        if info is None or not info.signed_in:
            return SourceStatus(signed_in=False)
        return SourceStatus(
            signed_in=True,
            email=info.email,
            name=info.name,
            org=info.org,
            api_base_url=info.api_base_url,
            expires_in=info.expires_in(),
        )

    def describe(self) -> list[str]:
        status = self.status()
        parts = ["mode='oauth'", "source='jupyterlab'"]
        if not status.signed_in:
            return [*parts, "signed out"]
        parts.append(f"user={status.email!r}")
        speaks, profile, _ = kernel.SESSION.profiles()
        if speaks and profile is not None:
            parts.append(f"profile={profile[0]!r}")
        if status.org or self._org:
            parts.append(f"org={status.org or self._org!r}")
        parts.append(f"api_base_url={self._api_base_url_arg or status.api_base_url!r}")
        parts.append(token_state(status.expires_in))
        return parts


def _org_text(org: str | None) -> str:
    return "no organization" if org is None else f"the organization {org!r}"


class _OrgPinned:
    """The lock-free token snapshot of a ``LabSource`` for one organization: the lab's,
    unless the lab knows profiles and the session held is of another organization
    (then ``None``, and ``LabSource._token`` says why)."""

    __slots__ = ("_org",)

    def __init__(self, org: str) -> None:
        self._org = org

    @property
    def fresh(self) -> tuple[str, float, float] | None:
        fresh, org, speaks_profiles = kernel.SESSION.pinned
        if speaks_profiles and org != self._org:
            return None
        return fresh
