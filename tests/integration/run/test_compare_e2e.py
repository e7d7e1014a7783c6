"""End to end: two real runs of one scenario, the second with a slow provider, and ``orderquake compare``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
ORDERQUAKE = [sys.executable, "-m", "harness"]

SCENARIO = """
name: e2e-compare
description: orders only, {what}
seed: 13
duration: 10s
load: {{users: 8, spawn_rate: 8, mix: {{order: 1}}, duplicates: 0}}
{faults}
recovery: {{deadline: 30s}}
"""
SLOW_PROVIDER = "faults:\n  - {at: 1s, for: 8s, kind: latency, link: provider, latency: 300ms}"


def _orderquake(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ORDERQUAKE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _run(tmp_path: Path, name: str, faults: str, what: str) -> Path:
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(SCENARIO.format(what=what, faults=faults))
    out = tmp_path / name
    result = _orderquake("run", str(scenario), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def test_a_slow_provider_exceeds_the_p99_limit_and_a_run_matches_itself(tmp_path: Path) -> None:
    baseline = _run(tmp_path, "baseline", "", "no fault")
    slow = _run(tmp_path, "slow", SLOW_PROVIDER, "300 ms more on the provider link for 8 s")

    compared = _orderquake("compare", str(baseline), str(slow), "--max-p99-increase", "20%",
                           "--out", str(tmp_path / "compare"))
    assert compared.returncode == 1, compared.stdout + compared.stderr
    assert "p99 of order: " in compared.stdout and "limit +20%" in compared.stdout, compared.stdout
    data = json.loads((tmp_path / "compare" / "compare.json").read_text())
    (p99_line,) = [line for line in data["exceeded"] if line.startswith("p99 of order")]
    assert p99_line in compared.stdout
    assert data["run"]["operations"]["order"]["p99_ms"] >= 300.0
    (window,) = data["run"]["blast_radius"]
    assert (window["kind"], window["link"]) == ("latency", "provider")
    assert 0.9 <= window["start_t"] < window["end_t"] and window["invoked"] > 0
    assert (tmp_path / "compare" / "compare.md").read_text().startswith("# orderquake compare")
    page = (tmp_path / "compare" / "compare.html").read_text()
    assert p99_line.replace("->", "-&gt;") in page and "over limit" in page

    itself = _orderquake("compare", str(slow), str(slow), "--max-p99-increase", "20%",
                         "--max-error-rate-increase", "0%", "--max-recovery-increase", "0s")
    assert itself.returncode == 0, itself.stdout + itself.stderr
    assert "- none exceeded" in itself.stdout
    assert json.loads((slow / "compare.json").read_text())["exceeded"] == []
