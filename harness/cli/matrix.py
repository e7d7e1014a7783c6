"""``orderquake matrix``: the harness's self-test, every variant against the built-in scenarios."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness._exceptions import ExitCode, UsageError
from harness._paths import PROJECT_ROOT, scenarios_dir
from harness.cli.run import add_target_options
from harness.run import RunRequest, run
from harness.run.fit import fit_scenario
from harness.run.matrix import matrix_passed, plan, render, run_matrix, summary_json
from harness.scenario import load_scenario
from harness.target import load_target


def _matrix(args: argparse.Namespace) -> int:
    if args.seeds < 1:
        raise UsageError(f"--seeds: expected 1 or more, got {args.seeds}")
    paths = sorted(scenarios_dir().glob("*.yaml")) if not args.scenarios else [
        p if p.exists() else scenarios_dir() / f"{p}.yaml" for p in map(Path, args.scenarios)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"scenario(s) not found: {', '.join(missing)}")
    # The target file lists its variants; a target that lists none has only its correct service.
    target = load_target(args.target)
    known = list(target.variants) or ["correct"]
    variants = args.variants or known
    unknown = sorted(set(variants) - set(known))
    if unknown:
        raise UsageError(f"unknown variant(s) {', '.join(unknown)} of target {target.name}: expected "
                         f"{', '.join(known)} (the target file's variants list)")
    scenarios = []
    for path in paths:
        scenario = load_scenario(path)
        try:
            fit_scenario(scenario, target)
        except UsageError as exc:
            print(f"matrix: skipped {path.name}: {exc}", flush=True)
            continue
        # The scenario's own expectations name the reference service's variants; the target file's
        # variants mapping adds (and for its own variant names, decides) the rest.
        expect = {v: c for v, c in scenario.expect.items() if v in known}
        scenarios.append((path, scenario.name, {**expect, **target.expect.get(scenario.name, {})}))
    if not scenarios:
        raise UsageError(f"no scenario applies to target {target.name}: see the lines above")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    cells = plan(scenarios, variants, seeds, full=args.full)
    out = (args.out or PROJECT_ROOT / "runs") / f"matrix-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    out.mkdir(parents=True, exist_ok=True)
    print(f"matrix: {len(cells)} run(s) -> {out}", flush=True)
    base = RunRequest(scenario=paths[0], target=args.target, duration=args.duration, users=args.users,
                      workers=args.workers, out=out, allow_remote=args.allow_remote)
    results = run_matrix(cells, lambda request: run(request, echo=lambda _line: None), base=base,
                         out_file=out / "cells.jsonl", echo=lambda line: print(line, flush=True))
    table = render(results)
    (out / "matrix.txt").write_text(table + "\n")
    (out / "matrix.json").write_text(json.dumps(summary_json(results), indent=2) + "\n")
    print(table)
    if any(c.exit_code == ExitCode.INTERRUPTED for c in results):
        return int(ExitCode.INTERRUPTED)
    return int(ExitCode.PASS if matrix_passed(results) else ExitCode.VIOLATION)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "matrix", help="self-test: a target's variants (its target file's list) against the built-in scenarios",
        description="Run the correct service against every scenario and each seeded-bug variant against the "
                    "scenarios that declare they catch it (--full: every pair), for N seeds. Exit 0 when every "
                    "cell is as expected, 1 otherwise.")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds per cell (default 1)")
    parser.add_argument("--first-seed", type=int, default=1, help="the first seed (default 1)")
    parser.add_argument("--variants", nargs="+", help="variants to include (default: all)")
    parser.add_argument("--scenarios", nargs="+", help="scenario files or built-in names (default: all)")
    parser.add_argument("--full", action="store_true", help="also run pairs with no expectation")
    add_target_options(parser)
    parser.set_defaults(handler=_matrix)
