"""Free loopback ports for servers we start ourselves, chosen outside the kernel's
ephemeral range.

Binding port 0 hands out an ephemeral port, and the kernel hands the same range to
every ``connect()`` and every other ``bind(0)``: a port picked that way and passed to
a server started later can be taken in between by anything (a kernel's ZMQ sockets,
the sandbox's own listeners, a browser's connections). CI saw exactly that: a bench
lab failed with "port 39465 is not available". Ports below the ephemeral range are
handed out only to whoever asks for them by number, so a port picked here and found
free stays free unless another of our pickers draws the same number (1 in about
20,000 per pair of picks).

    python sandbox/ports.py        # prints one free port (used by the Playwright configs)
"""

from __future__ import annotations

import random
import socket

#: Linux's default, used where /proc does not say (macOS's is 49152-65535, above it).
_DEFAULT_EPHEMERAL = (32768, 60999)
#: Below this, ports are often taken by well-known services; we stay above it.
_LOWEST = 10000


def ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        return _DEFAULT_EPHEMERAL
    return low, high


def candidate_range() -> range:
    """The ports we draw from: below the ephemeral range, or above it if it starts low."""
    low, high = ephemeral_range()
    if low - _LOWEST >= 2000:
        return range(_LOWEST, low)
    if 65535 - high >= 2000:
        return range(high + 1, 65536)
    return range(_LOWEST, 65536)  # no room outside: any free port will have to do


def can_bind(address: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        return False
    with sock:
        # As servers bind (SO_REUSEADDR), so a port with connections in TIME_WAIT counts
        # as free, which it is for them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
            sock.listen(1)
        except OSError:
            return False
    return True


def free_port(addresses: tuple[str, ...] = ("127.0.0.1",)) -> int:
    """A port nothing listens on at any of ``addresses``, outside the ephemeral range."""
    ports = candidate_range()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.choice(ports)
        if all(can_bind(address, port) for address in addresses):
            return port
    raise RuntimeError(
        f"no free port found in {ports.start}-{ports.stop - 1} after 200 tries: "
        "is something listening on most of them?"
    )


if __name__ == "__main__":
    print(free_port())
