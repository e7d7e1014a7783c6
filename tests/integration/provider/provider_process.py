"""Start the mock provider as a real process, and a real callback receiver, for socket-level tests.

Both are context managers that stop what they started even when the test fails: the provider is
terminated (then killed), the receiver's server thread is shut down.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import httpx

from harness.stage.process import alive as process_alive
from harness.stage.process import children_of
from tests.integration.processes import healthy, stop, wait_for

API_KEY = "it-key"
WEBHOOK_SECRET = "it-secret"
REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ProviderProcess:
    """A running provider; ``client()`` is authorised."""

    db: Path
    port: int
    seed: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    processes: int = 1  # --processes: with more than one, ``process`` is their supervising parent

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10.0,
                            **kwargs)  # type: ignore[arg-type]

    def start(self) -> None:
        command = [sys.executable, "-m", "mock_provider", "--port", str(self.port), "--db", str(self.db),
                   "--webhook-secret", WEBHOOK_SECRET, "--api-key", API_KEY, "--seed", str(self.seed)]
        if self.processes != 1:
            command += ["--processes", str(self.processes)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                            env=os.environ | {"PYTHONPATH": str(REPO)})
        deadline = time.monotonic() + 60  # a start-up on a machine busy with other suites can take long
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"provider exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"provider not healthy on {self.port} after 60 s")
            time.sleep(0.05)

    def sigkill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        stop(self.process)
        self.process = None


    def children(self) -> list[int]:
        """The pids of the parent's child processes (the provider processes of ``--processes N``)."""
        assert self.process is not None
        return children_of(self.process.pid)


def alive(pid: int) -> bool:
    return process_alive(pid, None)


@contextmanager
def provider_process(workdir: Path, *, seed: int = 1, db: Path | None = None,
                     processes: int = 1) -> Iterator[ProviderProcess]:
    """A provider on a free port, stopped on the way out whatever happened."""
    provider = ProviderProcess(db or workdir / "ledger.db", free_port(), seed, workdir / "provider.log",
                               processes=processes)
    try:
        provider.start()
        yield provider
    finally:
        provider.stop()


@dataclass
class Received:
    body: bytes
    signature: str
    verified: bool
    complete: bool  # False when the sender died mid-request (SIGKILL): a truncated body cannot verify


@dataclass
class CallbackReceiver:
    """Answers callbacks with ``statuses`` in turn (then ``default``), verifying each signature."""

    statuses: list[int] = field(default_factory=list)
    default: int = 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callbacks"

    def answer(self, body: bytes, signature: str, complete: bool) -> int:
        parts = dict(item.split("=", 1) for item in signature.split(",")) if signature else {}
        expected = hmac.new(WEBHOOK_SECRET.encode(), parts.get("t", "").encode() + b"." + body,
                            hashlib.sha256).hexdigest()
        verified = hmac.compare_digest(expected, parts.get("v1", ""))
        with self.lock:
            self.received.append(Received(body, signature, verified, complete))
            return self.statuses.pop(0) if self.statuses else self.default


@contextmanager
def callback_receiver(statuses: list[int] | None = None, default: int = 200) -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver(statuses=list(statuses or []), default=default)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = receiver.answer(body, self.headers.get("Provider-Signature", ""), len(body) == length)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    class Server(ThreadingHTTPServer):
        # The provider delivers up to 64 callbacks at once; the default backlog of 5 would reset some.
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class StripeHooks:
    """Webhooks a Stripe-dialect provider delivered: (raw body, Stripe-Signature, path) in arrival order."""

    port: int = 0
    received: list[tuple[bytes, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


H = TypeVar("H", bound=StripeHooks)


@contextmanager
def stripe_hooks(kind: type[H] = StripeHooks) -> Iterator[H]:  # type: ignore[assignment]
    """A receiver that answers every webhook 200 and keeps it as it came, for the SDK to verify."""
    found = kind()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with found.lock:
                found.received.append((body, self.headers.get("Stripe-Signature", ""), self.path))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def stripe_provider(workdir: Path, *, api_key: str, webhook_secret: str, hooks: StripeHooks, hook_path: str,
                    seed: int) -> Iterator[str]:
    """A Stripe-dialect provider process delivering to ``hooks``; yields its URL, stopped on the way out."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mock_provider", "--port", str(port), "--db", str(workdir / "ledger.db"),
               "--webhook-secret", webhook_secret, "--api-key", api_key, "--seed", str(seed), "--dialect", "stripe",
               "--callback-base-url", f"http://127.0.0.1:{hooks.port}", "--stripe-webhook-path", hook_path]
    log = workdir / "provider.log"
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                   env=os.environ | {"PYTHONPATH": str(REPO)})
    try:
        wait_for(healthy(url, process, log), 60, "the stripe-dialect provider answers /healthz")  # slow when busy
        yield url
    finally:
        stop(process)
