"""``--processes N``: one parent, N provider processes serving one port, none outliving the parent.

The parent binds N listening sockets to the one port with ``SO_REUSEPORT`` (the kernel spreads new
connections over them, so every process gets its share of a client's keep-alive connections),
makes a socket pair for every two processes (``mock_provider.peers``), and starts each process
with its socket and its pairs inherited, in the parent's process group: a signal to the group
(what the stage sends the ``provider`` component) reaches every one. Then it only supervises:

- SIGTERM, SIGINT or SIGHUP to the parent: every process is sent SIGTERM (SIGKILL after a grace);
- a process that exits: the others are stopped and the parent exits with its code, so the
  provider is up whole or not at all, and the stage sees a crash as a crash;
- the parent killed (even SIGKILL alone): each process has asked the kernel to SIGKILL it when
  its parent dies (``PR_SET_PDEATHSIG``), so no process is ever orphaned.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

log = logging.getLogger("mock_provider")

_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
_GRACE_S = 5.0


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets listening on ``host:port`` together (``SO_REUSEPORT``); OSError if the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(4096)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def die_with_parent(parent: int) -> None:
    """In a provider process: be SIGKILLed by the kernel when the parent dies; exit now if it already has."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _child_argv(argv: Sequence[str], index: int, count: int, listen_fd: int, peers: dict[int, int]) -> list[str]:
    peer_args = [f"{k}={fd}" for k, fd in sorted(peers.items())]
    return [sys.executable, "-m", "mock_provider", *argv, "--shard", f"{index}/{count}", "--listen-fd",
            str(listen_fd), "--parent", str(os.getpid()), *(["--peer-fds", ",".join(peer_args)] if peers else [])]


def supervise(argv: Sequence[str], host: str, port: int, count: int) -> int:
    """Run ``count`` provider processes (``python -m mock_provider *argv`` as shards) until told to stop."""
    try:
        listeners = listening_sockets(host, port, count)
    except OSError as exc:
        log.error("could not bind %s:%d for %d provider processes: %s", host, port, count, exc)
        return 1
    pairs = {(i, j): socket.socketpair() for i in range(count) for j in range(i + 1, count)}
    children: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(count):
            peers: dict[int, int] = {}
            for (i, j), (a, b) in pairs.items():
                if index == i:
                    peers[j] = a.fileno()
                elif index == j:
                    peers[i] = b.fileno()
            fds = [listeners[index].fileno(), *peers.values()]
            children.append(subprocess.Popen(_child_argv(argv, index, count, listeners[index].fileno(), peers),
                                             pass_fds=fds, stdin=subprocess.DEVNULL))
    except OSError as exc:
        log.error("could not start the provider processes: %s", exc)
        _stop(children)
        return 1
    finally:
        # The children hold their own copies now.
        for sock in [*listeners, *(s for pair in pairs.values() for s in pair)]:
            sock.close()
    return _watch(children)


def _watch(children: list[subprocess.Popen[bytes]]) -> int:
    """Wait for a stop signal or a child's exit; then stop every child. The parent's exit code."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {*_STOP_SIGNALS, signal.SIGCHLD})
    code = 0
    try:
        while True:
            exited = [(index, child) for index, child in enumerate(children) if child.poll() is not None]
            if exited:
                index, child = exited[0]
                code = child.returncode if child.returncode > 0 else 1
                log.error("provider process %d exited with code %s: stopping the others", index, child.returncode)
                break
            received = signal.sigtimedwait({*_STOP_SIGNALS, signal.SIGCHLD}, 1.0)
            if received is not None and received.si_signo != signal.SIGCHLD:
                break
    finally:
        _stop(children)
    return code


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
    deadline = time.monotonic() + _GRACE_S
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
