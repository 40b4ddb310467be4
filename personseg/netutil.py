"""Local TCP ports: the one place that picks a free port on 127.0.0.1 (servers, tests, benchmarks)."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now.

    The OS picks it; another process may take it before the caller binds, so a caller that starts a
    server still checks that the server came up.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
