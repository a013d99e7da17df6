"""The kernel end of the comm bridge to JupyterLab (``docs/protocol.md``).

The lab attaches a Python kernel by executing, silently::

    import os.path as _carto_auth_os_path, sys as _carto_auth_sys
    _carto_auth_path = _carto_auth_sys.path[:]
    _carto_auth_sys.path[:] = [p for p in _carto_auth_path if _carto_auth_os_path.isabs(p)]
    try:
        __import__('jupyterlab_carto_auth.kernel', fromlist=['attach']).attach()
    finally:
        _carto_auth_sys.path[:] = _carto_auth_path
        del _carto_auth_os_path, _carto_auth_sys, _carto_auth_path

(the exact text is ``attach_code`` in ``docs/protocol-examples.json``), which
opens a comm to the lab's ``carto_auth`` target with a ``hello``. The lab then
pushes its session (on attach, sign-in, refresh and sign-out); the newest
one is kept in ``SESSION``, except that another person's session does not
replace one that lasts (several labs on one kernel: ``LabSession.offer``).
When the kernel needs a token the lab has not pushed (signed out, or about to
expire), it sends a ``request``:

- from synchronous code, ``request_session`` asks for the answer on the stdin
  channel (``reply_via: "stdin"``) and polls the kernel's stdin socket for it,
  because ipykernel delivers no comm message while a synchronous cell runs.
  This is the mechanism of Colab's ``google.colab._message``;
- from a coroutine, ``request_session_async`` asks for a comm answer, which
  ipykernel delivers while the cell awaits.

A lab signed in to several CARTO accounts (profiles, docs/protocol.md) tells
this kernel, which says ``"features": ["profiles"]`` in its hello, which profile
the session is of and lists them (``LabSession.profiles``); a session of another
profile is the notebook switched and is taken at once.

Every wait has a deadline. Only the standard library, ``comm``, ``ipykernel``
and ``IPython`` are used, the last three imported lazily: outside a kernel
(plain Python) ``attach()`` returns ``False`` and nothing else happens.
"""

from __future__ import annotations

import collections
import contextlib
import math
import sys
import threading
import time

# What ``attach()`` runs (bench figure 1a) imports no other module of this package:
# ``protocol``, ``errors`` and ``secret`` are imported where they are needed, on the
# first message from the lab or the first request (tests/test_import.py pins this).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from .errors import LabError, LabNoAnswer
    from .secret import LabSessionInfo

#: What this module exported before its imports became lazy: ``kernel.LabError``,
#: ``from .kernel import LabNoAnswer``... still work (``__getattr__``).
_REEXPORTED = {
    "protocol": "",
    "CredentialsError": "errors",
    "LabError": "errors",
    "LabNoAnswer": "errors",
    "NoStdinError": "errors",
    "LabSessionInfo": "secret",
    "DEFAULT_MARGIN": "secret",
    "Record": "secret",
    "mask": "secret",
}


def __getattr__(name: str) -> Any:
    where = _REEXPORTED.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    module = import_module(f"{__package__}.{where or name}")
    value = module if not where else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_REEXPORTED))


class _LazyLog:
    """This module's logger, created on the first message: ``attach()`` (bench figure
    1a) does not pay for ``logging`` in a kernel that never logs one."""

    def debug(self, *args: Any) -> None:
        import logging

        logging.getLogger(__name__).debug(*args)


_log = _LazyLog()

#: How often the stdin socket is checked while waiting, seconds.
POLL_INTERVAL = 0.05
#: How long a non-interactive request may take (the lab may refresh over the network).
LAB_REPLY_TIMEOUT = 15.0
#: How long to wait for a lab that has not said hello yet before using another flow.
LAB_PROBE_TIMEOUT = 2.0
#: Why a session from another JupyterLab connected to this kernel was not taken
#: (docs/protocol.md, "Several labs on one kernel").
ANOTHER_PERSON_TEXT = (
    "This kernel already uses the CARTO account that another JupyterLab connected to it "
    "gave it (real-time collaboration or a shared server), so yours was not given to it. "
    "Ask them to sign out of CARTO, or restart the kernel, then run the cell again."
)


# --- the session the lab pushed --------------------------------------------------------


class LabSession:
    """What the lab last told this kernel. Thread-safe; one per kernel process (``SESSION``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._info: LabSessionInfo | None = None
        self._lab_present = False
        #: The lab client (its kernel connection's session id) that gave the signed-in
        #: session held, so another person's lab cannot replace it.
        self._given_by: str | None = None
        #: ``(access_token, expires_at, margin)`` of ``current`` when it is signed in
        #: with a finite expiry, else ``None``; replaced (under the lock) with ``_info``.
        #: ``current.is_valid()`` is ``fresh[1] - time.time() > fresh[2]``: the
        #: lock-free hot path of ``CartoAuth.get_access_token`` (see ``_held``).
        self.fresh: tuple[str, float, float] | None = None
        #: What the lab said of its profiles (docs/protocol.md, "Profiles"): whether its
        #: newest session named a profile (a lab that predates profiles never does), the
        #: profile this notebook uses, and the lab's list. Kept across ``mark_signed_out``.
        self._speaks_profiles = False
        self._profile: tuple[str, str | None] | None = None
        self._profiles: tuple[tuple[str, str, str | None, bool], ...] = ()
        #: ``(fresh, org of the session held, speaks_profiles)``, replaced whole with
        #: ``fresh``: the lock-free hot path of a ``CartoAuth`` made for one organization.
        self.pinned: tuple[tuple[str, float, float] | None, str | None, bool] = (None, None, False)

    def _held(self, info: LabSessionInfo | None) -> None:
        """Hold ``info`` (with the lock held). The snapshot is an immutable tuple stored
        by one assignment, so a reader without the lock sees the old or the new one,
        each of which was right for a session the lab sent; no reader ever sees half."""
        self._info = info
        expires_at = None if info is None or not info.signed_in else info.expires_at
        if expires_at is None or not math.isfinite(expires_at):
            self.fresh = None
        else:
            self.fresh = (info.access_token, expires_at, info.margin())  # type: ignore[union-attr]
        # The profile's organization: a signed-out session of a profile names it there only.
        org = None if info is None else info.profile[1] if info.profile else info.org
        self.pinned = (self.fresh, org, self._speaks_profiles)

    def valid_token(self) -> str | None:
        """The lab's token while ``current.is_valid()``, else ``None``; lock-free."""
        fresh = self.fresh
        if fresh is not None and fresh[1] - time.time() > fresh[2]:
            return fresh[0]
        return None

    @property
    def lab_present(self) -> bool:
        """True once a valid ``session`` came from a lab: a JupyterLab with the extension."""
        with self._lock:
            return self._lab_present

    @property
    def current(self) -> LabSessionInfo | None:
        """The newest session, or ``None`` if the lab never sent one."""
        with self._lock:
            return self._info

    @property
    def signed_out_in_lab(self) -> bool:
        """The user signed out in JupyterLab (or with ``%carto logout``) and has not signed in."""
        info = self.current
        return info is not None and info.state == "signed_out" and info.reason == "sign_out"

    @property
    def not_granted(self) -> bool:
        """The lab holds the session back: the user has not allowed this notebook (yet)."""
        info = self.current
        return info is not None and info.state == "signed_out" and info.reason == "not_granted"

    def update(self, message: dict[str, Any]) -> LabSessionInfo:
        """Record a valid ``session`` message; returns the session now held.

        A signed-in session for the same user that expires before the one held is
        stale (a push queued while a synchronous cell got a newer token on stdin)
        and is not applied.
        """
        from .secret import LabSessionInfo

        info = LabSessionInfo.from_message(message)
        with self._lock:
            self._apply_locked(info)
            return self._info  # type: ignore[return-value]

    def _apply_locked(self, info: LabSessionInfo) -> bool:
        """``update``'s rule, under the lock; True if ``info`` is now held."""
        self._lab_present = True
        held = self._info
        stale = (
            info.signed_in
            and held is not None
            and held.signed_in
            and held.email == info.email
            and held.org == info.org
            # Another profile is the notebook switched: taken at once, whatever its expiry.
            and held.profile == info.profile
            and (held.expires_at or 0) > (info.expires_at or 0)
        )
        if info.profiles is not None:
            # The list is news even in a stale push (a profile renamed, or added).
            self._profiles = info.profiles
        if not stale:
            # A lab signed in to no account may send ``profiles: []`` and no ``profile``.
            self._speaks_profiles = info.profile is not None or info.profiles is not None
            if info.profile is not None:
                self._profile = info.profile
            self._held(info)
        return not stale

    def profiles(
        self,
    ) -> tuple[bool, tuple[str, str | None] | None, tuple[tuple[str, str, str | None, bool], ...]]:
        """``(speaks_profiles, this notebook's profile, the lab's profiles)``, from the
        newest session taken: ``(False, None, ())`` with a lab that predates profiles."""
        with self._lock:
            return self._speaks_profiles, self._profile, self._profiles

    @property
    def speaks_profiles(self) -> bool:
        """The newest session taken named its profile: the lab knows profiles."""
        with self._lock:
            return self._speaks_profiles

    def offer(self, message: dict[str, Any], sender: str | None) -> LabSessionInfo | None:
        """Record a ``session`` from the lab client ``sender``, unless it is another person's.

        The kernel's CARTO identity does not flip between people: while it holds a
        signed-in session that has not expired, a signed-in session for another user
        (email or organization) is taken only from the lab client that gave the one
        held (its user switched accounts). From any other client, that is another
        JupyterLab connected to this kernel, it is refused: returns ``None`` and
        nothing changes. So is a ``signed_out`` from another client (that lab's
        person signed out, or has not allowed this notebook: neither ends the
        session another person gave). Everything else is ``update``.
        """
        from .secret import LabSessionInfo

        info = LabSessionInfo.from_message(message)
        with self._lock:
            held = self._info
            another_person = (
                held is not None
                and held.signed_in
                and held.expires_in() > 0
                and (not info.signed_in or (held.email, held.org) != (info.email, info.org))
            )
            if another_person and (sender is None or sender != self._given_by):
                self._lab_present = True
                return None
            if self._apply_locked(info) and info.signed_in:
                self._given_by = sender
            return self._info

    def mark_signed_out(self) -> None:
        """Forget the token now (a sign-out asked by this kernel)."""
        from .secret import LabSessionInfo

        with self._lock:
            self._held(
                LabSessionInfo(state="signed_out", reason="sign_out", received_at=time.time())
            )

    def clear(self) -> None:
        """Forget everything, as in a new kernel (tests)."""
        with self._lock:
            self._speaks_profiles = False
            self._profile = None
            self._profiles = ()
            self._held(None)
            self._lab_present = False
            self._given_by = None

    def __repr__(self) -> str:
        return f"LabSession(lab_present={self.lab_present}, current={self.current!r})"


#: The session store of this kernel process.
SESSION = LabSession()


# --- the comm ------------------------------------------------------------------------


class _Waiter:
    """A request waiting for its comm answer, from a thread or a coroutine."""

    def __init__(self, loop: Any = None, future: Any = None) -> None:
        self.event = threading.Event()
        self.message: Any = None
        self._loop = loop
        self._future = future

    def resolve(self, message: Any) -> None:
        self.message = message
        self.event.set()
        if self._future is not None:
            future = self._future

            def _set() -> None:
                if not future.done():
                    future.set_result(message)

            # A closed loop raises RuntimeError: nobody waits any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(_set)


class _Bridge:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.comm: Any = None
        self.pending: dict[str, _Waiter] = {}
        #: Ids of recent stdin requests: a late lab answer to one is recognised
        #: (and used) if it arrives while a paste prompt waits.
        self.recent_ids: collections.deque[str] = collections.deque(maxlen=16)
        #: A probe got no answer: no lab is listening (until a lab runs ``attach()``).
        self.probe_failed = False
        #: The lab client that sent each recent answer, by request id.
        self.senders: collections.OrderedDict[str, str | None] = collections.OrderedDict()

    def answered_by(self, request_id: str, sender: str | None) -> None:
        with self.lock:
            self.senders[request_id] = sender
            while len(self.senders) > 16:
                self.senders.popitem(last=False)


_bridge = _Bridge()
#: One user of the stdin socket at a time, among this module's functions.
_stdin_lock = threading.Lock()


def running_ipykernel() -> Any | None:
    """The running ipykernel, or ``None`` (plain Python, terminal IPython)."""
    modules = sys.modules
    if "IPython" not in modules or "ipykernel" not in modules:
        return None
    try:
        # Not ``from IPython import get_ipython``: IPython 9 resolves that name through
        # its module ``__getattr__`` on every call; this is every attach's first step.
        from IPython.core.getipython import get_ipython
    except ImportError:  # pragma: no cover - IPython half-imported
        return None
    ipykernel = getattr(get_ipython(), "kernel", None)
    if ipykernel is None or getattr(ipykernel, "session", None) is None:
        return None
    return ipykernel


def in_kernel() -> bool:
    """True when running in an ipykernel (a notebook or console kernel)."""
    return running_ipykernel() is not None


def is_attached() -> bool:
    """True while this kernel has an open ``carto_auth`` comm."""
    with _bridge.lock:
        return _bridge.comm is not None


def attach() -> bool:
    """Announce this kernel to the lab: open the ``carto_auth`` comm with a ``hello``.

    What the lab executes on every kernel it connects to. Calling it again (a lab
    that reloaded, a second browser tab) closes the previous comm and opens a new
    one, so whoever calls it gets a ``hello``; the kernel never holds more than
    one ``carto_auth`` comm and keeps the session it has: a second person's lab
    attaching does not give the kernel that person's session while the one held
    lasts (``LabSession.offer``). Returns ``False``, doing nothing, outside an
    ipykernel.
    """
    if running_ipykernel() is None:
        return False
    with _bridge.lock:
        _bridge.probe_failed = False  # a lab runs this: worth asking again
        _close_comm_locked()
        return _open_comm_locked()


def ensure_attached() -> bool:
    """Open the comm unless one is open; ``False`` outside an ipykernel."""
    # First, without the lock (one read of a reference, double-checked below): a comm
    # is opened only in a running ipykernel, which a process keeps while it runs code.
    # This is every from_oauth()'s path, and finding the kernel costs microseconds.
    if _bridge.comm is not None:
        return True
    if running_ipykernel() is None:
        return False
    with _bridge.lock:
        if _bridge.comm is not None:
            return True
        return _open_comm_locked()


#: ``protocol.TARGET``, and below ``protocol.hello()``: here too, so that ``attach()``
#: does not import ``protocol`` (tests/test_protocol.py checks that they agree).
_TARGET = "carto_auth"


def _hello() -> dict[str, Any]:
    from . import __version__

    return {
        "v": 1,
        "type": "hello",
        "versions": [1],
        "package_version": __version__,
        "features": ["profiles"],
    }


def _open_comm_locked() -> bool:
    import comm

    try:
        opened = comm.create_comm(target_name=_TARGET, data=_hello())
    except Exception as exc:
        _log.debug("carto_auth: could not open the comm (%s)", type(exc).__name__)
        return False

    def on_close(_msg: Any) -> None:
        with _bridge.lock:
            if _bridge.comm is opened:
                _bridge.comm = None

    opened.on_msg(_on_msg)
    opened.on_close(on_close)
    _bridge.comm = opened
    return True


def _close_comm_locked() -> None:
    old, _bridge.comm = _bridge.comm, None
    if old is None:
        return
    try:
        old.on_msg(None)
        old.on_close(None)
        old.close()
    except Exception as exc:
        _log.debug("carto_auth: could not close the old comm (%s)", type(exc).__name__)


def _send(message: dict[str, Any]) -> bool:
    with _bridge.lock:
        current = _bridge.comm
    if current is None:
        return False
    try:
        current.send(message)
    except Exception as exc:
        _log.debug("carto_auth: could not send to the lab (%s)", type(exc).__name__)
        return False
    return True


def _on_msg(msg: Any) -> None:
    """Handle a ``comm_msg`` from the lab. Never raises; logs no message content."""
    try:
        from . import protocol

        content = msg.get("content") if isinstance(msg, dict) else None
        data = content.get("data") if isinstance(content, dict) else None
        try:
            message = protocol.parse_message(data, "lab_to_kernel")
        except protocol.ProtocolError as exc:
            _log.debug("carto_auth: refused a message from the lab (%s)", exc.code)
            # Never answer an error with an error.
            if not (isinstance(data, dict) and data.get("type") == "error"):
                _send(protocol.error(exc.code, exc.message))
            return
        header = msg.get("header") if isinstance(msg, dict) else None
        _dispatch(message, _client_of(header))
    except Exception as exc:
        _log.debug("carto_auth: failed to handle a lab message (%s)", type(exc).__name__)


def _client_of(header: Any) -> str | None:
    """The lab client that sent a message: its header's ``session`` (a kernel connection id)."""
    session = header.get("session") if isinstance(header, dict) else None
    return session if isinstance(session, str) and session else None


def _dispatch(message: dict[str, Any], sender: str | None = None) -> None:
    from . import protocol

    if "id" in message:
        _bridge.answered_by(message["id"], sender)
    if message["type"] == "session":
        if SESSION.offer(message, sender) is None and "id" not in message:
            # A push from another person's lab: say why it is not taken.
            _send(protocol.error("denied", ANOTHER_PERSON_TEXT))
    elif "id" not in message:
        _log.debug("carto_auth: the lab reported %s", message["code"])
    if "id" in message:
        with _bridge.lock:
            waiter = _bridge.pending.pop(message["id"], None)
        if waiter is not None:
            waiter.resolve(message)


# --- requests ------------------------------------------------------------------------


def new_request_id() -> str:
    """A fresh request id (16 of ``[A-Za-z0-9_-]``)."""
    import secrets  # not at import: most kernels never send a request

    return secrets.token_urlsafe(12)


def _checked_min_ttl(min_ttl: float) -> float:
    from . import protocol

    value = float(min_ttl)
    if not math.isfinite(value):
        value = 0.0
    value = min(max(value, 0.0), float(protocol.MAX_MIN_TTL))
    return int(value) if value.is_integer() else value


def accept_reply(message: Any) -> dict[str, Any]:
    """The session a lab answered, or ``LabError`` for its ``error`` or a broken answer."""
    from . import protocol
    from .errors import LabError

    try:
        message = protocol.parse_message(message, "lab_to_kernel")
    except protocol.ProtocolError as exc:
        raise LabError(
            "bad_request",
            "JupyterLab answered with a message this kernel does not understand "
            f"({exc.message}) Make sure jupyterlab-carto-auth has the same version in "
            "JupyterLab and in this kernel's environment.",
        ) from None
    if message["type"] == "error":
        raise LabError(message["code"], message["message"])
    with _bridge.lock:
        sender = _bridge.senders.get(message.get("id", ""))
    if SESSION.offer(message, sender) is None:
        raise LabError("denied", ANOTHER_PERSON_TEXT)
    return message


def _no_answer(seconds: float) -> LabNoAnswer:
    from .errors import LabNoAnswer

    return LabNoAnswer(
        f"JupyterLab did not answer within {seconds:g} s. Is the notebook still open in "
        "JupyterLab with jupyterlab-carto-auth installed?"
    )


class _Request:
    """One request to the lab, built and checked the same way for every caller."""

    def __init__(
        self,
        id: str,
        min_ttl: float,
        interactive: bool,
        org: str | None,
        seconds: float,
        profile: str | None = None,
    ) -> None:
        self.id = id
        self.min_ttl = min_ttl
        self.interactive = interactive
        self.org = org
        self.seconds = seconds
        self.profile = profile

    @classmethod
    def new(
        cls,
        min_ttl: float,
        interactive: bool,
        org: str | None,
        timeout: float | None,
        profile: str | None = None,
    ) -> _Request:
        if running_ipykernel() is None or not ensure_attached():
            from .errors import CredentialsError

            raise CredentialsError("JupyterLab can only hand a CARTO session to a Jupyter kernel.")
        seconds = LAB_REPLY_TIMEOUT if timeout is None else float(timeout)
        return cls(new_request_id(), _checked_min_ttl(min_ttl), interactive, org, seconds, profile)

    def send(self, reply_via: str) -> None:
        from . import protocol
        from .errors import LabNoAnswer

        message = protocol.request(
            self.id, self.interactive, self.org, self.min_ttl, reply_via, self.profile
        )
        if not _send(message):
            raise LabNoAnswer(
                "Could not send the request to JupyterLab: the comm to the lab is closed."
            )

    @contextlib.contextmanager
    def waiting(self, waiter: _Waiter) -> Iterator[_Waiter]:
        """``waiter`` receives the comm answer to this request while the block runs."""
        with _bridge.lock:
            _bridge.pending[self.id] = waiter
        try:
            yield waiter
        finally:
            with _bridge.lock:
                _bridge.pending.pop(self.id, None)


def request_session(
    min_ttl: float = 0,
    interactive: bool = False,
    org: str | None = None,
    timeout: float | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    """Ask the lab for a session whose token is valid ``min_ttl`` more seconds; wait for it.

    With ``profile`` (a profile name), the session of that profile of the lab: the lab
    binds this notebook to it (``%carto use``; a lab that predates profiles ignores it).

    For synchronous callers. In the kernel's main thread the answer comes on the
    stdin channel (an unsolicited ``input_reply``, so no prompt ever appears);
    in another thread, as a comm message (delivered while the main thread is
    idle or awaiting). Returns the ``session`` message (``state`` may be
    ``signed_out``); raises ``LabError`` with the lab's error code and message,
    ``LabNoAnswer`` after ``timeout`` seconds (default ``LAB_REPLY_TIMEOUT``),
    ``CredentialsError`` outside a kernel.
    """
    request = _Request.new(min_ttl, interactive, org, timeout, profile)
    deadline = time.monotonic() + request.seconds
    if threading.current_thread() is threading.main_thread():
        with _bridge.lock:
            _bridge.recent_ids.append(request.id)
        request.send("stdin")
        with _stdin_lock:
            reply = _wait_stdin_reply(running_ipykernel(), {request.id}, deadline)
        if reply is None:
            raise _no_answer(request.seconds)
        return accept_reply(reply[1])
    with request.waiting(_Waiter()) as waiter:
        request.send("comm")
        if not waiter.event.wait(max(deadline - time.monotonic(), 0)):
            raise _no_answer(request.seconds)
    return accept_reply(waiter.message)


async def request_session_async(
    min_ttl: float = 0,
    interactive: bool = False,
    org: str | None = None,
    timeout: float | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    """``request_session`` for coroutines: the lab answers on the comm, which ipykernel
    delivers while the cell awaits. Bounded by ``timeout`` seconds."""
    import asyncio

    request = _Request.new(min_ttl, interactive, org, timeout, profile)
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    with request.waiting(_Waiter(loop, future)):
        request.send("comm")
        try:
            reply = await asyncio.wait_for(future, request.seconds)
        except asyncio.TimeoutError:
            raise _no_answer(request.seconds) from None
    return accept_reply(reply)


def _probe_worth_it(*, on_stdin: bool) -> bool:
    """Could a lab answer a probe that nobody asked yet? ``on_stdin``: answered on stdin."""
    ipykernel = running_ipykernel()
    if ipykernel is None or "google.colab" in sys.modules:
        return False
    if on_stdin and (
        not getattr(ipykernel, "_allow_stdin", True)
        or threading.current_thread() is not threading.main_thread()
    ):
        return False
    if not ensure_attached():
        return False
    with _bridge.lock:
        return not _bridge.probe_failed


def _probe_answered(error: LabError | None) -> bool:
    """The probe's outcome: no answer at all means no lab (not asked again until ``attach``)."""
    from .errors import LabNoAnswer

    if isinstance(error, LabNoAnswer):
        with _bridge.lock:
            _bridge.probe_failed = True
        return False
    return True  # a lab answered, maybe with an error


def probe_lab(timeout: float = LAB_PROBE_TIMEOUT) -> bool:
    """True if a lab serves this kernel, asking it (non-interactively) if it never spoke.

    Covers a cell that runs before the lab's attach did (Restart and Run All).
    Asks only where a lab could answer: the main thread of a kernel whose
    frontend handles stdin, not in Colab; and once, until a lab runs ``attach()``.
    """
    if SESSION.lab_present:
        return True
    if not _probe_worth_it(on_stdin=True):
        return False
    from .errors import LabError

    try:
        request_session(min_ttl=0, interactive=False, timeout=timeout)
    except LabError as exc:
        return _probe_answered(exc)
    return _probe_answered(None)


async def probe_lab_async(timeout: float = LAB_PROBE_TIMEOUT) -> bool:
    """``probe_lab`` for coroutines: the lab answers on the comm."""
    if SESSION.lab_present:
        return True
    if not _probe_worth_it(on_stdin=False):
        return False
    from .errors import LabError

    try:
        await request_session_async(min_ttl=0, interactive=False, timeout=timeout)
    except LabError as exc:
        return _probe_answered(exc)
    return _probe_answered(None)


def sign_out() -> bool:
    """Sign this kernel out of the lab's CARTO session; forget the token here now.

    The lab stops pushing to this kernel until it asks again (``from_oauth()``)
    and offers the user to sign out everywhere (every tab and kernel).

    Returns ``False`` when no lab is attached.
    """
    if not ensure_attached() or not SESSION.lab_present:
        return False
    from . import protocol

    sent = _send(protocol.sign_out())
    SESSION.mark_signed_out()
    return sent


# --- the stdin socket ----------------------------------------------------------------


def _input_value(reply: Any) -> Any:
    if not isinstance(reply, dict):
        return None
    header = reply.get("header")
    if not isinstance(header, dict) or header.get("msg_type") != "input_reply":
        return None
    content = reply.get("content")
    return content.get("value") if isinstance(content, dict) else None


def _wait_stdin_reply(
    ipykernel: Any, request_ids: set[str], deadline: float, *, plain: bool = False
) -> tuple[str, Any] | None:
    """Poll the kernel's stdin socket until ``deadline`` (monotonic seconds).

    Returns ``("lab", message)`` for a lab's answer to one of ``request_ids``,
    ``("input", value)`` for any other ``input_reply`` when ``plain`` (an answer
    to our own prompt), or ``None`` at the deadline. Everything else is dropped.
    """
    import zmq

    from . import protocol
    from .errors import LabError

    socket = ipykernel.stdin_socket
    session = ipykernel.session
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            readable, _, failed = zmq.select([socket], [], [socket], min(POLL_INTERVAL, remaining))
        except zmq.ZMQError as exc:
            raise LabError(
                "network", "The kernel's stdin channel is closed; restart the kernel."
            ) from exc
        if not readable and not failed:
            continue
        try:
            _, reply = session.recv(socket, zmq.NOBLOCK)
        except Exception as exc:
            _log.debug("carto_auth: dropped an unreadable stdin message (%s)", type(exc).__name__)
            continue
        value = _input_value(reply)
        if value is None:
            continue
        envelope = protocol.parse_stdin_reply(value)
        if envelope is not None:
            if envelope[0] in request_ids:
                _bridge.answered_by(envelope[0], _client_of(reply.get("header")))
                return "lab", envelope[1]
            _log.debug("carto_auth: dropped a stale answer from the lab")
            continue
        if plain:
            return "input", value
        _log.debug("carto_auth: dropped an input_reply nobody waits for")


def _drain_stdin(ipykernel: Any, request_ids: set[str]) -> tuple[str, Any] | None:
    """Drop stale replies (as ipykernel does before a prompt), keeping a late lab answer."""
    import zmq

    from . import protocol

    found = None
    for _ in range(1000):
        try:
            _, reply = ipykernel.session.recv(ipykernel.stdin_socket, zmq.NOBLOCK)
        except zmq.ZMQError:
            break
        except Exception:  # noqa: S112 - an unreadable message is dropped
            continue
        if reply is None:
            break
        envelope = protocol.parse_stdin_reply(_input_value(reply))
        if envelope is not None and envelope[0] in request_ids:
            _bridge.answered_by(envelope[0], _client_of(reply.get("header")))
            found = ("lab", envelope[1])
    return found


def ask_frontend(prompt: str, *, password: bool, timeout: float) -> tuple[str, Any]:
    """Ask the notebook's user for input (an ``input_request``), waiting ``timeout`` s at most.

    ipykernel's own ``input``/``getpass`` wait forever; this sends the same
    request and polls with a deadline. A lab answer to a recent request of ours
    that arrives meanwhile is returned as ``("lab", message)``; the user's text
    as ``("input", value)``. Raises ``NoStdinError`` when the frontend does not
    do input (papermill, ``allow_stdin=False``), ``LabNoAnswer`` at the deadline,
    ``EOFError`` for an end-of-input answer.
    """
    from .errors import LabNoAnswer, NoStdinError

    ipykernel = running_ipykernel()
    if ipykernel is None:
        raise NoStdinError("Not running in a Jupyter kernel.")
    if not getattr(ipykernel, "_allow_stdin", False):
        raise NoStdinError("This frontend does not support input requests.")
    try:  # ipykernel >= 6: where to send the request, as its own getpass does
        ident = ipykernel._parent_ident["shell"]
        parent = ipykernel.get_parent("shell")
    except Exception:  # pragma: no cover - older kernels: their own, unbounded, prompt
        import getpass

        return "input", (getpass.getpass(prompt) if password else input(prompt))
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    with _bridge.lock:
        ids = set(_bridge.recent_ids)
    deadline = time.monotonic() + timeout
    with _stdin_lock:
        late = _drain_stdin(ipykernel, ids)
        if late is not None:
            return late
        ipykernel.session.send(
            ipykernel.stdin_socket,
            "input_request",
            {"prompt": prompt, "password": password},
            parent,
            ident=ident,
        )
        answer = _wait_stdin_reply(ipykernel, ids, deadline, plain=True)
    if answer is None:
        raise LabNoAnswer(f"No answer within {timeout:g} s.")
    if answer[0] == "input" and answer[1] == "\x04":
        raise EOFError
    return answer
