"""The history's operations in SQL (``harness.load.history_sql``) against the Python readers that define them.

Generated histories (several process files, keys in any order and spacing, invokes with or without
their completion) are read by each Python reader over ``iter_events`` and by its SQL twin; every
result must be equal. Some histories are irregular on purpose (an odd value, a completion before its
invoke, a key invoked twice): the SQL must then step aside (``operations`` gives ``None``), and the
results are still equal because the Python reader gives both.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import rundir_builder as built
from hypothesis import given
from hypothesis import strategies as st

from harness.checker.model import Category, CategoryResult, Counts, Kind, RunVerdict, Verdict
from harness.load import history_sql
from harness.load.history import iter_events
from harness.load.history_sql import operations
from harness.report.analysis import blast_radius, per_operation
from harness.report.series import _sql_timeline, load_origin, per_second
from harness.run import verdict as verdict_module
from harness.run.metrics import client_metrics, history_metrics
from harness.rundir import RunDir

ORIGIN = 1795416377.25
OPS = ("order", "payout", "get_order", "get_payout")


@dataclass(frozen=True)
class Operation:
    process: int
    op: str
    id: str
    attempt: int | None
    invoke_ms: int  # since the origin
    outcome: str | None  # None: never completed
    latency_us: int


operation = st.builds(
    Operation, process=st.integers(0, 3), op=st.sampled_from(OPS), id=st.sampled_from(["a", "b", "é", "c\"d", "e\\f"]),
    attempt=st.one_of(st.none(), st.integers(1, 3)), invoke_ms=st.integers(0, 4000),
    outcome=st.sampled_from(["ok", "ok", "fail", "info", None]), latency_us=st.integers(0, 3_000_000))

# One field of one event made odd: a value the Python readers read in their own way.
ODD = st.sampled_from([("process", 1.0), ("process", "1"), ("process", True), ("attempt", 1.0), ("time", 1.5),
                       ("time", "5"), ("wall", 0), ("wall", "1795416377"), ("wall", None), ("type", "begin"),
                       ("op", "refund"), ("id", 7), ("wall", 1e300)])


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], int]:
    """Per file, its events in order; the events of distinct keys, unless a damage was drawn."""
    chosen = draw(st.lists(operation, max_size=30, unique_by=lambda o: (o.process, o.op, o.id, o.attempt)))
    # The same key used again (a client reading one order each time it looks): after the first completed,
    # or overlapping it, or after one that never completed (the last two are not well-formed).
    for index, start, outcome in draw(st.lists(st.tuples(st.integers(0, 29), st.integers(0, 4000),
                                                         st.sampled_from(["ok", "info", None])), max_size=4)):
        if chosen:
            chosen.append(replace(chosen[index % len(chosen)], invoke_ms=start, outcome=outcome))
    files: list[list[tuple[int, dict[str, Any]]]] = [[] for _ in range(draw(st.integers(1, 3)))]
    for op in chosen:
        base = {"process": op.process, "op": op.op, "id": op.id, "attempt": op.attempt}
        start_ns = op.invoke_ms * 1_000_000 + 10**12
        target = files[op.process % len(files)]
        target.append((start_ns, {**base, "type": "invoke", "time": start_ns, "wall": ORIGIN + op.invoke_ms / 1000}))
        if op.outcome is not None:
            end_ns = start_ns + op.latency_us * 1000
            target.append((end_ns, {**base, "type": op.outcome, "time": end_ns,
                                    "wall": ORIGIN + (op.invoke_ms + op.latency_us / 1000) / 1000}))
    ordered = [[event for _, event in sorted(events, key=lambda pair: pair[0])] for events in files]
    damage = draw(st.sampled_from(["none", "none", "none", "odd", "swap", "again", "orphan"]))
    flat = [(f, n) for f, events in enumerate(ordered) for n in range(len(events))]
    if damage != "none" and flat:
        f, n = draw(st.sampled_from(flat))
        event = ordered[f][n]
        if damage == "odd":
            field, value = draw(ODD)
            event[field] = value
        elif damage == "swap" and n + 1 < len(ordered[f]):
            ordered[f][n], ordered[f][n + 1] = ordered[f][n + 1], event
        elif damage == "again":
            ordered[f].insert(n + 1, dict(event))
        elif damage == "orphan":
            ordered[f].insert(n, {**event, "type": "ok"})
    return ordered, draw(st.integers(0, 2**32))


def write(root: Path, files: list[list[dict[str, Any]]], seed: int) -> Path:
    """Each file in its own layout: keys shuffled, spaced or not."""
    rng = random.Random(seed)
    history = root / "history"
    history.mkdir()
    for n, events in enumerate(files):
        with (history / f"{n}.jsonl").open("w") as handle:
            for event in events:
                items = list(event.items())
                rng.shuffle(items)
                spaced = rng.random() < 0.5
                handle.write(json.dumps(dict(items), separators=(", ", ": ") if spaced else (",", ":")) + "\n")
    return history


def outcome(compute: Callable[[], Any]) -> Any:
    """What ``compute`` returns, or the type of what it raises (the reference may raise on odd values)."""
    try:
        return compute()
    except (ValueError, TypeError, OverflowError) as exc:
        return type(exc)


@given(histories())
def test_the_sql_metrics_are_the_python_metrics(drawn: tuple[list[list[dict[str, Any]]], int]) -> None:
    files, seed = drawn
    with tempfile.TemporaryDirectory() as tmp:
        history = write(Path(tmp), files, seed)
        expected = outcome(lambda: client_metrics(iter_events(history), load_seconds=4.0, origin_wall=ORIGIN))
        assert outcome(lambda: history_metrics(history, load_seconds=4.0, origin_wall=ORIGIN, clean=True)) == expected


@given(st.lists(operation, min_size=1, max_size=30, unique_by=lambda o: (o.process, o.op, o.id, o.attempt)),
       st.integers(0, 2**32))
def test_a_well_formed_history_is_paired_in_sql(chosen: list[Operation], seed: int) -> None:
    """Without this, the equality above could hold by the SQL always stepping aside."""
    files: list[list[dict[str, Any]]] = [[]]
    for op in sorted(chosen, key=lambda o: o.invoke_ms):
        base = {"process": op.process, "op": op.op, "id": op.id, "attempt": op.attempt}
        files[0].append({**base, "type": "invoke", "time": op.invoke_ms * 10**6, "wall": ORIGIN + op.invoke_ms})
    for op in chosen:
        if op.outcome is not None:
            base = {"process": op.process, "op": op.op, "id": op.id, "attempt": op.attempt}
            files[0].append({**base, "type": op.outcome, "time": op.invoke_ms * 10**6 + op.latency_us * 1000,
                             "wall": ORIGIN + op.invoke_ms + 1})
    again = [op for op in chosen if op.outcome is not None]  # each read (or written) once more, after
    for op in again:
        base = {"process": op.process, "op": op.op, "id": op.id, "attempt": op.attempt}
        files[0] += [{**base, "type": "invoke", "time": 10**13, "wall": ORIGIN + 5000},
                     {**base, "type": "ok", "time": 10**13 + 7, "wall": ORIGIN + 5001}]
    with tempfile.TemporaryDirectory() as tmp:
        history = write(Path(tmp), files, seed)
        with operations(history, clean=True) as ops:
            assert ops is not None
            (count,) = ops.rows("SELECT count(*) FROM ops")[0]
            assert count == len(chosen) + len(again)
        with operations(history, clean=False) as ops:
            assert ops is None  # lines the checker did not vouch for are the Python readers' to read


@given(histories(), st.integers(0, 6))
def test_the_sql_timeline_is_the_python_timeline(drawn: tuple[list[list[dict[str, Any]]], int],
                                                 min_seconds: int) -> None:
    files, seed = drawn
    with tempfile.TemporaryDirectory() as tmp:
        history = write(Path(tmp), files, seed)
        expected = outcome(lambda: per_second(iter_events(history), origin_wall=ORIGIN, min_seconds=min_seconds))
        with operations(history, clean=True) as ops:
            got = outcome(lambda: _sql_timeline(ops, origin_wall=ORIGIN, min_seconds=min_seconds)) if ops else expected
        assert got == expected
        if ops is not None and got == expected and not isinstance(got, type):
            assert json.dumps(got.to_json()) == json.dumps(expected.to_json())  # the same page, key for key


@given(histories())
def test_the_sql_per_operation_table_and_origin_are_the_python_ones(
        drawn: tuple[list[list[dict[str, Any]]], int]) -> None:
    files, seed = drawn
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = RunDir(Path(tmp))
        write(Path(tmp), files, seed)
        expected = outcome(lambda: per_operation(run_dir))
        first = outcome(lambda: load_origin(run_dir))  # no run.json, no journal: the first event's wall
        with operations(run_dir.history, clean=True) as ops:
            assert outcome(lambda: per_operation(run_dir, ops)) == expected
            assert outcome(lambda: load_origin(run_dir, ops)) == first


START = st.floats(-1.0, 5.0).map(lambda t: round(t, 3))


@given(histories(), st.lists(st.tuples(START, st.one_of(st.none(), st.floats(0.0, 3.0))), min_size=1, max_size=3),
       st.sets(st.sampled_from(["a", "b", "é", "zz"]), max_size=3))
def test_the_sql_fault_windows_are_the_python_ones(drawn: tuple[list[list[dict[str, Any]]], int],
                                                  faults: list[tuple[float, float | None]], lost: set[str]) -> None:
    """Each fault's window, counted over the operations around it, and the violations it began."""
    files, seed = drawn
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = RunDir(Path(tmp))
        write(Path(tmp), files, seed)
        run_dir.run_info.write_text(json.dumps({"load_started_wall": ORIGIN}))
        with run_dir.faults.open("w") as journal:
            for n, (start, length) in enumerate(faults):
                name = f"f{n % 2}"  # two faults of one name: each start pairs with the next heal
                journal.write(json.dumps({"name": name, "kind": "latency", "phase": "start", "at": ORIGIN + start,
                                          "t": start, "params": {"link": "provider"}}) + "\n")
                if length is not None:
                    journal.write(json.dumps({"name": name, "phase": "heal", "at": ORIGIN + start + length}) + "\n")
        examples = tuple({"kind": "order", "id": op_id} for op_id in sorted(lost))
        verdict = RunVerdict(verdict=Verdict.FAIL, checkers={}, money={}, counts=Counts(), invariants={
            Category.LOST: CategoryResult(count=len(examples), violation=True, examples=examples)})
        expected = outcome(lambda: blast_radius(run_dir, verdict))
        with operations(run_dir.history, clean=True) as ops:
            assert outcome(lambda: blast_radius(run_dir, verdict, ops)) == expected


def test_a_run_is_judged_and_reported_from_one_reading_of_its_operations(tmp_path: Path, monkeypatch: Any) -> None:
    """``judge_and_write`` opens the history's operations once, for the metrics and the report, and
    writes what ``judge_run`` and ``write_outputs`` write, each opening their own."""
    events = [e for n in range(6) for e in built.op("order", f"o{n}", "ok", process=n % 2, time=n * 300_000_000)]
    events += [e for e in built.op("get_order", "o1", "ok", process=3, time=10_000_000)]
    events += [e for e in built.op("get_order", "o1", "ok", process=3, time=20_000_000)]  # a key used again
    ids = [f"o{n}" for n in range(6)]
    sut = {Kind.ORDER: [built.sut_row(Kind.ORDER, i, "succeeded") for i in ids]}
    ledger = {Kind.ORDER: [built.record(Kind.ORDER, i, "succeeded") for i in ids]}
    runs = [built.build_run(tmp_path / name, events, sut=sut, provider=ledger) for name in ("apart", "shared")]
    opened = []
    real = history_sql.operations

    def counted(directory: Path, *, clean: bool) -> Any:
        opened.append(directory)
        return real(directory, clean=clean)

    monkeypatch.setattr(history_sql, "operations", counted)
    monkeypatch.setattr(verdict_module, "operations", counted)
    apart, metrics = verdict_module.judge_run(runs[0])
    verdict_module.write_outputs(runs[0], apart, metrics)
    assert len(opened) == 2, "judge_run and the report each open their own"
    opened.clear()
    shared = verdict_module.judge_and_write(runs[1])
    assert len(opened) == 1, "one reading serves the metrics and the report"

    def timeless(verdict: RunVerdict) -> dict[str, Any]:
        return {k: v for k, v in verdict.to_json().items() if k not in ("finished", "duration_seconds")}

    assert shared.verdict is Verdict.PASS and timeless(shared) == timeless(apart)
    with real(runs[1].history, clean=True) as ops:
        assert ops is not None, "the history is well-formed: the SQL path was the one taken"
    info = [json.loads(run.run_info.read_text()) for run in runs]
    assert info[0]["metrics"] == info[1]["metrics"] and info[0]["timeline"] == info[1]["timeline"]
    # The times of the judging differ (each verdict's finish, and the whole run's length up to it).
    pages = [re.sub(r"(whole run</dt><dd>)[^<]*", r"\1", re.sub(
        r"\d{4}-\d\d-\d\dT[0-9:.+]+", "T", run.report.read_text().replace(run.path.name, "RUN"))) for run in runs]
    assert pages[0] == pages[1]
