"""``orderquake compare BASELINE_RUN RUN``: two run directories side by side, and a regression gate.

Exit 0 when the run is within every limit given and its verdict is no worse than the baseline's;
1 when a limit is exceeded or the verdict is worse (each named, with both values and the limit);
2 for a usage error. The table is printed and written as ``compare.md`` and ``compare.json``, and
the same comparison as a page that opens offline, ``compare.html``. The limit options are declared
here once (``add_limit_options``, ``limits_of``); ``orderquake report --baseline`` takes them too.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.report.compare import Limits, compare_runs, write_comparison
from harness.report.compare_html import write_compare_page

_LIMIT_OPTIONS = ("max_p99_increase", "max_p95_increase", "max_error_rate_increase", "max_info_rate_increase",
                  "max_recovery_increase")


def limits_of(args: argparse.Namespace) -> Limits:
    """The limits the options of ``add_limit_options`` give; a bad one is a ``UsageError`` naming it."""
    return Limits.parse(p99_increase=args.max_p99_increase, p95_increase=args.max_p95_increase,
                        error_rate_increase=args.max_error_rate_increase,
                        info_rate_increase=args.max_info_rate_increase,
                        recovery_increase=args.max_recovery_increase)


def limit_options_given(args: argparse.Namespace) -> list[str]:
    """The limit options given, spelled as on the command line."""
    return ["--" + name.replace("_", "-") for name in _LIMIT_OPTIONS if getattr(args, name) is not None]


def _compare(args: argparse.Namespace) -> int:
    comparison = compare_runs(args.baseline, args.run, limits_of(args))
    out = args.out if args.out is not None else args.run
    markdown, data = write_comparison(comparison, out)
    page = write_compare_page(comparison, out)
    print(comparison.to_markdown(), end="")
    print(f"\nwrote {markdown}, {data} and {page}")
    return comparison.exit_code


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """The ``--max-*-increase`` options, with their help."""
    parser.add_argument("--max-p99-increase", metavar="PERCENT",
                        help="largest allowed rise of any operation's p99, relative to the baseline (e.g. 20%%)")
    parser.add_argument("--max-p95-increase", metavar="PERCENT",
                        help="largest allowed rise of any operation's p95, relative to the baseline (e.g. 20%%)")
    parser.add_argument("--max-error-rate-increase", metavar="RATE",
                        help="largest allowed rise of any operation's error rate, in points (e.g. 5%% or 0.05)")
    parser.add_argument("--max-info-rate-increase", metavar="RATE",
                        help="largest allowed rise of any operation's info rate, in points (e.g. 5%% or 0.05)")
    parser.add_argument("--max-recovery-increase", metavar="DURATION",
                        help="largest allowed rise of the time to consistency (e.g. 10s or 1.5s)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("compare", help="compare a run with a baseline run; exit 1 on a regression")
    parser.add_argument("baseline", type=Path, metavar="BASELINE_RUN", help="the run directory to compare against")
    parser.add_argument("run", type=Path, metavar="RUN", help="the run directory judged against the baseline")
    add_limit_options(parser)
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="where to write compare.md, compare.json and compare.html (default: RUN's directory)")
    parser.set_defaults(handler=_compare)
