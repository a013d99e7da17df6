"""The one port picker of the tests, the sandbox and the bench (``sandbox/ports.py``)."""

from __future__ import annotations

import socket

import loopback
import ports
import pytest


def test_ports_are_drawn_outside_the_ephemeral_range():
    # A port from bind(0) comes from this range, and so does every port the kernel hands
    # to a connection or a ZMQ socket: CI saw a bench lab lose its pre-picked port
    # ("port 39465 is not available") to one of them.
    low, high = ports.ephemeral_range()
    picked = {loopback.free_port() for _ in range(50)}
    assert all(not low <= port <= high for port in picked), sorted(picked)
    assert all(1024 < port < 65536 for port in picked)
    assert len(picked) > 40  # drawn at random, not one number handed out again


def test_a_port_someone_listens_on_is_never_picked(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        monkeypatch.setattr(ports, "candidate_range", lambda: range(taken, taken + 1))
        with pytest.raises(RuntimeError, match=f"no free port found in {taken}-{taken}"):
            ports.free_port()
    assert ports.free_port() == taken  # and once nobody listens, it is free again


def test_the_range_stays_clear_of_an_ephemeral_range_that_starts_low(monkeypatch):
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (1024, 60999))
    assert ports.candidate_range() == range(61000, 65536)
