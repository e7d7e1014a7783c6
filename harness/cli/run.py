"""``orderquake run`` and ``orderquake suite``: scenarios against a target, with a verdict each."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness._exceptions import ExitCode, UsageError
from harness._paths import scenarios_dir
from harness._units import parse_duration
from harness.cli.check import describe
from harness.report import write_suite_junit
from harness.report.github import write_suite_summary
from harness.report.index import write_suite_index
from harness.run import RunOutcome, RunRequest, run
from harness.run.progress import ProgressMode
from harness.run.request import StageKind

# When several runs end differently, the suite's exit code is the one that needs acting on first.
_PRECEDENCE = [ExitCode.INTERRUPTED, ExitCode.INFRASTRUCTURE, ExitCode.USAGE, ExitCode.VIOLATION,
               ExitCode.SLO_BREACH, ExitCode.PASS]


def worst(codes: list[int]) -> int:
    """The exit code of a set of runs: interrupted > infrastructure > usage > violation > SLO > pass."""
    for code in _PRECEDENCE:
        if int(code) in codes:
            return int(code)
    return int(ExitCode.PASS)


def whole_number(minimum: int = 0) -> Callable[[str], int]:
    """An argparse type: a whole number of ``minimum`` or more, else a message saying so."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {'zero' if minimum == 0 else minimum} or more, got {value}")
        return value
    return parse


_positive_int = whole_number(0)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of one run (``run`` and ``suite``)."""
    parser.add_argument("--variant", help="the reference service's variant (default: correct)")
    parser.add_argument("--seed", type=_positive_int, help="override the scenario's seed")
    parser.add_argument("--soak", action="store_true", help="use the scenario's soak duration (its soak: block)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress (neither the live panel on a terminal nor the periodic lines "
                             "elsewhere): only the verdict summary at the end")
    parser.add_argument("--remote-workers", type=_positive_int, default=0, metavar="N",
                        help="also wait for N Locust workers started elsewhere with 'orderquake worker --master "
                             "HOST:PORT'; their history is shipped back before the verdict (docs/distributed.md)")
    parser.add_argument("--master-bind", metavar="HOST:PORT",
                        help="where the Locust master listens for remote workers (default 127.0.0.1:5557; the "
                             "collector takes the next port); a non-loopback host needs --allow-remote")
    parser.add_argument("--remote-wait", type=_duration, default=120.0, metavar="DURATION",
                        help="how long the run waits for every remote worker to join (default 120s)")
    parser.add_argument("--provider-processes", type=whole_number(1), default=1, metavar="N",
                        help="mock provider processes behind the one provider link, one ledger shard each "
                             "(default 1; local stage and native dialect only above 1)")
    add_target_options(parser)


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``run``, ``suite`` and ``matrix``."""
    parser.add_argument("--target", type=Path, help="target file of the SUT (default: the reference service)")
    parser.add_argument("--duration", type=_duration, help="override the load phase, e.g. 10m for a soak")
    parser.add_argument("--users", type=_positive_int, help="override the number of Locust users")
    parser.add_argument("--workers", type=_positive_int, default=0, help="Locust worker processes (0: one)")
    parser.add_argument("--out", type=Path, help="parent folder of the run directory (default: runs/)")
    parser.add_argument("--attach", type=Path, metavar="STAGE_FILE",
                        help="run against a stage that already exists (staging): its Toxiproxy, database and "
                             "provider, named in a stage file; nothing is started, stopped or killed")
    parser.add_argument("--stage", type=StageKind, choices=list(StageKind), default=StageKind.LOCAL,
                        help="where the stage runs: local processes on loopback (default), or the containers of "
                             "docker-compose.yml (needs a Docker engine and scripts/compose-setup.sh's images)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow upstreams outside loopback (never needed on the local stage)")


def request_for(scenario: Path, args: argparse.Namespace) -> RunRequest:
    return RunRequest(scenario=scenario, target=args.target, variant=args.variant, seed=args.seed,
                      duration=args.duration, users=args.users, workers=args.workers, soak=args.soak,
                      out=args.out, allow_remote=args.allow_remote, attach=getattr(args, "attach", None),
                      stage=getattr(args, "stage", StageKind.LOCAL),
                      remote_workers=getattr(args, "remote_workers", 0), master_bind=getattr(args, "master_bind", None),
                      remote_wait=getattr(args, "remote_wait", 120.0),
                      provider_processes=getattr(args, "provider_processes", 1),
                      progress=ProgressMode.QUIET if args.quiet else ProgressMode.AUTO)


def summary(outcome: RunOutcome) -> str:
    """A few lines a person reads at the end of a run."""
    verdict = outcome.verdict
    lines = [f"verdict: {verdict.verdict.value.upper()} (exit {int(verdict.exit_code)}) - {verdict.scenario} "
             f"against {verdict.target} ({verdict.variant}), seed {verdict.seed}",
             *describe(verdict).splitlines()[1:], f"  report: {outcome.run_dir.report}"]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    if not args.scenario.exists():
        raise UsageError(f"scenario file {args.scenario} not found: give a path, or one of "
                         f"{', '.join(sorted(p.stem for p in scenarios_dir().glob('*.yaml')))} "
                         f"from {scenarios_dir()}")
    outcome = run(request_for(args.scenario, args))
    print(summary(outcome))
    return outcome.exit_code


def _resolve(path_text: str) -> list[Path]:
    path = Path(path_text)
    if path.is_dir():
        return sorted(path.glob("*.yaml"))
    if path.exists():
        return [path]
    builtin = scenarios_dir() / f"{path_text}.yaml"
    if builtin.exists():
        return [builtin]
    raise UsageError(f"scenario {path_text!r} not found: expected a file, a folder of .yaml files or a built-in "
                     f"name ({', '.join(sorted(p.stem for p in scenarios_dir().glob('*.yaml')))})")


def _suite(args: argparse.Namespace) -> int:
    paths = [p for text in (args.paths or [str(scenarios_dir())]) for p in _resolve(text)]
    outcomes = []
    for path in paths:
        outcome = run(request_for(path, args))
        print(summary(outcome), flush=True)
        outcomes.append(outcome)
        if outcome.exit_code == ExitCode.INTERRUPTED:
            break
    runs = [(outcome.verdict, outcome.run_dir) for outcome in outcomes]
    if args.junit:
        write_suite_junit(runs, args.junit)
    code = worst([outcome.exit_code for outcome in outcomes])
    if outcomes:
        index = write_suite_index([o.run_dir.path for o in outcomes], outcomes[0].run_dir.path.parent)
        print(f"suite index: {index}", file=sys.stderr)
    write_suite_summary(runs, code)
    print(f"suite: {len(outcomes)} run(s); exit {code}", file=sys.stderr)
    return code


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run one scenario and print its verdict",
                                   description="Run one scenario against a target on the local stage.")
    parser.add_argument("scenario", type=Path, help="scenario file (YAML)")
    add_run_options(parser)
    parser.set_defaults(handler=_run)

    suite = subparsers.add_parser("suite", help="run several scenarios; one JUnit file for CI",
                                  description="Run scenarios one after another (default: every built-in).")
    suite.add_argument("paths", nargs="*", help="scenario files, folders, or built-in names")
    suite.add_argument("--junit", type=Path, help="write one JUnit XML file for the whole suite")
    add_run_options(suite)
    suite.set_defaults(handler=_suite)
