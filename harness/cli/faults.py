"""``orderquake faults``: the fault catalogue with each fault's parameters."""

from __future__ import annotations

import argparse
from typing import Any

from harness._exceptions import ExitCode
from harness.faults import REGISTRY, describe


def _faults(args: argparse.Namespace) -> int:
    kinds = args.kinds or list(REGISTRY)
    print("\n".join(describe(kind) for kind in kinds))
    return ExitCode.PASS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("faults", help="list the fault catalogue and each fault's parameters",
                                   description="List the faults a scenario may schedule, with their parameters.")
    parser.add_argument("kinds", nargs="*", metavar="KIND", help="only these faults (default: all)")
    parser.set_defaults(handler=_faults)
