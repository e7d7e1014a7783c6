"""What the integration tests' own process helpers share: polling for a condition, a child's health on
``/healthz``, and stopping a child (SIGTERM, then SIGKILL after 10 s) so that none outlives its test.

    from tests.integration.processes import healthy, stop, wait_for
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0, what: str = "condition") -> None:
    """Poll ``condition()`` until it is true; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> Callable[[], bool]:
    """A condition: ``url/healthz`` answers 200; fails at once, with the log's tail, if the child exited."""
    def check() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited with {process.returncode}: {log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False
    return check


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s; a child already gone is left as it is."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
