"""A service that loses orders only under load (the reference service's drop-when-busy variant with a
pool of two): the knee is set by an invariant, not an SLO, and the lost orders belong to the step that
first invoked them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.capacity import CapacityRequest, capacity
from harness.capacity.steps import step_of

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def test_the_knee_is_set_by_lost_orders_attributed_to_their_step(tmp_path: Path) -> None:
    outcome = capacity(CapacityRequest(scenario=HERE / "capacity.yaml", target=HERE / "busy.yaml",
                                       variant="drop-when-busy", rates=(20.0, 40.0, 200.0), step_seconds=5.0,
                                       out=tmp_path, quiet=True))
    (series,) = outcome.series
    first, *_ = series.steps
    assert first.holds, first.broken  # one create at a time at 20/s: nothing is dropped
    broken = series.knee.broken
    assert broken is not None and broken.rate > 20
    assert series.knee.to_json()["set_by"] == "invariant"
    assert broken.violations.get("lost", 0) > 0
    assert broken.examples["lost"] and all(step_of(i) == broken.index for i in broken.examples["lost"])
    assert series.verdict.invariants  # the series' own verdict counts them too
    lost = series.verdict.invariants
    assert sum(r.count for c, r in lost.items() if c.value == "lost") == sum(
        s.violations.get("lost", 0) for s in series.steps)
    data = json.loads(outcome.json_path.read_text())["series"][0]
    assert data["knee"]["set_by"] == "invariant" and data["knee"]["rate"] == series.knee.rate
