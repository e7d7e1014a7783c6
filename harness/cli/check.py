"""``orderquake check RUN_DIR``: recompute the verdict from a run directory's artifacts alone.

What only the orchestrator knew (scenario, seed, target, variant, SLO outcomes, start and
finish) is carried over from the run's previous ``verdict.json`` when there is one; every
invariant, the money and the counts are recomputed. Exit 0 pass, 1 violation, 3 SLO breach,
4 unknown.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.checker import CheckResult, SloOutcome, check, load_inputs, write_verdict

_CARRIED = ("scenario", "seed", "target", "variant", "started", "finished")


def _previous_run_fields(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "verdict.json"
    if not path.exists():
        return {}
    try:
        previous = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}  # a damaged verdict is about to be replaced; the run's facts are recomputed anyway
    fields: dict[str, Any] = {key: previous.get(key) for key in _CARRIED if previous.get(key) is not None}
    slo = [SloOutcome(str(s.get("rule")), s.get("observed"), bool(s.get("pass")))
           for s in previous.get("slo") or [] if isinstance(s, dict)]
    if slo:
        fields["slo"] = slo
    return fields


def summary(result: CheckResult) -> str:
    """The few lines a person reads first: the verdict, the violations, the money, the counts."""
    counts = result.counts
    lines = [f"verdict: {result.verdict.value} (exit {int(result.exit_code)})"]
    if result.reason:
        lines.append(f"  reason: {result.reason}")
    lines.append(f"  submissions: {counts.attempted} ({counts.ids} ids): ok {counts.ok}, fail {counts.fail}, "
                 f"info {counts.info}")
    for category, entry in result.invariants.items():
        if entry.count:
            mark = "VIOLATION" if entry.violation else "reported"
            ids = ", ".join(str(e["id"]) for e in entry.examples[:3])
            lines.append(f"  {category.value}: {entry.count} {mark} (e.g. {ids})")
    for kind, flow in result.money.items():
        state = {True: "conserved", False: "NOT conserved", None: "unknown"}[flow.conserved]
        lines.append(f"  money {kind.value}s: provider {flow.provider_minor}, SUT {flow.sut_minor}: {state}")
    for outcome in result.slo:
        lines.append(f"  slo {outcome.rule}: observed {outcome.observed}: {'pass' if outcome.passed else 'BREACH'}")
    if result.recovery_seconds is not None:
        lines.append(f"  time to consistency: {result.recovery_seconds} s")
    return "\n".join(lines)


def _check(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    result = check(load_inputs(run_dir)).with_run(**_previous_run_fields(run_dir))
    path = write_verdict(run_dir, result)
    print(summary(result))
    print(f"wrote {path}")
    return int(result.exit_code)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("check", help="recompute the verdict of a run directory from its artifacts")
    parser.add_argument("run_dir", type=Path, help="a run directory (runs/<time>-<scenario>)")
    parser.set_defaults(handler=_check)
