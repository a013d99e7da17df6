"""Loopback sockets for the tests: free ports, busy ports, waiting until a port is free.

The one home of ``free_port``: ``tests/conftest.py`` re-exports it for the kernel-side
tests, ``tests/server/`` imports it from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sandbox"))
import ports  # the one port picker, shared with the sandbox and the bench

HAS_IPV6_LOOPBACK = ports.can_bind("::1", 0)


def free_port() -> int:
    """A port that is free on 127.0.0.1 (and ::1 where there is IPv6), outside the
    ephemeral range (see ``sandbox/ports.py``: a port from ``bind(0)`` can be handed to
    anyone before our server binds it)."""
    return ports.free_port(("127.0.0.1", "::1") if HAS_IPV6_LOOPBACK else ("127.0.0.1",))


def nobody_listens(port: int) -> bool:
    """True if no socket listens on the port: connections are refused and we can bind it.

    Binding uses SO_REUSEADDR like every server (and the relay) does, so
    connections left in TIME_WAIT do not count as "in use".
    """
    addresses = ["127.0.0.1", "::1"] if HAS_IPV6_LOOPBACK else ["127.0.0.1"]
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            if probe.connect_ex((address, port)) == 0:
                return False
        if not ports.can_bind(address, port):
            return False
    return True


async def wait_until_free(port: int, timeout: float = 5.0) -> bool:
    """Poll (bounded) until nobody listens on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if nobody_listens(port):
            return True
        await asyncio.sleep(0.05)
    return nobody_listens(port)


@contextlib.contextmanager
def listening_socket(port: int, address: str = "127.0.0.1") -> Iterator[socket.socket]:
    """Occupy a port the way another program would."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(1)
        yield sock
    finally:
        sock.close()
