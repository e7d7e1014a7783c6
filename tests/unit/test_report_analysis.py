"""Per-operation statistics and fault blast radius, on run directories written by hand."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checker.model import Category, CategoryResult, Counts, RunVerdict, Verdict
from harness.report.analysis import FaultWindow, blast_radius, per_operation
from harness.run.metrics import client_metrics
from harness.rundir import RunDir

ORIGIN = 1_700_000_000.0  # the load's start, epoch seconds


def call(op: str, op_id: str, outcome: str | None, *, start: float, took: float = 0.01, attempt: int = 1,
         process: int = 1) -> list[dict[str, Any]]:
    """One operation invoked ``start`` seconds after the load started and completed ``took`` later
    (``outcome`` None: never completed). ``time`` runs on its own clock, offset from ``wall``, as a
    monotonic clock does."""
    base = {"op": op, "id": op_id, "process": process, "attempt": attempt, "value": {}, "error": None}
    events = [{**base, "type": "invoke", "status": None, "wall": ORIGIN + start, "time": round(5e12 + start * 1e9)}]
    if outcome is not None:
        end = start + took
        events.append({**base, "type": outcome, "status": {"ok": 201, "fail": 422, "info": None}[outcome],
                       "wall": ORIGIN + end, "time": round(5e12 + end * 1e9)})
    return events


def jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def make_run(root: Path, histories: Mapping[str, Sequence[Mapping[str, Any]]], *,
             faults: Sequence[Mapping[str, Any]] = (), run_info: Mapping[str, Any] | None = None) -> RunDir:
    run_dir = RunDir.create("unit", out=root)
    for name, events in histories.items():
        (run_dir.history / f"{name}.jsonl").write_text(jsonl(events))
    run_dir.faults.write_text(jsonl(faults))
    info = {"load_started_wall": ORIGIN, "load_seconds": 10.0} if run_info is None else run_info
    run_dir.run_info.write_text(json.dumps(info))
    return run_dir


def journal(name: str, kind: str, phase: str, t: float, **params: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "params": params, "phase": phase, "at": ORIGIN + t, "t": t, "error": None}


def verdict_with(examples: Mapping[Category, Sequence[Mapping[str, Any]]]) -> RunVerdict:
    invariants = {category: CategoryResult(count=len(items) + 100 * (category is Category.LOST),
                                           violation=category.violation, examples=tuple(items))
                  for category, items in examples.items()}
    return RunVerdict(verdict=Verdict.FAIL, checkers={}, invariants=invariants, money={}, counts=Counts())


def test_per_operation_counts_rates_and_percentiles_per_kind(tmp_path: Path) -> None:
    events = []
    for n in range(1, 11):  # ten orders ok, 10 ms .. 100 ms
        events += call("order", f"o-{n}", "ok", start=n * 0.5, took=n * 0.01)
    events += call("order", "o-fail", "fail", start=6.0, took=0.2)
    events += call("order", "o-info", "info", start=6.1, took=5.0)  # a timeout: no latency counted
    events += call("order", "o-lost", None, start=6.2)  # never completed: info
    events += call("get_order", "o-1", "ok", start=7.0, took=0.003)
    stats = per_operation(make_run(tmp_path, {"1": events}))

    assert list(stats) == ["order", "get_order"]
    order = stats["order"]
    assert (order.count, order.ok, order.fail, order.info) == (13, 10, 1, 2)
    # Nearest rank over the 11 ok and fail latencies: 10, 20, ..., 100, 200 ms.
    assert order.p50_ms == pytest.approx(60.0, abs=1e-3)
    assert order.p95_ms == pytest.approx(200.0, abs=1e-3)
    assert order.p99_ms == pytest.approx(200.0, abs=1e-3)
    assert order.max_ms == pytest.approx(200.0, abs=1e-3)
    assert order.error_rate == pytest.approx(3 / 13, abs=1e-6)
    assert order.info_rate == pytest.approx(2 / 13, abs=1e-6)
    read = stats["get_order"]
    assert (read.count, read.ok, read.p99_ms, read.error_rate) == (1, 1, pytest.approx(3.0, abs=1e-3), 0.0)
    assert order.to_json()["p99_ms"] == order.p99_ms and order.to_json()["op"] == "order"


def test_latency_pairs_the_same_process_op_id_and_attempt(tmp_path: Path) -> None:
    # Attempt 1 is slow and completes after attempt 2; another process uses the same id and attempt.
    slow = call("order", "o-1", "ok", start=1.0, took=0.9, attempt=1)
    fast = call("order", "o-1", "ok", start=1.1, took=0.05, attempt=2)
    other = call("order", "o-1", "ok", start=1.05, took=0.3, attempt=1, process=2)
    events = [slow[0], other[0], fast[0], fast[1], other[1], slow[1]]
    order = per_operation(make_run(tmp_path, {"1": events}))["order"]
    assert order.count == 3
    assert order.max_ms == pytest.approx(900.0, abs=1e-3)
    assert order.p50_ms == pytest.approx(300.0, abs=1e-3)


def test_an_operation_with_only_unknown_outcomes_has_no_percentiles(tmp_path: Path) -> None:
    events = call("payout", "p-1", "info", start=1.0) + call("payout", "p-2", None, start=2.0)
    payout = per_operation(make_run(tmp_path, {"1": events}))["payout"]
    assert (payout.count, payout.info, payout.p50_ms, payout.max_ms) == (2, 2, None, None)
    assert payout.error_rate == payout.info_rate == 1.0


def test_damaged_lines_and_unknown_ops_are_left_to_the_checker(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, {"1": call("order", "o-1", "ok", start=1.0)})
    with (run_dir.history / "1.jsonl").open("a") as handle:
        handle.write("not json\n" + json.dumps({"type": "invoke", "op": ["x"], "id": "y"}) + "\n"
                     + json.dumps({"type": "invoke", "op": "refund", "id": "z"}) + "\n{\"type\": \"ok\"")
    stats = per_operation(run_dir)
    assert list(stats) == ["order"] and stats["order"].count == 1


_OUTCOMES = st.sampled_from(["ok", "fail", "info", None])


@given(st.lists(st.tuples(_OUTCOMES, st.integers(0, 5_000), st.integers(1, 3)), max_size=60))
def test_one_kind_agrees_with_the_runs_client_metrics(tmp_path_factory: pytest.TempPathFactory,
                                                      ops: list[tuple[str | None, int, int]]) -> None:
    """With one operation kind, the per-kind numbers are the run's overall numbers of ``run.json``."""
    events_by_file: dict[str, list[dict[str, Any]]] = {"1": [], "2": []}
    for n, (outcome, took_ms, process) in enumerate(ops):
        events_by_file[str(1 + n % 2)] += call("order", f"o-{n}", outcome, start=n * 0.01, took=took_ms / 1000,
                                               process=process)
    run_dir = make_run(tmp_path_factory.mktemp("run"), events_by_file)
    metrics = client_metrics([e for events in events_by_file.values() for e in events], load_seconds=10,
                             origin_wall=ORIGIN)
    stats = per_operation(run_dir)
    if not ops:
        assert stats == {}
        return
    order = stats["order"]
    assert (order.count, order.ok, order.fail, order.info) == (metrics.completed, metrics.ok, metrics.fail,
                                                              metrics.info)
    assert (order.p50_ms, order.p95_ms, order.p99_ms) == (metrics.p50_ms, metrics.p95_ms, metrics.p99_ms)
    assert order.error_rate == metrics.error_rate


def _window_events() -> list[dict[str, Any]]:
    """Operations around a fault from t=2 s to t=5 s (see the test below for what each is)."""
    return [
        *call("order", "before", "ok", start=1.0, took=0.5),         # ended before the fault: outside
        *call("order", "spans", "info", start=1.5, took=1.0),         # in flight, ended info
        *call("order", "hung", None, start=1.8),                      # in flight, never completed: info
        *call("order", "refused", "fail", start=3.0, took=0.1),       # invoked, fail
        *call("get_order", "before", "ok", start=4.0, took=0.1),      # a read invoked inside
        *call("order", "edge", "ok", start=4.999, took=0.1),          # invoked inside, completed after
        *call("order", "at-heal", "ok", start=5.0, took=0.1),         # invoked at the heal: outside
        *call("order", "late", "ok", start=8.0, took=0.1),            # inside the never-healed fault
    ]


def test_blast_radius_counts_what_each_window_touched(tmp_path: Path) -> None:
    faults = [journal("f1-latency", "latency", "start", 2.0, link="provider", latency=300),
              journal("f1-latency", "latency", "heal", 5.0, link="provider", latency=300),
              journal("f2-db_outage", "db_outage", "start", 7.5)]
    run_dir = make_run(tmp_path, {"1": _window_events()}, faults=faults)
    windows = blast_radius(run_dir, verdict_with({}))

    assert windows == [
        FaultWindow(name="f1-latency", kind="latency", link="provider", start_t=2.0, end_t=5.0, invoked=3,
                    in_flight=2, ended_info=2, ended_fail=1, violations={}),
        # "hung" never completed, so it is still in flight when the second fault begins.
        FaultWindow(name="f2-db_outage", kind="db_outage", link=None, start_t=7.5, end_t=None, invoked=1,
                    in_flight=1, ended_info=1, ended_fail=0, violations={}),
    ]
    assert windows[0].to_json() == {"name": "f1-latency", "kind": "latency", "link": "provider", "start_t": 2.0,
                                    "end_t": 5.0, "invoked": 3, "in_flight": 2, "ended_info": 2,
                                    "ended_fail": 1, "violations": {}}


def test_window_membership_uses_wall_times_from_the_load_start(tmp_path: Path) -> None:
    # The journal's monotonic 't' is a little off the wall clock; the events are on the wall clock.
    start = {**journal("f1", "latency", "start", 2.0), "t": 1.2}
    heal = {**journal("f1", "latency", "heal", 5.0), "t": 4.2}
    run_dir = make_run(tmp_path, {"1": _window_events()}, faults=[start, heal])
    (window,) = blast_radius(run_dir, verdict_with({}))
    assert (window.start_t, window.end_t, window.invoked, window.in_flight) == (2.0, 5.0, 3, 2)


def test_without_a_load_start_the_journal_places_the_windows(tmp_path: Path) -> None:
    faults = [journal("f1", "latency", "start", 2.0), journal("f1", "latency", "heal", 5.0)]
    run_dir = make_run(tmp_path, {"1": _window_events()}, faults=faults, run_info={"load_seconds": 10.0})
    (window,) = blast_radius(run_dir, verdict_with({}))
    assert (window.start_t, window.end_t, window.invoked) == (2.0, 5.0, 3)


def test_violations_count_the_examples_first_invoked_in_the_window(tmp_path: Path) -> None:
    events = [*call("order", "o-early", "ok", start=1.0), *call("get_order", "o-early", "ok", start=3.0),
              *call("order", "o-in-1", "ok", start=2.5), *call("order", "o-in-1", "ok", start=6.0, attempt=2),
              *call("order", "o-in-2", "info", start=4.0), *call("payout", "p-in", "ok", start=3.5),
              *call("order", "o-after", "ok", start=6.0)]
    faults = [journal("f1", "sut_crash", "start", 2.0), journal("f1", "sut_crash", "heal", 5.0)]
    run_dir = make_run(tmp_path, {"1": events}, faults=faults)
    verdict = verdict_with({
        Category.LOST: [{"id": "o-in-1", "kind": "order", "history": []},
                        {"id": "o-early", "kind": "order", "history": []},   # read inside, first invoked before
                        {"id": "o-after", "kind": "order", "history": []}],
        Category.DUPLICATED: [{"id": "p-in", "kind": "payout", "history": []},
                              {"id": "o-in-2", "kind": "payout", "history": []}],  # no payout of that id
        Category.UNEXPECTED: [{"id": "nobody", "kind": "order", "history": []}],
        Category.RECOVERED: [{"id": "o-in-2", "kind": "order", "history": []}],  # reported, not a violation
    })
    (window,) = blast_radius(run_dir, verdict)
    assert window.violations == {"lost": 1, "duplicated": 1}


def test_journal_pairs_each_start_with_its_own_heal(tmp_path: Path) -> None:
    faults = [journal("a", "latency", "start", 1.0), journal("b", "down", "start", 2.0),
              journal("a", "latency", "heal", 3.0), journal("b", "down", "heal", 4.0),
              journal("a", "latency", "start", 6.0)]
    windows = blast_radius(make_run(tmp_path, {"1": []}, faults=faults), verdict_with({}))
    assert [(w.name, w.start_t, w.end_t) for w in windows] == [("a", 1.0, 3.0), ("b", 2.0, 4.0), ("a", 6.0, None)]


def test_no_fault_no_window(tmp_path: Path) -> None:
    assert blast_radius(make_run(tmp_path, {"1": _window_events()}), verdict_with({})) == []


def test_a_damaged_journal_is_named_with_its_line(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, {"1": []}, faults=[journal("a", "latency", "start", 1.0)])
    with run_dir.faults.open("a") as handle:
        handle.write('{"name": "a", "phase": "heal"}\n')
    with pytest.raises(ValueError, match=r"faults\.jsonl:2: expected a JSON object with a numeric 'at'"):
        blast_radius(run_dir, verdict_with({}))
