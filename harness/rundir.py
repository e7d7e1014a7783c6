"""The run directory of DESIGN.md section 8: one folder per run, every artifact at a known path.

``RunDir`` is the one owner of those paths: the runner writes through it, the checker and the
reports read through it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness._paths import PROJECT_ROOT
from harness.checker.evidence import EvidenceFiles
from harness.checker.model import Kind

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class RunDir:
    """Paths of one run's artifacts; creating the object creates nothing on disk."""

    path: Path

    @classmethod
    def create(cls, scenario_name: str, *, out: Path | None = None, now: datetime | None = None) -> RunDir:
        """Make ``<out or runs>/<UTC time>-<scenario>/`` and its sub-folders.

        >>> RunDir.create("smoke").path.name  # doctest: +SKIP
        '20261123T061500Z-smoke'
        """
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
        base = out if out is not None else PROJECT_ROOT / "runs"
        path = base / f"{stamp}-{_UNSAFE.sub('-', scenario_name)}"
        run_dir = cls(path)
        for folder in (run_dir.history, run_dir.state, run_dir.logs, run_dir.locust):
            folder.mkdir(parents=True, exist_ok=True)
        # Every journal of section 8 exists from the start: empty means "nothing happened", not "lost".
        for journal in (run_dir.faults, run_dir.consistency):
            journal.touch()
        return run_dir

    @property
    def run_id(self) -> str:
        """A short id unique to this run: the prefix of every order and payout id the clients choose."""
        return "r" + hashlib.blake2s(self.path.name.encode(), digest_size=4).hexdigest()

    @property
    def history(self) -> Path:
        return self.path / "history"

    @property
    def state(self) -> Path:
        return self.path / "state"

    @property
    def complete(self) -> Path:
        """The final reads' manifest: written last, it lists every evidence file with its record count."""
        return self.path / "state" / "complete.json"

    def sut_state(self, kind: Kind) -> Path:
        """The SUT's rows of one flow, as the target's SQL returned them (statuses mapped)."""
        return self.state / f"sut_{kind.value}s.jsonl"

    def provider_ledger(self, kind: Kind) -> Path:
        """The provider's records of one flow, duplicates included."""
        return self.state / f"provider_{kind.value}s.ndjson"

    @property
    def provider_callbacks(self) -> Path:
        return self.state / "provider_callbacks.ndjson"

    @property
    def forged(self) -> Path:
        """The journal of the forged_callbacks fault (absent when the fault did not run)."""
        return self.path / "forged.jsonl"

    def history_files(self) -> list[Path]:
        """Every Locust process's history file, in a stable order."""
        return sorted(self.history.glob("*.jsonl"))

    def evidence_files(self) -> EvidenceFiles:
        """What the checker's reader reads."""
        return EvidenceFiles(history=tuple(self.history_files()),
                             sut={kind: self.sut_state(kind) for kind in Kind},
                             provider={kind: self.provider_ledger(kind) for kind in Kind},
                             forged=self.forged if self.forged.exists() else None, root=self.path)

    def relative(self, path: Path) -> str:
        """``path`` as named inside the run directory (``state/sut_orders.jsonl``)."""
        return path.relative_to(self.path).as_posix()

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def locust(self) -> Path:
        return self.path / "locust"

    @property
    def stage(self) -> Path:
        """Where the stage keeps its databases and sockets for this run."""
        return self.path / "stage"

    @property
    def scenario(self) -> Path:
        return self.path / "scenario.yaml"

    @property
    def target(self) -> Path:
        return self.path / "target.yaml"

    @property
    def faults(self) -> Path:
        return self.path / "faults.jsonl"

    @property
    def consistency(self) -> Path:
        return self.path / "consistency.jsonl"

    @property
    def verdict(self) -> Path:
        return self.path / "verdict.json"

    @property
    def run_info(self) -> Path:
        """What the orchestrator knows that no other artifact holds: variant, seed, times, metrics."""
        return self.path / "run.json"

    @property
    def workers(self) -> Path:
        """What the collector saw of the remote workers (``harness.distributed.journal``)."""
        return self.path / "workers.json"

    @property
    def rejected_uploads(self) -> Path:
        """History uploads that were not what their worker declared, kept for inspection, never judged."""
        return self.path / "workers"

    @property
    def junit(self) -> Path:
        return self.path / "junit.xml"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    def write_json(self, path: Path, payload: Any) -> None:
        """Write ``payload`` atomically: a reader never sees half a file."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
        tmp.replace(path)

    def append_jsonl(self, path: Path, record: dict[str, Any]) -> None:
        with path.open("a") as handle:
            handle.write(json.dumps(record, sort_keys=True, default=str) + "\n")
