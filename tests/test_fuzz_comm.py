"""Thousands of malformed comm messages: the kernel answers each with an error, never
crashes, never answers an error with an error, and still works afterwards."""

from __future__ import annotations

import json
import random
import string
import time
from collections.abc import Callable
from typing import Any

from labclient import LabClient, session_message

from jupyterlab_carto_auth import protocol

StartKernel = Callable[..., tuple[Any, Any]]
COUNT = 3000


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


def fuzz_messages(rng: random.Random) -> list[Any]:
    valid_text = json.dumps(VALID_SESSION)
    out: list[Any] = []
    for i in range(COUNT):
        pick = i % 8
        if pick == 0:
            out.append(random_json(rng))
        elif pick == 1:
            out.append(valid_text[: rng.randint(0, len(valid_text) - 1)])  # truncated JSON
        elif pick == 2:
            out.append(mutated(rng))
        elif pick == 3:
            out.append({"v": 1, "type": rng.choice(["gossip", "request", "hello", "sign_out"])})
        elif pick == 4:
            out.append({"v": rng.choice([0, 2, 99, -1]), "type": "session"})
        elif pick == 5:
            out.append({**VALID_SESSION, "v": rng.choice(["1", True, None, 1.5, [1]])})
        elif pick == 6:
            out.append({"v": 1, "type": "error", "code": rng.choice(["oops", "cancelled", 3])})
        else:
            out.append(rng.choice([None, [], [1, 2], 42, "", "null", True]))
    for size in (70_000, 300_000, 1_000_000):  # huge
        out.append({"v": 1, "type": "error", "code": "bad_request", "message": "x" * size})
        out.append({**VALID_SESSION, "access_token": "t" * size})
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


def test_fuzzed_comm_messages_never_break_the_kernel(start_kernel: StartKernel) -> None:
    rng = random.Random(20240601)  # noqa: S311 - reproducible test data
    _, kc = start_kernel()
    lab = LabClient(kc)
    lab.attach(session_message(None, reason="attach"))
    messages = fuzz_messages(rng)
    sent: list[tuple[str, Any]] = []
    start = time.monotonic()
    for i, data in enumerate(messages):
        sent.append((lab.push(data), data))
        if i % 100 == 99:
            lab.pump(0.02)
    expected = {msg_id: expected_answer(data) for msg_id, data in sent}
    want = sum(1 for code in expected.values() if code)
    assert want > COUNT // 2  # most are invalid
    lab.pump(30, until=lambda: sum(len(v) for v in lab.answers.values()) >= want)
    elapsed = time.monotonic() - start
    assert elapsed < 40

    # Every invalid message got exactly one error with the right code; nothing else did.
    for msg_id, code in expected.items():
        answers = lab.answers.get(msg_id, [])
        if code is None:
            assert answers == [], (msg_id, answers)
        else:
            assert len(answers) == 1, msg_id
            (answer,) = answers
            assert protocol.parse_message(answer, "kernel_to_lab") == answer
            assert answer["type"] == "error"
            assert answer["code"] == code
            assert "id" not in answer

    # Samples with a known answer.
    by_data = {json.dumps(data, sort_keys=True): msg_id for msg_id, data in sent}
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
