"""The fast history reader agrees with plain JSON parsing, and is the one taken for the writer's files."""

from __future__ import annotations

import gc
import json
import tempfile
from pathlib import Path

import pytest

from harness._exceptions import UsageError
from harness.checker import History, Kind
from harness.checker import history_files as reader
from harness.checker._gcpause import paused_gc
from harness.load.history import EventType, HistoryWriter, Op, iter_events


def write_history(directory: Path) -> None:
    writer = HistoryWriter(directory, process_file="41")
    plan = [("o-1", Op.ORDER, EventType.OK, 1), ("o-1", Op.ORDER, EventType.OK, 2),
            ("o-2", Op.ORDER, EventType.INFO, 1), ("o-2", Op.ORDER, EventType.FAIL, 2),
            ("p-1", Op.PAYOUT, EventType.OK, 1), ("o-3", Op.ORDER, None, 1)]
    for op_id, op, outcome, attempt in plan:
        value = {"amount_minor": 700 if op_id != "o-2" or attempt == 1 else 701, "currency": "EUR"}
        writer.record(EventType.INVOKE, op, op_id, process=4100001, attempt=attempt, value=value)
        if outcome is not None:
            writer.record(outcome, op, op_id, process=4100001, attempt=attempt, value=value,
                          status=None if outcome is EventType.INFO else 201, error=None)
    writer.record(EventType.INVOKE, Op.GET_ORDER, "o-1", process=4100001, attempt=1)
    writer.record(EventType.OK, Op.GET_ORDER, "o-1", process=4100001, attempt=1, status=200)
    writer.close()


def summary(history: History) -> dict[tuple[Kind, str], tuple[object, ...]]:
    return {(kind, op_id): (ops.invokes, ops.ok, ops.fail, ops.info, ops.unknown, ops.amount, ops.amounts_differ)
            for kind, table in history.ops.items() for op_id, ops in table.items()}


def test_the_writers_files_take_the_fast_path_and_agree_with_json(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write_history(tmp_path)
    expected = History.from_events(iter_events(tmp_path))

    def no_json(path: Path) -> list[dict[str, object]]:
        raise AssertionError(f"{path} was parsed as JSON: the fast layout no longer matches the writer's")

    monkeypatch.setattr(reader, "read_events", no_json)
    fast = reader.read_history(tmp_path)
    assert summary(fast) == summary(expected)
    assert fast.counts == expected.counts
    assert summary(fast)[(Kind.ORDER, "o-2")] == (2, 0, 1, 1, 1, 700, True)
    assert summary(fast)[(Kind.ORDER, "o-3")][4] == 1  # no completion: unknown


def test_another_layout_falls_back_to_json_with_the_same_result(tmp_path: Path) -> None:
    write_history(tmp_path / "ours")
    events = list(iter_events(tmp_path / "ours"))
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "9.jsonl").write_text(
        "".join(json.dumps(dict(reversed(list(e.items())))) + "\n" for e in events))
    assert summary(reader.read_history(tmp_path / "theirs")) == summary(reader.read_history(tmp_path / "ours"))


def test_events_for_returns_every_event_of_the_wanted_ids_reads_included(tmp_path: Path) -> None:
    write_history(tmp_path)
    events = reader.read_history(tmp_path).events_for([(Kind.ORDER, "o-1"), (Kind.PAYOUT, "p-1")])
    assert [(e["type"], e["op"], e["attempt"]) for e in events[(Kind.ORDER, "o-1")]] == [
        ("invoke", "order", 1), ("ok", "order", 1), ("invoke", "order", 2), ("ok", "order", 2),
        ("invoke", "get_order", 1), ("ok", "get_order", 1)]
    assert len(events[(Kind.PAYOUT, "p-1")]) == 2


def test_the_collector_is_paused_and_restored() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_pieces_cut_between_lines_give_the_same_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_history(tmp_path)
    whole = summary(reader.read_history(tmp_path))
    monkeypatch.setattr(reader, "_PIECE_BYTES", 97)  # shorter than a line: every piece ends mid-line
    assert summary(reader.read_history(tmp_path)) == whole


def _leftover_worker_files() -> list[Path]:
    return sorted(Path(tempfile.gettempdir()).glob("orderquake-history-*"))


def test_the_worker_process_gives_the_same_history_and_examples(tmp_path: Path) -> None:
    write_history(tmp_path)
    before = _leftover_worker_files()
    here = reader.read_history(tmp_path)
    reading = reader.HistoryRead(tmp_path, worker_bytes=0)
    assert reading._worker is not None  # the worker really ran
    there = reading.result()
    assert summary(there) == summary(here)
    assert there.counts == here.counts
    wanted = [(Kind.ORDER, "o-1"), (Kind.ORDER, "o-2"), (Kind.PAYOUT, "p-1")]
    assert there.events_for(wanted) == here.events_for(wanted)
    assert _leftover_worker_files() == before


def test_a_failing_worker_falls_back_to_reading_here_with_a_clear_error(tmp_path: Path) -> None:
    event = {"type": "invoke", "op": "order", "id": "o-big", "process": 1, "time": 1, "wall": 1.0, "attempt": 1,
             "value": {"amount_minor": 1 << 70, "currency": "EUR"}}
    (tmp_path / "1.jsonl").write_text(json.dumps(event) + "\n")
    before = _leftover_worker_files()
    with pytest.raises(UsageError, match="64 bits"):
        reader.read_history(tmp_path, worker_bytes=0)
    assert _leftover_worker_files() == before


def test_a_worker_no_longer_wanted_is_stopped_and_its_file_removed(tmp_path: Path) -> None:
    write_history(tmp_path)
    before = _leftover_worker_files()
    reading = reader.HistoryRead(tmp_path, worker_bytes=0)
    worker = reading._worker
    assert worker is not None
    reading.close()
    assert worker.poll() is not None
    assert _leftover_worker_files() == before
