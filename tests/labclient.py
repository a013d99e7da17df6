"""A test client that plays JupyterLab's part of the carto_auth bridge over jupyter_client.

It reads the kernel's iopub, stdin and shell channels in one loop, records what
the kernel says on the ``carto_auth`` comm, and answers as the lab would: comm
messages on the shell channel, unsolicited ``input_reply`` on the stdin channel.
What to answer is the test's to say, or ``StandInLab``'s (``LabClient.play``): the
lab's rules of src/kernels.ts, held to docs/protocol-scenarios.json like the real
bridge.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from jupyterlab_carto_auth import protocol

#: Cell code defining ``api_status(token)``: the sandbox API's answer to a query
#: (format with ``base``, the API base URL).
API_CHECK = """
import urllib.request, urllib.error
def api_status(token):
    request = urllib.request.Request(
        {base!r} + "/v3/sql/carto_dw/query?q=select+1",
        headers={{"Authorization": "Bearer " + token}},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
"""

#: What the lab executes, silently, to attach a Python kernel; the same text as
#: ``ATTACH_CODE`` in src/kernels.ts and ``attach_code`` in docs/protocol-examples.json.
ATTACH_CODE = (
    "import os.path as _carto_auth_os_path, sys as _carto_auth_sys\n"
    "_carto_auth_path = _carto_auth_sys.path[:]\n"
    "_carto_auth_sys.path[:] = [p for p in _carto_auth_path if _carto_auth_os_path.isabs(p)]\n"
    "try:\n"
    "    __import__('jupyterlab_carto_auth.kernel', fromlist=['attach']).attach()\n"
    "finally:\n"
    "    _carto_auth_sys.path[:] = _carto_auth_path\n"
    "    del _carto_auth_os_path, _carto_auth_sys, _carto_auth_path"
)


def session_message(
    token: str | None,
    expires_at: float | None = None,
    *,
    reason: str = "attach",
    api_base_url: str | None = None,
    email: str = "analyst@example.com",
    name: str = "Sandbox Analyst",
    org: str | None = None,
    id: str | None = None,
    profile: dict[str, Any] | None = None,
    profiles: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A valid ``session`` message: signed in with ``token``, or signed out if ``None``;
    with ``profile`` and ``profiles`` as a lab that knows profiles sends them."""
    if token is None:
        message: dict[str, Any] = {
            "v": 1,
            "type": "session",
            "state": "signed_out",
            "reason": reason,
        }
    else:
        message = {
            "v": 1,
            "type": "session",
            "state": "signed_in",
            "access_token": token,
            "expires_at": expires_at if expires_at is not None else time.time() + 3600,
            "api_base_url": api_base_url,
            "user": {"email": email, "name": name, "org": org},
            "reason": reason,
        }
    if profile is not None:
        message["profile"] = profile
    if profiles is not None:
        message["profiles"] = profiles
    if id is not None:
        message["id"] = id
    return protocol.parse_message(message, "lab_to_kernel")


def profile_name(user: dict[str, Any]) -> str:
    """A profile's default name: ``<email> · <org>``, or ``<email>`` when org is null."""
    return user["email"] if user["org"] is None else f"{user['email']} · {user['org']}"


#: What the lab says when the user cancels or nobody signs in for a waiting request.
CANCELLED_TEXT = (
    "Sign-in to CARTO was cancelled in JupyterLab. Click Sign in to CARTO, then run the cell again."
)
TIMEOUT_TEXT = (
    "Nobody signed in to CARTO within {seconds} seconds. "
    "Click Sign in to CARTO, then run the cell again."
)
#: Error codes of the session that travel as they are; any other becomes ``cancelled``.
PROTOCOL_CODES = ("cancelled", "timeout", "network", "denied")


def _js_number(value: Any) -> str:
    """``value`` as JavaScript prints a number: ``300``, not ``300.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class _Asked:
    """A request to answer; an interactive one may wait for the user to sign in until
    ``deadline`` (a notification is shown meanwhile)."""

    kernel: str
    comm_id: str
    request: dict[str, Any]
    seconds: float
    deadline: float


class StandInLab:
    """The lab's kernel bridge (``src/kernels.ts``) by the same rules, without a browser.

    Each method is something a kernel or the user does; it returns what the lab sends,
    as the ``expect`` entries of ``docs/protocol-scenarios.json`` are written:
    ``{"kernel", "comm_id", "comm_msg"}`` or ``{"kernel", "input_reply"}`` (the parsed
    value of the unsolicited ``input_reply``). ``session`` is the lab's session, ``None``
    when signed out: ``{"access_token", "expires_at" (epoch s), "api_base_url", "user"}``.
    tests/test_lab_scenarios.py holds it to the scenarios the TypeScript bridge is
    tested on; ``LabClient.play`` puts it in front of a real kernel.

    Profiles (docs/protocol.md, "Profiles"): ``session`` is the default profile's;
    ``add_profile`` signs in to another account, ``switch`` binds a notebook's kernel to
    a profile. Only kernels whose hello listed ``"profiles"`` in ``features`` are told of
    profiles (fields ``profile``/``profiles``, reason ``profiles``, ``unknown_profile``);
    to the others this lab behaves as one of package 0.1.0, with their bound profile's
    session.
    """

    def __init__(
        self,
        session: dict[str, Any] | None = None,
        *,
        sign_in_gives: dict[str, Any] | None = None,
        sign_in_timeout_seconds: float = 300,
    ):
        self.session = session
        self.sign_in_gives = sign_in_gives
        self.sign_in_timeout_seconds = sign_in_timeout_seconds
        self.signing_in = False
        self.now = 0.0
        self._token_error: tuple[str, str] | None = None
        self._kernels: list[str] = []  # watched, in order: pushes go in this order
        self._attached: dict[str, str] = {}  # kernel -> the comm pushes go to
        self._listening: set[tuple[str, str]] = set()  # comms whose messages are answered
        self._waiting: list[_Asked] = []
        self._signed_out: set[str] = set()  # kernels that signed themselves out
        self._last_pushed = "out"
        self._last_pushed = self._push_key()
        #: Profiles other than the default one (``session``), by name.
        self.others: dict[str, dict[str, Any]] = {}
        self._bound: dict[str, str] = {}  # kernel -> a profile of ``others``
        self._features: dict[str, frozenset[str]] = {}  # kernel -> its hello's features

    # --- what a kernel does --------------------------------------------------------------

    def watch(self, kernel: str) -> None:
        """Follow ``kernel`` (the lab watches a notebook's or console's kernel)."""
        if kernel not in self._kernels:
            self._kernels.append(kernel)

    def open(
        self, kernel: str, comm_id: str, data: Any, *, own: bool = True
    ) -> list[dict[str, Any]]:
        """The kernel opened a ``carto_auth`` comm with ``data`` (its hello); ``own``: this
        lab's client caused it (the comm_open's parent header), not another lab's."""
        self.watch(kernel)
        if not own:
            # Another lab's attach: that lab answers the hello. It is the kernel's comm
            # now: pushes go to it and this lab's own cells' requests are answered on it.
            self._attached[kernel] = comm_id
            self._listening.add((kernel, comm_id))
            return []
        try:
            hello = protocol.parse_message(data, "kernel_to_lab")
            if hello["type"] != "hello":
                raise protocol.ProtocolError("bad_request", "A comm must open with hello.")
            if protocol.VERSION not in hello["versions"]:
                theirs = ", ".join(_js_number(v) for v in hello["versions"])
                raise protocol.ProtocolError(
                    "unsupported_version",
                    f"The lab speaks protocol {protocol.VERSION}, the kernel {theirs}.",
                )
        except protocol.ProtocolError as exc:
            return [self._comm(kernel, comm_id, protocol.error(exc.code, exc.message))]
        self._attached[kernel] = comm_id
        self._listening.add((kernel, comm_id))
        self._signed_out.discard(kernel)
        self._features[kernel] = frozenset(hello.get("features", ()))
        message = self._session_message("attach", kernel=kernel)
        return [] if message is None else [self._comm(kernel, comm_id, message)]

    def receive(
        self, kernel: str, comm_id: str, data: Any, *, own: bool = True
    ) -> list[dict[str, Any]]:
        """The kernel sent ``data`` on an open comm; ``own``: from a cell of this lab's
        client (the comm_msg's parent header)."""
        if (kernel, comm_id) not in self._listening:
            return []  # the lab never took this comm: nobody listens
        if not own:
            return []  # another lab's cell asked: that lab answers
        try:
            message = protocol.parse_message(data, "kernel_to_lab")
        except protocol.ProtocolError as exc:
            if isinstance(data, dict) and data.get("type") == "error":
                return []  # never answer an error with an error
            return [self._comm(kernel, comm_id, protocol.error(exc.code, exc.message))]
        if message["type"] == "request":
            self._signed_out.discard(kernel)  # it asks again: it gets the session
            if self._knows_profiles(kernel):
                refused = self._bind_for(kernel, message)
                if refused is not None:
                    asked = _Asked(kernel, comm_id, message, 0, 0)
                    return self._deliver(asked, refused)
            return self._answer(kernel, comm_id, message)
        if message["type"] == "sign_out":
            # Only this kernel: the lab-wide sign-out needs the user's click in the lab.
            self._signed_out.add(kernel)
            out = session_message(None, reason="sign_out")
            return [self._comm(kernel, comm_id, out)]
        if message["type"] == "hello":
            error = protocol.error("bad_request", "hello is only sent on comm open.")
            return [self._comm(kernel, comm_id, error)]
        return []  # an error from the kernel: nothing to say

    def close(self, kernel: str, comm_id: str) -> list[dict[str, Any]]:
        """The kernel closed a comm."""
        self._listening.discard((kernel, comm_id))
        if self._attached.get(kernel) == comm_id:
            del self._attached[kernel]
        return []

    # --- what happens in the lab ---------------------------------------------------------

    def sign_in(self, session: dict[str, Any]) -> list[dict[str, Any]]:
        self.session, self.signing_in = session, False
        return self._changed()

    def refresh(self, access_token: str, expires_at: float) -> list[dict[str, Any]]:
        assert self.session is not None, "a refresh needs a session"
        self.session = {**self.session, "access_token": access_token, "expires_at": expires_at}
        return self._changed()

    def sign_out(self) -> list[dict[str, Any]]:
        self.session, self.signing_in = None, False
        return self._changed()

    def start_sign_in(self) -> list[dict[str, Any]]:
        self.signing_in = True
        return self._changed()

    def add_profile(self, session: dict[str, Any], name: str | None = None) -> list[dict[str, Any]]:
        """The user signs in to another CARTO account: a new profile; the kernels that
        know profiles are told the list changed (``reason: "profiles"``)."""
        self.others[name or profile_name(session["user"])] = session
        return self._tell_profiles()

    def switch(self, kernel: str, name: str | None) -> list[dict[str, Any]]:
        """The user binds ``kernel``'s notebook to profile ``name`` (``None``: the default);
        the kernel gets that profile's session at once."""
        if name is None or name == self._default_name():
            self._bound.pop(kernel, None)
        else:
            assert name in self.others, f"no profile {name!r}"
            self._bound[kernel] = name
        if kernel not in self._attached:
            return []
        reason = "profiles" if self._knows_profiles(kernel) else "refresh"
        message = self._session_message(reason, kernel=kernel)
        return [] if message is None else [self._comm(kernel, self._attached[kernel], message)]

    def _default_name(self) -> str | None:
        return None if self.session is None else profile_name(self.session["user"])

    def _knows_profiles(self, kernel: str) -> bool:
        return "profiles" in self._features.get(kernel, frozenset())

    def _profile_list(self) -> list[dict[str, Any]]:
        out = []
        if self.session is not None:
            user = self.session["user"]
            out.append({**self._public(profile_name(user), user), "default": True})
        for name, session in self.others.items():
            out.append({**self._public(name, session["user"]), "default": False})
        return out

    @staticmethod
    def _public(name: str, user: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "email": user["email"], "org": user["org"]}

    def _tell_profiles(self) -> list[dict[str, Any]]:
        out = []
        for kernel in self._kernels:
            if kernel in self._attached and self._knows_profiles(kernel):
                message = self._session_message("profiles", kernel=kernel)
                if message is not None:
                    out.append(self._comm(kernel, self._attached[kernel], message))
        return out

    def _bind_for(self, kernel: str, request: dict[str, Any]) -> dict[str, Any] | None:
        """A feature kernel's request names a profile (or an org): bind its notebook to
        it; an ``unknown_profile`` error if there is no such profile."""
        names = [p["name"] for p in self._profile_list()]
        wanted = request.get("profile")
        if wanted is None and request["org"] is not None:
            by_org = [p["name"] for p in self._profile_list() if p["org"] == request["org"]]
            if not by_org:
                return None  # none of that org: the sign-in of today (signed out) or default
            wanted = by_org[0]
        if wanted is None:
            return None
        if wanted not in names:
            listed = ", ".join(repr(n) for n in names) or "none"
            text = f"JupyterLab has no CARTO profile {wanted!r}. Its profiles: {listed}."
            return protocol.error("unknown_profile", text)
        if wanted == self._default_name():
            self._bound.pop(kernel, None)
        else:
            self._bound[kernel] = wanted
        return None

    def fail_token(self, code: str, message: str) -> list[dict[str, Any]]:
        """From now on the session cannot give a token: it fails with ``code``."""
        self._token_error = (code, message)
        return []

    def click_sign_in(self) -> list[dict[str, Any]]:
        """The user clicks Sign in to CARTO on the oldest waiting request's notification."""
        assert self._waiting, "no notification is shown"
        if self.sign_in_gives is None:
            return []  # the sign-in failed: the request keeps waiting
        first = self._waiting[0]
        if self._signed_in() and self._wants_new_org(first.kernel, first.request):
            # Signed in already: the sign-in to that org adds a profile, the notebook bound
            # to it, and the request is answered with its session.
            self._waiting.pop(0)
            name = profile_name(self.sign_in_gives["user"])
            self.others[name] = self.sign_in_gives
            self._bound[first.kernel] = name
            reply = self._deliver(first, self._reply(first.request, first.kernel))
            return reply + self._tell_profiles()
        return self.sign_in(self.sign_in_gives)

    def _wants_new_org(self, kernel: str, request: dict[str, Any]) -> bool:
        """A feature kernel asks for an org no profile has, while the lab is signed in."""
        org = request["org"]
        return (
            self._knows_profiles(kernel)
            and self._signed_in()
            and "profile" not in request
            and org is not None
            and all(p["org"] != org for p in self._profile_list())
        )

    def click_cancel(self) -> list[dict[str, Any]]:
        """The user clicks Cancel on the oldest waiting request's notification."""
        waiting = self._waiting.pop(0)
        return self._deliver(waiting, protocol.error("cancelled", CANCELLED_TEXT))

    def wait(self, seconds: float) -> list[dict[str, Any]]:
        """Time passes: waiting requests past their bound are answered ``timeout``."""
        self.now += seconds
        out: list[dict[str, Any]] = []
        for waiting in sorted(self._waiting, key=lambda w: w.deadline):
            if waiting.deadline <= self.now:
                self._waiting.remove(waiting)
                text = TIMEOUT_TEXT.format(seconds=_js_number(waiting.seconds))
                out += self._deliver(waiting, protocol.error("timeout", text))
        return out

    # --- the rules -----------------------------------------------------------------------

    def _signed_in(self) -> bool:
        return self.session is not None and not self.signing_in

    def _push_key(self) -> str:
        """What identifies a pushable change: a new token, or signed out."""
        if self._signed_in():
            assert self.session is not None
            return f"in:{self.session['expires_at']}"
        return self._last_pushed if self.signing_in else "out"

    def _session_message(
        self, reason: str, id: str | None = None, *, kernel: str | None = None
    ) -> dict[str, Any] | None:
        """The session (of ``kernel``'s bound profile) as a message; ``None`` if no token
        can be had (nothing is sent). Profile fields only for kernels that know them."""
        about: dict[str, Any] = {}
        if kernel is not None and self._knows_profiles(kernel):
            about["profiles"] = self._profile_list()
            bound = self._bound.get(kernel)
            if bound is not None:
                user = self.others[bound]["user"]
                about["profile"] = {"name": bound, "org": user["org"]}
            elif self.session is not None:
                user = self.session["user"]
                about["profile"] = {"name": profile_name(user), "org": user["org"]}
        elif reason == "profiles":
            reason = "refresh"
        bound = None if kernel is None else self._bound.get(kernel)
        if bound is not None:
            session = self.others[bound]
        else:
            if not self._signed_in():
                if reason not in ("attach", "reply", "profiles"):
                    reason = "sign_out"
                return session_message(None, reason=reason, id=id, **about)
            if self._token_error is not None:
                return None
            assert self.session is not None
            session = self.session
        user = session["user"]
        return session_message(
            session["access_token"],
            session["expires_at"],
            reason=reason,
            api_base_url=session["api_base_url"],
            email=user["email"],
            name=user["name"],
            org=user["org"],
            id=id,
            **about,
        )

    def _changed(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        key = self._push_key()
        if key != self._last_pushed:
            if not self._signed_in():
                reason = "sign_out"
            else:
                reason = "refresh" if self._last_pushed.startswith("in:") else "sign_in"
            self._last_pushed = key
            for kernel in self._kernels:
                if kernel in self._bound:
                    continue  # bound to another profile: the default's change is not its
                message = self._session_message(reason, kernel=kernel)
                if message is None:
                    continue
                if kernel in self._signed_out:
                    if reason != "sign_in":
                        continue  # signed itself out: only a new sign-in reaches it
                    self._signed_out.discard(kernel)
                if kernel in self._attached:
                    out.append(self._comm(kernel, self._attached[kernel], message))
        if self._signed_in():  # every waiting request is answered now
            waiting, self._waiting = self._waiting, []
            for each in waiting:
                out += self._deliver(each, self._reply(each.request, each.kernel))
        return out

    def _answer(self, kernel: str, comm_id: str, request: dict[str, Any]) -> list[dict[str, Any]]:
        asked = _Asked(kernel, comm_id, request, 0, 0)
        if kernel in self._bound:  # a profile other than the default: signed in
            return self._deliver(asked, self._reply(request, kernel))
        if self._wants_new_org(kernel, request) and request["interactive"]:
            # No profile of that org: the lab offers the SSO sign-in to it (a new profile).
            seconds = self.sign_in_timeout_seconds
            self._waiting.append(_Asked(kernel, comm_id, request, seconds, self.now + seconds))
            return []
        if not self._signed_in() and request["interactive"]:
            seconds = self.sign_in_timeout_seconds
            self._waiting.append(_Asked(kernel, comm_id, request, seconds, self.now + seconds))
            return []
        return self._deliver(asked, self._reply(request, kernel))

    def _reply(self, request: dict[str, Any], kernel: str | None = None) -> dict[str, Any]:
        message = self._session_message("reply", kernel=kernel)
        if message is None:
            assert self._token_error is not None
            code, text = self._token_error
            message = protocol.error(code if code in PROTOCOL_CODES else "cancelled", text)
        return message

    def _deliver(self, asked: _Asked, reply: dict[str, Any]) -> list[dict[str, Any]]:
        request_id = asked.request["id"]
        reply = {**reply, "id": request_id}
        if asked.request["reply_via"] == "stdin":
            value = json.loads(protocol.stdin_reply_value(request_id, reply))
            return [{"kernel": asked.kernel, "input_reply": value}]
        if (asked.kernel, asked.comm_id) not in self._listening:
            return []  # the comm is gone
        return [self._comm(asked.kernel, asked.comm_id, reply)]

    @staticmethod
    def _comm(kernel: str, comm_id: str, message: dict[str, Any]) -> dict[str, Any]:
        return {"kernel": kernel, "comm_id": comm_id, "comm_msg": message}


@dataclass
class Cell:
    msg_id: str
    stdout: str = ""
    stderr: str = ""
    error: dict[str, Any] | None = None
    data: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    input_requests: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def text(self) -> str:
        parts = [self.stdout, self.stderr, json.dumps(self.data)]
        if self.error:
            parts += [self.error["ename"], self.error["evalue"], *self.error["traceback"]]
        return "\n".join(parts)


Handler = Callable[["LabClient", dict[str, Any]], None]


class LabClient:
    """Plays the lab for one kernel client ``kc``."""

    def __init__(self, kc: Any):
        self.kc = kc
        self.comm_id: str | None = None
        self.hello: dict[str, Any] | None = None
        self.opens: list[dict[str, Any]] = []  # every carto_auth comm_open content
        self.closes: list[str] = []
        self.from_kernel: list[dict[str, Any]] = []  # every comm_msg data on our comm
        self.answers: dict[str, list[Any]] = {}  # comm_msg data by the msg_id it answers
        self.on_request: Handler | None = None
        self.on_input: Handler | None = None
        self.on_open: Callable[[LabClient], None] | None = None
        self.stray_input_requests: list[dict[str, Any]] = []
        #: When set (``play``), the stand-in answers for the lab: hellos, requests, sign_out.
        self.stand_in: StandInLab | None = None
        self.name = "k1"  # this kernel's name for the stand-in
        self._request_headers: dict[str, dict[str, Any]] = {}  # comm_msg header by request id
        self._cells: dict[str, Cell] = {}
        self._poller = zmq.Poller()
        for channel in (kc.iopub_channel, kc.stdin_channel, kc.shell_channel):
            self._poller.register(channel.socket, zmq.POLLIN)

    # --- sending, as the lab does ------------------------------------------------------

    def push(self, data: Any) -> str:
        """A comm_msg to the kernel's carto_auth comm (any JSON data); returns its msg_id."""
        assert self.comm_id, "not attached"
        msg = self.kc.session.msg("comm_msg", {"comm_id": self.comm_id, "data": data})
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def answer_stdin(self, request_id: str, message: dict[str, Any]) -> None:
        """The unsolicited input_reply the lab sends for ``reply_via: "stdin"``; its parent
        header is that of the request's comm_msg, as the lab's."""
        parent = self._request_headers.get(request_id)
        self.send_input_reply(protocol.stdin_reply_value(request_id, message), parent)

    def send_input_reply(self, value: str, parent: dict[str, Any] | None = None) -> None:
        self.kc.stdin_channel.send(
            self.kc.session.msg("input_reply", {"status": "ok", "value": value}, parent=parent)
        )

    def play(self, lab: StandInLab, name: str = "k1") -> StandInLab:
        """Let ``lab`` answer this kernel as the lab would, as ``name``; returns ``lab``."""
        self.stand_in, self.name = lab, name
        lab.watch(name)
        return lab

    def deliver(self, outgoing: list[dict[str, Any]]) -> None:
        """Send what the stand-in lab says (to this kernel; other kernels' entries are skipped)."""
        for each in outgoing:
            if each["kernel"] != self.name:
                continue
            if "input_reply" in each:
                value = each["input_reply"]
                self.answer_stdin(value["id"], value["message"])
            else:
                msg = self.kc.session.msg(
                    "comm_msg", {"comm_id": each["comm_id"], "data": each["comm_msg"]}
                )
                self.kc.shell_channel.send(msg)

    # --- running cells -----------------------------------------------------------------

    def attach(self, session: dict[str, Any] | None = None, timeout: float = 30) -> Cell:
        """Run the lab's attach code silently; answer the hello with ``session`` if given."""
        if session is not None:
            self.on_open = lambda lab: lab.push(session)
        cell = self.run(ATTACH_CODE, silent=True, allow_stdin=False, timeout=timeout)
        assert cell.error is None, cell.error
        assert self.comm_id is not None, "the attach code opened no carto_auth comm"
        return cell

    def execute(self, code: str, *, allow_stdin: bool = True, silent: bool = False) -> Cell:
        msg_id = self.kc.execute(code, silent=silent, store_history=False, allow_stdin=allow_stdin)
        cell = Cell(msg_id=msg_id)
        self._cells[msg_id] = cell
        return cell

    def wait(self, cell: Cell, timeout: float = 30) -> Cell:
        start = time.monotonic()
        deadline = start + timeout
        idle = False
        while not (idle and cell.reply is not None):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish within {timeout} s")
            idle = self._pump_once(min(remaining, 0.1), cell) or idle
        cell.seconds = time.monotonic() - start
        return cell

    def run(
        self, code: str, *, allow_stdin: bool = True, silent: bool = False, timeout: float = 30
    ) -> Cell:
        return self.wait(self.execute(code, allow_stdin=allow_stdin, silent=silent), timeout)

    def pump(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        """Handle messages for ``seconds`` (or until ``until()`` is true)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until is not None and until():
                return
            self._pump_once(min(0.05, max(deadline - time.monotonic(), 0)), None)

    # --- the loop ----------------------------------------------------------------------

    def _pump_once(self, timeout: float, waiting: Cell | None) -> bool:
        """Handle what is ready within ``timeout`` s; True if ``waiting`` went idle."""
        idle = False
        events = dict(self._poller.poll(int(timeout * 1000)))
        kc = self.kc
        if kc.iopub_channel.socket in events:
            while kc.iopub_channel.msg_ready():
                idle = self._iopub(kc.iopub_channel.get_msg(timeout=1), waiting) or idle
        if kc.stdin_channel.socket in events:
            while kc.stdin_channel.msg_ready():
                self._stdin(kc.stdin_channel.get_msg(timeout=1))
        if kc.shell_channel.socket in events:
            while kc.shell_channel.msg_ready():
                msg = kc.shell_channel.get_msg(timeout=1)
                cell = self._cells.get(msg["parent_header"].get("msg_id"))
                if cell is not None:
                    cell.reply = msg["content"]
        return idle

    def _iopub(self, msg: dict[str, Any], waiting: Cell | None) -> bool:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_open" and content.get("target_name") == protocol.TARGET:
            self.opens.append(content)
            self.comm_id = content["comm_id"]
            self.hello = content["data"]
            if self.stand_in is not None:
                own = self._caused_by_us(msg)
                self.deliver(
                    self.stand_in.open(self.name, content["comm_id"], content["data"], own=own)
                )
            if self.on_open is not None:
                self.on_open(self)
            return False
        if kind == "comm_close":
            self.closes.append(content["comm_id"])
            if content["comm_id"] == self.comm_id:
                self.comm_id = None
            if self.stand_in is not None:
                self.stand_in.close(self.name, content["comm_id"])
            return False
        if kind == "comm_msg" and content.get("comm_id") == self.comm_id:
            data = content["data"]
            self.from_kernel.append(data)
            parent_id = msg["parent_header"].get("msg_id")
            if parent_id:
                self.answers.setdefault(parent_id, []).append(data)
            cell = self._cells.get(msg["parent_header"].get("msg_id"))
            is_request = isinstance(data, dict) and data.get("type") == "request"
            if is_request:
                if isinstance(data.get("id"), str):
                    self._request_headers[data["id"]] = msg["header"]
                if cell is not None:
                    cell.requests.append(data)
            if self.stand_in is not None:  # the lab answers first, the test's hook sees it
                own = self._caused_by_us(msg)
                self.deliver(self.stand_in.receive(self.name, content["comm_id"], data, own=own))
            if is_request and self.on_request is not None:
                self.on_request(self, data)
            return False
        cell = self._cells.get(msg["parent_header"].get("msg_id"))
        if cell is None:
            return False
        if kind == "stream":
            if content["name"] == "stdout":
                cell.stdout += content["text"]
            else:
                cell.stderr += content["text"]
        elif kind == "error":
            cell.error = {k: content[k] for k in ("ename", "evalue", "traceback")}
        elif kind in ("execute_result", "display_data"):
            cell.data.append(content["data"])
        elif kind == "status" and content["execution_state"] == "idle":
            return cell is waiting
        return False

    def _caused_by_us(self, msg: dict[str, Any]) -> bool:
        """This client's request caused the kernel's message (its parent header's session)."""
        return msg["parent_header"].get("session") == self.kc.session.session

    def _stdin(self, msg: dict[str, Any]) -> None:
        if msg["msg_type"] != "input_request":
            return
        cell = self._cells.get(msg["parent_header"].get("msg_id"))
        if cell is not None:
            cell.input_requests.append(msg["content"])
        else:
            self.stray_input_requests.append(msg["content"])
        if self.on_input is not None:
            self.on_input(self, msg["content"])
