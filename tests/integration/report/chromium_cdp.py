"""Debian's headless Chromium driven over the DevTools protocol: open a page, read what it logged and
fetched, run a script in it, take a full-page screenshot.

No browser is downloaded: the installed ``chromium`` is started with ``--remote-debugging-port=0``
(it writes the port it chose to ``DevToolsActivePort`` in its profile folder) and spoken to over
one WebSocket with ``websockets``' synchronous client.

    with Chromium.start(tmp_path / "profile") as browser:
        with browser.open(report.as_uri()) as page:
            page.evaluate("document.title"), page.console_errors, page.requests
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
          "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-default-apps", "--hide-scrollbars", "--mute-audio", "--window-size=1280,900",
          "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"]


def chromium_or_skip() -> str:
    """The path of ``chromium``; without it the test skips, except in CI (``CI=true``), where it fails."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "chromium not found: run 'make setup' (Debian: apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must have it")
        pytest.skip(reason)
    return path


def _poll(condition: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class Page:
    """One tab, with every event it sent recorded as it arrives."""

    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        self.ws.send(json.dumps({"id": number, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result") or {})
            self.events.append(message)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def drain(self) -> None:
        """Collect the events already sent (a no-op round trip)."""
        self.send("Runtime.evaluate", expression="0")

    @property
    def console_errors(self) -> list[str]:
        self.drain()
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params") or {}
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append(str(details.get("exception", {}).get("description") or details.get("text")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                errors.append(str(params["entry"].get("text")))
        return errors

    @property
    def requests(self) -> list[str]:
        self.drain()
        return [str(event["params"]["request"]["url"]) for event in self.events
                if event.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path, width: int = 1280) -> Path:
        """The whole page, not only the window, as PNG."""
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True, timeout=60.0)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@dataclass
class Chromium:
    process: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(cls, profile: Path) -> Chromium:
        executable = chromium_or_skip()
        profile.mkdir(parents=True, exist_ok=True)
        active = profile / "DevToolsActivePort"
        active.unlink(missing_ok=True)  # a profile used before keeps the port of its last browser
        log = (profile / "chromium.log").open("wb")
        process = subprocess.Popen([executable, *_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            def port() -> int | None:
                if process.poll() is not None:
                    raise RuntimeError(f"chromium exited {process.returncode}: see {profile / 'chromium.log'}")
                text = active.read_text() if active.exists() else ""
                return int(text.split()[0]) if text.strip() else None

            return cls(process, _poll(port, "chromium's DevTools port"))
        except BaseException:
            process.kill()
            process.wait()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @contextmanager
    def open(self, url: str, *, ready: str = "document.body.dataset.chartsDrawn !== undefined") -> Iterator[Page]:
        """A fresh tab on ``url``, loaded, once ``ready`` (a JS expression) holds; closed on leaving."""
        target = httpx.put(f"http://127.0.0.1:{self.port}/json/new?about:blank", timeout=10).json()
        with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
            page = Page(ws)
            for domain in ("Runtime", "Log", "Network", "Page"):
                page.send(f"{domain}.enable")
            page.send("Page.navigate", url=url)
            page.wait_event("Page.loadEventFired")
            _poll(lambda: page.evaluate(ready), f"the page to be ready ({ready})")
            yield page
        httpx.get(f"http://127.0.0.1:{self.port}/json/close/{target['id']}", timeout=10)
