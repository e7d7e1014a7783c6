"""The end of a run: what it went through is saved, the run directory judged, every output written;
``orderquake check`` on the same directory reproduces the verdict and exit code."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness._exceptions import ExitCode
from harness._paths import scenarios_dir
from harness.checker.integrity import write_manifest
from harness.checker.model import RunVerdict
from harness.cli.main import main
from harness.run.runner import _Progress, finish
from harness.rundir import RunDir

SCENARIO = """
name: unit
seed: 4
duration: 10s
load: {users: 1, spawn_rate: 1, mix: {order: 1}}
slo: ["p99 < 100ms"]
"""


def _run_dir(tmp_path: Path) -> RunDir:
    run_dir = RunDir.create("unit", out=tmp_path)
    run_dir.scenario.write_text(SCENARIO)
    run_dir.target.write_text("name: reference\n")
    invoke = {"type": "invoke", "op": "order", "id": "o1", "process": 1, "time": 0, "wall": 100.0, "attempt": 1,
              "value": {"amount_minor": 5, "currency": "EUR"}, "status": None, "error": None}
    ok = {**invoke, "type": "ok", "time": 20_000_000, "wall": 100.02, "status": 201}
    (run_dir.history / "1.jsonl").write_text(json.dumps(invoke) + "\n" + json.dumps(ok) + "\n")
    return run_dir


def _complete(run_dir: RunDir) -> None:
    (run_dir.state / "sut_orders.jsonl").write_text(json.dumps({"order_id": "o1", "status": "succeeded",
                                                                "amount_minor": 5}) + "\n")
    (run_dir.state / "sut_payouts.jsonl").write_text("")
    (run_dir.state / "provider_orders.ndjson").write_text(json.dumps(
        {"id": "po_1", "merchant_order_id": "o1", "status": "succeeded", "amount_minor": 5, "currency": "EUR"}) + "\n")
    (run_dir.state / "provider_payouts.ndjson").write_text("")
    write_manifest(run_dir)


def _finish(run_dir: RunDir, progress: _Progress) -> RunVerdict:
    return finish(run_dir, variant="correct", started=datetime.now(UTC), progress=progress)


def _without_times(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in ("finished", "duration_seconds")}


def test_missing_final_reads_give_unknown_and_exit_4(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    verdict = _finish(run_dir, _Progress(load_started_wall=100.0, load_seconds=10))
    assert (verdict.verdict.value, verdict.exit_code) == ("unknown", ExitCode.INFRASTRUCTURE)
    assert json.loads(run_dir.verdict.read_text())["verdict"] == "unknown"
    assert run_dir.junit.exists() and run_dir.report.exists()


def test_complete_run_is_judged_and_check_reproduces_it_field_for_field(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    _complete(run_dir)
    verdict = _finish(run_dir, _Progress(load_started_wall=100.0, load_seconds=10))
    assert verdict.verdict.value == "pass" and verdict.exit_code is ExitCode.PASS
    assert [s.to_json() for s in verdict.slo] == [{"rule": "p99 < 100ms", "observed": 20.0, "pass": True}]
    written = json.loads(run_dir.verdict.read_text())
    assert main(["check", str(run_dir.path)]) == 0
    assert _without_times(json.loads(run_dir.verdict.read_text())) == _without_times(written)


def test_an_interrupted_or_broken_run_keeps_its_exit_code_when_checked_again(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    _complete(run_dir)
    assert _finish(run_dir, _Progress(load_seconds=10, interrupted=True, reason="SIGINT")).exit_code == 130
    assert main(["check", str(run_dir.path)]) == 130
    broken = _Progress(load_seconds=10, reason="the target's orders_sql is not valid SQL",
                       error_code=ExitCode.USAGE)
    assert _finish(run_dir, broken).exit_code is ExitCode.USAGE
    assert main(["check", str(run_dir.path)]) == 2
    assert "orders_sql" in json.loads(run_dir.verdict.read_text())["reason"]


def test_a_damaged_artifact_still_ends_with_a_verdict(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    _complete(run_dir)
    (run_dir.state / "sut_orders.jsonl").write_text("{not json\n")
    write_manifest(run_dir)
    verdict = _finish(run_dir, _Progress(load_started_wall=100.0, load_seconds=10))
    assert (verdict.verdict.value, verdict.exit_code) == ("unknown", ExitCode.INFRASTRUCTURE)
    assert "orders could not be read: state/sut_orders.jsonl:1" in (verdict.reason or "")
    assert json.loads(run_dir.verdict.read_text())["exit_code"] == 4


def test_a_wrong_variant_is_refused_before_a_run_directory_exists(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    smoke = str(scenarios_dir() / "smoke.yaml")
    assert main(["run", smoke, "--variant", "no-such-bug", "--out", str(out)]) == 2
    assert not out.exists()
