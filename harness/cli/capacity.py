"""``orderquake capacity``: step open-model load until an SLO or an invariant breaks; the knee and a model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness._exceptions import UsageError
from harness.capacity import CapacityRequest, capacity, geometric, parse_fault, parse_rates, print_tables
from harness.cli.run import _duration, _positive_int, whole_number
from harness.cli.run import _resolve as resolve_scenario


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected operations per second, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive rate, got {text!r}")
    return value


def request_for(args: argparse.Namespace) -> CapacityRequest:
    ladder = (args.start, args.factor, args.max)
    if args.rates and any(v is not None for v in ladder):
        raise UsageError("give either --rates or --start/--factor/--max, not both")
    if args.rates:
        rates = parse_rates(args.rates)
    elif args.start is not None and args.max is not None:
        rates = geometric(args.start, args.factor or 2.0, args.max)
    elif any(v is not None for v in ladder):
        raise UsageError("--start needs --max (and optionally --factor, default 2)")
    else:
        rates = (20.0, 40.0, 80.0, 160.0)
    scenarios = resolve_scenario(str(args.scenario))
    if len(scenarios) != 1:
        raise UsageError(f"expected one scenario file, got {len(scenarios)} from {args.scenario}")
    return CapacityRequest(
        scenario=scenarios[0], rates=rates, step_seconds=args.step_duration, target=args.target,
        variant=args.variant, faults=tuple(parse_fault(spec, name=f"held{i}-{spec.split(':')[0].split(',')[0]}")
                                            for i, spec in enumerate(args.fault or (), start=1)),
        compare_fault=parse_fault(args.compare_fault, name="compared") if args.compare_fault else None,
        seed=args.seed, out=args.out, stop_after=args.stop_after, workers=args.workers,
        recovery_deadline=args.recovery, quiet=args.quiet, provider_processes=args.provider_processes)


def _capacity(args: argparse.Namespace) -> int:
    outcome = capacity(request_for(args), min_knee=args.min_knee)
    print_tables(outcome.series)
    print(f"capacity.json: {outcome.json_path}\nreport: {outcome.report}")
    return outcome.exit_code


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "capacity", help="step open-model load until an SLO or invariant breaks: the knee and a model",
        description="Offer the scenario's operations at fixed arrival rates, step by step, on one stage; judge "
                    "each step (SLOs, invariants on the ids it invoked, whether the harness was the limit) and "
                    "report the knee, a Universal Scalability Law fit and, with --compare-fault, both knees.")
    parser.add_argument("scenario", type=Path, help="scenario file or built-in name (its mix, duplicates, slo)")
    parser.add_argument("--target", type=Path, help="target file of the SUT (default: the reference service)")
    parser.add_argument("--variant", help="the reference service's variant (default: correct)")
    parser.add_argument("--rates", help="step rates in operations per second, e.g. 20,40,80")
    parser.add_argument("--start", type=_rate, help="first rate of a geometric ladder")
    parser.add_argument("--factor", type=_rate, help="ladder factor (default 2)")
    parser.add_argument("--max", type=_rate, help="last rate of the ladder")
    parser.add_argument("--step-duration", type=_duration, default=8.0, help="seconds of load per step (default 8s)")
    parser.add_argument("--fault", action="append", metavar="SPEC",
                        help="a fault held during every step, e.g. latency:provider:300ms (repeatable)")
    parser.add_argument("--compare-fault", metavar="SPEC",
                        help="run the steps twice, without and with this fault held; both knees side by side")
    parser.add_argument("--seed", type=_positive_int, help="override the scenario's seed")
    parser.add_argument("--stop-after", type=_positive_int, default=1,
                        help="steps to run past the first broken one (default 1)")
    parser.add_argument("--min-knee", type=_rate, help="CI gate: exit 1 when the knee is below this rate")
    parser.add_argument("--recovery", type=_duration, help="recovery deadline after the last step "
                                                           "(default: the scenario's)")
    parser.add_argument("--workers", type=_positive_int, default=0, help="Locust worker processes (0: one process)")
    parser.add_argument("--provider-processes", type=whole_number(1), default=1, metavar="N",
                        help="mock provider processes behind the one provider link, one ledger shard each "
                             "(default 1; native dialect only above 1)")
    parser.add_argument("--out", type=Path, help="parent folder of the capacity directory (default: runs/)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines, only the tables")
    parser.set_defaults(handler=_capacity)
