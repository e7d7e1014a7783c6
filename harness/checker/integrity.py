"""Evidence integrity: the final reads' manifest (``state/complete.json``) and its verification.

The orchestrator writes the manifest last, after every final read succeeded. It lists each
evidence file with the number of records (lines) it holds and the SHA-256 of its bytes, and says
which files it knows to be ``strict``: written only by orderquake's own strict JSON encoders (the
history writer, the provider's ledger stream, the SUT state when no value needed more than JSON).

Before judging, the checker compares every file with the manifest. A state file missing, extra,
short, long or altered is named with what differs, and the flow whose evidence it is cannot be
judged: the verdict is ``unknown`` unless a violation is visible in evidence that is intact. A
history file is judged by its JSON values (``harness.checker.evidence``), so only its record
count is held against it: the same events written with other spacing or key order are the same
evidence, and every one of its lines is checked as it is read. Its digest serves one purpose, as
a state file's does too: a file the manifest calls strict whose bytes are still the ones listed
needs no search for the constructs a lenient JSON reader would take otherwise than JSON
(``Verification.strict``; ``harness.checker.reading_duckdb``).

    manifest = write_manifest(run_dir, extra={"orders": 1200}, strict=files)  # the final reads, last
    verification = verify(run_dir)                                            # the checker, first of all
    verification.problems, verification.strict
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found: every difference from the manifest (none: the evidence is intact), and the
    files still holding the bytes of a manifest entry that calls them strict."""

    problems: list[Problem] = field(default_factory=list)
    strict: frozenset[Path] = frozenset()


def measure(path: Path, *, digest: bool = True, count: bool = True) -> dict[str, Any]:
    """The record count (lines, a last one without a newline included) and the SHA-256, as asked."""
    lines = 0
    last = b"\n"
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            if count:
                lines += block.count(b"\n")
                last = block[-1:]
            if digest:
                sha.update(block)  # hashlib lets go of the GIL: files are measured on threads
    entry: dict[str, Any] = {}
    if count:
        entry["records"] = lines + (last != b"\n")
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


def build_manifest(run_dir: RunDir, extra: Mapping[str, Any] | None = None, strict: Collection[Path] = ()
                   ) -> dict[str, Any]:
    """The manifest of the run directory as it is now; ``strict``: the files the caller knows were
    written by strict JSON encoders alone (none by default: a file built by hand may hold anything)."""
    paths = [path for path in _digested(run_dir) if path.exists()] + run_dir.history_files()
    with ThreadPoolExecutor(max_workers=2) as pool:
        measured = list(pool.map(measure, paths))
    artifacts: dict[str, dict[str, Any]] = {}
    for path, entry in zip(paths, measured, strict=True):
        artifacts[run_dir.relative(path)] = {**entry, "strict": True} if path in strict else entry
    return {"version": MANIFEST_VERSION, "artifacts": artifacts, "counts": dict(extra or {})}


def write_manifest(run_dir: RunDir, extra: Mapping[str, Any] | None = None, strict: Collection[Path] = ()
                   ) -> dict[str, Any]:
    """Write ``state/complete.json``: the checker's licence to decide. ``extra`` is kept for people."""
    manifest = build_manifest(run_dir, extra, strict)
    run_dir.write_json(run_dir.complete, manifest)
    return manifest


def verify(run_dir: RunDir) -> Verification:
    """Every difference between the run directory and its manifest, and the strict files unchanged."""
    everything = frozenset(Kind)
    marker = run_dir.relative(run_dir.complete)
    if not run_dir.complete.exists():
        return Verification([Problem(marker, "missing: the final reads of the SUT state and the provider ledger did "
                                             "not complete, so nothing can be proven", everything)])
    try:
        manifest = json.loads(run_dir.complete.read_text())
        artifacts = manifest["artifacts"]
        if not isinstance(artifacts, dict):
            raise TypeError("artifacts is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Verification([Problem(marker, f"expected the manifest of the final reads (version {MANIFEST_VERSION}), "
                                             f"could not read it ({exc}): the run directory was damaged", everything)])
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
    listed = []
    for name, expected in sorted(artifacts.items()):
        path = run_dir.path / name
        flows, history = flows_of.get(name, no_flow), name not in flows_of
        if not isinstance(expected, dict):
            problems.append(Problem(name, f"expected a manifest entry with records, got {expected!r}", flows, history))
        elif not path.exists():
            problems.append(Problem(name, f"missing (the manifest lists {expected.get('records')} records)", flows,
                                    history))
        else:
            listed.append((name, path, expected, flows, history))
    # The same bytes have the same records: a state file is counted only when its digest differs (or none is
    # listed); a history file, which may be written again in another layout, is counted as it is hashed.
    with ThreadPoolExecutor(max_workers=2) as pool:
        found_all = list(pool.map(lambda entry: measure(entry[1], digest="sha256" in entry[2], count=entry[4]),
                                  listed))
    strict = set()
    for (name, path, expected, flows, history), found in zip(listed, found_all, strict=True):
        if "sha256" in found and found["sha256"] == expected["sha256"]:
            if expected.get("strict") is True:
                strict.add(path)
            continue
        records = found["records"] if "records" in found else measure(path, digest=False)["records"]
        if records != expected.get("records"):
            problems.append(Problem(name, f"{records} records, the manifest says {expected.get('records')}",
                                    flows, history))
        elif "sha256" in found and not history:
            problems.append(Problem(name, "altered: same record count, other content than the final reads saved",
                                    flows, history))
    return Verification(problems, frozenset(strict))
