"""``%carto``: the CARTO session from a notebook cell or an IPython prompt.

Loaded with ``%load_ext jupyterlab_carto_auth``. Every command prints what
happened; wrong arguments print the usage, and errors print their message,
never a traceback. Tokens are shown masked unless ``%carto token --show``.
"""

from __future__ import annotations

import base64
import html
import json
import sys
from dataclasses import dataclass
from typing import Any

from .errors import CartoAuthError
from .secret import mask

USAGE = """\
Usage: %carto <command>

  status          who is signed in, organization, API base URL, when the token expires,
                  and whether the JupyterLab extension is attached to this kernel
  login [--org ORG]
                  sign in to CARTO (with JupyterLab's Sign in when the extension is
                  attached, else in a browser or with an access code)
  logout          sign out (of JupyterLab, every tab and kernel; or forget this
                  kernel's cached sign-in)
  token [--show]  the access token, masked unless --show
  whoami          email, name and organization
  help            this help"""

HELP = {
    "status": "%carto status: who is signed in to CARTO, organization, API base URL, "
    "expiry, and whether the JupyterLab extension is attached.",
    "login": "%carto login [--org ORG]: sign in to CARTO.",
    "logout": "%carto logout: sign out of CARTO.",
    "token": "%carto token [--show]: the access token, masked unless --show.",
    "whoami": "%carto whoami: email, name and organization of the signed-in user.",
    "help": "%carto help [command]: help.",
}


@dataclass
class Status:
    """What ``%carto status`` shows; text in a terminal, a table in a notebook."""

    lab_attached: bool
    signed_in: bool
    source: str
    email: str | None = None
    name: str | None = None
    org: str | None = None
    api_base_url: str | None = None
    expires_in: float | None = None

    def rows(self) -> list[tuple[str, str]]:
        rows = [("signed in", f"yes ({self.source})" if self.signed_in else "no")]
        if self.signed_in:
            who = self.email or "unknown"
            if self.name and self.name != self.email:
                who = f"{self.name} <{who}>"
            rows += [
                ("user", who),
                ("organization", self.org or "-"),
                ("API base URL", self.api_base_url or "not known yet"),
                ("expires in", _duration(self.expires_in)),
            ]
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


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified, for display only (``{}`` if not a JWT)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _claim(claims: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


# --- where the session is ------------------------------------------------------------


def _config() -> Any:
    from .config import CartoConfig

    return CartoConfig.from_env()


def _kernel_auth(refresh: bool) -> Any | None:
    """This kernel's own cached sign-in (default cache), or ``None``."""
    from .auth import CartoAuth

    config = _config()
    auth = CartoAuth._kernel_side(config, None, None, None, True, False)
    if refresh:
        return auth if auth._use_cached() else None
    entry = auth._cache.load_entry() if auth._cache is not None else None
    if entry is None:
        return None
    auth._token = entry.token
    found = entry.extras.get("api_base_url")
    auth._discovered_api_base_url = found if isinstance(found, str) else None
    return auth


def status() -> Status:
    """The session this kernel would use now (no network request)."""
    from . import kernel as bridge

    if bridge.SESSION.lab_present:
        info = bridge.SESSION.current
        signed_in = info is not None and info.signed_in
        return Status(
            lab_attached=bridge.is_attached(),
            signed_in=signed_in,
            source="JupyterLab",
            email=info.email if signed_in else None,
            name=info.name if signed_in else None,
            org=info.org if signed_in else None,
            api_base_url=info.api_base_url if signed_in else None,
            expires_in=info.expires_in() if signed_in else None,
        )
    auth = _kernel_auth(refresh=False)
    if auth is None or auth._token is None:
        return Status(lab_attached=False, signed_in=False, source="this kernel")
    claims = jwt_claims(auth._token.access_token)
    return Status(
        lab_attached=False,
        signed_in=auth._token.expires_in() > 0 or auth._refresh_token is not None,
        source="this kernel's cached sign-in",
        email=_claim(claims, "https://carto.com/email", "email"),
        name=_claim(claims, "name"),
        org=_claim(claims, "org_id", "https://carto.com/org") or auth._org,
        api_base_url=auth._api_base_url or auth._discovered_api_base_url,
        expires_in=auth._token.expires_in(),
    )


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
    current = status()
    if not current.signed_in:
        print("Not signed in to CARTO. Sign in with: %carto login")
        return
    print(f"email:        {current.email or 'unknown'}")
    print(f"name:         {current.name or 'unknown'}")
    print(f"organization: {current.org or '-'}")


def _current_token() -> str | None:
    from . import kernel as bridge
    from .auth import CartoAuth

    if bridge.SESSION.lab_present:
        info = bridge.SESSION.current
        if info is None or not info.signed_in:
            return None
        return CartoAuth._lab_auth(_config(), None, None).get_access_token()
    auth = _kernel_auth(refresh=True)
    return None if auth is None else auth.get_access_token()


def cmd_token(args: list[str]) -> None:
    token = _current_token()
    if token is None:
        print("Not signed in to CARTO. Sign in with: %carto login")
        return
    print(token if args == ["--show"] else mask(token))


def cmd_login(args: list[str]) -> None:
    from .auth import CartoAuth

    org = args[1] if args else None
    auth = CartoAuth.from_oauth(org=org)
    current = status()
    who = current.email or "your CARTO account"
    where = "JupyterLab's session" if auth.source == "lab" else "this kernel"
    print(f"Signed in to CARTO as {who} ({where}).")


def cmd_logout(args: list[str]) -> None:
    from . import kernel as bridge

    if bridge.SESSION.lab_present:
        if bridge.sign_out():
            print("Signed out of CARTO in JupyterLab (every tab and kernel).")
        else:
            print("Could not reach JupyterLab; use Sign out of CARTO in JupyterLab.")
        return
    from .auth import CartoAuth

    auth = CartoAuth._kernel_side(_config(), None, None, None, True, False)
    had = auth._cache is not None and auth._cache.path.exists()
    if auth._cache is not None:
        auth._cache.clear()
    print(
        "Forgot this kernel's CARTO sign-in (cached token removed)."
        if had
        else "Not signed in to CARTO in this kernel; nothing to forget."
    )


def cmd_help(args: list[str]) -> None:
    print(HELP[args[0]] if args else USAGE)


# name: (handler, accepted argument lists)
COMMANDS: dict[str, Any] = {
    "status": (cmd_status, lambda a: a == []),
    "login": (cmd_login, lambda a: a == [] or (len(a) == 2 and a[0] == "--org" and a[1])),
    "logout": (cmd_logout, lambda a: a == []),
    "token": (cmd_token, lambda a: a in ([], ["--show"])),
    "whoami": (cmd_whoami, lambda a: a == []),
    "help": (cmd_help, lambda a: a == [] or (len(a) == 1 and a[0] in HELP)),
}


def carto(line: str) -> None:
    """The ``%carto`` line magic (see ``USAGE``)."""
    args = line.split()
    if not args:
        print(USAGE)
        return
    name, rest = args[0], args[1:]
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
