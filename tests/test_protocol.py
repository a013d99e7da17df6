"""protocol.py against docs/protocol-examples.json, the examples the lab side is tested on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import REPO
from labclient import ATTACH_CODE

from jupyterlab_carto_auth import protocol
from jupyterlab_carto_auth.protocol import ProtocolError, parse_message

EXAMPLES = json.loads((REPO / "docs" / "protocol-examples.json").read_text(encoding="utf-8"))
OTHER = {"lab_to_kernel": "kernel_to_lab", "kernel_to_lab": "lab_to_kernel"}


def test_constants_match_the_examples_and_the_doc() -> None:
    assert protocol.MAX_BYTES == EXAMPLES["max_bytes"] == 65536
    assert protocol.TARGET == "carto_auth"
    assert protocol.VERSION == 1
    doc = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
    for code in protocol.ERROR_CODES:
        assert f"`{code}`" in doc
    for reason in protocol.REASONS:
        assert f"`{reason}`" in doc


def test_attach_code_is_the_examples_and_the_docs() -> None:
    # src/kernels.ts's ATTACH_CODE is held to the same text by src/__tests__/kernels.spec.ts.
    assert EXAMPLES["attach_code"] == ATTACH_CODE
    doc = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
    block = "\n".join("  " + line for line in ATTACH_CODE.splitlines())
    assert f"  ```python\n{block}\n  ```" in doc


@pytest.mark.parametrize("example", EXAMPLES["valid"], ids=lambda e: e["name"])
def test_valid_example_parses_for_its_direction(example: dict[str, Any]) -> None:
    message = example["message"]
    assert parse_message(message, example["direction"]) == message


@pytest.mark.parametrize("example", EXAMPLES["valid"], ids=lambda e: e["name"])
def test_valid_example_is_refused_in_the_other_direction_unless_shared(
    example: dict[str, Any],
) -> None:
    message = example["message"]
    if message["type"] == "error":  # both sides send errors
        assert parse_message(message, OTHER[example["direction"]]) == message
        return
    with pytest.raises(ProtocolError) as info:
        parse_message(message, OTHER[example["direction"]])
    assert info.value.code == "bad_request"


@pytest.mark.parametrize("example", EXAMPLES["invalid"], ids=lambda e: e["name"])
def test_invalid_example_is_refused_with_its_code(example: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_message(example["message"], example["direction"])
    assert info.value.code == example["code"]
    assert info.value.message
    # The answer to it is itself a valid message.
    answer = protocol.error(info.value.code, info.value.message)
    assert parse_message(answer, "kernel_to_lab") == answer


def test_size_is_measured_on_compact_utf8_json() -> None:
    base = {"v": 1, "type": "error", "code": "bad_request", "message": ""}
    overhead = len(json.dumps(base, separators=(",", ":")).encode())
    fits = {**base, "message": "x" * (protocol.MAX_BYTES - overhead)}
    assert parse_message(fits, "lab_to_kernel") is fits
    too_big = {**base, "message": "x" * (protocol.MAX_BYTES - overhead + 1)}
    with pytest.raises(ProtocolError, match="at most 65536 bytes"):
        parse_message(too_big, "lab_to_kernel")
    # "é" is two bytes in UTF-8: counted as such, not as one character or a \\u escape.
    accented = {**base, "message": "é" * ((protocol.MAX_BYTES - overhead) // 2 + 1)}
    with pytest.raises(ProtocolError):
        parse_message(accented, "lab_to_kernel")
    assert protocol.encoded_size({"a": "é"}) == len('{"a":"é"}'.encode())


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"v": True, "type": "sign_out"}, "bad_request"),  # a boolean is not a number
        ({"v": 1.5, "type": "sign_out"}, "bad_request"),
        ({"v": 1.0, "type": "sign_out"}, None),  # 1.0 is the integer 1 in JSON
        ({"v": 3, "type": "sign_out"}, "unsupported_version"),
        ({"v": 0, "type": "whatever"}, "unsupported_version"),
        ({"v": float("nan"), "type": "sign_out"}, "bad_request"),
        ({"v": 10**400, "type": "sign_out"}, "bad_request"),  # Infinity in JavaScript
        ({"v": 1, "type": ["sign_out"]}, "bad_request"),
    ],
)
def test_version_and_type_rules(message: dict[str, Any], code: str | None) -> None:
    if code is None:
        assert parse_message(message, "kernel_to_lab") is message
        return
    with pytest.raises(ProtocolError) as info:
        parse_message(message, "kernel_to_lab")
    assert info.value.code == code


def test_session_fields_are_checked_only_when_signed_in() -> None:
    signed_in = {
        "v": 1,
        "type": "session",
        "state": "signed_in",
        "access_token": "t",
        "expires_at": 1796000000,
        "api_base_url": None,
        "user": {"email": "a@b", "name": "A", "org": None},
        "reason": "sign_in",
    }
    assert parse_message(signed_in, "lab_to_kernel") is signed_in
    for field, bad in [
        ("expires_at", float("inf")),
        ("expires_at", None),
        ("api_base_url", 5),
        ("user", {"email": "a@b", "name": None, "org": None}),
        ("user", {"email": "a@b", "name": "A", "org": 3}),
        ("id", ""),
        ("id", "x" * 65),
        ("access_token", 7),
    ]:
        with pytest.raises(ProtocolError) as info:
            parse_message({**signed_in, field: bad}, "lab_to_kernel")
        assert info.value.code == "bad_request", field


def test_builders_make_valid_messages() -> None:
    hello = protocol.hello()
    assert parse_message(hello, "kernel_to_lab") == hello
    assert hello["versions"] == [1]
    from jupyterlab_carto_auth import __version__

    assert hello["package_version"] == __version__
    req = protocol.request("req-1", True, None, 60, "stdin")
    assert req == {
        "v": 1,
        "type": "request",
        "id": "req-1",
        "interactive": True,
        "org": None,
        "min_ttl": 60,
        "reply_via": "stdin",
    }
    assert protocol.sign_out() == {"v": 1, "type": "sign_out"}
    assert protocol.error("cancelled", "No.", id="r") == {
        "v": 1,
        "type": "error",
        "code": "cancelled",
        "message": "No.",
        "id": "r",
    }
    with pytest.raises(ProtocolError):
        protocol.request("has space", True, None, 0, "comm")
    with pytest.raises(ProtocolError):
        protocol.error("oops", "x")


def test_the_kernels_own_hello_is_the_protocols() -> None:
    # kernel.py builds the hello itself, so that attach() does not import protocol.
    from jupyterlab_carto_auth import kernel

    assert kernel._TARGET == protocol.TARGET
    assert kernel._hello() == protocol.hello()


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("a", True),
        ("AZaz09_-", True),
        ("x" * 64, True),
        ("", False),
        ("x" * 65, False),
        ("a b", False),
        ("a\n", False),
        ("\u00e9t\u00e9", False),
        ("\u0661", False),  # a digit, but not an ASCII one
        ("a.b", False),
        (12, False),
        (None, False),
    ],
)
def test_request_ids_are_1_to_64_of_ascii_letters_digits_underscore_dash(
    value: Any, valid: bool
) -> None:
    error = {"v": 1, "type": "error", "code": "denied", "message": "m", "id": value}
    assert protocol._is_id(value) is valid
    if valid:
        assert parse_message(error, "kernel_to_lab") == error
    else:
        with pytest.raises(ProtocolError):
            parse_message(error, "kernel_to_lab")


def test_stdin_reply_envelope_round_trips_and_rejects_other_text() -> None:
    message = {"v": 1, "type": "session", "state": "signed_out", "reason": "reply", "id": "r1"}
    value = protocol.stdin_reply_value("r1", message)
    assert json.loads(value) == {"carto_auth": 1, "id": "r1", "message": message}
    assert protocol.parse_stdin_reply(value) == ("r1", message)
    for other in [
        "4/0AbCdEf-pasted-code",
        "",
        "{not json",
        json.dumps({"id": "r1", "message": message}),  # no carto_auth key
        json.dumps({"carto_auth": 1, "id": "a b", "message": message}),
        json.dumps({"carto_auth": 1, "id": "r1"}),
        json.dumps([1, 2]),
        None,
        5,
    ]:
        assert protocol.parse_stdin_reply(other) is None, other


@pytest.mark.parametrize(
    "url",
    ["http://api.example.com", "javascript:alert(1)", "https://u:p@api.example.com", "ftp://x"],
)
def test_a_pushed_session_with_an_api_url_discovery_would_refuse_is_refused(url: str) -> None:
    message = {**_signed_in_session(), "api_base_url": url}
    with pytest.raises(ProtocolError) as info:
        parse_message(message, "lab_to_kernel")
    assert info.value.code == "bad_request"
    assert "api_base_url" in info.value.message
    assert "u:p" not in info.value.message


@pytest.mark.parametrize(
    "url", ["https://gcp-us-east1.api.carto.com", "http://127.0.0.1:8123", "http://localhost", ""]
)
def test_a_pushed_session_with_https_or_loopback_http_is_accepted(url: str) -> None:
    message = {**_signed_in_session(), "api_base_url": url}
    assert parse_message(message, "lab_to_kernel") == message


def _signed_in_session() -> dict[str, Any]:
    return next(
        e["message"]
        for e in EXAMPLES["valid"]
        if e["direction"] == "lab_to_kernel" and e["message"].get("state") == "signed_in"
    )
