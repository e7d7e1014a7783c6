"""The remote side of the worker protocol: what ``orderquake worker`` does on a load machine.

1. ask the run's collector for the configuration (``GET /v1/run``, polled until the run is up);
2. join (``POST /v1/join``) and get one slot per Locust process: its worker index and process base;
3. start those Locust workers against the master, each writing its history into a local folder;
4. when they have all ended (the master quit them, or they died), ship every history file with
   its record count and SHA-256 (``PUT /v1/history/<worker>/<file>``), then declare the files and
   how each process ended (``POST /v1/done/<worker>``).

A Locust process that dies still has its history shipped as far as it was written: the run
judges it, its open invokes as ``info``. A worker killed as a whole (its process group) ships
nothing, and the run's verdict is ``unknown`` naming the history that never arrived.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from harness._exceptions import InfrastructureError, UsageError
from harness.distributed.protocol import (
    DONE_PATH,
    HISTORY_PATH,
    JOIN_PATH,
    PROTOCOL_VERSION,
    RECORDS_HEADER,
    RUN_PATH,
    SHA256_HEADER,
    Digest,
)
from harness.load.command import Command, remote_worker_commands
from harness.load.history import history_files

_TIMEOUT = httpx.Timeout(120.0, connect=5.0)
_POLL_S = 0.5
_RETRIES = 3


@dataclass(frozen=True)
class WorkerOptions:
    """What ``orderquake worker`` was asked for."""

    master_host: str
    master_port: int
    collector: str
    processes: int = 1
    join_wait_s: float = 120.0
    history_dir: Path | None = None  # default: a temporary folder, removed once everything was accepted
    log_path: Path | None = None


@dataclass(frozen=True)
class Joined:
    worker: str
    env: Mapping[str, str]
    slots: tuple[tuple[int, int], ...]  # (worker index, process base) per Locust process


class CollectorClient:
    """The HTTP calls of the protocol; errors become ``InfrastructureError`` saying what to do."""

    def __init__(self, base_url: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=_TIMEOUT, transport=transport)

    def close(self) -> None:
        self._http.close()

    def run_info(self, wait_s: float, *, clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
        """The run's configuration, polling until the collector answers or ``wait_s`` passes."""
        deadline = clock() + wait_s
        while True:
            try:
                response = self._http.get(RUN_PATH)
                break
            except httpx.TransportError as exc:
                if clock() > deadline:
                    raise InfrastructureError(f"no run's collector answered at {self.base_url} within {wait_s:g} s "
                                              f"({exc}): start 'orderquake run ... --remote-workers N' first, or "
                                              "give its address with --collector") from exc
                time.sleep(_POLL_S)
        info = self._json(response, "the run's configuration")
        if info.get("protocol") != PROTOCOL_VERSION:
            raise InfrastructureError(f"the collector at {self.base_url} speaks protocol {info.get('protocol')!r}, "
                                      f"this worker {PROTOCOL_VERSION}: run the same orderquake version on both")
        return info

    def join(self, processes: int, info: Mapping[str, Any]) -> Joined:
        """Take ``processes`` slots of the run whose configuration is ``info``."""
        answer = self._json(self._call("POST", JOIN_PATH, json={"processes": processes, "host": socket.gethostname()}),
                            "joining the run")
        slots = tuple((int(s["worker_index"]), int(s["process_base"])) for s in answer["slots"])
        return Joined(worker=str(answer["worker"]), env={str(k): str(v) for k, v in info["env"].items()}, slots=slots)

    def upload(self, worker: str, path: Path) -> tuple[bool, str]:
        """Ship one history file; whether the collector kept it, and its answer."""
        data = path.read_bytes()
        digest = Digest.of(data)
        response = self._call("PUT", f"{HISTORY_PATH}/{worker}/{path.name}", content=data, headers={
            RECORDS_HEADER: str(digest.records), SHA256_HEADER: digest.sha256})
        if response.status_code == 201:
            return True, f"{path.name}: {digest.records} records accepted"
        return False, f"{path.name}: refused ({response.status_code}): {_error(response)}"

    def done(self, worker: str, files: Mapping[str, Digest], exit_codes: Sequence[int | None]) -> list[str]:
        """Declare every file; the names the collector does not hold as declared."""
        answer = self._json(self._call("POST", f"{DONE_PATH}/{worker}", json={
            "files": {name: d.to_json() for name, d in files.items()}, "exit_codes": list(exit_codes)}),
            "declaring the history")
        return [str(name) for name in answer.get("missing", [])]

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(1, _RETRIES + 1):
            try:
                return self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == _RETRIES:
                    raise InfrastructureError(f"{method} {self.base_url}{path} failed {attempt} times ({exc}): "
                                              "the run's collector is gone (the run ended or gave up)") from exc
                time.sleep(_POLL_S * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise InfrastructureError(f"{what} at {self.base_url} failed ({response.status_code}): {_error(response)}")
        data = response.json()
        if not isinstance(data, dict):
            raise InfrastructureError(f"{what} at {self.base_url}: expected a JSON object, got {data!r}")
        return data


def _error(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(response.json().get("error"))
    return response.text[:200]


@contextlib.contextmanager
def _forwarding(processes: list[subprocess.Popen[bytes]]) -> Iterator[list[bool]]:
    """SIGTERM and SIGINT to this worker stop its Locust processes (which then flush their history),
    and the worker goes on to ship what they wrote."""
    stopped = [False]

    def forward(signum: int, frame: FrameType | None) -> None:
        stopped[0] = True
        for proc in processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopped
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start(commands: Sequence[Command], log_path: Path | None) -> list[subprocess.Popen[bytes]]:
    # In this process's group on purpose: killing the worker's group kills its Locust processes too.
    log = log_path.open("ab") if log_path is not None else None
    try:
        return [subprocess.Popen(argv, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                 stdout=log if log is not None else None, stderr=subprocess.STDOUT)
                for argv, env in commands]
    except OSError as exc:
        raise InfrastructureError(f"could not start Locust ({exc}): install orderquake with its load extra") from exc
    finally:
        if log is not None:
            log.close()


def run_worker(options: WorkerOptions, *, say: Callable[[str], None] = print,
               client: CollectorClient | None = None) -> int:
    """Join the run, load, ship the history; the exit code (0 when everything was accepted)."""
    if options.processes < 1:
        raise UsageError(f"expected --processes to be 1 or more, got --processes={options.processes}")
    client = client or CollectorClient(options.collector)
    own_dir = options.history_dir is None
    history_dir = options.history_dir or Path(tempfile.mkdtemp(prefix="orderquake-worker-"))
    history_dir.mkdir(parents=True, exist_ok=True)
    try:
        info = client.run_info(options.join_wait_s)
        joined = client.join(options.processes, info)
        say(f"worker {joined.worker}: run {info['run_id']}, {len(joined.slots)} Locust process(es) against "
            f"{options.master_host}:{options.master_port}; history in {history_dir}")
        commands = remote_worker_commands(joined.env, master_host=options.master_host,
                                          master_port=options.master_port, history_dir=history_dir,
                                          slots=joined.slots)
        processes = _start(commands, options.log_path)
        with _forwarding(processes):
            codes: list[int | None] = [proc.wait() for proc in processes]
        declared = {path.name: Digest.of(path.read_bytes()) for path in history_files(history_dir)}
        refused = []
        for path in history_files(history_dir):
            accepted, message = client.upload(joined.worker, path)
            say(f"worker {joined.worker}: {message}")
            if not accepted:
                refused.append(path.name)
        missing = client.done(joined.worker, declared, codes)
        died = [code for code in codes if code not in (0, 1)]
        say(f"worker {joined.worker}: {len(declared) - len(missing)} of {len(declared)} history file(s) accepted; "
            f"Locust exit codes {codes}")
        if missing or refused or died:
            return 4
        if own_dir:
            shutil.rmtree(history_dir, ignore_errors=True)
        return 0
    finally:
        client.close()
