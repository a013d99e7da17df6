"""The ``carto_auth`` comm protocol v1, kernel side (``docs/protocol.md``), with the
optional fields of the feature ``profiles`` (its section "Profiles").

The same rules live in ``src/protocol.ts``; both sides are tested against
``docs/protocol-examples.json``. Standard library only.
"""

from __future__ import annotations

import json
import math

# Neither ``typing`` nor ``re`` nor ``config`` (``url_problem``, imported where a
# session names an API base URL): a kernel imports this module on the lab's first
# message, and what it imports here would be paid then.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal

    Direction = Literal["lab_to_kernel", "kernel_to_lab"]

#: Comm target name.
TARGET = "carto_auth"
#: Protocol major version.
VERSION = 1
#: Protocol versions this side speaks (sent in ``hello``).
VERSIONS = (1,)
#: Largest message, in bytes of compact UTF-8 JSON.
MAX_BYTES = 65536
#: Largest ``min_ttl`` of a request, seconds.
MAX_MIN_TTL = 3600

ERROR_CODES = (
    "cancelled",
    "timeout",
    "network",
    "denied",
    "unsupported_version",
    "bad_request",
    "unknown_profile",
)
REASONS = ("sign_in", "refresh", "reply", "attach", "sign_out", "not_granted", "profiles")
STATES = ("signed_in", "signed_out")
REPLY_VIA = ("comm", "stdin")

#: Key of the JSON object a lab sends as the ``value`` of an unsolicited stdin
#: ``input_reply``: ``{"carto_auth": 1, "id": <request id>, "message": {...}}``.
STDIN_KEY = "carto_auth"

#: The optional features a kernel of this package announces in its ``hello``: a lab
#: sends the fields and messages of a feature only to kernels that listed it
#: (docs/protocol.md, "Profiles").
FEATURES = ("profiles",)
#: What only kernels whose ``hello`` listed ``"profiles"`` are ever sent.
PROFILE_REASONS = frozenset({"profiles"})
PROFILE_ERROR_CODES = frozenset({"unknown_profile"})
#: A profile name is 1 to this many characters (UTF-16 code units, JavaScript's length).
MAX_PROFILE_NAME = 128

_TYPES: dict[str, frozenset[str]] = {
    "kernel_to_lab": frozenset({"hello", "request", "sign_out", "error"}),
    "lab_to_kernel": frozenset({"session", "error"}),
}
#: The characters of a request id: ``[A-Za-z0-9_-]{1,64}``.
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class ProtocolError(ValueError):
    """A message that breaks the protocol. ``code`` is what the ``error`` answer carries
    (``bad_request`` or ``unsupported_version``); the message never quotes token material."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _bad(message: str) -> ProtocolError:
    return ProtocolError("bad_request", message)


def _is_number(value: Any) -> bool:
    """A finite JSON number (not a boolean), as JavaScript's ``Number.isFinite``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond double range is Infinity in JavaScript
        return False


def _is_integer(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer()


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and _ID_CHARS.issuperset(value)


def _nullable_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _js_length(value: str) -> int:
    """``value.length`` in JavaScript: UTF-16 code units (an emoji counts 2)."""
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def is_profile_name(value: Any) -> bool:
    """A profile name: a string of 1 to ``MAX_PROFILE_NAME`` characters."""
    return isinstance(value, str) and 0 < _js_length(value) <= MAX_PROFILE_NAME


def encoded_size(obj: Any) -> int:
    """Bytes of ``obj`` as compact UTF-8 JSON (what ``JSON.stringify`` sends).

    Raises ``ProtocolError`` when ``obj`` is not JSON (NaN, cycles, other types).
    """
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise _bad("A message must be plain JSON.") from None
    # surrogatepass: a lone surrogate counts 3 bytes, as TextEncoder's U+FFFD does.
    return len(text.encode("utf-8", "surrogatepass"))


def _describe_type(value: Any) -> str:
    if isinstance(value, str) and len(value) <= 40 and value.isprintable():
        return repr(value)
    return "(not a known type)"


def parse_message(obj: Any, direction: Direction) -> dict[str, Any]:
    """Validate a message received in ``direction``; return it, or raise ``ProtocolError``.

    ``unsupported_version`` for an integer ``v`` other than 1, ``bad_request`` for
    anything else that is wrong: not an object, larger than ``MAX_BYTES`` as compact
    JSON, an unknown or wrong-direction ``type``, missing or mistyped fields.
    """
    if direction not in _TYPES:
        raise ValueError(f"direction must be 'lab_to_kernel' or 'kernel_to_lab': {direction!r}")
    if not isinstance(obj, dict):
        raise _bad("A message must be a JSON object.")
    if encoded_size(obj) > MAX_BYTES:
        raise _bad(f"A message must be at most {MAX_BYTES} bytes.")
    v = obj.get("v")
    if not _is_integer(v):
        raise _bad('A message needs an integer "v".')
    if v != VERSION:
        raise ProtocolError(
            "unsupported_version",
            f"Protocol version {int(v)} is not supported (this side speaks {VERSION}).",
        )
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in _TYPES[direction]:
        raise _bad(f"Unknown message type {_describe_type(kind)}.")
    check = _CHECKS.get(kind)
    if check is not None:
        check(obj)
    return obj


def _check_optional_id(obj: dict[str, Any]) -> None:
    if "id" in obj and not _is_id(obj["id"]):
        raise _bad("id must be 1 to 64 of A-Z a-z 0-9 _ -.")


def _check_hello(obj: dict[str, Any]) -> None:
    versions = obj.get("versions")
    if (
        not isinstance(versions, list)
        or not versions
        or not all(_is_integer(x) for x in versions)
        or not isinstance(obj.get("package_version"), str)
    ):
        raise _bad('hello needs "versions" (integers) and "package_version".')
    if "features" in obj:
        features = obj["features"]
        if not isinstance(features, list) or not all(isinstance(x, str) for x in features):
            raise _bad('hello "features" must be a list of strings.')


def _check_profile_fields(obj: dict[str, Any]) -> None:
    """A session's optional ``profile`` and ``profiles`` (feature ``profiles``)."""
    if "profile" in obj:
        profile = obj["profile"]
        if (
            not isinstance(profile, dict)
            or not is_profile_name(profile.get("name"))
            or "org" not in profile
            or not _nullable_str(profile["org"])
        ):
            raise _bad(
                f'session "profile" must be {{name, org}}: a name of 1 to {MAX_PROFILE_NAME} '
                "characters, org a string or null."
            )
    if "profiles" in obj:
        profiles = obj["profiles"]
        if not isinstance(profiles, list) or not all(
            isinstance(p, dict)
            and is_profile_name(p.get("name"))
            and isinstance(p.get("email"), str)
            and "org" in p
            and _nullable_str(p["org"])
            and isinstance(p.get("default"), bool)
            for p in profiles
        ):
            raise _bad(
                'session "profiles" must be a list of {name, email, org, default}: names of '
                f"1 to {MAX_PROFILE_NAME} characters, org a string or null, default true or false."
            )


def _check_session(obj: dict[str, Any]) -> None:
    _check_optional_id(obj)
    if obj.get("state") not in STATES:
        raise _bad('session "state" must be signed_in or signed_out.')
    reason = obj.get("reason")
    if not isinstance(reason, str) or reason not in REASONS:
        raise _bad('session "reason" is unknown.')
    _check_profile_fields(obj)
    if obj["state"] != "signed_in":
        return
    token = obj.get("access_token")
    if not isinstance(token, str) or not token:
        raise _bad('A signed-in session needs an "access_token".')
    if not _is_number(obj.get("expires_at")):
        raise _bad('"expires_at" must be a number of seconds.')
    base = obj.get("api_base_url")
    if not _nullable_str(base):
        raise _bad('"api_base_url" must be a string or null.')
    # Held to the rule of the kernel's own discovery: the token goes to this host.
    problem = None
    if isinstance(base, str) and base.strip():
        from .config import url_problem

        problem = url_problem(base)
    if problem is not None:
        raise _bad(f'"api_base_url" {problem}.')
    user = obj.get("user")
    if (
        not isinstance(user, dict)
        or not isinstance(user.get("email"), str)
        or not isinstance(user.get("name"), str)
        or not _nullable_str(user.get("org"))
    ):
        raise _bad('"user" must be {email, name, org}.')


def _check_request(obj: dict[str, Any]) -> None:
    if not _is_id(obj.get("id")):
        raise _bad('request "id" must be 1 to 64 of A-Z a-z 0-9 _ -.')
    if not isinstance(obj.get("interactive"), bool):
        raise _bad('request "interactive" must be true or false.')
    if not _nullable_str(obj.get("org")):
        raise _bad('request "org" must be a string or null.')
    min_ttl = obj.get("min_ttl")
    if not _is_number(min_ttl) or not 0 <= min_ttl <= MAX_MIN_TTL:
        raise _bad(f'request "min_ttl" must be 0 to {MAX_MIN_TTL} seconds.')
    if obj.get("reply_via") not in REPLY_VIA:
        raise _bad('request "reply_via" must be comm or stdin.')
    if "profile" in obj and not is_profile_name(obj["profile"]):
        raise _bad(
            f'request "profile" must be a profile name of 1 to {MAX_PROFILE_NAME} characters.'
        )


def _check_error(obj: dict[str, Any]) -> None:
    _check_optional_id(obj)
    code = obj.get("code")
    if not isinstance(code, str) or code not in ERROR_CODES:
        raise _bad('error "code" is unknown.')
    if not isinstance(obj.get("message"), str):
        raise _bad('error "message" must be a string.')


_CHECKS = {
    "hello": _check_hello,
    "session": _check_session,
    "request": _check_request,
    "error": _check_error,
}


# --- builders (kernel -> lab) ----------------------------------------------------------


def hello() -> dict[str, Any]:
    """The ``comm_open`` data: versions spoken, this package's version, its features."""
    from . import __version__

    return {
        "v": VERSION,
        "type": "hello",
        "versions": list(VERSIONS),
        "package_version": __version__,
        "features": list(FEATURES),
    }


def request(
    id: str,
    interactive: bool,
    org: str | None,
    min_ttl: float,
    reply_via: Literal["comm", "stdin"],
    profile: str | None = None,
) -> dict[str, Any]:
    """A ``request`` for a session valid ``min_ttl`` more seconds; with ``profile``, of
    that profile (the lab binds the notebook to it). ``ProtocolError`` if invalid."""
    message: dict[str, Any] = {
        "v": VERSION,
        "type": "request",
        "id": id,
        "interactive": interactive,
        "org": org,
        "min_ttl": min_ttl,
        "reply_via": reply_via,
    }
    if profile is not None:
        message["profile"] = profile
    return parse_message(message, "kernel_to_lab")


def sign_out() -> dict[str, Any]:
    """Ask the lab to sign out (all tabs and kernels)."""
    return {"v": VERSION, "type": "sign_out"}


def error(code: str, message: str, id: str | None = None) -> dict[str, Any]:
    """An ``error``; ``id`` when it answers a request."""
    out: dict[str, Any] = {"v": VERSION, "type": "error", "code": code, "message": message}
    if id is not None:
        out["id"] = id
    return parse_message(out, "kernel_to_lab")


# --- the stdin reply envelope ---------------------------------------------------------


def stdin_reply_value(id: str, message: dict[str, Any]) -> str:
    """The ``value`` of the unsolicited ``input_reply`` that answers request ``id``."""
    return json.dumps({STDIN_KEY: VERSION, "id": id, "message": message})


def parse_stdin_reply(value: Any) -> tuple[str, Any] | None:
    """``(id, message)`` if ``value`` is a lab's stdin answer to a request, else ``None``.

    Only the envelope is checked here; validate ``message`` with ``parse_message``.
    Anything else (a pasted access code, text typed into a prompt) gives ``None``.
    """
    if not isinstance(value, str) or not value.lstrip().startswith("{"):
        return None
    if len(value) > 4 * MAX_BYTES:
        return None
    try:
        envelope = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if (
        not isinstance(envelope, dict)
        or STDIN_KEY not in envelope
        or not _is_id(envelope.get("id"))
        or "message" not in envelope
    ):
        return None
    return envelope["id"], envelope["message"]
