"""``workers.json``: what the run's collector saw of each remote worker. Pure data, written once.

The runner writes it when the upload window closes, before the final reads, so that
``orderquake check RUN_DIR`` judges the workers from the run directory alone
(``harness.checker.checkers.workers_checker``):

    {"version": 1, "local": 0, "expected": 2, "closed_wall": 1764590000.1,
     "workers": [{"worker": "w1", "host": "loadgen-7", "slots": [0], "joined_wall": 1764589950.2,
                  "received": {"4198700.jsonl": {"records": 812, "sha256": "..."}},
                  "rejected": {"4198701.jsonl": "812 records and sha256 ... declared, 311 ... received"},
                  "declared": {"4198700.jsonl": {"records": 812, "sha256": "..."}} or null,
                  "exit_codes": [0]}]}

``declared`` is ``null`` until the worker said it was done: a worker killed before that never
declares, and its history counts as missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.distributed.protocol import Digest

JOURNAL_VERSION = 1


@dataclass(frozen=True)
class WorkerEntry:
    """One ``orderquake worker`` that joined the run, with the slots (Locust processes) it was given."""

    worker: str
    host: str
    slots: tuple[int, ...]
    joined_wall: float
    received: Mapping[str, Digest] = field(default_factory=dict)
    rejected: Mapping[str, str] = field(default_factory=dict)
    declared: Mapping[str, Digest] | None = None
    exit_codes: tuple[int | None, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "worker": self.worker, "host": self.host, "slots": list(self.slots), "joined_wall": self.joined_wall,
            "received": {name: d.to_json() for name, d in sorted(self.received.items())},
            "rejected": dict(sorted(self.rejected.items())),
            "declared": None if self.declared is None else {n: d.to_json() for n, d in sorted(self.declared.items())},
            "exit_codes": list(self.exit_codes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkerEntry:
        declared = data.get("declared")
        return cls(worker=str(data["worker"]), host=str(data.get("host") or "?"),
                   slots=tuple(int(s) for s in data["slots"]), joined_wall=float(data.get("joined_wall") or 0.0),
                   received=_digests(data.get("received") or {}),
                   rejected={str(k): str(v) for k, v in (data.get("rejected") or {}).items()},
                   declared=None if declared is None else _digests(declared),
                   exit_codes=tuple(None if c is None else int(c) for c in data.get("exit_codes") or ()))


def _digests(data: Mapping[str, Any]) -> dict[str, Digest]:
    return {str(name): Digest(int(entry["records"]), str(entry["sha256"])) for name, entry in data.items()}


@dataclass(frozen=True)
class WorkerJournal:
    """Every Locust worker of a run: ``local`` ones write into the run directory themselves,
    ``expected`` remote ones ship their history over the collector (``workers``: those that joined)."""

    local: int = 0
    expected: int = 0
    workers: tuple[WorkerEntry, ...] = ()
    closed_wall: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"version": JOURNAL_VERSION, "local": self.local, "expected": self.expected,
                "closed_wall": self.closed_wall, "workers": [w.to_json() for w in self.workers]}

    @classmethod
    def from_json(cls, data: Any) -> WorkerJournal:
        """``ValueError`` saying what is wrong when ``data`` is not a journal this version wrote."""
        try:
            if data["version"] != JOURNAL_VERSION:
                raise ValueError(f"expected version {JOURNAL_VERSION}, got {data['version']!r}")
            closed = data.get("closed_wall")
            return cls(local=int(data["local"]), expected=int(data["expected"]),
                       workers=tuple(WorkerEntry.from_json(w) for w in data["workers"]),
                       closed_wall=None if closed is None else float(closed))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"expected workers.json as the collector writes it, got {type(exc).__name__}: {exc}") \
                from exc
