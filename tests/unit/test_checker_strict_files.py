"""The manifest's strict files: read without the leniency scan only while they hold the bytes listed.

A file the final reads wrote with orderquake's strict encoders is listed ``strict`` with its SHA-256;
``verify`` hands the checker those still unchanged, and the DuckDB reader skips its raw scan of them.
These tests hold the three halves of that bargain: the writers write nothing a lenient reader could
take otherwise than JSON (so the unscanned reading is the reference's), a file changed after the
final reads loses its licence (and its damage is found), and the licence really spares the scan.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rundir_builder import build_run, op, record, sut_row
from test_checker_reading import comparable

from harness.checker import reading, reading_duckdb
from harness.checker.integrity import verify, write_manifest
from harness.checker.model import Kind, Verdict
from harness.load.history import EventType, HistoryWriter, Op
from harness.run.final_reads import mark_complete, sut_line
from harness.run.verdict import judge_run
from harness.rundir import RunDir

ORD = Kind.ORDER


def _run(tmp_path: Path) -> RunDir:
    run_dir = build_run(tmp_path, [*op("order", "o1", "ok"), *op("order", "o2", "ok")],
                        sut={ORD: [sut_row(ORD, "o1", "succeeded"), sut_row(ORD, "o2", "succeeded")]},
                        provider={ORD: [record(ORD, "o1", "succeeded"), record(ORD, "o2", "succeeded")]})
    mark_complete(run_dir, {})
    return run_dir


def _scanned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the DuckDB reader's raw scan is asked to read, from now on."""
    seen: list[str] = []
    real = reading_duckdb._raw_counts

    def spy(con: Any, paths: list[str]) -> Any:
        seen.extend(paths)
        return real(con, paths)

    monkeypatch.setattr(reading_duckdb, "_raw_counts", spy)
    return seen


def test_the_final_reads_list_every_file_strict_and_verify_finds_them_unchanged(tmp_path: Path) -> None:
    run_dir = _run(tmp_path)
    verification = verify(run_dir)
    assert verification.problems == []
    assert run_dir.history / "1.jsonl" in verification.strict
    assert {run_dir.sut_state(ORD), run_dir.provider_ledger(ORD)} <= verification.strict


def test_a_manifest_written_by_hand_calls_nothing_strict(tmp_path: Path) -> None:
    run_dir = _run(tmp_path)
    write_manifest(run_dir)
    assert verify(run_dir).strict == frozenset()


def test_a_history_rewritten_in_another_layout_loses_its_licence_but_is_no_problem(tmp_path: Path) -> None:
    run_dir = _run(tmp_path)
    path = run_dir.history / "1.jsonl"
    path.write_text("".join(json.dumps(dict(reversed(json.loads(line).items())), indent=None) + "\n"
                            for line in path.read_text().splitlines()))
    verification = verify(run_dir)
    assert verification.problems == []  # judged by its values, as before
    assert path not in verification.strict
    assert run_dir.sut_state(ORD) in verification.strict
    assert judge_run(run_dir)[0].verdict is Verdict.PASS


def test_a_changed_state_file_is_a_problem_and_not_strict(tmp_path: Path) -> None:
    run_dir = _run(tmp_path)
    path = run_dir.sut_state(ORD)
    path.write_text(path.read_text().replace("succeeded", "succeedeD", 1))
    verification = verify(run_dir)
    assert [problem.file for problem in verification.problems] == ["state/sut_orders.jsonl"]
    assert path not in verification.strict


def test_the_licence_spares_the_scan_and_a_changed_file_is_scanned(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = _run(tmp_path)
    scanned = _scanned(monkeypatch)
    assert judge_run(run_dir)[0].verdict is Verdict.PASS
    assert scanned == []
    history = run_dir.history / "1.jsonl"
    history.write_text(history.read_text().replace('":', '": '))
    assert judge_run(run_dir)[0].verdict is Verdict.PASS
    assert scanned == [str(history)]


@pytest.mark.parametrize("lenient", [b',}', b', }'])
def test_a_line_made_lenient_after_the_final_reads_is_damage_though_its_file_was_strict(
        tmp_path: Path, lenient: bytes) -> None:
    run_dir = _run(tmp_path)
    history = run_dir.history / "1.jsonl"
    lines = history.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].rstrip(b"}\n") + lenient + b"\n"  # a trailing comma: DuckDB's reader would take it
    history.write_bytes(b"".join(lines))
    verdict = judge_run(run_dir)[0]
    assert verdict.verdict is Verdict.UNKNOWN
    assert "history/1.jsonl:2" in (verdict.checkers["history"].reason or "")


def test_a_sut_row_is_written_strictly_or_said_to_be_lenient() -> None:
    line, strict = sut_line({"order_id": "o1", "status": "succeeded", "amount_minor": 1000, "at": object})
    assert strict and json.loads(line)["order_id"] == "o1"
    assert sut_line({"order_id": "o1", "amount_minor": math.nan}) == ('{"order_id": "o1", "amount_minor": NaN}', False)
    assert not sut_line({"order_id": "o1", "x": -math.inf})[1]
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    assert not sut_line({"order_id": "o1", "doc": deep})[1]
    assert sut_line({"order_id": "o1", "doc": {"a": [1, {"b": 2}]}})[1]


_TEXT = st.text(alphabet=st.sampled_from(list('aZ0-_:. ,}]{["\\\t\n\u00e9\u2028\U0001f600NaNInfinity')), max_size=12)
_EVENTS = st.lists(st.tuples(
    st.sampled_from([EventType.INVOKE, EventType.OK, EventType.FAIL, EventType.INFO]),
    st.sampled_from([Op.ORDER, Op.PAYOUT, Op.GET_ORDER]), _TEXT.filter(bool),
    st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True)),
    st.one_of(st.none(), _TEXT), st.one_of(st.none(), st.integers(100, 599)), st.one_of(st.none(), _TEXT),
    st.dictionaries(_TEXT, st.one_of(_TEXT, st.integers(-2**63, 2**63 - 1), st.floats(), st.booleans(), st.none()),
                    max_size=2)), max_size=12)


@given(events=_EVENTS)
@example(events=[(EventType.INVOKE, Op.ORDER, "o1", 1000, "EUR", None, None, {"token": math.nan})])
@example(events=[(EventType.INFO, Op.ORDER, "o,}1", math.inf, "E\tR", None, 'NaN ,} \t "x"', {"n": -math.inf})])
def test_what_the_history_writer_writes_reads_unscanned_as_the_reference_reads_it(
        tmp_path_factory: pytest.TempPathFactory, events: list[tuple[Any, ...]]) -> None:
    run_dir = build_run(tmp_path_factory.mktemp("run"))
    (run_dir.history / "1.jsonl").unlink()
    writer = HistoryWriter(run_dir.history, process_file="7")
    for n, (kind, operation, op_id, amount, currency, status, error, captured) in enumerate(events):
        writer.record(kind, operation, op_id, process=7, attempt=n % 3,
                      value={"amount_minor": amount, "currency": currency}, status=status, error=error,
                      steps=[["create", status]], captured=captured)
    writer.close()
    mark_complete(run_dir, {})
    files, strict = run_dir.evidence_files(), verify(run_dir).strict
    assert run_dir.history / "7.jsonl" in strict
    assert comparable(reading_duckdb.read_evidence(files, strict=strict)) == comparable(reading.read_evidence(files))
