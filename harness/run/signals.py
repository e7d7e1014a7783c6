"""SIGINT and SIGTERM become ``Interrupted`` in the main thread, so every ``finally`` runs.

A run must heal its faults and stop its processes however it ends; Python's default SIGTERM
kills the interpreter without unwinding, which would leave a toxic on a link and a PostgreSQL
stopped. Inside ``interruptible()``, both signals raise ``Interrupted`` once; a second signal
while the run is already cleaning up is ignored, so the clean-up itself is not cut short.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from harness._exceptions import Interrupted

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def interruptible() -> Iterator[threading.Event]:
    """Translate SIGINT/SIGTERM into ``Interrupted``; yield an event set once either arrived."""
    if threading.current_thread() is not threading.main_thread():
        yield threading.Event()
        return
    received = threading.Event()

    def _handler(signum: int, _frame: FrameType | None) -> None:
        if received.is_set():
            return
        received.set()
        raise Interrupted(f"received {signal.Signals(signum).name}: faults healed, processes stopped, "
                          "partial results kept")

    previous = {sig: signal.signal(sig, _handler) for sig in _SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def shielded() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM for the duration of a clean-up that must not be cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
