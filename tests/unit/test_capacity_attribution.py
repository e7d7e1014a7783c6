"""Each violation the checker finds belongs to the step whose clients first invoked its id; a series
whose verdict is undecided leaves every step without one undecided too, never passed."""

from __future__ import annotations

from pathlib import Path

import rundir_builder
from rundir_builder import build_run, op, record, sut_row

from harness.capacity.knee import Generator
from harness.capacity.runner import _Measured, judge_steps
from harness.checker.model import Kind, Verdict
from harness.run.verdict import judge_run
from harness.scenario import load_scenario

SCENARIO = rundir_builder.SCENARIO + 'slo: ["p99 < 1s"]\n'


def _ids(step: int, n: int) -> list[str]:
    return [f"rab12cd34-s{step}-o-1-{i}" for i in range(n)]


def _measured() -> list[_Measured]:
    return [_Measured(i, rate, Generator(scheduled=2, sent=2, busiest=0.1, processes=1, cpu_s=0.1),
                      {"sut": 1.0}, 0) for i, rate in ((1, 2.0), (2, 4.0))]


def test_a_lost_order_breaks_the_step_that_invoked_it(tmp_path: Path) -> None:
    kept, lost = _ids(1, 2), _ids(2, 2)
    events = [e for n, i in enumerate([*kept, *lost]) for e in op("order", i, "ok", process=n, time=n * 10**8)]
    run_dir = build_run(tmp_path, events, scenario=SCENARIO,
                        sut={Kind.ORDER: [sut_row(Kind.ORDER, i, "succeeded") for i in [*kept, lost[0]]]},
                        provider={Kind.ORDER: [record(Kind.ORDER, i, "succeeded") for i in [*kept, lost[0]]]})
    verdict, _ = judge_run(run_dir)
    assert verdict.verdict is Verdict.FAIL
    series = judge_steps("baseline", (), run_dir, verdict, load_scenario(run_dir.scenario), _measured(), 1.0)
    first, second = series.steps
    assert first.verdict == "pass" and first.holds
    assert second.verdict == "fail" and second.violations.get("lost") == 1 and second.examples["lost"] == (lost[1],)
    assert second.violations.get("orphaned", 0) == 0
    assert series.knee.rate == 2.0 and series.knee.to_json()["set_by"] == "invariant"


def test_an_undecided_series_leaves_its_steps_undecided(tmp_path: Path) -> None:
    ids = _ids(1, 2) + _ids(2, 2)
    events = [e for n, i in enumerate(ids) for e in op("order", i, "ok", process=n)]
    run_dir = build_run(tmp_path, events, scenario=SCENARIO, complete=False,
                        sut={Kind.ORDER: [sut_row(Kind.ORDER, i, "succeeded") for i in ids]},
                        provider={Kind.ORDER: [record(Kind.ORDER, i, "succeeded") for i in ids]})
    verdict, _ = judge_run(run_dir)
    assert verdict.verdict is Verdict.UNKNOWN
    series = judge_steps("baseline", (), run_dir, verdict, load_scenario(run_dir.scenario), _measured(), 1.0)
    assert [s.verdict for s in series.steps] == ["unknown", "unknown"]
    assert series.knee.rate is None and series.knee.broken is series.steps[0]
