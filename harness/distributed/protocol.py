"""The worker protocol's vocabulary: addresses, process numbering, file digests, the wire names. Pure.

A remote worker (``orderquake worker``) and the run's collector (``harness.distributed.collector``)
speak HTTP/1.1 with JSON bodies; docs/distributed.md is the reference. Everything both sides
must agree on is here, so that neither spells it again:

    GET  /v1/run                    the run's configuration (the locustfile's ORDERQUAKE_* variables)
    POST /v1/join                   {"processes": K, "host": name} -> {"worker": "w1", "slots": [...]}
    PUT  /v1/history/<worker>/<f>   one history file; headers say its record count and SHA-256
    POST /v1/done/<worker>          every file the worker wrote, and how its Locust processes ended

A Locust process on a remote machine gets a *slot*: its worker index (which seeds its users'
random choices) and a process base added to its pid (``ORDERQUAKE_PROCESS_BASE``), so that the
ids, the process numbers and the history file names of processes on different machines never
collide even when their pids do (every pod of a Kubernetes Job may run Locust as the same pid).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from harness._exceptions import UsageError

PROTOCOL_VERSION = 1

RUN_PATH = "/v1/run"
JOIN_PATH = "/v1/join"
HISTORY_PATH = "/v1/history"
DONE_PATH = "/v1/done"

RECORDS_HEADER = "X-Orderquake-Records"
SHA256_HEADER = "X-Orderquake-Sha256"

DEFAULT_MASTER_PORT = 5557  # Locust's own default
COLLECTOR_PORT_OFFSET = 1  # the collector listens next to the master: 5558 beside 5557

# Linux pids are below 2**22 (pid_max's ceiling), so pid + slot base never reaches the next slot.
_PID_BITS = 22
_FILE_NAME = re.compile(r"[1-9][0-9]{0,17}\.jsonl")
_WORKER_NAME = re.compile(r"w[1-9][0-9]{0,5}")

# The variables a remote worker sets itself, never taken from the run: where it writes its history,
# and who it is.
LOCAL_VARIABLES = frozenset({"ORDERQUAKE_HISTORY_DIR", "ORDERQUAKE_WORKER_INDEX", "ORDERQUAKE_PROCESS_BASE"})


@dataclass(frozen=True)
class Digest:
    """What a file holds, as both sides measure it: records (lines, a last one without its newline
    counted, as ``harness.checker.integrity.measure`` counts them) and the SHA-256 of its bytes."""

    records: int
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> Digest:
        """
        >>> Digest.of(b'{"a": 1}\\n{"b"').records
        2
        """
        records = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        return cls(records, hashlib.sha256(data).hexdigest())

    def to_json(self) -> dict[str, object]:
        return {"records": self.records, "sha256": self.sha256}


def process_base(slot: int) -> int:
    """What a remote slot adds to its Locust process's pid (local workers add nothing)."""
    return (slot + 1) << _PID_BITS


def slot_of_file(name: str) -> int | None:
    """The remote slot a history file name belongs to, ``None`` for a name no remote slot writes.

    >>> slot_of_file(f"{process_base(3) + 4242}.jsonl"), slot_of_file("4242.jsonl"), slot_of_file("../x")
    (3, None, None)
    """
    if not _FILE_NAME.fullmatch(name):
        return None
    slot = (int(name.removesuffix(".jsonl")) >> _PID_BITS) - 1
    return slot if slot >= 0 else None


def valid_worker_name(name: str) -> bool:
    return bool(_WORKER_NAME.fullmatch(name))


def parse_address(text: str, *, what: str, default_port: int = DEFAULT_MASTER_PORT) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``) to a pair; the error names the option and the bad value.

    >>> parse_address("10.0.0.5:6000", what="--master"), parse_address("db", what="--master")
    (('10.0.0.5', 6000), ('db', 5557))
    """
    host, sep, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    host = host.strip("[]")
    if not sep:
        host = text
    try:
        port = int(port_text) if sep else default_port
    except ValueError:
        port = -1
    if not host or not 0 < port < 65536:
        raise UsageError(f"expected HOST:PORT with a port from 1 to 65535, got {what}={text!r}")
    return host, port


def collector_url(master_host: str, master_port: int) -> str:
    """Where a worker finds the run's collector when it was told only the master's address."""
    host = f"[{master_host}]" if ":" in master_host else master_host
    return f"http://{host}:{master_port + COLLECTOR_PORT_OFFSET}"
