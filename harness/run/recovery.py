"""The recovery phase: after every fault is healed and load has stopped, wait for the SUT to settle.

The pending backlog is sampled every second until it reaches zero or the scenario's deadline
passes; the series is saved as ``consistency.jsonl`` and the time it took is "time to
consistency". A sample that fails (the database still coming back) is recorded with its error
and does not end the wait: recovering from exactly that is what is being measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from harness._exceptions import OrderquakeError
from harness.rundir import RunDir


@dataclass(frozen=True)
class Recovery:
    """How the backlog drained: seconds to zero (None if it never did) and the last sample."""

    seconds: float | None
    last_pending: int | None
    samples: int


def wait_for_consistency(sample: Callable[[], int], *, deadline_s: float, run_dir: RunDir,
                         interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
                         sleep: Callable[[float], None] = time.sleep,
                         wall: Callable[[], float] = time.time) -> Recovery:
    """Sample ``sample()`` every ``interval_s`` until it returns 0 or ``deadline_s`` passes."""
    started = clock()
    last: int | None = None
    count = 0
    while True:
        elapsed = clock() - started
        record: dict[str, object] = {"t": round(elapsed, 3), "wall": wall()}
        try:
            last = sample()
            record["pending"] = last
        except OrderquakeError as exc:
            record["pending"] = None
            record["error"] = str(exc)
        run_dir.append_jsonl(run_dir.consistency, record)
        count += 1
        if last == 0 and record.get("pending") == 0:
            return Recovery(seconds=round(elapsed, 3), last_pending=0, samples=count)
        if elapsed >= deadline_s:
            return Recovery(seconds=None, last_pending=last, samples=count)
        next_at = started + count * interval_s
        sleep(max(0.0, min(next_at, started + deadline_s) - clock()))
