"""``%carto``: the CARTO session from a notebook cell or an IPython prompt.

Loaded with ``%load_ext jupyterlab_carto_auth``. Every command prints what
happened; wrong arguments print the usage, and errors print their message,
never a traceback. Tokens are shown masked unless ``%carto token --show``.
"""

from __future__ import annotations

import html
import sys
from typing import TYPE_CHECKING, Any

from .errors import CartoAuthError
from .secret import mask

if TYPE_CHECKING:
    from .sources import SourceStatus

#: Seconds ``%carto token --show`` shows the token before it hides it again.
TOKEN_SHOW_SECONDS = 30.0


USAGE = """\
Usage: %carto <command>

  status          who is signed in, organization, API base URL, when the token expires,
                  and whether the JupyterLab extension is attached to this kernel
  login [--org ORG]
                  sign in to CARTO (with JupyterLab's Sign in when the extension is
                  attached, else in a browser or with an access code)
  logout          sign this kernel out (JupyterLab then offers to sign out
                  everywhere; or forget this kernel's cached sign-in)
  token [--show]  the access token, masked unless --show (then shown for a while,
                  not saved in the notebook)
  whoami          email, name and organization
  profiles        the CARTO accounts (profiles) JupyterLab is signed in to, and the one
                  this notebook uses (no tokens)
  use NAME        switch this notebook to JupyterLab's profile NAME
  help            this help

CARTO_API_TOKEN in the kernel's environment comes first: while it is set, its token
is used and JupyterLab's session is not."""

HELP = {
    "status": "%carto status: who is signed in to CARTO, organization, API base URL, "
    "expiry, and whether the JupyterLab extension is attached.",
    "login": "%carto login [--org ORG]: sign in to CARTO.",
    "logout": "%carto logout: sign out of CARTO.",
    "token": (
        "%carto token [--show]: the access token, masked unless --show, which shows it "
        f"for {TOKEN_SHOW_SECONDS:g} s and then masks it, so the notebook does not save it."
    ),
    "whoami": "%carto whoami: email, name and organization of the signed-in user.",
    "profiles": "%carto profiles: the CARTO accounts (profiles) JupyterLab is signed in to: "
    "name, email, organization, the default, and the one this notebook uses. No tokens.",
    "use": "%carto use NAME: switch this notebook to JupyterLab's CARTO profile NAME (as "
    "%carto profiles lists it; the rest of the line is the name); the kernel takes its "
    "token at once.",
    "help": "%carto help [command]: help.",
}


class Status:
    """What ``%carto status`` shows; text in a terminal, a table in a notebook.

    ``session`` is what the token source holds; ``source`` says which it is.
    (Not a ``@dataclass``: generating its methods at import is most of what importing
    this module costs, bench figure 1b.)
    """

    def __init__(
        self,
        lab_attached: bool,
        source: str,
        session: SourceStatus,
        notes: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.lab_attached = lab_attached
        self.source = source
        self.session = session
        #: More ``(label, value)`` rows: the lab's profile, a session not used.
        self.notes = notes

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        mine = (self.lab_attached, self.source, self.session, self.notes)
        theirs = (other.lab_attached, other.source, other.session, other.notes)  # type: ignore[attr-defined]
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    @property
    def signed_in(self) -> bool:
        return self.session.signed_in

    def rows(self) -> list[tuple[str, str]]:
        rows = [("signed in", f"yes ({self.source})" if self.signed_in else "no")]
        if self.signed_in:
            session = self.session
            who = session.email or "unknown"
            if session.name and session.name != session.email:
                who = f"{session.name} <{who}>"
            rows += [
                ("user", who),
                ("organization", session.org or "-"),
                ("API base URL", session.api_base_url or "not known yet"),
                ("expires in", _duration(session.expires_in)),
            ]
        rows += list(self.notes)
        rows.append(("lab extension", "attached" if self.lab_attached else "not attached"))
        return rows

    def __repr__(self) -> str:
        width = max(len(k) for k, _ in self.rows())
        lines = ["CARTO"] + [f"  {k.ljust(width)}  {v}" for k, v in self.rows()]
        if not self.signed_in:
            lines.append("  Sign in with: %carto login")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self.rows()
        )
        hint = "" if self.signed_in else "<p>Sign in with <code>%carto login</code>.</p>"
        return f"<div class='carto-auth-status'><b>CARTO</b><table>{cells}</table>{hint}</div>"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds <= 0:
        return "expired"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


# --- where the session is ------------------------------------------------------------


def _lab() -> Any:
    """JupyterLab's session, or ``None`` when no lab ever spoke to this kernel."""
    from . import kernel
    from .config import CartoConfig
    from .sources import LabSource

    if not kernel.SESSION.lab_present:
        return None
    config = CartoConfig.from_env()
    # A lab that knows profiles: the notebook's own profile, whatever its organization.
    org = None if kernel.SESSION.speaks_profiles else config.organization
    return LabSource(config, org, None)


def _environment() -> Any:
    """The source of ``CARTO_API_TOKEN``, or ``None`` when it is not set."""
    from .config import CartoConfig, env_api_token

    if env_api_token() is None:
        return None
    from .sources.environment import from_environment

    config = CartoConfig.from_env()
    return from_environment(config, config.organization, None)


ENVIRONMENT = "CARTO_API_TOKEN of the kernel's environment"
ENVIRONMENT_NOTE = (
    "This kernel uses CARTO_API_TOKEN from its environment, which comes before JupyterLab's "
    "session: unset it (and restart the kernel) to use JupyterLab's CARTO account."
)
NO_LAB_FOR_PROFILES = (
    "No JupyterLab with jupyterlab-carto-auth has spoken to this kernel: profiles are "
    "JupyterLab's. Open this notebook in JupyterLab with the extension, or sign in with "
    "%carto login."
)


def _kernel_signin() -> Any:
    """This kernel's own sign-in, with the default cache."""
    from .config import CartoConfig
    from .sources import KernelSignIn

    config = CartoConfig.from_env()
    return KernelSignIn(config, config.organization, None, open_browser=False)


def status() -> Status:
    """The session this kernel would use now (no network request)."""
    from . import kernel

    environment = _environment()
    if environment is not None:
        notes = (("JupyterLab's session", "not used while CARTO_API_TOKEN is set"),)
        return Status(kernel.is_attached(), ENVIRONMENT, environment.status(), notes)
    lab = _lab()
    if lab is not None:
        speaks, profile, _ = kernel.SESSION.profiles()
        notes = (("profile", profile[0]),) if speaks and profile is not None else ()
        return Status(kernel.is_attached(), "JupyterLab", lab.status(), notes)
    cached = _kernel_signin().status()
    if cached.expires_in is None:  # nothing cached
        return Status(False, "this kernel", cached)
    return Status(False, "this kernel's cached sign-in", cached)


# --- the commands --------------------------------------------------------------------


def _display(obj: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - magics only exist in IPython
        print(repr(obj))
        return
    display(obj)


def cmd_status(args: list[str]) -> None:
    _display(status())


def cmd_whoami(args: list[str]) -> None:
    current = status().session
    if not current.signed_in:
        print("Not signed in to CARTO. Sign in with: %carto login")
        return
    print(f"email:        {current.email or 'unknown'}")
    print(f"name:         {current.name or 'unknown'}")
    print(f"organization: {current.org or '-'}")


def _current_token() -> str | None:
    environment = _environment()
    if environment is not None:
        return environment.access_token()
    lab = _lab()
    if lab is not None:
        return lab.access_token() if lab.status().signed_in else None
    signin = _kernel_signin()
    return signin.access_token() if signin.load_cached() else None


def cmd_token(args: list[str]) -> None:
    token = _current_token()
    if token is None:
        print("Not signed in to CARTO. Sign in with: %carto login")
        return
    if args != ["--show"]:
        print(mask(token))
        return
    from . import kernel

    if not kernel.in_kernel():
        print(token)  # a terminal: nothing saves the screen
        return
    _show_briefly(token, TOKEN_SHOW_SECONDS)


def _show_briefly(token: str, seconds: float) -> None:
    """Show ``token`` in an output that this cell replaces, before it ends, with the
    masked token: the notebook keeps the last version of an output (JupyterLab applies
    ``update_display_data`` to the output in its model), so the token is not saved in
    it. The update is sent while the cell still runs, so it reaches the output whatever
    the frontend does with messages of a finished cell."""
    import time

    from IPython.display import display

    shown = (
        f"{token}\n\nShown for {seconds:g} s, then replaced by the masked token, so it is "
        "not saved in the notebook (interrupt the kernel to hide it sooner)."
    )
    hidden = (
        f"{mask(token)}\n\nThe token was shown for a while and is not saved in the notebook. "
        "Run %carto token --show again to see it."
    )
    handle = display({"text/plain": shown}, raw=True, display_id=True)
    try:
        time.sleep(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        handle.update({"text/plain": hidden}, raw=True)


def cmd_login(args: list[str]) -> None:
    from .auth import CartoAuth

    org = args[1] if args else None
    auth = CartoAuth.from_oauth(org=org)
    if auth.source == "environment":
        print(ENVIRONMENT_NOTE)
        return
    who = status().session.email or "your CARTO account"
    where = "JupyterLab's session" if auth.source == "lab" else "this kernel"
    print(f"Signed in to CARTO as {who} ({where}).")


def cmd_logout(args: list[str]) -> None:
    from . import kernel

    if _environment() is not None:
        print(ENVIRONMENT_NOTE)
        return
    if kernel.SESSION.lab_present:
        if kernel.sign_out():
            print(
                "Signed out of CARTO in this kernel. JupyterLab asks whether to sign out "
                "everywhere (every tab and kernel)."
            )
        else:
            print("Could not reach JupyterLab; use Sign out of CARTO in JupyterLab.")
        return
    print(
        "Forgot this kernel's CARTO sign-in (cached token removed)."
        if _kernel_signin().forget()
        else "Not signed in to CARTO in this kernel; nothing to forget."
    )


def _lab_with_profiles() -> bool:
    """True when a lab that knows profiles serves this kernel; else print why not."""
    from . import kernel
    from .sources.lab import PREDATES_PROFILES

    if not kernel.SESSION.lab_present and not kernel.probe_lab():
        print(NO_LAB_FOR_PROFILES)
        return False
    if not kernel.SESSION.speaks_profiles:
        print(PREDATES_PROFILES)
        return False
    return True


def cmd_profiles(args: list[str]) -> None:
    from . import kernel

    if _environment() is not None:
        print(ENVIRONMENT_NOTE)
    if not _lab_with_profiles():
        return
    _, profile, profiles = kernel.SESSION.profiles()
    if not profiles:
        print("JupyterLab is not signed in to any CARTO account. Sign in with: %carto login")
        return
    current = None if profile is None else profile[0]
    rows = [("", "name", "email", "organization", "")]
    rows += [
        ("*" if name == current else "", name, email, org or "-", "default" if default else "")
        for name, email, org, default in profiles
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    print("CARTO profiles in JupyterLab (* this notebook):")
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    if current is not None and current not in {p[0] for p in profiles}:
        print(f"This notebook's profile {current!r} is not signed in in JupyterLab.")
    print("Switch this notebook with: %carto use <name>")


def cmd_use(args: list[str]) -> None:
    from . import protocol
    from .config import CartoConfig
    from .sources.lab import AskLab

    name = args[0]
    if _environment() is not None:
        print(ENVIRONMENT_NOTE)
        return
    if not protocol.is_profile_name(name):
        print(
            f"%carto use: a profile name is 1 to {protocol.MAX_PROFILE_NAME} characters; "
            "see %carto profiles.",
            file=sys.stderr,
        )
        return
    if not _lab_with_profiles():
        return
    config = CartoConfig.from_env()
    answer = AskLab(60, None, interactive=True, timeout=config.signin_timeout, profile=name).run()
    profile = answer.get("profile") or {"name": name}
    if answer["state"] != "signed_in":
        print(
            f"This notebook now uses the CARTO profile {profile['name']!r}, which is not "
            "signed in (or not allowed for this notebook): sign in to it in JupyterLab, "
            "then run this cell again."
        )
        return
    user = answer["user"]
    org = user["org"] or "no organization"
    print(f"This notebook now uses the CARTO profile {profile['name']!r}: {user['email']} ({org}).")


def cmd_help(args: list[str]) -> None:
    print(HELP[args[0]] if args else USAGE)


# name: (handler, accepted argument lists)
COMMANDS: dict[str, Any] = {
    "status": (cmd_status, lambda a: a == []),
    "login": (cmd_login, lambda a: a == [] or (len(a) == 2 and a[0] == "--org" and a[1])),
    "logout": (cmd_logout, lambda a: a == []),
    "token": (cmd_token, lambda a: a in ([], ["--show"])),
    "whoami": (cmd_whoami, lambda a: a == []),
    "profiles": (cmd_profiles, lambda a: a == []),
    "use": (cmd_use, lambda a: len(a) == 1 and a[0] != ""),
    "help": (cmd_help, lambda a: a == [] or (len(a) == 1 and a[0] in HELP)),
}


def carto(line: str) -> None:
    """The ``%carto`` line magic (see ``USAGE``)."""
    args = line.split()
    if not args:
        print(USAGE)
        return
    name, rest = args[0], args[1:]
    if name == "use" and rest:
        # A profile name may have spaces ("ana@example.com · acme"): the rest of the line,
        # without quotes around it.
        whole = line.strip()[len(name) :].strip()
        if len(whole) >= 2 and whole[0] == whole[-1] and whole[0] in "'\"":
            whole = whole[1:-1]
        rest = [whole]
    entry = COMMANDS.get(name)
    if entry is None or not entry[1](rest):
        print(f"%carto: unknown command or arguments: {line.strip()!r}\n\n{USAGE}")
        return
    try:
        entry[0](rest)
    except CartoAuthError as exc:
        print(f"%carto {name}: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"%carto {name}: interrupted.", file=sys.stderr)


carto.__doc__ = USAGE


def load(ipython: Any) -> None:
    from . import kernel

    ipython.register_magic_function(carto, magic_kind="line", magic_name="carto")
    kernel.ensure_attached()


def unload(ipython: Any) -> None:
    ipython.magics_manager.magics["line"].pop("carto", None)
