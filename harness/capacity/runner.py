"""A capacity series, end to end: one stage, a ladder of open-model steps, one recovery, one verdict.

    stage up ─> held faults on ─> step 1 ─> step 2 ─> ... (until the first broken step + stop_after)
    ─> heal ─> recovery ─> final reads ─> judge_run ─> each violation to the step of its id

Each step is its own Locust run of ``harness/load/arrivals.py`` (the scenario's mix and
duplicates at the step's arrival rate), with its own client id prefix, so the history says which
step every operation belongs to. Between steps the orchestrator samples each component's CPU
(``harness.capacity.cpu``) and the SUT's pending backlog. The series is an ordinary run directory
(``scenario.yaml`` holds the held faults as faults from the load's start to its end), judged by the
same ``judge_run`` as every run, so ``orderquake check`` and ``orderquake report`` work on it.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness._exceptions import Interrupted, OrderquakeError
from harness.capacity.cpu import sample, used
from harness.capacity.knee import Generator, Knee, Step, find_knee, harness_limits, keep_stepping
from harness.capacity.plan import CapacityRequest, describe_fault
from harness.capacity.steps import by_step, step_load, step_of, step_run_id
from harness.capacity.usl import UslFit, fit_usl, predictions
from harness.checker.evidence import Evidence
from harness.checker.judge import judge
from harness.checker.model import RunVerdict, SloOutcome, Verdict
from harness.checker.reading_duckdb import read_evidence
from harness.faults.base import FaultContext
from harness.load import LOCUSTFILE, LoadShape, iter_events, locust_commands
from harness.run.final_reads import count_pending, final_reads
from harness.run.fit import fit_scenario
from harness.run.load_process import LoadProcess
from harness.run.recovery import wait_for_consistency
from harness.run.runner import Held, _planned, _Progress, finish, holding
from harness.run.schedule import FaultScheduler
from harness.run.signals import interruptible, shielded
from harness.rundir import RunDir
from harness.scenario import Metric, Scenario, ScheduledFault
from harness.stage import LocalStage, StageConfig
from harness.target import Target

ARRIVALS = LOCUSTFILE.with_name("arrivals.py")
_SPAWN_SLACK_S = 2.0  # Locust's run time beyond the schedule: its users start a moment after it does
_LOCUST_GRACE_S = 60.0
_EXAMPLES = 5

Echo = Callable[[str], None]


@dataclass(frozen=True)
class _Measured:
    """What the orchestrator saw of one step while it ran."""

    index: int
    rate: float
    generator: Generator
    cpu: dict[str, float]
    backlog: int | None


@dataclass(frozen=True)
class Series:
    """One ladder of steps against one stage, with or without a held fault."""

    name: str
    faults: tuple[ScheduledFault, ...]
    run_dir: RunDir
    verdict: RunVerdict
    steps: tuple[Step, ...]
    knee: Knee
    fit: UslFit | None
    unattributed: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        knee_rate = self.knee.rate
        return {"name": self.name, "faults": [describe_fault(f) for f in self.faults],
                "run_dir": str(self.run_dir.path), "verdict": self.verdict.verdict.value,
                "verdict_reason": self.verdict.reason, "recovery_seconds": self.verdict.recovery_seconds,
                "steps": [s.to_json() for s in self.steps], "knee": self.knee.to_json(),
                "model": {**(self.fit.to_json() if self.fit else {"verdict": "no fit: too few usable steps"}),
                          "predictions": predictions(self.fit, knee_rate)},
                "unattributed": self.unattributed}


def leaders(stage: LocalStage) -> dict[str, int | None]:
    """The session leader of each component whose CPU a step reports."""
    found: dict[str, int | None] = {"postgres": stage.postgres.pid, "toxiproxy": stage.toxiproxy_process.pid}
    found.update({name: process.pid for name, process in stage.components.items()})
    return found


def arrival_commands(scenario: Scenario, *, rate: float, seconds: float, host: str, run_dir: RunDir,
                     step_dir: Path, run_id: str, workers: int, users: int,
                     flows: str = "") -> list[tuple[list[str], dict[str, str]]]:
    """The ``locust`` processes of one step: ``locust_commands`` with the open-model locustfile."""
    users = users or max(1, workers)
    load = scenario.load
    shape = LoadShape(users=users, spawn_rate=users, duration_s=seconds + _SPAWN_SLACK_S, mix=load.mix_json(),
                      duplicates=load.duplicates, request_timeout_s=load.request_timeout)
    commands = locust_commands(shape, host=host, history_dir=run_dir.history, locust_dir=step_dir,
                               seed=scenario.seed, run_id=run_id, workers=workers, flows=flows)
    for argv, env in commands:
        argv[argv.index(str(LOCUSTFILE))] = str(ARRIVALS)
        env.update({"ORDERQUAKE_ARRIVAL_RATE": repr(rate / users), "ORDERQUAKE_ARRIVAL_SECONDS": repr(seconds),
                    "ORDERQUAKE_ARRIVAL_REPORT_DIR": str(step_dir)})
    return commands


def read_generator(step_dir: Path) -> Generator:
    """The generator's own account of a step: arrivals scheduled and sent, its busiest process."""
    reports = []
    for path in sorted(step_dir.glob("arrivals-*.json")):
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    per_process: dict[Any, tuple[float, float]] = {}
    for report in reports:
        cpu, wall = float(report.get("cpu_s") or 0), float(report.get("wall_s") or 0)
        seen = per_process.get(report.get("pid"), (0.0, 0.0))
        per_process[report.get("pid")] = (max(seen[0], cpu), max(seen[1], wall))
    busiest = max((cpu / wall for cpu, wall in per_process.values() if wall > 0), default=None)
    return Generator(scheduled=sum(int(r.get("scheduled") or 0) for r in reports),
                     sent=sum(int(r.get("sent") or 0) for r in reports),
                     busiest=round(busiest, 3) if busiest is not None else None, processes=len(per_process),
                     cpu_s=round(sum(cpu for cpu, _ in per_process.values()), 3))


def _series_scenario(scenario: Scenario, faults: Sequence[ScheduledFault], request: CapacityRequest) -> Scenario:
    """The scenario as the series ran it: its load ladder's length, the held faults, no nemesis."""
    duration = len(request.rates) * request.step_seconds
    recovery = request.recovery_deadline if request.recovery_deadline is not None else scenario.recovery_deadline
    return dataclasses.replace(scenario, duration=duration, faults=tuple(faults), nemesis=None,
                               recovery_deadline=recovery, soak_duration=None)


def run_series(name: str, scenario: Scenario, target: Target, variant: str, request: CapacityRequest,
               faults: Sequence[ScheduledFault], out: Path, echo: Echo) -> Series:
    """Run one ladder on a fresh stage and judge it; see the module docstring."""
    scenario, notes = fit_scenario(_series_scenario(scenario, faults, request), target)
    run_dir = RunDir.create(f"{scenario.name}-{name}", out=out)
    run_dir.scenario.write_text(scenario.to_yaml())
    run_dir.target.write_text(target.to_yaml())
    started = datetime.now(UTC)
    progress = _Progress()
    measured: list[_Measured] = []
    held = f" holding {', '.join(describe_fault(f) for f in faults)}" if faults else ""
    echo(f"capacity {name}: {scenario.name} against {target.name} ({variant}){held} -> {run_dir.path}")
    for note in notes:
        echo(f"  note: {note}")
    try:
        with interruptible():
            _drive(scenario, target, request, run_dir, progress, measured, echo)
    except Interrupted as exc:  # a signal that arrived between the stage's own handlers
        progress.interrupted, progress.reason = True, str(exc)
    verdict = finish(run_dir, variant=variant, started=started, progress=progress)
    return judge_steps(name, tuple(faults), run_dir, verdict, scenario, measured, request.step_seconds)


def _drive(scenario: Scenario, target: Target, request: CapacityRequest, run_dir: RunDir, progress: _Progress,
           measured: list[_Measured], echo: Echo) -> None:
    with holding(progress) as held:
        stage = held.stage = LocalStage.start(StageConfig(root=run_dir.stage, target=target, seed=scenario.seed,
                                                          variant=request.variant, log_dir=run_dir.logs,
                                                          provider_processes=request.provider_processes))
        ctx = FaultContext(stage=stage, target=target, run_dir=run_dir.path, rng=random.Random(scenario.seed))
        progress.load_started_wall = time.time()
        origin = time.monotonic()
        scheduler = held.scheduler = FaultScheduler(_planned(scenario, ctx), run_dir)
        scheduler.start(origin=origin)
        for index, rate in enumerate(request.rates, start=1):
            if not keep_stepping(_provisional(measured, run_dir, scenario, request.step_seconds), request.stop_after):
                break
            measured.append(_step_load(stage, target, scenario, request, run_dir, held, index, rate))
            echo(_step_line(measured[-1], request.step_seconds))
        progress.load_seconds = time.monotonic() - origin
        with shielded():
            scheduler.stop()
            stage.heal()
        echo(f"  recovery: waiting up to {scenario.recovery_deadline:g} s for the backlog to drain")
        progress.recovery = wait_for_consistency(lambda: count_pending(stage.sut_database_url, target.state),
                                                 deadline_s=scenario.recovery_deadline, run_dir=run_dir)
        final_reads(target, stage.sut_database_url, stage.provider_url, run_dir)


def _step_load(stage: LocalStage, target: Target, scenario: Scenario, request: CapacityRequest, run_dir: RunDir,
               held: Held, index: int, rate: float) -> _Measured:
    """Offer one step's rate with its own Locust run; its CPU per component, its generator's account, the backlog."""
    step_dir = run_dir.locust / f"s{index}"
    step_dir.mkdir(parents=True, exist_ok=True)
    commands = arrival_commands(scenario, rate=rate, seconds=request.step_seconds, host=stage.client_url,
                                run_dir=run_dir, step_dir=step_dir, run_id=step_run_id(run_dir.run_id, index),
                                workers=request.workers, users=request.users, flows=stage.flows_env())
    before = sample(leaders(stage))
    load = held.load = LoadProcess.start(commands, log_path=run_dir.logs / f"locust-s{index}.log", cwd=run_dir.path)
    stage.register_process(f"locust-s{index}", load.pids)
    load.wait(timeout_s=request.step_seconds + _SPAWN_SLACK_S + 2 * scenario.load.request_timeout + _LOCUST_GRACE_S)
    held.load = None
    cpu = used(before, sample(leaders(stage)))
    generator = read_generator(step_dir)
    if generator.processes:
        cpu["locust"] = generator.cpu_s
    try:
        backlog: int | None = count_pending(stage.sut_database_url, target.state)
    except OrderquakeError:
        backlog = None
    return _Measured(index, rate, generator, cpu, backlog)


def _step_line(m: _Measured, seconds: float) -> str:
    return (f"  step {m.index}: {m.rate:g}/s for {seconds:g} s: sent {m.generator.sent} of {m.generator.scheduled}, "
            f"backlog {m.backlog if m.backlog is not None else '?'}, CPU "
            + ", ".join(f"{k} {v:.1f}s" for k, v in sorted(m.cpu.items())))


def _provisional(measured: Sequence[_Measured], run_dir: RunDir, scenario: Scenario, seconds: float) -> list[Step]:
    """The steps so far judged on what is known before the final reads: the SLOs (the history is on disk)."""
    if not measured:
        return []
    events = by_step(iter_events(run_dir.history))
    return [_step(m, events.get(m.index, []), scenario, seconds, {}, {}, "pass", None) for m in measured]


def _step(m: _Measured, events: Sequence[Any], scenario: Scenario, seconds: float, violations: dict[str, int],
          examples: dict[str, tuple[str, ...]], verdict: str, reason: str | None,
          recovery: tuple[float | None] | None = None) -> Step:
    """``recovery``: the series' one recovery, given to the last step only (a 1-tuple: None never drained)."""
    load = step_load(events, seconds=seconds)
    observed: dict[str, float | None] = {**load.observed(), "recovery": recovery[0] if recovery else None}
    rules = [rule for rule in scenario.slo if rule.metric is not Metric.RECOVERY or recovery is not None]
    slo = tuple(SloOutcome(rule.text, *rule.evaluate(observed)) for rule in rules)
    return Step(index=m.index, rate=m.rate, seconds=seconds, load=load, generator=m.generator, backlog=m.backlog,
                cpu=m.cpu, slo=slo, violations=violations, examples=examples, verdict=verdict, verdict_reason=reason,
                limits=harness_limits(m.rate, seconds, m.generator, m.cpu))


def attribute(evidence: Evidence) -> tuple[dict[int, dict[str, list[str]]], dict[str, int]]:
    """Every violation the judge finds, by the step whose clients first invoked its id; and those of no step."""
    per_step: dict[int, dict[str, list[str]]] = {}
    unattributed: dict[str, int] = {}
    for item in evidence.judged:
        for finding in judge(item):
            if not finding.category.violation:
                continue
            index = step_of(item.id)
            if index is None:
                unattributed[finding.category.value] = unattributed.get(finding.category.value, 0) + 1
            else:
                per_step.setdefault(index, {}).setdefault(finding.category.value, []).append(item.id)
    return per_step, unattributed


def judge_steps(name: str, faults: tuple[ScheduledFault, ...], run_dir: RunDir, verdict: RunVerdict,
                scenario: Scenario, measured: Sequence[_Measured], seconds: float) -> Series:
    """Each step's numbers, SLOs and share of the verdict; the knee and the model.

    A step's verdict is ``fail`` when a violation is attributed to it, else ``unknown`` when the
    series' verdict is (or failed on what no step's id explains, or the attribution itself could not
    be made), else ``pass``.
    """
    reason = verdict.reason
    try:
        per_step, unattributed = attribute(read_evidence(run_dir.evidence_files()))
    except Exception as exc:  # any failure to attribute leaves every step undecided, never passed
        per_step, unattributed = {}, {}
        reason = f"the violations could not be attributed to steps: {type(exc).__name__}: {exc}"
    events = by_step(iter_events(run_dir.history))
    undecided = (verdict.verdict is Verdict.UNKNOWN or (verdict.verdict is Verdict.FAIL and not per_step)
                 or reason != verdict.reason)
    steps = []
    for position, m in enumerate(measured):
        found = per_step.get(m.index, {})
        violations = {category: len(ids) for category, ids in sorted(found.items())}
        examples = {category: tuple(ids[:_EXAMPLES]) for category, ids in sorted(found.items())}
        if violations:
            step_verdict, why = "fail", None
        elif undecided:
            step_verdict, why = "unknown", reason
        else:
            step_verdict, why = "pass", None
        last = position == len(measured) - 1
        # The one recovery follows the last step: a recovery SLO is that step's to hold.
        recovery = (verdict.recovery_seconds,) if last else None
        steps.append(_step(m, events.get(m.index, []), scenario, seconds, violations, examples, step_verdict,
                           why, recovery))
    knee = find_knee(steps)
    fit = fit_usl([s.load.concurrency or 0.0 for s in steps], [s.load.throughput for s in steps])
    return Series(name=name, faults=faults, run_dir=run_dir, verdict=verdict, steps=tuple(steps), knee=knee, fit=fit,
                  unattributed=unattributed)
