"""The client history of DESIGN.md section 5: one JSON object per line, per Locust process.

Writing is on the hot path of every request, so events are serialised at once (orjson, a few
hundred nanoseconds) into an in-memory buffer and written to ``history/<pid>.jsonl`` in
batches: when the buffer holds ``batch_size`` lines, when ``flush_interval_s`` has passed since
the last write, and when the process stops. A worker killed with SIGKILL loses at most its
unflushed batch; its last ``invoke`` without a completion is read as ``info``.

Reading is for the checker and the metrics: ``iter_events`` yields plain dicts, file by file,
in the order each process wrote them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson


class EventType(StrEnum):
    """Jepsen's event types: an ``invoke`` and exactly one completion."""

    INVOKE = "invoke"
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


class Op(StrEnum):
    """What a client did."""

    ORDER = "order"
    PAYOUT = "payout"
    GET_ORDER = "get_order"
    GET_PAYOUT = "get_payout"

    @property
    def is_write(self) -> bool:
        return self in (Op.ORDER, Op.PAYOUT)


class HistoryWriter:
    """Buffers events of one OS process and appends them to its own file in batches.

    >>> writer = HistoryWriter(Path("history"), process_file="4242")  # doctest: +SKIP
    >>> writer.record(EventType.INVOKE, Op.ORDER, "r1-o-4242-1", process=4242001, attempt=1,
    ...               value={"amount_minor": 100, "currency": "EUR"})  # doctest: +SKIP
    """

    def __init__(self, directory: Path, *, process_file: str, batch_size: int = 512,
                 flush_interval_s: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{process_file}.jsonl"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._buffer: list[bytes] = []
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._clock = clock
        self._last_flush = clock()

    def record(self, kind: EventType, op: Op, op_id: str, *, process: int, attempt: int,
               value: dict[str, Any] | None = None, status: int | None = None,
               error: str | None = None) -> None:
        """Buffer one event, stamped now; write the batch if it is full or old enough."""
        self._buffer.append(orjson.dumps({
            "type": kind.value, "op": op.value, "id": op_id, "process": process,
            "time": time.monotonic_ns(), "wall": time.time(), "attempt": attempt,
            "value": value if value is not None else {}, "status": status, "error": error,
        }))
        if len(self._buffer) >= self._batch_size or self._clock() - self._last_flush >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Write every buffered event with one system call."""
        self._last_flush = self._clock()
        if not self._buffer:
            return
        data = b"\n".join(self._buffer) + b"\n"
        self._buffer.clear()
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        """Flush and close the file; later records are an error."""
        self.flush()
        os.close(self._fd)


def history_files(directory: Path) -> list[Path]:
    """Every process's history file, in a stable order."""
    return sorted(directory.glob("*.jsonl"))


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every event of one history file.

    The whole file is parsed in one call (a JSON array made of its lines), which is several
    times faster than a call per line; a file with a torn or blank line (a process killed
    mid-write) falls back to line by line, skipping what does not parse. A torn line is at
    most the end of a batch whose invokes are then read as unmatched, which is ``info``.
    """
    return parse_events(path.read_bytes())


def parse_events(data: bytes) -> list[dict[str, Any]]:
    """Every event of whole lines of a history file (``read_events``, for a part of a file)."""
    data = data.strip()
    if not data:
        return []
    try:
        events = orjson.loads(b"[" + data.replace(b"\n", b",") + b"]")
    except orjson.JSONDecodeError:
        events = []
        for line in data.splitlines():
            try:
                events.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
    return [event for event in events if isinstance(event, dict)]


def iter_events(directory: Path) -> Iterator[dict[str, Any]]:
    """Every event of every process, one file after the other, each in the order it was written."""
    for path in history_files(directory):
        yield from read_events(path)
