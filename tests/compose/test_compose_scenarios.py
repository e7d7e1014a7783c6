"""The built-in scenarios, unchanged, on ``--stage compose``: the correct service passes smoke,
db-outage and sut-crash, and ack-before-commit loses acknowledged orders in db-outage.

Durations are shortened to what still holds every fault of the file (db-outage's last fault
ends at 31 s, sut-crash's at 28 s), since every container start copies its image on the vfs
storage driver and the machine is shared."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.stage.compose import LABEL_OWNER, engine

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.compose, pytest.mark.timeout(900)]

CASES = [
    # scenario, variant, duration, exit code, what the verdict must say
    ("smoke", "correct", "10s", 0, None),
    ("db-outage", "correct", "32s", 0, None),
    ("sut-crash", "correct", "30s", 0, None),
    ("db-outage", "ack-before-commit", "32s", 1, "lost"),
]


@pytest.mark.parametrize(("scenario", "variant", "duration", "code", "violation"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_scenario_on_the_compose_stage(tmp_path: Path, scenario: str, variant: str, duration: str, code: int,
                                       violation: str | None) -> None:
    out = tmp_path / "runs"
    argv = [sys.executable, "-m", "harness", "run", str(ROOT / "scenarios" / f"{scenario}.yaml"), "--stage", "compose",
            "--variant", variant, "--duration", duration, "--out", str(out), "--quiet"]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = process.communicate(timeout=840)
    run_dir = next(p for p in out.iterdir() if p.is_dir())
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert process.returncode == code, output
    if violation is None:
        assert verdict["verdict"] == "pass", output
    else:
        assert verdict["invariants"][violation]["count"] > 0, output
    faults = [json.loads(line) for line in (run_dir / "faults.jsonl").read_text().splitlines() if line]
    assert all(f["error"] is None for f in faults), faults
    assert len([f for f in faults if f["phase"] == "heal"]) == len([f for f in faults if f["phase"] == "start"])
    logs = {p.name for p in (run_dir / "logs").iterdir()}
    assert {"sut.log", "postgres.log", "toxiproxy.log", "provider.log"} <= logs
    left = [c.name for c in engine().containers.list(all=True, filters={"label": LABEL_OWNER})
            if c.labels[LABEL_OWNER].startswith(f"{process.pid}:")]
    assert left == [], f"containers left behind: {left}"
