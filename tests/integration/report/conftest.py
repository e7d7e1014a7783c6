"""The real runs the report's browser tests open, made once per session: one with a provider latency
fault, and its baseline, the same scenario with no fault (about 10 s of load each)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium_cdp import Chromium, chromium_or_skip

ROOT = Path(__file__).resolve().parents[3]

SCENARIO = """
name: report-e2e
description: orders and payouts{what}
seed: 21
duration: 10s
load: {{users: 8, spawn_rate: 8, mix: {{order: 6, payout: 2, get_order: 1, get_payout: 1}}, duplicates: 0.05}}
{faults}
recovery: {{deadline: 30s}}
slo: ["p99 < 1500ms", "error_rate < 0.2"]
"""
# Most of the load under the fault: a short window slows too few of the closed-loop users' orders to
# move the p99 that the comparison tests expect to rise (a 3 s window once left it lower than the baseline's).
SLOW_PROVIDER = "faults:\n  - {at: 2s, for: 7s, kind: latency, link: provider, latency: 800ms, jitter: 100ms}"


def make_run(tmp: Path, faults: str, what: str) -> Path:
    """Run the scenario with ``faults`` and return its run directory; a pass or an SLO breach only."""
    chromium_or_skip()  # no need to make the run when the browser is missing
    scenario = tmp / "report-e2e.yaml"
    scenario.write_text(SCENARIO.format(faults=faults, what=what))
    out = tmp / "runs"
    result = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode in (0, 3), result.stdout + result.stderr
    (found,) = [p for p in out.iterdir() if p.is_dir()]
    return found


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("report-run"), SLOW_PROVIDER,
                    "; the provider link slowed for a few seconds")


@pytest.fixture(scope="session")
def baseline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("baseline-run"), "", "; no fault")


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    with Chromium.start(tmp_path_factory.mktemp("chromium-profile")) as chromium:
        yield chromium
