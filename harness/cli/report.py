"""``orderquake report RUN_DIR [--baseline BASELINE_RUN]``: rebuild ``junit.xml`` and ``report.html``
from a run directory; with a baseline, the page compares the run with it (the limits as ``orderquake
compare`` takes them). The exit code is 0 whatever the comparison finds: the gate is ``compare``'s."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness._exceptions import UsageError
from harness.checker.model import RunVerdict
from harness.cli.compare import add_limit_options, limit_options_given, limits_of
from harness.report import write_html, write_junit
from harness.report.compare import compare_runs
from harness.rundir import RunDir


def _report(args: argparse.Namespace) -> int:
    verdict_path: Path = args.run_dir / "verdict.json"
    if not verdict_path.exists():
        raise UsageError(f"{args.run_dir} has no verdict.json: expected a run directory; "
                         f"run 'orderquake check {args.run_dir}' first if the run was cut short")
    try:
        verdict = RunVerdict.from_json(json.loads(verdict_path.read_text()))
    except ValueError as exc:
        raise UsageError(f"{verdict_path}: {exc}: run 'orderquake check {args.run_dir}' to judge it again") from None
    given = limit_options_given(args)
    if args.baseline is None and given:
        raise UsageError(f"expected --baseline BASELINE_RUN with {given[0]}: a limit compares with a baseline")
    comparison = compare_runs(args.baseline, args.run_dir, limits_of(args)) if args.baseline is not None else None
    run_dir = RunDir(args.run_dir)
    write_junit(verdict, run_dir.junit, run_dir)
    print(write_html(args.run_dir, comparison))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("report", help="rebuild junit.xml and report.html of a run directory")
    parser.add_argument("run_dir", type=Path, help="a run directory (runs/<time>-<scenario>)")
    parser.add_argument("--baseline", type=Path, metavar="BASELINE_RUN",
                        help="a run directory to compare with, shown near the top and dashed on the latency charts")
    add_limit_options(parser)
    parser.set_defaults(handler=_report)
