"""The history writer batches, flushes on time and on close, and the reader reads what it wrote."""

from __future__ import annotations

from pathlib import Path

from harness.load.history import EventType, HistoryWriter, Op, iter_events


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_events_are_buffered_until_the_batch_is_full(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path, process_file="7", batch_size=4, clock=FakeClock())
    for attempt in range(1, 4):
        writer.record(EventType.INVOKE, Op.ORDER, "o", process=7, attempt=attempt)
    assert lines(writer.path) == 0
    writer.record(EventType.INVOKE, Op.ORDER, "o", process=7, attempt=4)
    assert lines(writer.path) == 4
    writer.close()


def test_an_old_buffer_is_flushed_by_the_next_event(tmp_path: Path) -> None:
    clock = FakeClock()
    writer = HistoryWriter(tmp_path, process_file="7", batch_size=1000, flush_interval_s=0.5, clock=clock)
    writer.record(EventType.INVOKE, Op.ORDER, "o", process=7, attempt=1)
    assert lines(writer.path) == 0
    clock.now = 0.6
    writer.record(EventType.OK, Op.ORDER, "o", process=7, attempt=1, status=201)
    assert lines(writer.path) == 2
    writer.close()


def test_close_flushes_and_every_field_of_section_5_is_written(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path, process_file="7", clock=FakeClock())
    writer.record(EventType.INVOKE, Op.PAYOUT, "p1", process=7, attempt=2, value={"amount_minor": 5, "currency": "EUR"})
    writer.record(EventType.INFO, Op.PAYOUT, "p1", process=7, attempt=2, error="TimeoutError: timed out")
    writer.close()
    invoke, info = list(iter_events(tmp_path))
    assert set(invoke) == {"type", "op", "id", "process", "time", "wall", "attempt", "value", "status", "error"}
    assert (invoke["type"], invoke["op"], invoke["id"], invoke["attempt"]) == ("invoke", "payout", "p1", 2)
    assert invoke["value"] == {"amount_minor": 5, "currency": "EUR"}
    assert info["type"] == "info" and info["status"] is None and info["error"].startswith("TimeoutError")
    assert info["time"] >= invoke["time"]


def test_two_writers_append_to_their_own_files(tmp_path: Path) -> None:
    for process in ("1", "2"):
        writer = HistoryWriter(tmp_path, process_file=process)
        writer.record(EventType.INVOKE, Op.ORDER, f"o{process}", process=int(process), attempt=1)
        writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.jsonl", "2.jsonl"]
    assert [e["id"] for e in iter_events(tmp_path)] == ["o1", "o2"]


def test_the_reader_skips_a_torn_last_line(tmp_path: Path) -> None:
    (tmp_path / "3.jsonl").write_bytes(b'{"type":"invoke","id":"a"}\n{"type":"ok","id"')
    assert [e["id"] for e in iter_events(tmp_path)] == ["a"]
