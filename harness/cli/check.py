"""``orderquake check RUN_DIR``: judge a run directory again from its artifacts alone.

It runs the same composition of checkers as the run did (``harness.run.verdict.judge_run``), on
the same files, so it reproduces the run's verdict and exit code; it can never turn an
``unknown`` into a ``pass``. Exit 0 pass, 1 violation, 3 SLO breach, 4 unknown, 130 interrupted.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness._exceptions import UsageError
from harness.checker.model import RunVerdict, Verdict, WorkerCount
from harness.run.verdict import judge_and_write
from harness.rundir import RunDir


def describe(result: RunVerdict) -> str:
    """The few lines a person reads first: the verdict and why, the violations, the money, the counts."""
    counts = result.counts
    lines = [f"verdict: {result.verdict.value} (exit {int(result.exit_code)})"]
    if result.reason and result.verdict is not Verdict.PASS:
        lines.append(f"  reason: {result.reason}")
    lines.append(f"  submissions: {counts.attempted} ({counts.ids} ids): ok {counts.ok}, fail {counts.fail}, "
                 f"info {counts.info}")
    if result.workers is not None:
        lines.append(f"  {worker_line(result.workers)}")
    for category, entry in result.invariants.items():
        if entry.count:
            mark = "VIOLATION" if entry.violation else "reported"
            ids = ", ".join(str(e["id"]) for e in entry.examples[:3])
            lines.append(f"  {category.value}: {entry.count} {mark} (e.g. {ids})")
    for (kind, currency), flow in sorted(result.money.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        state = {True: "conserved", False: "NOT conserved", None: "unknown"}[flow.conserved]
        lines.append(f"  money {kind.value}s {currency or '(no currency)'}: provider {flow.provider_minor} minor, "
                     f"SUT {flow.sut_minor} minor: {state}")
    for outcome in result.slo:
        lines.append(f"  slo {outcome.rule}: observed {outcome.observed}: {'pass' if outcome.passed else 'BREACH'}")
    if result.recovery_seconds is not None:
        lines.append(f"  time to consistency: {result.recovery_seconds} s")
    if result.torn_lines:
        lines.append(f"  torn last lines ignored: {', '.join(result.torn_lines)}")
    return "\n".join(lines)


def worker_line(workers: WorkerCount) -> str:
    """``workers: 3 took part (1 local, 2 of 2 remote joined); histories: 2 of 3 arrived``."""
    line = (f"workers: {workers.took_part} took part ({workers.local} local, {workers.remote_joined} of "
            f"{workers.remote_expected} remote joined); histories: {workers.histories_arrived} of "
            f"{workers.histories_expected} arrived")
    if workers.died:
        line += f"; died mid-run (open invokes read as info): {', '.join(workers.died)}"
    return line


def _check(args: argparse.Namespace) -> int:
    path: Path = args.run_dir
    if not path.is_dir():
        raise UsageError(f"expected a run directory, got {path} (not a directory)")
    if not (path / "history").is_dir():
        raise UsageError(f"expected {path}/history/ with the client history: is {path} a run directory?")
    run_dir = RunDir(path)
    result = judge_and_write(run_dir)
    print(describe(result))
    print(f"wrote {run_dir.verdict}")
    return int(result.exit_code)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("check", help="judge a run directory again from its artifacts")
    parser.add_argument("run_dir", type=Path, help="a run directory (runs/<time>-<scenario>)")
    parser.set_defaults(handler=_check)
