"""The verdict of a run directory: every checker composed once, from the artifacts alone.

``judge_run`` is the one place a verdict is made. The runner calls it when a run ends and
``orderquake check RUN_DIR`` calls it again later, on the same files, so both give the same
verdict and exit code: what only the run knew (interrupted, the error that stopped it, when the
load started) is in ``run.json``, written before judging; the scenario (SLOs, ``min_ops``, the
planned faults) is the saved ``scenario.yaml``; everything else is evidence.

    facts.write(run_dir)                         # the runner, as the run ends
    verdict = judge_and_write(run_dir)           # the run and `orderquake check`: judge_run, then
                                                 # verdict.json, run.json's metrics, junit.xml, report.html
    verdict, metrics = judge_run(run_dir)        # the verdict alone

``judge_and_write`` reads the history's operations once (``harness.load.history_sql``) for both the
verdict's SLO metrics and the report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from harness._exceptions import ExitCode
from harness.checker.checkers import (
    Judgement,
    check_safe,
    coverage_checker,
    fault_checker,
    history_checker,
    integrity_checker,
    invariants_checker,
    money_checker,
    reading_checker,
    run_checker,
    workers_checker,
)
from harness.checker.evidence import Evidence
from harness.checker.integrity import Verification, verify
from harness.checker.model import (
    Category,
    CategoryResult,
    CheckerResult,
    Counts,
    Kind,
    MoneyFlow,
    RunVerdict,
    SloOutcome,
    Verdict,
    WorkerCount,
    compose,
)
from harness.checker.reading_duckdb import read_evidence
from harness.distributed.journal import WorkerJournal
from harness.load.history_sql import Shared, operations
from harness.report import write_html, write_junit
from harness.report.github import write_github_outputs
from harness.run.metrics import ClientMetrics, history_metrics
from harness.rundir import RunDir
from harness.scenario import Scenario, load_scenario


@dataclass(frozen=True)
class RunFacts:
    """What only the run itself knew, saved in ``run.json`` before the verdict is made."""

    variant: str = "correct"
    started: str | None = None
    load_started_wall: float | None = None
    load_seconds: float = 0.0
    interrupted: bool = False
    error: str | None = None
    error_exit_code: int | None = None
    workers: int = 0  # local Locust workers (0: one process, or remote ones only)
    remote_workers: int = 0  # expected from `orderquake worker`; their journal is workers.json

    def write(self, run_dir: RunDir) -> None:
        previous = _read_json(run_dir.run_info) or {}
        run_dir.write_json(run_dir.run_info, {**previous, **asdict(self)})

    @classmethod
    def read(cls, run_dir: RunDir) -> RunFacts | None:
        data = _read_json(run_dir.run_info)
        if data is None:
            return None
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)


def _read_json(path: Any) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _journal(run_dir: RunDir) -> list[dict[str, Any]]:
    if not run_dir.faults.exists():
        raise ValueError(f"{run_dir.relative(run_dir.faults)} is missing: expected the fault journal (empty when "
                         "no fault ran)")
    records = []
    for number, line in enumerate(run_dir.faults.read_text().splitlines(), start=1):
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError(f"{run_dir.relative(run_dir.faults)}:{number}: expected a JSON object, got {line[:80]!r}")
        records.append(record)
    return records


def recovery_seconds(run_dir: RunDir) -> float | None:
    """Time to consistency: ``t`` of the first sample of ``consistency.jsonl`` with nothing pending."""
    if not run_dir.consistency.exists():
        return None
    for line in run_dir.consistency.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("pending") == 0:
            return float(row.get("t") or 0.0)
    return None


def _target_name(run_dir: RunDir) -> str | None:
    try:
        data = yaml.safe_load(run_dir.target.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return str(data.get("name")) if isinstance(data, dict) and data.get("name") else None


_EMPTY_EVIDENCE = Evidence(judged=[], clean=dict.fromkeys(Kind, 0), money={}, counts=Counts(),
                           acknowledged=dict.fromkeys(Kind, 0))


def judge_run(run_dir: RunDir, *, now: datetime | None = None) -> tuple[RunVerdict, ClientMetrics | None]:
    """Compose every checker over ``run_dir``: the verdict, and the client metrics the SLOs were judged on."""
    with ExitStack() as stack:
        verdict, metrics, _ = _judge(run_dir, now, stack)
    return verdict, metrics


def judge_and_write(run_dir: RunDir) -> RunVerdict:
    """``judge_run``, then ``write_outputs``, with the history's operations read once for both."""
    with ExitStack() as stack:
        verdict, metrics, shared = _judge(run_dir, None, stack)
        write_outputs(run_dir, verdict, metrics, shared=shared)
    return verdict


def _judge(run_dir: RunDir, now: datetime | None, stack: ExitStack
           ) -> tuple[RunVerdict, ClientMetrics | None, Shared]:
    """The verdict, its metrics, and the history's operations, held open on ``stack`` for the report."""
    results: list[CheckerResult] = []

    def safe(name: str, checker: Any, fallback: Any) -> Any:
        failed, value = check_safe(name, checker, fallback)
        if failed is not None:
            results.append(failed)
        return value

    facts = RunFacts.read(run_dir)
    if facts is None:
        results.append(CheckerResult("run", Verdict.UNKNOWN, f"{run_dir.relative(run_dir.run_info)} is missing or "
                                     "damaged: what the "
                                     "run went through (interrupted, errors, load start) is not known"))
        facts = RunFacts()
    else:
        results.append(run_checker(facts.interrupted, facts.error))
    scenario: Scenario | None = safe("scenario", lambda: load_scenario(run_dir.scenario), None)
    journal = safe("faults", lambda: _journal(run_dir), None)
    fault_errors: list[str] = []
    if journal is not None:
        planned = [f.name for f in scenario.schedule()] if scenario is not None and not facts.interrupted else []
        fault_result, fault_errors = fault_checker(journal, planned)
        results.append(fault_result)
    workers: WorkerCount | None = None
    workers_whole = True
    if facts.workers or facts.remote_workers or run_dir.workers.exists():
        journal_read: WorkerJournal | None = safe("workers", lambda: _worker_journal(run_dir, facts), None)
        if journal_read is not None:
            workers_result, workers = workers_checker(journal_read)
            results.append(workers_result)
            workers_whole = workers_result.valid is Verdict.PASS and not workers.died
        else:
            workers_whole = False
    verified, read = verified_evidence(run_dir)
    failed, verification = verified
    results += [failed] if failed is not None else []
    problems = verification.problems
    results += [integrity_checker(problems)] if problems else []
    failed, evidence = read
    results += [failed] if failed is not None else []
    invariants: dict[Category, CategoryResult] = {}
    money: dict[tuple[Kind, str | None], MoneyFlow] = {}
    counts = Counts()
    torn: list[str] = []
    if evidence is not None:
        unjudged = frozenset(kind for problem in problems for kind in problem.flows)
        history_whole = (not evidence.damage and not any(problem.history for problem in problems)
                         and workers_whole)
        results.append(reading_checker(evidence))
        results.append(history_checker(evidence))
        judgement: Judgement | None = safe(
            "invariants", lambda: invariants_checker(evidence, unjudged=unjudged, history_whole=history_whole), None)
        if judgement is not None:
            results.append(judgement.result)
            invariants = dict(judgement.invariants)
        money_result, money = money_checker(evidence, unjudged=unjudged)
        results.append(money_result)
        results.append(coverage_checker(evidence, min_ops=scenario.min_ops if scenario is not None else 1))
        counts, torn = evidence.counts, list(evidence.torn)
    recovery = recovery_seconds(run_dir)
    clean = evidence is not None and not evidence.damage and not evidence.torn  # every history line JSON
    shared = Shared(safe("slo", lambda: stack.enter_context(operations(run_dir.history, clean=clean)), None))
    metrics: ClientMetrics | None = safe("slo", lambda: history_metrics(
        run_dir.history, load_seconds=facts.load_seconds, origin_wall=facts.load_started_wall or 0.0, clean=clean,
        shared=shared), None)
    slo: tuple[SloOutcome, ...] = ()
    if scenario is not None and metrics is not None:
        observed = metrics.observed(recovery)
        slo = tuple(SloOutcome(rule.text, *rule.evaluate(observed)) for rule in scenario.slo)
    verdict, reason = compose(results)
    finished = now or datetime.now(UTC)
    started = _parse_time(facts.started)
    return RunVerdict(
        verdict=verdict, checkers={result.name: result for result in results}, invariants=invariants, money=money,
        counts=counts, slo=slo, reason=reason, recovery_seconds=recovery,
        scenario=scenario.name if scenario is not None else None,
        seed=scenario.seed if scenario is not None else None, target=_target_name(run_dir),
        variant=facts.variant, started=facts.started, finished=finished.isoformat(),
        duration_seconds=round((finished - started).total_seconds(), 3) if started is not None else None,
        fault_errors=tuple(fault_errors), interrupted=facts.interrupted,
        error_exit_code=ExitCode(facts.error_exit_code) if facts.error_exit_code is not None else None,
        torn_lines=tuple(torn), workers=workers), metrics, shared


def verified_evidence(run_dir: RunDir) -> tuple[tuple[CheckerResult | None, Verification],
                                                tuple[CheckerResult | None, Evidence | None]]:
    """The manifest verified and the evidence read, each through ``check_safe``: the digests are computed on
    a thread while DuckDB loads the state (hashlib and DuckDB both let go of the GIL), and the reader
    waits for them only to leave the files found strict and unchanged unscanned."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        verifying = pool.submit(check_safe, "evidence", lambda: verify(run_dir), Verification())
        read: tuple[CheckerResult | None, Evidence | None] = check_safe(
            "reading", lambda: read_evidence(run_dir.evidence_files(), strict=lambda: verifying.result()[1].strict),
            None)
        return verifying.result(), read


def _worker_journal(run_dir: RunDir, facts: RunFacts) -> WorkerJournal:
    """``workers.json``; without it, a run that had remote workers cannot say what they shipped."""
    if not run_dir.workers.exists():
        if facts.remote_workers:
            raise ValueError(f"{run_dir.relative(run_dir.workers)} is missing: {facts.remote_workers} remote "
                             "worker(s) were expected and what they shipped is not known")
        return WorkerJournal(local=facts.workers)
    return WorkerJournal.from_json(json.loads(run_dir.workers.read_text()))


def _parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def write_outputs(run_dir: RunDir, verdict: RunVerdict, metrics: ClientMetrics | None, *,
                  shared: Shared | None = None) -> Mapping[str, Any]:
    """verdict.json first (it is what CI reads), then run.json's metrics, junit.xml, report.html, and
    in a GitHub Actions job its summary and annotations (``harness.report.github``); ``shared``: the
    history's operations, already opened by the verdict."""
    payload = verdict.to_json()
    run_dir.write_json(run_dir.verdict, payload)
    info = _read_json(run_dir.run_info) or {}
    info["metrics"] = {k: v for k, v in vars(metrics).items() if k != "timeline"} if metrics else {}
    info["timeline"] = metrics.timeline if metrics else []
    run_dir.write_json(run_dir.run_info, info)
    write_junit(verdict, run_dir.junit, run_dir)
    write_html(run_dir.path, shared=shared)
    write_github_outputs(verdict, run_dir)
    return payload
