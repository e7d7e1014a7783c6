"""``--workers N``: the open-model load spread over Locust workers, each offering its share of the rate."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.capacity import CapacityRequest, capacity
from harness.checker.model import Verdict

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def test_two_workers_offer_the_step_rate_between_them(tmp_path: Path) -> None:
    outcome = capacity(CapacityRequest(scenario=HERE / "capacity.yaml", rates=(30.0,), step_seconds=4.0, workers=2,
                                       out=tmp_path, quiet=True))
    (series,) = outcome.series
    assert series.verdict.verdict is Verdict.PASS, series.verdict.reason
    (step,) = series.steps
    assert step.generator.processes == 2
    assert step.generator.scheduled == 120 and step.generator.sent == 120
    assert len(series.run_dir.history_files()) == 2  # one history file per worker; the master sends nothing
    assert step.load.arrivals >= 100  # the bursts' submissions carry no intended start
