"""Evidence integrity: the final reads' manifest (``state/complete.json``) and its verification.

The orchestrator writes the manifest last, after every final read succeeded. It lists each
evidence file with the number of records (lines) it holds and, for the files orderquake wrote
itself at the final reads (the SUT state, the provider ledger, the forged-callback journal), a
SHA-256 digest of its bytes. History files are listed with their record count only: a history
is judged by its JSON values (``harness.checker.evidence``), so the same events written with
other spacing or key order are the same evidence, and every one of its lines is checked as it is
read.

Before judging, the checker compares every file with the manifest. A file missing, extra, short,
long or altered is named with what differs, and the flow whose evidence it is cannot be judged:
the verdict is ``unknown`` unless a violation is visible in evidence that is intact.

    manifest = write_manifest(run_dir, extra={"orders": 1200})   # the runner, last of the final reads
    problems = verify(run_dir)                                    # the checker, first of all
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.checker.model import Kind

if TYPE_CHECKING:  # harness.rundir imports the checker's evidence, which imports this module
    from harness.rundir import RunDir

MANIFEST_VERSION = 1
_CHUNK = 8 << 20


@dataclass(frozen=True)
class Problem:
    """One file that does not match the manifest: the flows whose state it is evidence of cannot be
    judged; a history file (``history``) weakens only what an unrecorded submission could explain."""

    file: str
    what: str
    flows: frozenset[Kind]
    history: bool = False

    def __str__(self) -> str:
        return f"{self.file}: {self.what}"


def measure(path: Path, *, digest: bool) -> dict[str, Any]:
    """The record count (lines, a last one without a newline included) and, if asked, the SHA-256."""
    lines = 0
    last = b"\n"
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            lines += block.count(b"\n")
            last = block[-1:]
            if digest:
                sha.update(block)
    if last != b"\n":
        lines += 1
    entry: dict[str, Any] = {"records": lines}
    if digest:
        entry["sha256"] = sha.hexdigest()
    return entry


def _digested(run_dir: RunDir) -> dict[Path, frozenset[Kind]]:
    """The files the final reads wrote (or a fault journaled), with the flows each is evidence of."""
    files = {run_dir.sut_state(kind): frozenset({kind}) for kind in Kind}
    files.update({run_dir.provider_ledger(kind): frozenset({kind}) for kind in Kind})
    files[run_dir.provider_callbacks] = frozenset()
    files[run_dir.forged] = frozenset(Kind)
    return files


def build_manifest(run_dir: RunDir, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of the run directory as it is now."""
    artifacts: dict[str, dict[str, Any]] = {}
    for path in _digested(run_dir):
        if path.exists():
            artifacts[run_dir.relative(path)] = measure(path, digest=True)
    for path in run_dir.history_files():
        artifacts[run_dir.relative(path)] = measure(path, digest=False)
    return {"version": MANIFEST_VERSION, "artifacts": artifacts, "counts": dict(extra or {})}


def write_manifest(run_dir: RunDir, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``state/complete.json``: the checker's licence to decide. ``extra`` is kept for people."""
    manifest = build_manifest(run_dir, extra)
    run_dir.write_json(run_dir.complete, manifest)
    return manifest


def verify(run_dir: RunDir) -> list[Problem]:
    """Every difference between the run directory and its manifest (none: the evidence is intact)."""
    everything = frozenset(Kind)
    marker = run_dir.relative(run_dir.complete)
    if not run_dir.complete.exists():
        return [Problem(marker, "missing: the final reads of the SUT state and the provider ledger did not "
                                "complete, so nothing can be proven", everything)]
    try:
        manifest = json.loads(run_dir.complete.read_text())
        artifacts = manifest["artifacts"]
        if not isinstance(artifacts, dict):
            raise TypeError("artifacts is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [Problem(marker, f"expected the manifest of the final reads (version {MANIFEST_VERSION}), "
                                f"could not read it ({exc}): the run directory was damaged", everything)]
    flows_of = {run_dir.relative(path): flows for path, flows in _digested(run_dir).items()}
    problems: list[Problem] = []
    required = [run_dir.relative(p) for kind in Kind for p in (run_dir.sut_state(kind), run_dir.provider_ledger(kind))]
    for name in required:
        if name not in artifacts:
            problems.append(Problem(name, "not listed in the manifest: the final reads did not save it",
                                    flows_of[name]))
    present = {run_dir.relative(p) for p in run_dir.history_files()}
    present |= {name for name in flows_of if (run_dir.path / name).exists()}
    no_flow: frozenset[Kind] = frozenset()
    for name in sorted(present - set(artifacts)):
        problems.append(Problem(name, "present but not in the manifest: written after the final reads, or "
                                      "copied in", flows_of.get(name, no_flow), name not in flows_of))
    for name, expected in sorted(artifacts.items()):
        path = run_dir.path / name
        flows, history = flows_of.get(name, no_flow), name not in flows_of
        if not isinstance(expected, dict):
            problems.append(Problem(name, f"expected a manifest entry with records, got {expected!r}", flows, history))
            continue
        if not path.exists():
            problems.append(Problem(name, f"missing (the manifest lists {expected.get('records')} records)", flows,
                                    history))
            continue
        found = measure(path, digest="sha256" in expected)
        if found["records"] != expected.get("records"):
            problems.append(Problem(name, f"{found['records']} records, the manifest says {expected.get('records')}",
                                    flows, history))
        elif "sha256" in expected and found["sha256"] != expected["sha256"]:
            problems.append(Problem(name, "altered: same record count, other content than the final reads saved",
                                    flows, history))
    return problems
