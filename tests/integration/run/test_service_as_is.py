"""End to end: a service tested as it is, from its target file alone (examples/merchant/target.yaml):
its own API as HTTP steps, server-chosen ids, the Stripe dialect, stripe-python pointed at the
provider by the shim, signed webhooks, its own statuses; the correct shop passes and a seeded bug
(a retried create-payment making a second PaymentIntent) is caught as ``duplicated``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TARGET = ROOT / "examples" / "merchant" / "target.yaml"
SCENARIO = """
name: as-is
seed: 3
duration: 12s
load: {users: 8, spawn_rate: 8, mix: {order: 6, payout: 2, get_order: 1}, duplicates: DUPLICATES}
recovery: {deadline: 40s}
"""

pytestmark = pytest.mark.integration


def _run(tmp_path: Path, *args: str, duplicates: float = 0.05) -> tuple[subprocess.CompletedProcess[str], Path]:
    scenario = tmp_path / "as-is.yaml"
    scenario.write_text(SCENARIO.replace("DUPLICATES", str(duplicates)))
    out = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--target", str(TARGET),
                           "--out", str(out), "--quiet", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, (dirs, done.stdout, done.stderr)
    return done, dirs[0]


def _events(run_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for path in (run_dir / "history").glob("*.jsonl")
            for line in path.read_text().splitlines() if line.strip()]


def test_the_example_shop_passes_with_every_charge_joined_to_the_order_the_client_made(tmp_path: Path) -> None:
    done, run_dir = _run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["verdict"] == "pass"
    manifest = json.loads((run_dir / "state" / "complete.json").read_text())["counts"]
    assert manifest["correlated_orders"] == manifest["provider_orders"] > 50  # every charge found its order
    events = _events(run_dir)
    assert not [e for e in events if e["op"] == "payout"]  # the shop has no payout flow: dropped from the mix
    completions = [e for e in events if e["type"] == "ok" and e["op"] == "order"]
    assert completions and all([s[0] for s in e["steps"]][:1] == ["create-order"] for e in completions)  # type: ignore[index]
    assert any(str(e.get("captured", {}).get("order", "")).startswith("ord_") for e in completions)  # type: ignore[union-attr]
    assert "migrate" in (run_dir / "logs" / "setup.log").read_text()  # the target's setup ran before start


def test_a_retried_create_payment_that_makes_a_second_payment_is_caught_as_duplicated(tmp_path: Path) -> None:
    done, run_dir = _run(tmp_path, "--variant", "retry-double-payment", duplicates=0.3)
    assert done.returncode == 1, done.stdout + done.stderr
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["invariants"]["duplicated"]["count"] > 0
    example = verdict["invariants"]["duplicated"]["examples"][0]
    ids = {event["id"] for event in example["history"]}
    assert len(ids) == 1 and "-o-" in ids.pop()  # joined by the client's id, not the server's
    payments = {e["captured"]["intent"] for e in example["history"] if e.get("captured")}
    assert len(payments) >= 2  # the client was handed two PaymentIntents for one order


LATE = """
name: late
seed: 5
duration: 12s
load: {users: 8, spawn_rate: 8, mix: {order: 1}}
faults:
  - {at: 1s, for: 10s, kind: late_failure_events, rate: 0.5, every: 0.5s}
recovery: {deadline: 40s}
"""


@pytest.mark.parametrize("variant, code", [("correct", 0), ("late-failure-overwrites", 1)])
def test_a_late_payment_failed_after_the_success_is_survived_or_caught(tmp_path: Path, variant: str,
                                                                       code: int) -> None:
    scenario = tmp_path / "late.yaml"
    scenario.write_text(LATE)
    out = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--target", str(TARGET),
                           "--variant", variant, "--out", str(out), "--quiet"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == code, done.stdout + done.stderr
    run_dir = next(out.iterdir())
    sent = [json.loads(line) for line in (run_dir / "late_events.jsonl").read_text().splitlines()]
    assert len(sent) > 10 and all(entry["http_status"] == 200 for entry in sent)  # signed as the provider signs
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert (verdict["invariants"]["divergent"]["count"] > 0) == (variant != "correct")
