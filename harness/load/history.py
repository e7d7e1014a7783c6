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

import json
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
               error: str | None = None, intended_time: int | None = None,
               steps: list[list[Any]] | None = None, captured: dict[str, Any] | None = None) -> None:
        """Buffer one event, stamped now; write the batch if it is full or old enough.

        ``intended_time`` (monotonic ns, open-model load only) is when the arrival schedule meant
        the operation to start; the event's ``time`` stays when it actually started. ``steps``
        (``[[name, status], ...]``) and ``captured`` are a target flow's detail of one operation
        (``harness.load.steps``).
        """
        event: dict[str, Any] = {
            "type": kind.value, "op": op.value, "id": op_id, "process": process,
            "time": time.monotonic_ns(), "wall": time.time(), "attempt": attempt,
            "value": value if value is not None else {}, "status": status, "error": error,
        }
        if intended_time is not None:
            event["intended_time"] = intended_time
        if steps is not None:
            event["steps"] = steps
        if captured:
            event["captured"] = captured
        self._buffer.append(orjson.dumps(event))
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


def split_lines(data: bytes) -> Iterator[tuple[int, bytes, bool]]:
    """(number, line, is it the last line and without its newline) of a file's bytes.

    Every reader of a history goes through here, so a torn last line (a process killed while
    writing it) is met the same way everywhere: as the one line that may lack its newline.
    """
    parts = data.split(b"\n")
    last = parts.pop()  # empty when the file ends with a newline
    for number, line in enumerate(parts, start=1):
        yield number, line, False
    if last:
        yield len(parts) + 1, last, True


def decode(line: bytes) -> Any:
    """One JSON value exactly as Python's ``json`` reads it; ``ValueError`` when it is not JSON.

    orjson first (fast); the rare line it refuses and ``json`` accepts (a lone surrogate, NaN, an
    integer beyond 64 bits) is decoded by ``json``, so the result never depends on the decoder.
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line.decode("utf-8", errors="surrogateescape"))


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every event of one history file that is a JSON object, for the metrics and the examples;
    the checker's reader (``harness.checker.reading``) also says what is wrong with the others."""
    events = []
    for _, line, _ in split_lines(path.read_bytes()):
        try:
            event = decode(line)
        except ValueError:
            continue
        if type(event) is dict:
            events.append(event)
    return events


def iter_events(directory: Path) -> Iterator[dict[str, Any]]:
    """Every event of every process, one file after the other, each in the order it was written."""
    for path in history_files(directory):
        yield from read_events(path)
