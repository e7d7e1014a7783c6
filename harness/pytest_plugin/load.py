"""``orderquake_load``: Locust in the background while the test injects faults, then the verdict.

    with orderquake_load(users=8, mix={"order": 1}, duration="12s") as load:
        load.wait_until(3)
        with orderquake_faults.db_outage():
            load.wait_until(7)
    assert_verdict(load.verdict())

The run has the shape of ``orderquake run`` (load with faults, heal, recovery, final reads,
check) and its own run directory under the test's ``tmp_path`` with every artifact of DESIGN.md
section 8, ``report.html`` included. The pieces are the runner's own (``LoadProcess``,
``wait_for_consistency``, the final reads, ``judge_run``); only the fault schedule is the test's.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from harness._exceptions import ExitCode, OrderquakeError
from harness.checker.model import Kind, RunVerdict
from harness.load import locust_commands
from harness.pytest_plugin.faults import Faults
from harness.pytest_plugin.scope import drop_earlier, scoped_state
from harness.pytest_plugin.settings import OrderquakeSettings
from harness.run.final_reads import correlate, count_pending, mark_complete, read_provider_ledger, read_sut_state
from harness.run.load_process import LoadProcess
from harness.run.recovery import wait_for_consistency
from harness.run.runner import load_shape
from harness.run.signals import shielded
from harness.run.verdict import RunFacts, judge_and_write
from harness.rundir import RunDir
from harness.scenario import Scenario, parse_scenario
from harness.stage import LocalStage

_LOCUST_GRACE_S = 60.0


@dataclass
class _Outcome:
    """What went wrong before the verdict, for ``run.json``: the verdict is then ``unknown``."""

    error: str | None = None
    error_code: ExitCode | None = None
    interrupted: bool = False

    def failed(self, exc: BaseException) -> None:
        if self.error is not None:
            return
        self.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, OrderquakeError) else str(exc)
        if isinstance(exc, OrderquakeError):
            self.error_code = exc.exit_code
        elif isinstance(exc, KeyboardInterrupt):
            self.interrupted = True
        else:
            self.error_code = ExitCode.INFRASTRUCTURE


def scenario_for(name: str, *, seed: int, users: int, mix: Mapping[str, int] | None, duration: float | str,
                 spawn_rate: float | None, duplicates: float, request_timeout: float | str,
                 recovery: float | str, slo: tuple[str, ...], min_ops: int) -> Scenario:
    """The run as a scenario without faults, checked by the scenario loader (its errors name the field)."""
    data: dict[str, Any] = {
        "name": name, "description": "an orderquake_load run of a pytest test", "seed": seed, "duration": duration,
        "load": {"users": users, "spawn_rate": spawn_rate if spawn_rate is not None else users,
                 "duplicates": duplicates, "request_timeout": request_timeout},
        "recovery": {"deadline": recovery}, "slo": list(slo), "min_ops": min_ops}
    if mix is not None:
        data["load"]["mix"] = dict(mix)
    return parse_scenario(yaml.safe_dump(data, sort_keys=False), file="orderquake_load(...)")


@dataclass
class LoadRun:
    """One load run on ``stage``; a context manager around the load phase, then ``verdict()``."""

    stage: LocalStage
    settings: OrderquakeSettings
    scenario: Scenario
    run_dir: RunDir
    faults: Faults
    earlier_runs: list[str]  # run ids that used this stage before; shared with the stage's other runs
    on_verdict: Callable[[LoadRun, RunVerdict], None] = lambda run, verdict: None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _process: LoadProcess | None = None
    _excluded: tuple[str, ...] = ()
    _started_at: datetime | None = None
    _load_started_wall: float | None = None
    _load_seconds: float = 0.0
    _load_done: bool = False
    _log_offsets: dict[str, int] = field(default_factory=dict)
    _outcome: _Outcome = field(default_factory=_Outcome)
    _verdict: RunVerdict | None = None

    # ---- the load phase --------------------------------------------------------------------
    def __enter__(self) -> LoadRun:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None:  # the test broke off: stop at once and keep what was recorded
            self._outcome.failed(exc)
            self._end_load(wait=False)
        else:
            self._end_load(wait=True)

    def start(self) -> None:
        """Write the scenario and target, start Locust; faults from now on are journaled in this run."""
        self.run_dir.scenario.write_text(self.scenario.to_yaml())
        self.run_dir.target.write_text(self.stage.target.to_yaml())
        self._excluded = tuple(self.earlier_runs)
        self.earlier_runs.append(self.run_dir.run_id)
        self._log_offsets = {log.name: log.stat().st_size for log in self.stage.log_dir.glob("*.log")}
        self._started_at = datetime.now(UTC)
        commands = locust_commands(load_shape(self.scenario), host=self.stage.client_url,
                                   history_dir=self.run_dir.history, locust_dir=self.run_dir.locust,
                                   seed=self.settings.seed, run_id=self.run_dir.run_id,
                                   flows=self.stage.flows_env())
        self._load_started_wall = time.time()
        self._process = LoadProcess.start(commands, log_path=self.run_dir.logs / "locust.log", cwd=self.run_dir.path)
        self.stage.register_process("locust", self._process.pids)
        self.faults.journal = self

    @property
    def elapsed(self) -> float:
        """Seconds since the load started (0 before)."""
        return 0.0 if self._process is None else self.clock() - self._process.started

    def wait_until(self, seconds: float) -> None:
        """Let the load run until ``seconds`` after it started (at once if that time has passed)."""
        if self._process is None:
            raise RuntimeError("the load has not started: use 'with orderquake_load(...) as load:'")
        while (left := seconds - self.elapsed) > 0:
            self.sleep(min(left, 0.5))

    @property
    def scratch(self) -> Path:
        return self.run_dir.path

    def record_fault(self, name: str, kind: str, params: Mapping[str, Any], phase: str, error: str | None) -> None:
        """One line of ``faults.jsonl``, as the runner's scheduler writes it."""
        self.run_dir.append_jsonl(self.run_dir.faults, {
            "name": name, "kind": kind, "params": dict(params), "phase": phase, "at": time.time(),
            "t": round(self.elapsed, 3), "error": error})

    def _end_load(self, *, wait: bool) -> None:
        if self._load_done or self._process is None:
            return
        self._load_done = True
        try:
            if wait:
                shape = load_shape(self.scenario)
                budget = self.scenario.duration + shape.stop_timeout_s + _LOCUST_GRACE_S - self.elapsed
                self._process.wait(timeout_s=max(budget, 1.0))
        except OrderquakeError as exc:
            self._outcome.failed(exc)
        finally:
            with shielded():
                self._process.stop()
                self._load_seconds = self.elapsed
                self.faults.journal = None
                try:
                    self.stage.heal()
                except OrderquakeError as exc:
                    self._outcome.failed(exc)

    # ---- after the load --------------------------------------------------------------------
    def verdict(self) -> RunVerdict:
        """Stop the load (once its duration is over), heal, wait for recovery (bounded), read, judge.

        Called again, it returns the same verdict. The run directory then holds every artifact.
        """
        if self._verdict is not None:
            return self._verdict
        try:
            self._end_load(wait=True)
            if self._outcome.error is None:
                self._settle_and_read()
        except (OrderquakeError, KeyboardInterrupt) as exc:
            self._outcome.failed(exc)
            if isinstance(exc, KeyboardInterrupt):
                raise
        finally:
            with shielded():
                self._keep_logs()
                self._verdict = self._judge()
        self.on_verdict(self, self._verdict)
        return self._verdict

    def _settle_and_read(self) -> None:
        state = scoped_state(self.stage.target.state, self._excluded)
        database = self.stage.sut_database_url
        wait_for_consistency(lambda: count_pending(database, state), deadline_s=self.scenario.recovery_deadline,
                             run_dir=self.run_dir, clock=self.clock, sleep=self.sleep)
        sut = read_sut_state(database, state, self.run_dir)
        counts: dict[str, Any] = dict(sut.counts)
        ledger = read_provider_ledger(self.stage.provider_url, self.run_dir)
        for kind in Kind:
            ledger[f"{kind.value}s"] = drop_earlier(self.run_dir.provider_ledger(kind), kind, self._excluded)
        counts.update({f"provider_{name}": count for name, count in ledger.items()})
        counts.update(correlate(self.stage.target, self.run_dir))
        mark_complete(self.run_dir, counts, lenient=sut.lenient)

    def _keep_logs(self) -> None:
        """Each stage log from where it stood when this load started: logs/<component>.log of the run."""
        for log in self.stage.log_dir.glob("*.log"):
            with log.open("rb") as source, (self.run_dir.logs / log.name).open("ab") as copy:
                source.seek(self._log_offsets.get(log.name, 0))
                shutil.copyfileobj(source, copy)

    def _judge(self) -> RunVerdict:
        outcome = self._outcome
        started = (self._started_at or datetime.now(UTC)).isoformat()
        RunFacts(variant=self.settings.variant, started=started, load_started_wall=self._load_started_wall,
                 load_seconds=self._load_seconds, interrupted=outcome.interrupted, error=outcome.error,
                 error_exit_code=None if outcome.error_code is None else int(outcome.error_code)).write(self.run_dir)
        return judge_and_write(self.run_dir)

    def close(self) -> None:
        """Whatever the test did or did not do: Locust stopped, the stage healed, the run judged."""
        if self._process is not None and self._verdict is None:
            self._end_load(wait=False)
            self.verdict()
