"""One run, end to end: the shape of Jepsen's test, on the local stage.

    set up stage ─> load + fault schedule ─> heal ─> recovery (time to consistency)
    ─> final reads ─> check ─> verdict.json, junit.xml, report.html

Whatever happens (a broken fault, an infrastructure error, SIGINT or SIGTERM), the ``finally``
heals every fault, stops Locust and the stage, and keeps what was recorded; the verdict is then
``unknown`` unless the final reads completed. Nothing in here is a correctness decision: that is
the pure checker's.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from harness._exceptions import ExitCode, Interrupted, OrderquakeError, UsageError
from harness.checker.model import RunVerdict
from harness.faults import REGISTRY
from harness.faults.base import FaultContext
from harness.load import LoadShape, locust_commands
from harness.run.final_reads import count_pending, final_reads
from harness.run.fit import fit_scenario, refuse_process_faults
from harness.run.load_process import LoadProcess
from harness.run.progress import Phase, Reporter, reporter_for
from harness.run.recovery import Recovery, wait_for_consistency
from harness.run.remote import await_uploads, master_address, remote_workers
from harness.run.request import RunOutcome, RunRequest, StageKind
from harness.run.schedule import FaultScheduler, Planned
from harness.run.signals import interruptible, shielded
from harness.run.verdict import RunFacts, judge_and_write
from harness.rundir import RunDir
from harness.scenario import Overrides, Scenario, load_scenario
from harness.stage import LocalStage, StageConfig
from harness.stage.attach import AttachedStage, load_attach
from harness.stage.local import check_provider_processes
from harness.stage.protocol import Stage
from harness.target import Target, load_target

_LOCUST_GRACE_S = 60.0


@dataclass
class _Progress:
    """What the run got through before it ended, for the verdict of an unfinished run."""

    load_started_wall: float | None = None
    load_seconds: float = 0.0
    recovery: Recovery | None = None
    reason: str | None = None
    error_code: ExitCode | None = None
    interrupted: bool = False


def _planned(scenario: Scenario, ctx: FaultContext) -> list[Planned]:
    plan = []
    for scheduled in scenario.schedule():
        fault = REGISTRY[scheduled.kind](scheduled.name, scheduled.params)
        plan.append(Planned(
            name=scheduled.name, kind=scheduled.kind, at=scheduled.at, duration=scheduled.duration,
            params=dict(scheduled.params), apply=partial(fault.apply, ctx), heal=partial(fault.heal, ctx)))
    return plan


@dataclass
class Held:
    """What a drive started and must stop whatever happens: the fault schedule, Locust, the stage."""

    stage: Stage | None = None
    load: LoadProcess | None = None
    scheduler: FaultScheduler | None = None


@contextmanager
def holding(progress: _Progress) -> Iterator[Held]:
    """Stop everything a drive put in ``Held``, under signals ignored; an interruption or a harness
    error ends the drive and is kept in ``progress`` for the verdict (``finish``)."""
    held = Held()
    try:
        yield held
    except Interrupted as exc:
        progress.interrupted = True
        progress.reason = str(exc)
    except OrderquakeError as exc:
        progress.reason, progress.error_code = str(exc), exc.exit_code
    finally:
        with shielded():
            if held.scheduler is not None:
                held.scheduler.stop()
            if held.load is not None:
                held.load.stop()
                if not progress.load_seconds:
                    progress.load_seconds = time.monotonic() - held.load.started
            if held.stage is not None:
                held.stage.stop()
                if isinstance(held.stage, LocalStage):
                    # The database files are large and their content is saved in state/; the logs stay.
                    shutil.rmtree(held.stage.postgres.data_dir, ignore_errors=True)


def _drive(scenario: Scenario, target: Target, request: RunRequest, run_dir: RunDir, progress: _Progress,
           reporter: Reporter) -> None:
    with holding(progress) as held:
        stage: Stage
        if request.attach is not None:
            reporter.phase(Phase.STAGE, detail=f"attaching to the stage of {request.attach} (nothing is started)")
            attached = load_attach(request.attach, allow_remote=request.allow_remote)
            stage = held.stage = AttachedStage.open(target, attached, log_dir=run_dir.logs,
                                                    allow_remote=request.allow_remote)
        elif request.stage is StageKind.COMPOSE:
            from harness.stage.compose import ComposeStage  # the Docker SDK is an optional extra

            reporter.phase(Phase.STAGE, detail=f"starting the containers of docker-compose.yml with {target.name} "
                                               f"({request.variant or 'correct'})")
            stage = held.stage = ComposeStage.start(StageConfig(
                root=run_dir.stage, target=target, seed=scenario.seed, variant=request.variant, log_dir=run_dir.logs,
                allow_remote=request.allow_remote))
        else:
            reporter.phase(Phase.STAGE, detail=f"starting PostgreSQL, Toxiproxy, the mock provider and {target.name} "
                                               f"({request.variant or 'correct'})")
            stage = held.stage = LocalStage.start(StageConfig(
                root=run_dir.stage, target=target, seed=scenario.seed, variant=request.variant, log_dir=run_dir.logs,
                allow_remote=request.allow_remote, provider_processes=request.provider_processes))
        ctx = FaultContext(stage=stage, target=target, run_dir=run_dir.path, rng=random.Random(scenario.seed))
        shape = load_shape(scenario)
        master_host, master_port = master_address(request)
        commands = locust_commands(shape, host=stage.client_url, history_dir=run_dir.history,
                                   locust_dir=run_dir.locust, seed=scenario.seed, run_id=run_dir.run_id,
                                   workers=request.workers, flows=stage.flows_env(),
                                   remote_workers=request.remote_workers, master_host=master_host,
                                   master_port=master_port)
        with remote_workers(request, run_dir, commands[0][1], reporter) as collector:
            faults = len(list(scenario.schedule()))
            reporter.phase(Phase.LOAD, expected_s=scenario.duration,
                           detail=f"{shape.users} users for {scenario.duration:g} s; faults: {faults}")
            progress.load_started_wall = time.time()
            load = held.load = LoadProcess.start(commands, log_path=run_dir.logs / "locust.log", cwd=run_dir.path)
            stage.register_process("locust", load.pids)
            scheduler = held.scheduler = FaultScheduler(_planned(scenario, ctx), run_dir)
            scheduler.start(origin=load.started)
            load.wait(timeout_s=scenario.duration + shape.stop_timeout_s + _LOCUST_GRACE_S)
            progress.load_seconds = time.monotonic() - load.started
            with shielded():
                scheduler.stop()
                stage.heal()
            await_uploads(collector, reporter)
        reporter.phase(Phase.RECOVERY, expected_s=scenario.recovery_deadline,
                       detail=f"waiting up to {scenario.recovery_deadline:g} s for the pending backlog to drain")
        progress.recovery = wait_for_consistency(
            lambda: count_pending(stage.sut_database_url, target.state),
            deadline_s=scenario.recovery_deadline, run_dir=run_dir)
        reporter.phase(Phase.FINAL_READS, detail="the SUT's state and the provider's ledger, read directly")
        final_reads(target, stage.sut_database_url, stage.provider_url, run_dir)


def load_shape(scenario: Scenario) -> LoadShape:
    """The scenario's load as Locust is told it."""
    load = scenario.load
    return LoadShape(users=load.users, spawn_rate=load.spawn_rate, duration_s=scenario.duration,
                     mix=load.mix_json(), duplicates=load.duplicates, request_timeout_s=load.request_timeout)


def finish(run_dir: RunDir, *, variant: str, started: datetime, progress: _Progress, workers: int = 0,
           remote_workers: int = 0) -> RunVerdict:
    """Save what the run went through (``run.json``), then judge the run directory and write the outputs."""
    error = progress.reason if (progress.error_code is not None or progress.interrupted) else None
    RunFacts(variant=variant, started=started.isoformat(), load_started_wall=progress.load_started_wall,
             load_seconds=progress.load_seconds, interrupted=progress.interrupted, error=error,
             error_exit_code=None if progress.error_code is None else int(progress.error_code),
             workers=workers, remote_workers=remote_workers).write(run_dir)
    return judge_and_write(run_dir)


def run(request: RunRequest, *, echo: Callable[[str], None] | None = None) -> RunOutcome:
    """Run one scenario against one target and return the verdict; see the module docstring.

    Progress goes to stderr as ``request.progress`` says (``harness.run.progress``); ``echo``, when
    given, takes the step lines instead and no progress is shown.
    """
    scenario = load_scenario(request.scenario, overrides=Overrides(
        seed=request.seed, duration=request.duration, users=request.users, soak=request.soak))
    target = load_target(request.target)
    variant = target.check_variant(request.variant)  # a wrong variant is refused before anything starts
    scenario, notes = fit_scenario(scenario, target)
    if request.attach is not None and request.stage is not StageKind.LOCAL:
        raise UsageError(f"--attach runs against a stage that exists; it cannot be given with --stage {request.stage}")
    if request.attach is not None:
        load_attach(request.attach, allow_remote=request.allow_remote)  # told before anything starts
        refuse_process_faults(scenario)
    if request.provider_processes != 1 and (request.attach is not None or request.stage is not StageKind.LOCAL):
        raise UsageError(f"--provider-processes {request.provider_processes} needs the local stage: an attached "
                         "or compose stage runs its own provider")
    check_provider_processes(request.provider_processes, target)  # told before anything starts
    master_address(request)  # a bad or non-loopback --master-bind is refused before anything starts
    if request.stage is StageKind.COMPOSE:
        import harness.stage.compose  # noqa: F401  (without the Docker SDK: told before anything starts)
    run_dir = RunDir.create(scenario.name, out=request.out)
    run_dir.scenario.write_text(scenario.to_yaml())
    run_dir.target.write_text(target.to_yaml())
    started = datetime.now(UTC)
    progress = _Progress()
    with reporter_for(request.progress, run_dir, title=f"{scenario.name} (seed {scenario.seed})",
                      echo=echo) as reporter:
        reporter.say(f"run: {scenario.name} (seed {scenario.seed}) -> {run_dir.path}")
        for note in notes:
            reporter.say(f"note: {note}")
        try:
            with interruptible():
                _drive(scenario, target, request, run_dir, progress, reporter)
        except Interrupted as exc:  # a signal that arrived between the stage's own handlers
            progress.interrupted, progress.reason = True, str(exc)
        reporter.phase(Phase.CHECK, detail="judging the run directory; writing verdict.json, junit.xml, report.html")
        verdict = finish(run_dir, variant=variant, started=started, progress=progress, workers=request.workers,
                         remote_workers=request.remote_workers)
    return RunOutcome(run_dir=run_dir, verdict=verdict)
