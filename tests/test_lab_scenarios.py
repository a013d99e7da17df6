"""tests/labclient.py's StandInLab against docs/protocol-scenarios.json.

The same recorded scenarios are replayed against the real KernelBridge by
src/__tests__/kernels.spec.ts, so the lab the Python tests play and the lab users
run answer kernels alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import REPO
from labclient import LabClient, StandInLab

from jupyterlab_carto_auth import protocol

SCENARIOS = json.loads((REPO / "docs" / "protocol-scenarios.json").read_text(encoding="utf-8"))
EXAMPLES = json.loads((REPO / "docs" / "protocol-examples.json").read_text(encoding="utf-8"))
ANY_TEXT = "$text"
StartKernel = Callable[..., tuple[Any, Any]]
LAB_SESSION = {
    "access_token": "the-lab-token-0123456789",
    "expires_at": 4102444800,
    "api_base_url": "https://gcp-us-east1.api.carto.com",
    "user": {"email": "ana@example.com", "name": "Ana", "org": None},
}


def matches(expected: Any, actual: Any) -> bool:
    """Equal JSON, except that ``"$text"`` stands for any non-empty string."""
    if expected == ANY_TEXT:
        return isinstance(actual, str) and actual != ""
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(matches(expected[k], actual[k]) for k in expected)
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual  # JSON true is not 1
    return bool(expected == actual)  # a JSON number is a number: 1 == 1.0


def run_step(lab: StandInLab, step: dict[str, Any]) -> list[dict[str, Any]]:
    own = step.get("caused_by") != "another_lab"
    if "kernel_opens" in step:
        return lab.open(step["kernel"], step["comm_id"], step["kernel_opens"], own=own)
    if "kernel_sends" in step:
        return lab.receive(step["kernel"], step["comm_id"], step["kernel_sends"], own=own)
    if "kernel_closes" in step:
        return lab.close(step["kernel"], step["comm_id"])
    event = step["lab_event"]
    if event == "sign_in":
        return lab.sign_in(step["session"])
    if event == "refresh":
        return lab.refresh(step["access_token"], step["expires_at"])
    if event == "sign_out":
        return lab.sign_out()
    if event == "signing_in":
        return lab.start_sign_in()
    if event == "user_clicks_sign_in":
        return lab.click_sign_in()
    if event == "user_clicks_cancel":
        return lab.click_cancel()
    if event == "time_passes":
        return lab.wait(step["seconds"])
    if event == "token_fails":
        return lab.fail_token(step["code"], step["message"])
    raise AssertionError(f"unknown lab_event {event!r}")


def stand_in_for(scenario: dict[str, Any]) -> StandInLab:
    setup = scenario["lab"]
    lab = StandInLab(
        setup["session"],
        sign_in_gives=setup["sign_in_gives"],
        sign_in_timeout_seconds=setup["sign_in_timeout_seconds"],
    )
    for kernel in scenario["kernels"]:
        lab.watch(kernel)
    return lab


@pytest.mark.parametrize("scenario", SCENARIOS["scenarios"], ids=lambda s: s["name"])
def test_stand_in_answers_the_recorded_scenario(scenario: dict[str, Any]) -> None:
    lab = stand_in_for(scenario)
    for number, step in enumerate(scenario["steps"]):
        sent = run_step(lab, step)
        assert matches(step["expect"], sent), (number, step, sent)
        for each in sent:  # whatever the stand-in says is a valid message
            message = each.get("comm_msg") or each["input_reply"]["message"]
            assert protocol.parse_message(message, "lab_to_kernel") == message


def test_scenario_matching_rules_can_fail() -> None:
    assert matches({"a": [1, "$text"]}, {"a": [1.0, "anything"]})
    assert not matches({"a": "$text"}, {"a": ""})
    assert not matches({"a": 1}, {"a": 1, "b": 2})
    assert not matches([1], [1, 1])
    assert not matches({"a": True}, {"a": 1})
    assert not matches({"a": "x"}, {"a": "y"})
    assert not matches({"a": None}, {"a": 0})


def test_scenarios_use_every_step_kind_and_event() -> None:
    kinds = {
        kind
        for scenario in SCENARIOS["scenarios"]
        for step in scenario["steps"]
        for kind in ("kernel_opens", "kernel_sends", "kernel_closes")
        if kind in step
    }
    events = {
        step["lab_event"]
        for scenario in SCENARIOS["scenarios"]
        for step in scenario["steps"]
        if "lab_event" in step
    }
    assert kinds == {"kernel_opens", "kernel_sends", "kernel_closes"}
    assert events == {
        "sign_in",
        "refresh",
        "sign_out",
        "signing_in",
        "user_clicks_sign_in",
        "user_clicks_cancel",
        "time_passes",
        "token_fails",
    }


@pytest.mark.parametrize("example", EXAMPLES["invalid"], ids=lambda e: e["name"])
def test_stand_in_answers_every_invalid_example_with_an_error_but_errors(
    example: dict[str, Any],
) -> None:
    lab = StandInLab(LAB_SESSION)
    lab.open("k1", "c1", {"v": 1, "type": "hello", "versions": [1], "package_version": "0"})
    message = example["message"]
    sent = lab.receive("k1", "c1", message)
    if isinstance(message, dict) and message.get("type") == "error":
        assert sent == []  # never an error answering an error
        return
    try:
        protocol.parse_message(message, "kernel_to_lab")
    except protocol.ProtocolError as exc:
        code = exc.code
    else:  # valid from a kernel (a request): answered, not refused
        assert [each["comm_msg"]["type"] for each in sent] == ["session"]
        return
    if example["direction"] == "kernel_to_lab":
        assert code == example["code"]
    (answer,) = sent
    assert answer["comm_msg"]["type"] == "error"
    assert answer["comm_msg"]["code"] == code
    assert "id" not in answer["comm_msg"]


@pytest.mark.parametrize(
    "example",
    [e for e in EXAMPLES["valid"] if e["direction"] == "kernel_to_lab"],
    ids=lambda e: e["name"],
)
def test_stand_in_answers_every_valid_kernel_example_by_its_type(example: dict[str, Any]) -> None:
    lab = StandInLab(LAB_SESSION)
    lab.open("k1", "c1", {"v": 1, "type": "hello", "versions": [1], "package_version": "0"})
    message = example["message"]
    answers = [
        each.get("comm_msg") or each["input_reply"]["message"]
        for each in lab.receive("k1", "c1", message)
    ]
    kinds = [(a["type"], a.get("code") or a.get("reason")) for a in answers]
    assert (
        kinds
        == {
            "hello": [("error", "bad_request")],
            "request": [("session", "reply")],
            "sign_out": [("session", "sign_out")],
            "error": [],
        }[message["type"]]
    )
    if message["type"] == "request":
        assert answers[0]["id"] == message["id"]


def test_stand_in_plays_the_lab_for_a_real_kernel(start_kernel: StartKernel) -> None:
    # Given a real kernel attached by the stand-in while the lab is signed out
    _, kc = start_kernel()
    client = LabClient(kc)
    lab = client.play(StandInLab(None, sign_in_gives=LAB_SESSION))
    client.attach()
    assert client.from_kernel == []  # the hello was taken: nothing refused
    # When a synchronous cell needs a token and the user clicks Sign in to CARTO
    client.on_request = lambda client, request: client.deliver(lab.click_sign_in())
    cell = client.run(
        "from jupyterlab_carto_auth import CartoAuth\n"
        "a = CartoAuth.from_oauth()\n"
        "print(a.source, a.get_access_token() == 'the-lab-token-0123456789')\n"
    )
    # Then the stand-in's stdin answer is what the kernel takes
    assert cell.error is None, cell.error
    assert cell.stdout == "lab True\n"
    assert [r["reply_via"] for r in cell.requests] == ["stdin"]
    assert cell.input_requests == []
    # And the kernel's sign_out signs this kernel out, not the lab (that needs a click)
    cell = client.run("import jupyterlab_carto_auth.kernel as k\nprint(k.sign_out())\n")
    assert cell.stdout == "True\n", cell.error
    assert lab.session is not None
    cell = client.run(
        "try:\n    a.get_access_token()\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    )
    assert cell.stdout.startswith("CredentialsError You signed out of CARTO"), cell.stdout
