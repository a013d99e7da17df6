"""Several labs on one kernel (docs/protocol.md): the kernel's CARTO identity does not flip.

Two jupyter_client clients on one real kernel play two browsers (real-time
collaboration, a shared server), each answering as the lab does (StandInLab).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from labclient import LabClient, StandInLab, session_message

from jupyterlab_carto_auth.kernel import ANOTHER_PERSON_TEXT, LabSession

StartKernel = Callable[..., tuple[Any, Any]]


def person(email: str, token: str, expires_in: float = 3600) -> dict[str, Any]:
    """A lab session (StandInLab's shape) of ``email``."""
    return {
        "access_token": token,
        "expires_at": time.time() + expires_in,
        "api_base_url": None,
        "user": {"email": email, "name": email, "org": None},
    }


ANA = person("ana@example.com", "ana-token-0123456789")
BOB = person("bob@example.com", "bob-token-0123456789")
HELD = (
    "import json, jupyterlab_carto_auth.kernel as k\n"
    "c = k.SESSION.current\n"
    "print(json.dumps([c.email, c.access_token[:3]] if c and c.signed_in else None))\n"
)


def another_client(km: Any) -> Any:
    """A second client of ``km``'s kernel with its own session id, as a second browser's."""
    from jupyter_client.session import Session

    own = Session(key=km.session.key, signature_scheme=km.session.signature_scheme)
    client = km.client(session=own)
    client.start_channels()
    assert client.session.session != km.session.session
    return client


def test_unit_another_persons_session_is_refused_while_the_held_one_lasts() -> None:
    store = LabSession()
    now = time.time()
    ana = session_message("a" * 20, now + 100, reason="attach", email="ana@x")
    bob = session_message("b" * 20, now + 100, reason="attach", email="bob@x")
    assert store.offer(ana, "client-ana") is not None
    # Another lab client, another person: refused, nothing changes
    assert store.offer(bob, "client-bob") is None
    assert store.offer(bob, None) is None
    assert store.current is not None
    assert store.current.email == "ana@x"
    # The same person from a new client (a reloaded lab): taken, and it now holds it
    refreshed = session_message("c" * 20, now + 200, reason="attach", email="ana@x")
    assert store.offer(refreshed, "client-ana-reloaded") is not None
    assert store.offer(bob, "client-ana") is None  # the old page's client no longer holds it
    # The client that holds it may switch accounts (one browser, one person)
    assert store.offer(bob, "client-ana-reloaded") is not None
    assert store.current.email == "bob@x"
    # Once the held session has expired, or after a sign-out, another person's is taken
    store.clear()
    store.offer(session_message("a" * 20, now - 1, reason="attach", email="ana@x"), "a")
    assert store.offer(bob, "b") is not None
    store.offer(session_message(None, reason="sign_out"), "b")
    assert store.offer(ana, "a") is not None


def test_unit_another_labs_signed_out_does_not_end_the_held_session() -> None:
    # Given Ana's session, given by her lab's client
    store = LabSession()
    now = time.time()
    ana = session_message("a" * 20, now + 100, reason="attach", email="ana@x")
    assert store.offer(ana, "client-ana") is not None
    # When Bob's lab attaches without his grant, or Bob signs out in his lab
    for reason in ("not_granted", "sign_out"):
        assert store.offer(session_message(None, reason=reason), "client-bob") is None
    # Then the kernel still holds Ana's session
    assert store.current is not None
    assert store.current.email == "ana@x"
    assert store.valid_token() == "a" * 20
    # And Ana's own lab's sign-out ends it
    assert store.offer(session_message(None, reason="sign_out"), "client-ana") is not None
    assert store.current is not None
    assert not store.current.signed_in


def test_a_second_lab_attaching_does_not_take_the_kernels_identity(
    start_kernel: StartKernel,
) -> None:
    # Given Ana's lab attached to a kernel
    km, kc = start_kernel()
    ana = LabClient(kc)
    ana_lab = ana.play(StandInLab(ANA), "k")
    ana.attach()
    assert ana.run(HELD).stdout == '["ana@example.com", "ana"]\n'
    # When Bob's browser opens the same notebook: his lab attaches and pushes his session
    kc_bob = another_client(km)
    try:
        kc_bob.wait_for_ready(timeout=30)
        bob = LabClient(kc_bob)
        bob_lab = bob.play(StandInLab(BOB), "k")
        bob.attach()
        bob.pump(2, until=lambda: any(m.get("type") == "error" for m in bob.from_kernel))
        # Then the kernel keeps Ana's identity and tells Bob's lab why it refused his
        assert bob.run(HELD).stdout == '["ana@example.com", "ana"]\n'
        assert {"v": 1, "type": "error", "code": "denied", "message": ANOTHER_PERSON_TEXT} in (
            bob.from_kernel
        )
        # Ana's lab saw that comm open (IOPub goes to every client) and left its hello to
        # Bob's; her refresh goes to it and is taken, Bob's is refused again
        ana.pump(1)
        assert ana.comm_id == bob.comm_id
        ana.deliver(ana_lab.refresh("anb-token-0123456789", time.time() + 7200))
        bob.deliver(bob_lab.refresh("bob-token-refreshed-0", time.time() + 7200))
        bob.pump(1)
        assert bob.run(HELD).stdout == '["ana@example.com", "anb"]\n'
        # When Bob's cell calls from_oauth(): the kernel's session, Ana's, with no request
        cell = bob.run(
            "from jupyterlab_carto_auth import CartoAuth\n"
            "print(CartoAuth.from_oauth().get_access_token()[:3])\n"
        )
        assert cell.stdout == "anb\n", cell.error
        assert cell.requests == []
        # When Bob's cell asks the lab: his lab answers with his session, which is refused
        cell = bob.run(
            "import jupyterlab_carto_auth.kernel as k\n"
            "try:\n"
            "    k.request_session(min_ttl=0, interactive=False, timeout=10)\n"
            "except k.LabError as e:\n"
            "    print(e.code, e)\n"
        )
        assert cell.stdout.startswith("denied This kernel already uses the CARTO account"), (
            cell.text()
        )
        assert [r["reply_via"] for r in cell.requests] == ["stdin"]
        # When Ana's cell asks: her lab answers her own cell on Bob's comm, and it is taken
        cell = ana.run(
            "import jupyterlab_carto_auth.kernel as k\n"
            "print(k.request_session(min_ttl=0, interactive=False, timeout=10)['reason'])\n"
        )
        assert cell.stdout == "reply\n", cell.text()
        assert ana.run(HELD).stdout == '["ana@example.com", "anb"]\n'
    finally:
        kc_bob.stop_channels()
