"""``orderquake validate [FILES...] [--target FILE]``: check scenario and target files; exit 0 if all
are valid, 2 otherwise.

Each invalid file prints one line ``file:line: field: message`` on stderr; every file is checked
even after a bad one, so a CI log shows them all at once. With ``--target``, the target file is
checked too and each step of its flows is rendered against a sample operation (captures shown
as ``<name>``), so a person sees the requests the load will send; each scenario is then fitted
to that target (``harness.run.fit``): the mix weights it drops, or why it does not apply.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from harness._exceptions import ExitCode, UsageError
from harness.flows.engine import prepare
from harness.flows.model import FlowSteps, Step, sample_values
from harness.run.fit import fit_scenario
from harness.scenario import load_scenario
from harness.target import Target, load_target


def _render(step: Step, values: dict[str, Any]) -> list[str]:
    request = prepare(step, values)
    where = "provider" if request.to == "provider" else "sut"
    lines = [f"    {step.name}: {request.method} {{{where}}}{unquote(request.path)}"]
    lines += [f"      {name}: {value}" for name, value in request.headers.items()]
    if request.body is not None:
        body = request.body.decode()
        lines.append(f"      body: {unquote(body) if step.form is not None else body}")
    codes = [f"{what} {list(codes)}" for what, codes in (("done", step.done or ["2xx"]), ("exists", step.exists),
                                                        ("refused", step.refused)) if codes]
    lines.append(f"      -> {'; '.join(codes)}" + (f"; captures {', '.join(step.capture)}" if step.capture else ""))
    return lines


def render_flow(steps: FlowSteps) -> list[str]:
    """The requests of one flow for a sample operation, as text."""
    values: dict[str, Any] = {**sample_values(steps.flow), "publishable_key": "<publishable_key>"}
    for step in (*steps.user, *steps.steps, *((steps.read,) if steps.read else ())):
        values.update({name: f"<{name}>" for name in step.capture})
    lines = [f"  {steps.flow.value} (provider records matched by the SUT's {steps.correlate})"]
    for title, group in (("per user", steps.user), ("one operation", steps.steps),
                         ("read", (steps.read,) if steps.read else ())):
        if group:
            lines.append(f"   {title}:")
            for step in group:
                lines += _render(step, values)
    return lines


def _describe(path: Path, target: Target) -> None:
    print(f"{path}: ok ({target.name}, provider dialect {target.provider.dialect}, "
          f"operations {', '.join(target.flow_names())})")
    for steps in target.flows.values():
        print("\n".join(render_flow(steps)))


def _validate(args: argparse.Namespace) -> int:
    bad = 0
    target = None
    if args.target is not None:
        try:
            target = load_target(args.target)
            _describe(args.target, target)
        except UsageError as exc:
            bad += 1
            print(exc, file=sys.stderr)
    for path in args.files:
        try:
            scenario = load_scenario(path)
            notes: tuple[str, ...] = ()
            if target is not None:
                scenario, notes = fit_scenario(scenario, target)
        except UsageError as exc:
            bad += 1
            print(exc, file=sys.stderr)
            continue
        schedule = scenario.schedule()
        print(f"{path}: ok ({scenario.name}, {scenario.duration:g}s, {len(schedule)} faults)")
        for note in notes:
            print(f"  note: {note}")
    if not args.files and args.target is None:
        raise UsageError("validate: expected scenario files, --target FILE, or both")
    return ExitCode.USAGE if bad else ExitCode.PASS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("validate", help="check scenario and target files (exit 2 on any error)",
                                   description="Check scenario files and a target file: file:line: field: message "
                                               "for each bad one; a target's flows are rendered for a sample "
                                               "operation.")
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="scenario YAML files")
    parser.add_argument("--target", type=Path, metavar="FILE", help="a target file to check and render")
    parser.set_defaults(handler=_validate)
