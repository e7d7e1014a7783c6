"""CPU per component from a /proc tree, and what a capacity run leaves: capacity.json, JUnit, the charts' data."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.capacity.cpu import sample, used
from harness.capacity.knee import Generator, Step, find_knee
from harness.capacity.output import capacity_json, junit, table
from harness.capacity.runner import Series, read_generator
from harness.capacity.steps import step_load
from harness.capacity.usl import fit_usl, usl
from harness.checker.model import Counts, RunVerdict, SloOutcome, Verdict
from harness.report.capacity import chart_data, render_capacity
from harness.rundir import RunDir

TICKS = os.sysconf("SC_CLK_TCK")


def _proc(root: Path, pid: int, ppid: int, session: int, ticks: tuple[int, int, int, int]) -> None:
    (root / str(pid)).mkdir()
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
    fields = ["S", ppid, pid, session, 0, 0, 0, 0, 0, 0, 0, *ticks, 20, 0, 1, 0, 100]
    (root / str(pid) / "stat").write_text(f"{pid} (a (strange) name) " + " ".join(map(str, fields)) + "\n")


def test_a_component_is_its_leader_its_session_and_its_descendants(tmp_path: Path) -> None:
    _proc(tmp_path, 10, 1, 10, (TICKS, 0, 0, 0))  # the postmaster
    _proc(tmp_path, 11, 10, 11, (0, TICKS, 0, 0))  # a backend: its own session (setsid), a child of 10
    _proc(tmp_path, 12, 11, 11, (TICKS, 0, TICKS, 0))  # its child, reaped children included
    _proc(tmp_path, 20, 1, 20, (2 * TICKS, 0, 0, 0))  # the SUT
    _proc(tmp_path, 21, 1, 20, (TICKS, 0, 0, 0))  # in the SUT's session, though re-parented
    _proc(tmp_path, 30, 1, 30, (5 * TICKS, 0, 0, 0))  # someone else's
    (tmp_path / "self").mkdir()
    found = sample({"postgres": 10, "sut": 20, "provider": None}, proc=tmp_path)
    assert found == {"postgres": 4.0, "sut": 3.0}
    assert used({"postgres": 1.0, "sut": 5.0}, found) == {"postgres": 3.0, "sut": 3.0}  # a restart counts from zero


def _step(index: int, rate: float, p99: float, ok: bool) -> Step:
    events = []
    for i in range(int(rate)):
        start = i * 1e9 / rate
        base = {"process": i, "op": "order", "id": f"o{i}", "attempt": 1}
        events += [{**base, "type": "invoke", "time": int(start), "intended_time": int(start)},
                   {**base, "type": "ok", "time": int(start + p99 * 1e6)}]
    return Step(index=index, rate=rate, seconds=1.0, load=step_load(events, seconds=1.0),
                generator=Generator(scheduled=int(rate), sent=int(rate), busiest=0.2, processes=1, cpu_s=0.2),
                backlog=0, cpu={"sut": 1.0, "toxiproxy": 0.5}, slo=(SloOutcome("p99 < 100ms", p99, ok),),
                violations={}, examples={}, verdict="pass")


def _series(tmp_path: Path, name: str) -> Series:
    steps = (_step(1, 10, 5, True), _step(2, 20, 20, True), _step(3, 40, 250, False))
    verdict = RunVerdict(verdict=Verdict.PASS, checkers={}, invariants={}, money={}, counts=Counts(), slo=())
    fit = fit_usl([1, 2, 4, 8], [usl(n, 10, 0.1, 0.01) for n in (1, 2, 4, 8)])
    return Series(name=name, faults=(), run_dir=RunDir(tmp_path / name), verdict=verdict, steps=steps,
                  knee=find_knee(steps), fit=fit, unattributed={})


def test_capacity_json_junit_and_the_table(tmp_path: Path) -> None:
    series = (_series(tmp_path, "baseline"), _series(tmp_path, "fault"))
    payload = capacity_json(series, scenario="s", target="t", variant="correct", rates=[10, 20, 40], step_seconds=1,
                            min_knee=30)
    data = json.loads(json.dumps(payload))  # plain JSON, as written
    assert data["knees"] == {"baseline": 20.0, "fault": 20.0}
    step = data["series"][0]["steps"][2]
    assert step["holds"] is False and step["broken"] == ["SLO p99 < 100ms (observed 250)"]
    assert data["series"][0]["model"]["predictions"][0]["factor"] == 1.5
    path = tmp_path / "junit.xml"
    junit(series, path, min_knee=30, report="report.html")
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["step 1 10/s", "step 2 20/s", "step 3 40/s", "knee"]
    assert cases["step 3 40/s"].find("failure") is None  # broken above --min-knee: expected, not a failure
    knee = cases["knee"].find("failure")
    assert knee is not None and "below 30/s" in (knee.get("message") or "")
    assert suite.get("failures") == "1"
    caption = str(table(series[0]).caption)
    assert "knee: 20/s" in caption and "40/s breaks" in caption


def test_the_charts_put_every_series_on_one_axis_of_offered_load(tmp_path: Path) -> None:
    payload = json.loads(json.dumps(capacity_json((_series(tmp_path, "baseline"),), scenario="s", target="t",
                                                  variant="correct", rates=[10, 20, 40], step_seconds=1,
                                                  min_knee=None)))
    data = chart_data(payload)
    loads = data["loads"]
    assert loads == sorted(loads) and {10.0, 20.0, 40.0} <= set(loads)
    (one,) = data["series"]
    assert len(one["throughput"]) == len(loads) == len(one["model_latency"])
    assert one["throughput"][loads.index(20.0)] is not None and one["knee"] == 20.0
    page = render_capacity(payload, tmp_path)
    assert 'data-oq-chart="capacity-throughput"' in page and "capacity.js" not in page  # inlined, not linked


def test_the_generators_account_sums_its_users_and_names_the_busiest_process(tmp_path: Path) -> None:
    for process, pid, cpu in ((1, 100, 0.5), (2, 100, 0.5), (3, 200, 0.9)):
        (tmp_path / f"arrivals-{process}.json").write_text(json.dumps(
            {"pid": pid, "process": process, "scheduled": 10, "sent": 9, "cpu_s": cpu, "wall_s": 1.0}))
    (tmp_path / "arrivals-4.json").write_text("{torn")
    generator = read_generator(tmp_path)
    assert (generator.scheduled, generator.sent, generator.processes) == (30, 27, 2)
    assert generator.busiest == 0.9 and generator.cpu_s == 1.4
