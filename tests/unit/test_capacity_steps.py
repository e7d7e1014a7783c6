"""One step's numbers from its history: latency from the intended start, the rate served, Little's law;
and each step judged, the harness as the limit, the knee."""

from __future__ import annotations

from typing import Any

import pytest

from harness.capacity.knee import Generator, Step, find_knee, harness_limits, keep_stepping
from harness.capacity.steps import by_step, step_load, step_of, step_run_id
from harness.checker.model import SloOutcome

MS = 1_000_000


def _op(oid: str, *, intended_ms: float | None, start_ms: float, end_ms: float, outcome: str = "ok",
        op: str = "order", attempt: int = 1) -> list[dict[str, Any]]:
    base = {"process": 7, "op": op, "id": oid, "attempt": attempt}
    invoke: dict[str, Any] = {**base, "type": "invoke", "time": int(start_ms * MS)}
    if intended_ms is not None:
        invoke["intended_time"] = int(intended_ms * MS)
    return [invoke, {**base, "type": outcome, "time": int(end_ms * MS)}]


def test_latency_runs_from_the_intended_start_so_a_late_send_cannot_hide_the_wait() -> None:
    events = _op("a", intended_ms=0, start_ms=900, end_ms=1000)  # sent 900 ms late, answered in 100 ms
    events += _op("a", intended_ms=None, start_ms=1000, end_ms=1010, attempt=2)  # a resend: its own start
    load = step_load(events, seconds=1.0)
    assert load.ops["order"].latency.max_ms == 1000.0
    assert load.latency.p50_ms == 10.0
    assert load.arrivals == 1
    assert load.lag_p99_ms == 900.0


def test_outcomes_rates_and_unfinished_invokes() -> None:
    events = []
    for i in range(8):
        events += _op(f"o{i}", intended_ms=i * 100, start_ms=i * 100, end_ms=i * 100 + 20)
    events += _op("f", intended_ms=0, start_ms=0, end_ms=5, outcome="fail")
    events += _op("g", intended_ms=0, start_ms=0, end_ms=5, outcome="ok", op="get_order")
    events.append({"process": 7, "op": "order", "id": "cut", "attempt": 1, "type": "invoke", "time": 0,
                   "intended_time": 0})
    load = step_load(events, seconds=2.0)
    assert (load.ok, load.fail, load.info, load.completed) == (9, 1, 1, 11)
    assert load.throughput == 5.5 and load.span_seconds == 2.0
    assert load.error_rate == round(2 / 11, 6) and load.info_rate == round(1 / 11, 6)
    assert load.ops["order"].per_second["ok"] == 4.0
    assert set(load.ops) == {"order", "get_order"}
    assert load.observed()["rps"] == 5.5


def test_a_service_behind_its_offer_shows_the_rate_it_served_and_its_concurrency() -> None:
    events = []
    for i in range(100):  # offered 100/s for 1 s, served one every 20 ms: done after 2 s
        events += _op(f"o{i}", intended_ms=i * 10, start_ms=i * 10, end_ms=(i + 1) * 20)
    load = step_load(events, seconds=1.0)
    assert load.span_seconds == pytest.approx(2.0)
    assert load.throughput == pytest.approx(50.0)
    assert load.mean_latency_ms is not None
    assert load.concurrency == pytest.approx(50.0 * load.mean_latency_ms / 1000, rel=1e-3)


def test_ids_carry_their_step() -> None:
    prefix = step_run_id("r0a1b2c3d", 4)
    assert step_of(f"{prefix}-o-4242-17") == 4
    assert step_of("r0a1b2c3d-o-4242-17") is None and step_of(None) is None
    grouped = by_step([{"id": f"{step_run_id('rab', 1)}-o-1-1"}, {"id": f"{step_run_id('rab', 2)}-p-1-1"},
                       {"id": "elsewhere"}])
    assert sorted(grouped) == [1, 2]


def _step(index: int, rate: float, *, violations: dict[str, int] | None = None, slo_ok: bool = True,
          verdict: str = "pass", limits: tuple[str, ...] = ()) -> Step:
    load = step_load(_op("x", intended_ms=0, start_ms=0, end_ms=5), seconds=1.0)
    return Step(index=index, rate=rate, seconds=1.0, load=load, generator=Generator(sent=int(rate)), backlog=0,
                cpu={}, slo=(SloOutcome("p99 < 100ms", 120.0 if not slo_ok else 5.0, slo_ok),),
                violations=violations or {}, examples={}, verdict=verdict, limits=limits)


def test_the_knee_is_below_the_first_broken_step_and_says_why() -> None:
    steps = [_step(1, 20), _step(2, 40), _step(3, 80, violations={"lost": 3}, verdict="fail"), _step(4, 160)]
    knee = find_knee(steps)
    assert knee.rate == 40 and knee.broken is steps[2] and not knee.lower_bound
    assert "3 lost" in knee.why and knee.to_json()["set_by"] == "invariant"
    slo = find_knee([_step(1, 20), _step(2, 40, slo_ok=False)])
    assert slo.rate == 20 and slo.to_json()["set_by"] == "slo" and "p99 < 100ms" in slo.why


def test_no_broken_step_or_a_harness_limited_one_makes_the_knee_a_lower_bound() -> None:
    assert find_knee([_step(1, 20), _step(2, 40)]).lower_bound
    limited = find_knee([_step(1, 20), _step(2, 40, slo_ok=False, limits=("Locust was busy",))])
    assert limited.rate == 20 and limited.lower_bound and "harness was the limit" in limited.why
    first = find_knee([_step(1, 20, verdict="unknown")])
    assert first.rate is None and first.broken is not None


def test_harness_limits() -> None:
    assert harness_limits(100, 2.0, Generator(sent=200, busiest=0.5), {"sut": 2.0, "toxiproxy": 1.0}) == ()
    short = harness_limits(100, 2.0, Generator(sent=170), {})
    assert short and "offered 85.0/s of 100/s" in short[0]
    assert "busy 95%" in harness_limits(100, 2.0, Generator(sent=200, busiest=0.95), {})[0]
    assert "toxiproxy used more CPU" in harness_limits(100, 2.0, Generator(sent=200), {"sut": 1.0,
                                                                                       "toxiproxy": 1.5})[0]


def test_stepping_stops_stop_after_steps_past_the_first_broken_one() -> None:
    ok, broken = _step(1, 20), _step(2, 40, slo_ok=False)
    assert keep_stepping([], 1) and keep_stepping([ok], 1)
    assert keep_stepping([ok, broken], 1) and not keep_stepping([ok, broken, broken], 1)
    assert keep_stepping([ok, broken, ok], 1)  # a transient break: the ladder goes on
    assert not keep_stepping([ok, broken], 0)


def test_an_slo_broken_once_and_held_again_is_transient_but_a_violation_never_is() -> None:
    steps = [_step(1, 20), _step(2, 40, slo_ok=False), _step(3, 80), _step(4, 160, slo_ok=False),
             _step(5, 320, slo_ok=False)]
    knee = find_knee(steps)
    assert knee.rate == 80 and knee.broken is steps[3]
    assert "40/s broke" in knee.why and "transient" in knee.why
    lost = [_step(1, 20), _step(2, 40, violations={"lost": 1}, verdict="fail"), _step(3, 80)]
    assert find_knee(lost).rate == 20 and find_knee(lost).broken is lost[1]
