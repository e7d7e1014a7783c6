"""Free loopback ports, and waiting for a TCP port to accept connections."""

from __future__ import annotations

import socket
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago: bind to 0 and let the kernel choose."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_pair(host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A port that, with the one after it, was free a moment ago (a Locust master and the worker
    collector that takes the next port, ``harness.distributed``)."""
    for _ in range(attempts):
        port = free_port(host)
        if port >= 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as first, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as second:
            try:
                first.bind((host, port))
                second.bind((host, port + 1))
            except OSError:
                continue
        return port
    raise OSError(f"no two consecutive free ports found on {host} in {attempts} attempts")


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port(host: str, port: int, deadline_s: float) -> bool:
    """Poll until ``host:port`` accepts a connection or ``deadline_s`` passes."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if port_open(host, port):
            return True
        time.sleep(0.02)
    return False
