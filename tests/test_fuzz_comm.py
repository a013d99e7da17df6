"""Ten thousand generated comm messages (valid, random, truncated, mutated, wrong type,
wrong ``v``, huge): the kernel answers each invalid one with one error of the right code,
never answers an error with an error, never crashes, and still works afterwards. The
counts are printed (``pytest -s``) and written to ``fuzz-kernel.json`` in the test's tmp
dir (docs/reliability.md)."""

from __future__ import annotations

import json
import random
import string
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labclient import LabClient, session_message

from jupyterlab_carto_auth import protocol

StartKernel = Callable[..., tuple[Any, Any]]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["str", "int", "float", "bool", "null"]
    if depth < 4:
        kinds += ["list", "dict"] * 2
    kind = rng.choice(kinds)
    if kind == "str":
        return "".join(rng.choice(string.printable + "éü€😀") for _ in range(rng.randint(0, 20)))
    if kind == "int":
        return rng.choice([0, 1, -1, 2, 3600, 3601, 10**20, rng.randint(-(10**6), 10**6)])
    if kind == "float":
        return rng.choice([0.5, -1.5, 1.0, 1e308, rng.random()])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["v", "type", "state", "reason", "id", "code", "message", "user", "access_token"]
    return {
        rng.choice([*keys, "x", ""]): random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))
    }


VALID_SESSION = session_message("eyJhbGciOiJSUzI1NiJ9.e30.sig", 1796000000, reason="refresh")


def mutated(rng: random.Random) -> Any:
    """A valid message with one field replaced, dropped, or a wrong-typed value."""
    base = dict(rng.choice([VALID_SESSION, session_message(None, reason="sign_out")]))
    key = rng.choice([*base.keys(), "user", "expires_at"])
    action = rng.random()
    if action < 0.3:
        base.pop(key, None)
    else:
        base[key] = random_json(rng, 3)
    return base


#: How many generated messages of each kind, in the order they are sent (round robin).
PER_KIND = 1250
KINDS = (
    "valid",  # a well-formed session message (signed in or out): taken, no answer
    "random_json",  # any JSON value, nested up to 4 deep
    "truncated",  # a valid message's JSON text cut short
    "mutated",  # a valid message with one field dropped or replaced
    "unknown_type",  # v 1 but a type the kernel does not take, or a bare one
    "wrong_v",  # another version number, or v of another type
    "wrong_types",  # not an object, or error messages with a bad code
    "huge",  # longer than the protocol's 64 KB limit, or just under it
)


def valid(rng: random.Random, i: int) -> Any:
    if rng.random() < 0.5:
        return session_message(None, reason=rng.choice(["sign_out", "not_granted"]))
    return session_message(f"fuzz-token-{i}", 1796000000, reason=rng.choice(["refresh", "sign_in"]))


def huge(rng: random.Random) -> Any:
    size = rng.choice([protocol.MAX_BYTES - 200, protocol.MAX_BYTES + 1, 70_000, 300_000])
    if rng.random() < 0.5:
        return {"v": 1, "type": "error", "code": "bad_request", "message": "x" * size}
    return {**VALID_SESSION, "access_token": "t" * size}


def fuzz_messages(rng: random.Random) -> list[tuple[str, Any]]:
    """``(kind, data)`` for every generated message, kinds interleaved."""
    valid_text = json.dumps(VALID_SESSION)
    out: list[tuple[str, Any]] = []
    for i in range(PER_KIND * len(KINDS)):
        kind = KINDS[i % len(KINDS)]
        if kind == "valid":
            data = valid(rng, i)
        elif kind == "random_json":
            data = random_json(rng)
        elif kind == "truncated":
            data = valid_text[: rng.randint(0, len(valid_text) - 1)]
        elif kind == "mutated":
            data = mutated(rng)
        elif kind == "unknown_type":
            data = {"v": 1, "type": rng.choice(["gossip", "request", "hello", "sign_out", ""])}
        elif kind == "wrong_v":
            data = rng.choice(
                [
                    {"v": rng.choice([0, 2, 99, -1]), "type": "session"},
                    {**VALID_SESSION, "v": rng.choice(["1", True, None, 1.5, [1]])},
                ]
            )
        elif kind == "wrong_types":
            data = rng.choice(
                [
                    {"v": 1, "type": "error", "code": rng.choice(["oops", "cancelled", 3])},
                    rng.choice([None, [], [1, 2], 42, "", "null", True]),
                ]
            )
        else:
            data = huge(rng)
        out.append((kind, data))
    return out


def expected_answer(data: Any) -> str | None:
    """The error code the kernel must answer with, or None for no answer."""
    try:
        protocol.parse_message(data, "lab_to_kernel")
    except protocol.ProtocolError as exc:
        if isinstance(data, dict) and data.get("type") == "error":
            return None  # never answer an error with an error
        return exc.code
    return None


def test_fuzzed_comm_messages_never_break_the_kernel(
    start_kernel: StartKernel, tmp_path: Path
) -> None:
    rng = random.Random(20240601)  # noqa: S311 - reproducible test data
    km, kc = start_kernel()
    lab = LabClient(kc)
    lab.attach(session_message(None, reason="attach"))
    messages = fuzz_messages(rng)
    assert len(messages) >= 10_000
    sent: list[tuple[str, str, Any]] = []
    start = time.monotonic()
    for i, (kind, data) in enumerate(messages):
        sent.append((lab.push(data), kind, data))
        if i % 100 == 99:
            lab.pump(0.02)
    expected = {msg_id: expected_answer(data) for msg_id, _, data in sent}
    want = sum(1 for code in expected.values() if code)
    assert want > len(messages) // 2  # most are invalid
    lab.pump(60, until=lambda: sum(len(v) for v in lab.answers.values()) >= want)
    seconds = time.monotonic() - start

    # Every invalid message got exactly one error with the right code; nothing else did.
    wrong: list[tuple[str, Any]] = []
    for msg_id, code in expected.items():
        answers = lab.answers.get(msg_id, [])
        if code is None:
            if answers != []:
                wrong.append((msg_id, answers))
        elif not (
            len(answers) == 1
            and protocol.parse_message(answers[0], "kernel_to_lab") == answers[0]
            and answers[0]["type"] == "error"
            and answers[0]["code"] == code
            and "id" not in answers[0]
        ):
            wrong.append((msg_id, answers))
    assert wrong == []

    counts: dict[str, Any] = {
        "side": "kernel",
        "messages": len(messages),
        "by_kind": dict(Counter(kind for _, kind, _ in sent)),
        "answered_error": want,
        "taken_silently": len(messages) - want,
        "by_error_code": dict(Counter(code for code in expected.values() if code)),
        "wrong_answers": len(wrong),
        "crashes": 0 if km.is_alive() else 1,
        "seconds": round(seconds, 1),
    }
    (tmp_path / "fuzz-kernel.json").write_text(json.dumps(counts, indent=1))
    print("kernel comm fuzz:", json.dumps(counts))
    assert counts["crashes"] == 0

    # Samples with a known answer.
    by_data = {json.dumps(data, sort_keys=True): msg_id for msg_id, _, data in sent}
    for data, code in [
        ({"v": 1, "type": "gossip"}, "bad_request"),
        ({"v": 2, "type": "session"}, "unsupported_version"),
        ({"v": 1, "type": "request"}, "bad_request"),
        (None, "bad_request"),
    ]:
        (answer,) = lab.answers[by_data[json.dumps(data, sort_keys=True)]]
        assert answer["code"] == code

    # Still alive, still the same comm, and still taking a valid session.
    assert lab.comm_id == lab.opens[-1]["comm_id"]
    lab.push(session_message("the-token-after-fuzz-1234", time.time() + 3600, reason="sign_in"))
    cell = lab.run(
        "print(1 + 1)\n"
        "import jupyterlab_carto_auth.kernel as k\n"
        "print(k.SESSION.current.access_token == 'the-token-after-fuzz-1234')\n"
        "from jupyterlab_carto_auth import CartoAuth\n"
        "print(CartoAuth.from_oauth().get_access_token() == 'the-token-after-fuzz-1234')\n"
    )
    assert cell.error is None, cell.error
    assert cell.stdout == "2\nTrue\nTrue\n"
    assert len(lab.opens) == 1  # no re-attach was needed
