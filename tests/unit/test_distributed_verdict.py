"""The workers checker and the verdict of a distributed run, from the run directory alone: every
history that arrived is judged, one that is missing or short makes the verdict unknown and is
named, and ``orderquake check`` reads the same from workers.json and run.json."""

from __future__ import annotations

import json
from pathlib import Path

from rundir_builder import build_run, lines, op, record, sut_row

from harness.checker.checkers import workers_checker
from harness.checker.integrity import write_manifest
from harness.checker.model import Category, Kind, RunVerdict, Verdict
from harness.distributed import Digest, WorkerEntry, WorkerJournal, write_journal
from harness.distributed.protocol import process_base
from harness.run.verdict import RunFacts, judge_run
from harness.rundir import RunDir

FACTS = RunFacts(started="2026-12-01T00:00:00+00:00", load_started_wall=100.0, load_seconds=10.0, remote_workers=2)
REMOTE = [f"{process_base(0) + 7}.jsonl", f"{process_base(1) + 7}.jsonl"]


def _shipped(run_dir: RunDir, *, declare: bool = True, received: int = 2, exit_codes: tuple[int, ...] = (0, 0),
             extra: str = "") -> WorkerJournal:
    """Two remote slots of one worker, each with one acknowledged order in its history file."""
    digests = {}
    for slot, name in enumerate(REMOTE):
        data = lines(op("order", f"r-o-{slot}", "ok", process=slot + 10)) + (extra if slot == 0 else "")
        digests[name] = Digest.of(data.encode())
        if slot < received:
            (run_dir.history / name).write_text(data)
    entry = WorkerEntry(worker="w1", host="loadgen", slots=(0, 1), joined_wall=90.0,
                        received={n: digests[n] for n in REMOTE[:received]},
                        rejected={n: "2 records declared, 1 received: a short or damaged upload"
                                  for n in REMOTE[received:]},
                        declared=digests if declare else None, exit_codes=exit_codes if declare else ())
    journal = WorkerJournal(local=0, expected=2, workers=(entry,), closed_wall=120.0)
    write_journal(run_dir, journal)
    return journal


def _run(tmp_path: Path, **shipped: object) -> RunDir:
    sut = {Kind.ORDER: [sut_row(Kind.ORDER, f"r-o-{s}", "succeeded") for s in range(2)]}
    provider = {Kind.ORDER: [record(Kind.ORDER, f"r-o-{s}", "succeeded") for s in range(2)]}
    run_dir = build_run(tmp_path, [], sut=sut, provider=provider, facts=FACTS, complete=False)
    (run_dir.history / "1.jsonl").unlink()  # the master wrote no history of its own
    _shipped(run_dir, **shipped)  # type: ignore[arg-type]
    write_manifest(run_dir)
    return run_dir


def test_every_history_arrived_the_run_passes_and_says_how_many(tmp_path: Path) -> None:
    verdict, _ = judge_run(_run(tmp_path))
    assert verdict.verdict is Verdict.PASS, verdict.reason
    assert verdict.checkers["workers"].valid is Verdict.PASS
    assert verdict.workers is not None and verdict.workers.to_json() == {
        "local": 0, "remote_expected": 2, "remote_joined": 2, "took_part": 2, "histories_expected": 2,
        "histories_arrived": 2, "missing": [], "died": []}
    assert verdict.counts.ok == 2
    assert RunVerdict.from_json(json.loads(json.dumps(verdict.to_json()))).workers == verdict.workers


def test_a_short_upload_makes_the_verdict_unknown_naming_the_file(tmp_path: Path) -> None:
    verdict, _ = judge_run(_run(tmp_path, received=1))
    assert verdict.verdict is Verdict.UNKNOWN
    reason = verdict.checkers["workers"].reason or ""
    assert f"history/{REMOTE[1]}" in reason and "short" in reason and "1 of 2 worker histories arrived" in reason
    assert verdict.workers is not None and verdict.workers.histories_arrived == 1


def test_a_worker_killed_before_its_upload_is_a_missing_history_never_a_pass(tmp_path: Path) -> None:
    verdict, _ = judge_run(_run(tmp_path, declare=False, received=0))
    assert verdict.verdict is Verdict.UNKNOWN
    assert "w1 (loadgen, slots 0,1): its history never arrived" in (verdict.reason or "")


def test_a_violation_in_the_history_that_did_arrive_still_fails_the_run(tmp_path: Path) -> None:
    lost = lines(op("order", "r-o-lost", "ok", process=10))
    verdict, _ = judge_run(_run(tmp_path, declare=False, received=1, extra=lost))
    assert verdict.verdict is Verdict.FAIL and verdict.invariants[Category.LOST].count == 1


def test_a_died_process_whose_history_arrived_is_judged_but_unexplained_ids_are_set_aside(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, exit_codes=(-9, 0))
    with run_dir.sut_state(Kind.ORDER).open("a") as handle:  # an id whose invoke died with its batch
        handle.write(lines([sut_row(Kind.ORDER, "r-o-unsent", "succeeded")]))
    with run_dir.provider_ledger(Kind.ORDER).open("a") as handle:
        handle.write(lines([record(Kind.ORDER, "r-o-unsent", "succeeded")]))
    write_manifest(run_dir)
    verdict, _ = judge_run(run_dir)
    assert verdict.workers is not None and verdict.workers.died == ("w1 slot 0 (signal 9)",)
    assert verdict.checkers["workers"].valid is Verdict.PASS
    assert verdict.verdict is Verdict.UNKNOWN and "could not be judged" in (verdict.checkers["invariants"].reason or "")


def test_without_workers_json_a_run_that_expected_remote_workers_is_unknown(tmp_path: Path) -> None:
    run_dir = _run(tmp_path)
    run_dir.workers.unlink()
    verdict, _ = judge_run(run_dir)
    assert verdict.verdict is Verdict.UNKNOWN and "workers.json is missing" in (verdict.reason or "")


def test_fewer_joined_than_expected_and_local_workers_count_in_place() -> None:
    result, count = workers_checker(WorkerJournal(local=2, expected=1))
    assert result.valid is Verdict.UNKNOWN and "0 of 1 remote Locust worker(s) joined" in (result.reason or "")
    assert (count.took_part, count.histories_arrived, count.histories_expected) == (2, 2, 3)
    result, count = workers_checker(WorkerJournal(local=3))
    assert result.valid is Verdict.PASS and (count.took_part, count.histories_arrived) == (3, 3)
