"""The run's side of the worker protocol: a small HTTP server next to the Locust master.

It hands each remote worker the run's configuration and its slots, takes each history file
it ships (only when the received bytes have the record count and SHA-256 the worker declared),
and, when the upload window closes, writes ``workers.json`` (``harness.distributed.journal``).
``CollectorState`` is the protocol without HTTP (tested as plain calls); ``Collector`` serves it
on a thread of the orchestrator:

    with collecting(CollectorConfig(...), run_dir, host="127.0.0.1", port=5558) as collector:
        collector.wait_for_joins(120.0)        # before Locust starts, as --expect-workers waits
        ...                                    # the load
        collector.wait_for_uploads(30.0)       # bounded: a dead worker never uploads
    # closed: late uploads are refused, workers.json written
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness._exceptions import InfrastructureError
from harness.distributed.journal import WorkerEntry, WorkerJournal
from harness.distributed.protocol import (
    DONE_PATH,
    HISTORY_PATH,
    JOIN_PATH,
    LOCAL_VARIABLES,
    PROTOCOL_VERSION,
    RECORDS_HEADER,
    RUN_PATH,
    SHA256_HEADER,
    Digest,
    process_base,
    slot_of_file,
    valid_worker_name,
)

if TYPE_CHECKING:
    from harness.rundir import RunDir

_MAX_BODY = 8 << 30  # a history file of a long soak; anything larger is refused before it is read
_POLL_S = 0.05

Answer = tuple[HTTPStatus, dict[str, Any]]


@dataclass(frozen=True)
class CollectorConfig:
    """What every remote worker is told: the locustfile's variables, and how many slots there are."""

    run_id: str
    env: Mapping[str, str]
    expected: int
    local: int = 0  # local workers take worker indexes 0..local-1; remote slots follow

    def shipped_env(self) -> dict[str, str]:
        return {k: v for k, v in sorted(self.env.items()) if k not in LOCAL_VARIABLES}


class CollectorState:
    """The protocol's state and decisions, without HTTP; every method is one request, thread-safe."""

    def __init__(self, config: CollectorConfig, *, history_dir: Path, rejected_dir: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._history = history_dir
        self._rejected = rejected_dir
        self._clock = clock
        self._lock = threading.Lock()
        self._workers: dict[str, WorkerEntry] = {}
        self._slots_taken = 0
        self.closed_wall: float | None = None

    # -- requests ------------------------------------------------------------------------------

    def run_info(self) -> Answer:
        return HTTPStatus.OK, {"protocol": PROTOCOL_VERSION, "run_id": self.config.run_id,
                               "expected": self.config.expected, "env": self.config.shipped_env()}

    def join(self, body: Any) -> Answer:
        processes = body.get("processes") if isinstance(body, dict) else None
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            return HTTPStatus.BAD_REQUEST, {"error": f"expected processes to be a whole number of 1 or more, "
                                                     f"got processes={processes!r}"}
        host = str(body.get("host") or "?")[:200]
        with self._lock:
            if self.closed_wall is not None:
                return HTTPStatus.GONE, {"error": "the run no longer takes workers: its load has ended"}
            free = self.config.expected - self._slots_taken
            if processes > free:
                return HTTPStatus.CONFLICT, {"error": f"the run expects {self.config.expected} remote Locust "
                                                      f"process(es) and {free} slot(s) are free; asked for {processes}"}
            slots = tuple(range(self._slots_taken, self._slots_taken + processes))
            self._slots_taken += processes
            name = f"w{len(self._workers) + 1}"
            self._workers[name] = WorkerEntry(worker=name, host=host, slots=slots, joined_wall=self._clock())
        return HTTPStatus.OK, {"worker": name, "slots": [
            {"slot": s, "worker_index": self.config.local + s, "process_base": process_base(s)} for s in slots]}

    def receive(self, worker: str, name: str, data: bytes, declared: Digest | None) -> Answer:
        """One history file; kept in ``history/`` only if it is what the worker said it sent."""
        with self._lock:
            entry, problem = self._owned(worker, name)
            if problem is not None:
                return problem
            assert entry is not None
            found = Digest.of(data)
            if declared is None:
                why = f"no {RECORDS_HEADER} and {SHA256_HEADER} headers: the upload cannot be verified"
            elif found != declared:
                why = (f"{declared.records} records (sha256 {declared.sha256[:12]}...) declared, {found.records} "
                       f"records (sha256 {found.sha256[:12]}...) received in {len(data)} bytes: a short or "
                       "damaged upload")
            elif name in entry.received and entry.received[name] != found:
                why = "uploaded before with other content"
            else:
                _write_atomically(self._history / name, data)
                rejected = {k: v for k, v in entry.rejected.items() if k != name}
                self._workers[worker] = replace(entry, received={**entry.received, name: found}, rejected=rejected)
                return HTTPStatus.CREATED, {"file": name, **found.to_json()}
            _write_atomically(self._rejected / worker / name, data)
            self._workers[worker] = replace(entry, rejected={**entry.rejected, name: why})
        return HTTPStatus.UNPROCESSABLE_ENTITY, {"file": name, "error": why}

    def done(self, worker: str, body: Any) -> Answer:
        """The worker's last word: every file it wrote, with its digest, and how its processes ended."""
        files = body.get("files") if isinstance(body, dict) else None
        codes = body.get("exit_codes", []) if isinstance(body, dict) else None
        try:
            declared = {str(n): Digest(int(d["records"]), str(d["sha256"])) for n, d in (files or {}).items()}
            exit_codes = tuple(None if c is None else int(c) for c in codes or ())
        except (TypeError, KeyError, ValueError, AttributeError):
            return HTTPStatus.BAD_REQUEST, {"error": "expected {\"files\": {name: {\"records\", \"sha256\"}}, "
                                                     "\"exit_codes\": [...]}"}
        if not isinstance(files, dict):
            return HTTPStatus.BAD_REQUEST, {"error": f"expected files to be an object, got {files!r}"}
        with self._lock:
            for name in declared:
                _, problem = self._owned(worker, name)
                if problem is not None:
                    return problem
            entry = self._workers[worker]
            self._workers[worker] = replace(entry, declared=declared, exit_codes=exit_codes)
            missing = sorted(n for n, d in declared.items() if entry.received.get(n) != d)
        return HTTPStatus.OK, {"worker": worker, "missing": missing}

    # -- the run's view ------------------------------------------------------------------------

    @property
    def slots_joined(self) -> int:
        with self._lock:
            return self._slots_taken

    def all_done(self) -> bool:
        with self._lock:
            return all(entry.declared is not None for entry in self._workers.values())

    def close(self) -> WorkerJournal:
        """No more joins or uploads; the journal of what arrived."""
        with self._lock:
            if self.closed_wall is None:
                self.closed_wall = self._clock()
            return WorkerJournal(local=self.config.local, expected=self.config.expected,
                                 workers=tuple(self._workers.values()), closed_wall=self.closed_wall)

    def _owned(self, worker: str, name: str) -> tuple[WorkerEntry | None, Answer | None]:
        if self.closed_wall is not None:
            return None, (HTTPStatus.GONE, {"error": "the upload window has closed: the run has been judged "
                                                     "without this file"})
        entry = self._workers.get(worker)
        if entry is None:
            return None, (HTTPStatus.NOT_FOUND, {"error": f"no worker {worker!r} joined this run"})
        slot = slot_of_file(name)
        if slot is None or slot not in entry.slots:
            return None, (HTTPStatus.BAD_REQUEST, {"error": f"expected a history file of slots {list(entry.slots)} "
                                                            f"(<pid + process base>.jsonl), got {name!r}"})
        return entry, None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class _Handler(BaseHTTPRequestHandler):
    """HTTP to ``CollectorState`` calls; nothing decided here."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log(f"{self.address_string()} {format % args}")

    def do_GET(self) -> None:
        if self.path == RUN_PATH:
            self._answer(*self.server.state.run_info())
        else:
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no such path {self.path!r}"})

    def do_POST(self) -> None:
        data = self._body()
        if data is None:
            return
        try:
            body = json.loads(data) if data else {}
        except ValueError:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": "expected a JSON body"})
            return
        state = self.server.state
        if self.path == JOIN_PATH:
            self._answer(*state.join(body))
        elif self.path.startswith(DONE_PATH + "/") and valid_worker_name(self.path[len(DONE_PATH) + 1:]):
            self._answer(*state.done(self.path[len(DONE_PATH) + 1:], body))
        else:
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no such path {self.path!r}"})

    def do_PUT(self) -> None:
        parts = self.path.split("/")
        if len(parts) != 5 or "/".join(parts[:3]) != HISTORY_PATH or not valid_worker_name(parts[3]):
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"expected {HISTORY_PATH}/<worker>/<file>, got {self.path!r}"})
            return
        data = self._body(allow_short=True)
        if data is None:
            return
        try:
            declared = Digest(int(self.headers[RECORDS_HEADER]), str(self.headers[SHA256_HEADER]))
        except (TypeError, ValueError):
            declared = None
        self._answer(*self.server.state.receive(parts[3], parts[4], data, declared))

    def _body(self, *, allow_short: bool = False) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": f"expected a Content-Length of 0 to {_MAX_BODY}"})
            return None
        chunks, left = [], length
        while left:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break  # the sender went away: what arrived is judged as a short upload
            chunks.append(chunk)
            left -= len(chunk)
        if left:
            self.close_connection = True  # the rest of the stream is not this request's
            if not allow_short:
                return None
        return b"".join(chunks)

    def _answer(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # a sender that went away gets no answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: CollectorState, log: Callable[[str], None]) -> None:
        self.state = state
        self.log = log
        super().__init__(address, _Handler)


class Collector:
    """``CollectorState`` served over HTTP on a thread of the orchestrator."""

    def __init__(self, state: CollectorState, server: _Server) -> None:
        self.state = state
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="orderquake-collector", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, state: CollectorState, *, host: str, port: int,
              log: Callable[[str], None] = lambda line: None) -> Collector:
        try:
            server = _Server((host, port), state, log)
        except OSError as exc:
            raise InfrastructureError(f"could not serve the worker collector on {host}:{port} ({exc}): "
                                      "choose another --master-bind port (the collector takes the one after it)") \
                from exc
        return cls(state, server)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def wait_for_joins(self, timeout_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Until every expected remote slot has joined; ``InfrastructureError`` after ``timeout_s``."""
        deadline = clock() + timeout_s
        while self.state.slots_joined < self.state.config.expected:
            if clock() > deadline:
                raise InfrastructureError(
                    f"{self.state.slots_joined} of {self.state.config.expected} remote Locust worker(s) joined "
                    f"within {timeout_s:g} s: start them with 'orderquake worker --master HOST:PORT' "
                    "(docs/distributed.md)")
            time.sleep(_POLL_S)

    def wait_for_uploads(self, timeout_s: float, *, clock: Callable[[], float] = time.monotonic) -> bool:
        """Until every joined worker said it was done, at most ``timeout_s``; whether they all did."""
        deadline = clock() + timeout_s
        while not self.state.all_done():
            if clock() > deadline:
                return False
            time.sleep(_POLL_S)
        return True

    def close(self) -> WorkerJournal:
        journal = self.state.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        return journal


@contextmanager
def collecting(config: CollectorConfig, run_dir: RunDir, *, host: str, port: int,
               log: Callable[[str], None] = lambda line: None,
               guard: Callable[[], AbstractContextManager[Any]] = nullcontext) -> Iterator[Collector]:
    """Serve the collector for the body of the ``with``; on leaving it (whatever happened), stop
    taking uploads and write ``workers.json``, inside ``guard`` (the runner's ``shielded``)."""
    state = CollectorState(config, history_dir=run_dir.history, rejected_dir=run_dir.rejected_uploads)
    collector = Collector.start(state, host=host, port=port, log=log)
    try:
        yield collector
    finally:
        with guard():
            write_journal(run_dir, collector.close())


def write_journal(run_dir: RunDir, journal: WorkerJournal) -> None:
    run_dir.write_json(run_dir.workers, journal.to_json())
