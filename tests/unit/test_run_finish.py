import json
from datetime import UTC, datetime
from pathlib import Path

from harness.run.rundir import RunDir
from harness.run.runner import _Progress, finish
from harness.scenario import parse_scenario
from harness.target import load_target

SCENARIO = """
name: unit
seed: 4
duration: 10s
load: {users: 1, spawn_rate: 1, mix: {order: 1}}
slo: ["p99 < 100ms"]
"""


def _run_dir(tmp_path: Path) -> RunDir:
    run_dir = RunDir.create("unit", out=tmp_path)
    invoke = {"type": "invoke", "op": "order", "id": "o1", "process": 1, "time": 0, "wall": 100.0, "attempt": 1,
              "value": {"amount_minor": 5, "currency": "EUR"}, "status": None, "error": None}
    ok = {**invoke, "type": "ok", "time": 20_000_000, "wall": 100.02, "status": 201}
    (run_dir.history / "1.jsonl").write_text(json.dumps(invoke) + "\n" + json.dumps(ok) + "\n")
    return run_dir


def _finish(run_dir: RunDir, progress: _Progress) -> dict:
    scenario = parse_scenario(SCENARIO, file="unit.yaml")
    return finish(run_dir, scenario=scenario, target=load_target(None), variant="correct",
                  started=datetime.now(UTC), progress=progress)


def test_missing_final_reads_give_unknown_and_exit_4(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    verdict = _finish(run_dir, _Progress(load_started_wall=100.0, load_seconds=10))
    assert (verdict["verdict"], verdict["exit_code"]) == ("unknown", 4)
    assert json.loads(run_dir.verdict.read_text())["verdict"] == "unknown"
    assert run_dir.junit.exists() and run_dir.report.exists()


def test_complete_run_is_judged_and_slo_breach_is_exit_3(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    (run_dir.state / "sut_orders.jsonl").write_text(json.dumps({"order_id": "o1", "status": "succeeded",
                                                                "amount_minor": 5}) + "\n")
    (run_dir.state / "provider_orders.ndjson").write_text(json.dumps(
        {"id": "po_1", "merchant_order_id": "o1", "status": "succeeded", "amount_minor": 5, "currency": "EUR"}) + "\n")
    (run_dir.state / "complete.json").write_text("{}")
    progress = _Progress(load_started_wall=100.0, load_seconds=10)
    verdict = _finish(run_dir, progress)
    assert verdict["verdict"] == "pass"
    assert verdict["slo"] == [{"rule": "p99 < 100ms", "observed": 20.0, "pass": True}]
    progress.interrupted = True
    assert _finish(run_dir, progress)["exit_code"] == 130


def test_a_damaged_artifact_still_ends_with_a_verdict(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    (run_dir.state / "sut_orders.jsonl").write_text("{not json\n")
    (run_dir.state / "complete.json").write_text("{}")
    verdict = _finish(run_dir, _Progress(load_started_wall=100.0, load_seconds=10))
    assert verdict["verdict"] == "unknown"
    assert verdict["exit_code"] == 2
    assert "checker could not run" in verdict["reason"]
    assert json.loads(run_dir.verdict.read_text())["exit_code"] == 2
