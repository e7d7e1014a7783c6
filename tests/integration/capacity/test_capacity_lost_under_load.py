"""A service that loses orders only under load (the reference service's drop-when-busy variant with a
pool of two): the knee is set by an invariant, not an SLO, and the lost orders belong to the step that
first invoked them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.capacity import CapacityRequest, capacity, parse_fault
from harness.capacity.steps import step_of

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def test_the_knee_is_set_by_lost_orders_attributed_to_their_step(tmp_path: Path) -> None:
    outcome = capacity(CapacityRequest(scenario=HERE / "capacity.yaml", target=HERE / "busy.yaml",
                                       variant="drop-when-busy", rates=(10.0, 20.0, 200.0), step_seconds=5.0,
                                       faults=(parse_fault("latency:provider:50ms", name="held"),),
                                       out=tmp_path, quiet=True))
    (series,) = outcome.series
    low, top = series.steps[0], series.steps[-1]
    # Every create waits at least 50 ms for the provider (a held latency), so how many overlap depends on
    # the offered rate, not on how fast the machine is: at 10/s (one every 100 ms) never three at once,
    # nothing dropped; at 200/s about ten at once, and every one beyond the pool's two is lost.
    assert low.violations.get("lost", 0) == 0, low.broken
    assert top.violations.get("lost", 0) > 10, top.broken
    assert top.examples["lost"] and all(step_of(i) == top.index for i in top.examples["lost"])
    broken = series.knee.broken
    assert broken is not None and broken.rate > 10 and broken.violations.get("lost", 0) > 0, series.knee.why
    assert series.knee.to_json()["set_by"] == "invariant"
    lost = sum(r.count for c, r in series.verdict.invariants.items() if c.value == "lost")
    assert lost == sum(s.violations.get("lost", 0) for s in series.steps)  # the series' verdict counts the same
    data = json.loads(outcome.json_path.read_text())["series"][0]
    assert data["knee"]["set_by"] == "invariant" and data["knee"]["rate"] == series.knee.rate
