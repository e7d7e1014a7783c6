"""``orderquake validate FILES...``: check scenario files; exit 0 if all are valid, 2 otherwise.

Each invalid file prints one line ``file:line: field: message`` on stderr; every file is checked
even after a bad one, so a CI log shows them all at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness._exceptions import ExitCode, UsageError
from harness.scenario import load_scenario


def _validate(args: argparse.Namespace) -> int:
    bad = 0
    for path in args.files:
        try:
            scenario = load_scenario(path)
        except UsageError as exc:
            bad += 1
            print(exc, file=sys.stderr)
            continue
        schedule = scenario.schedule()
        print(f"{path}: ok ({scenario.name}, {scenario.duration:g}s, {len(schedule)} faults)")
    return ExitCode.USAGE if bad else ExitCode.PASS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("validate", help="check scenario files (exit 2 on the first error in any)",
                                   description="Check scenario files: file:line: field: message for each bad one.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="scenario YAML files")
    parser.set_defaults(handler=_validate)
