"""A SUT faster than the load generator can drive: the step the generator could not offer is marked
harness-limited, and the knee is reported as a lower bound, never as the service's capacity."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.capacity import CapacityRequest, capacity
from harness.checker.model import Verdict

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def test_a_rate_beyond_the_generator_is_harness_limited_and_the_knee_a_lower_bound(tmp_path: Path) -> None:
    # One Locust process sends at most about 2,500 arrivals/s on an idle core of this machine; 6,000 is out of reach.
    outcome = capacity(CapacityRequest(scenario=HERE / "capacity.yaml", target=HERE / "tiny.yaml",
                                       rates=(40.0, 6000.0), step_seconds=4.0, out=tmp_path, quiet=True))
    (series,) = outcome.series
    assert series.verdict.verdict is Verdict.PASS, series.verdict.reason  # tiny, but correct
    low, high = series.steps
    assert low.holds
    assert high.harness_limited
    assert any("the generator offered" in why for why in high.limits)
    assert high.achieved_offer < 0.9 * high.rate
    assert series.knee.lower_bound and "harness was the limit" in series.knee.why
    assert set(low.cpu) >= {"sut", "postgres", "provider", "toxiproxy", "locust"}
    data = json.loads(outcome.json_path.read_text())
    step = data["series"][0]["steps"][1]
    assert step["harness_limited"] is True and step["limits"]
    assert data["series"][0]["knee"]["lower_bound"] is True
    suite = ET.parse(outcome.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    names = [case.get("name") for case in suite.findall("testcase")]
    assert names == ["step 1 40/s", "step 2 6000/s", "knee"]
    assert outcome.exit_code == 0
