"""End to end: ``orderquake run`` on the real stage, against the reference service and a seeded bug."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.checker.integrity import write_manifest
from harness.rundir import RunDir

ROOT = Path(__file__).resolve().parents[3]
ORDERQUAKE = [sys.executable, "-m", "harness"]


def _orderquake(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ORDERQUAKE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _run_dir(out: Path) -> Path:
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def _without_times(verdict: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in verdict.items() if k not in ("finished", "duration_seconds")}


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


SMOKE = """
name: e2e-smoke
description: steady orders and payouts, no faults
seed: 11
duration: 12s
load: {users: 12, spawn_rate: 12, mix: {order: 6, payout: 2, get_order: 1, get_payout: 1}, duplicates: 0.1}
recovery: {deadline: 30s}
slo: ["error_rate < 0.05"]
"""

DB_OUTAGE = """
name: e2e-db-outage
description: PostgreSQL stops hard under load; acknowledged orders must survive
seed: 5
duration: 16s
load: {users: 12, spawn_rate: 12, mix: {order: 1}, duplicates: 0}
faults:
  - {at: 5s, for: 5s, kind: db_outage}
recovery: {deadline: 40s}
"""


def test_smoke_against_correct_service_passes_with_many_orders(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = _orderquake("run", str(_scenario(tmp_path, SMOKE)), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = _run_dir(out)
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["verdict"] == "pass"
    assert verdict["counts"]["ok"] > 200
    assert all(entry["count"] == 0 for name, entry in verdict["invariants"].items() if entry["violation"])
    for artifact in ("scenario.yaml", "target.yaml", "junit.xml", "report.html", "consistency.jsonl",
                     "state/sut_orders.jsonl", "state/provider_orders.ndjson"):
        assert (run_dir / artifact).exists(), artifact
    assert list((run_dir / "history").glob("*.jsonl"))

    # Checked again offline, the untouched run gives the same verdict, field for field, times aside.
    checked = _orderquake("check", str(run_dir))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert _without_times(json.loads((run_dir / "verdict.json").read_text())) == _without_times(verdict)

    # Remove one acknowledged order from the saved SUT state: the evidence no longer matches its manifest.
    sut_orders = run_dir / "state" / "sut_orders.jsonl"
    rows = sut_orders.read_text().splitlines()
    victim = json.loads(rows[0])
    sut_orders.write_text("\n".join(rows[1:]) + "\n")
    checked = _orderquake("check", str(run_dir))
    assert checked.returncode == 4, checked.stdout + checked.stderr
    assert "state/sut_orders.jsonl" in json.loads((run_dir / "verdict.json").read_text())["reason"]
    # A SUT that really lost the row (the manifest agrees with the file): the offline check calls it lost.
    write_manifest(RunDir(run_dir))
    checked = _orderquake("check", str(run_dir))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["invariants"]["lost"]["count"] >= 1
    assert victim["order_id"] in json.dumps(verdict["invariants"]["lost"]["examples"])


def test_ack_before_commit_loses_orders_in_a_database_outage(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = _orderquake("run", str(_scenario(tmp_path, DB_OUTAGE)), "--variant", "ack-before-commit",
                         "--out", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = json.loads((_run_dir(out) / "verdict.json").read_text())
    assert verdict["invariants"]["lost"]["count"] > 0
    faults = [json.loads(line) for line in (_run_dir(out) / "faults.jsonl").read_text().splitlines()]
    assert [f["phase"] for f in faults] == ["start", "heal"]
    checked = _orderquake("check", str(_run_dir(out)))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert _without_times(json.loads((_run_dir(out) / "verdict.json").read_text())) == _without_times(verdict)


def _stage_pids(run_dir: Path) -> list[tuple[int, int | None]]:
    """Pids (with start times) of the stage serving ``run_dir``, from its state file."""
    from harness._paths import state_dir

    for path in state_dir().glob("*.json"):
        state = json.loads(path.read_text())
        if state.get("root") == str(run_dir / "stage"):
            return [(p["pid"], p["started"]) for p in state["processes"]]
    return []


def test_sigint_during_a_fault_heals_everything_and_exits_130(tmp_path: Path) -> None:
    from harness.stage.process import alive

    scenario = _scenario(tmp_path, """
name: e2e-interrupt
seed: 3
duration: 60s
load: {users: 4, spawn_rate: 4, mix: {order: 1}}
faults:
  - {at: 2s, for: 50s, kind: latency, link: provider, latency: 300ms}
recovery: {deadline: 10s}
""")
    out = tmp_path / "runs"
    proc = subprocess.Popen([*ORDERQUAKE, "run", str(scenario), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        faults_file = None
        while time.monotonic() < deadline and faults_file is None:
            found = list(out.glob("*/faults.jsonl")) if out.exists() else []
            recorded = [p for p in out.glob("*/history/*.jsonl") if p.stat().st_size] if out.exists() else []
            if found and "start" in found[0].read_text() and recorded:
                faults_file = found[0]
            else:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
        assert faults_file is not None, "the fault never started"
        run_dir = faults_file.parent
        pids = _stage_pids(run_dir)
        assert len(pids) >= 5, pids  # postgres, toxiproxy, provider, sut, locust
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    records = [json.loads(line) for line in faults_file.read_text().splitlines()]
    assert [(r["phase"], r["error"]) for r in records] == [("start", None), ("heal", None)]
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["exit_code"] == 130 and verdict["verdict"] == "unknown"
    checked = _orderquake("check", str(run_dir))
    assert checked.returncode == 130, checked.stdout + checked.stderr
    assert _without_times(json.loads((run_dir / "verdict.json").read_text())) == _without_times(verdict)
    assert list((run_dir / "history").glob("*.jsonl")), "partial results must be kept"
    assert (run_dir / "report.html").exists()
    orphans = [pid for pid, started in pids if alive(pid, started)]
    assert orphans == [], f"processes left behind: {orphans}"
