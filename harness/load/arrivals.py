"""Open-model load for ``orderquake capacity``: operations arrive at a fixed rate, whatever the service does.

A closed-model user (``harness.load.locustfile.OrderClient``) waits for each answer before it
sends the next request, so a slow service slows its own load down and a stall hides behind the
requests that were never sent (coordinated omission). Here each user keeps a schedule instead:
arrival ``k`` is meant to start at ``start + k / rate``; each arrival runs in its own greenlet and
does exactly what one ``OrderClient`` task does (the scenario's mix, duplicates, the resend of an
``info``), with ``OrderClient``'s own methods. Every invoke of an arrival sent before its first
completion carries ``intended_time`` (DESIGN.md section 5), so latency is measured from when the
operation should have started. When the generator falls behind it sends at once what is due; an
arrival still unsent when the step's time is over was never offered, and the step's report says
how many.

Run only inside ``locust``; configured by ``harness.load.command``'s variables and these:

| variable | meaning |
|---|---|
| ``ORDERQUAKE_ARRIVAL_RATE`` | arrivals per second offered by each user |
| ``ORDERQUAKE_ARRIVAL_SECONDS`` | how long each user offers them |
| ``ORDERQUAKE_ARRIVAL_REPORT_DIR`` | where each user writes ``arrivals-<process>.json`` (scheduled, sent, CPU) |
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
from gevent.pool import Group
from locust import task
from locust.contrib.fasthttp import FastHttpUser

# Imported as a module, not by name: Locust runs every User class a locustfile's namespace holds.
import harness.load.locustfile as closed
from harness.load.history import EventType, Op

RATE = float(os.environ.get("ORDERQUAKE_ARRIVAL_RATE", "1"))
SECONDS = float(os.environ.get("ORDERQUAKE_ARRIVAL_SECONDS", "5"))
REPORT_DIR = Path(os.environ.get("ORDERQUAKE_ARRIVAL_REPORT_DIR", "."))
_IDLE_S = 3600.0  # after its schedule a user waits, and Locust stops a waiting user at once
_ARRIVALS = 100_000


class _Arrival:
    """One arrival: ``OrderClient``'s operations run on the user's state, invokes stamped with the intended start.

    Attributes it does not hold (``rng``, ``client``, ``known``, ``flows``) are the user's. The submissions
    of a concurrent burst (``OrderClient.concurrently``: a double click, a retry storm) run as processes
    of their own through ``OrderClient``'s send, so they are timed from their actual start.
    """

    # OrderClient's own functions, run with an arrival as ``self`` (typed Any: an arrival is not a User).
    act: Any = closed.OrderClient.act
    submit: Any = closed.OrderClient.submit
    concurrently: Any = closed.OrderClient.concurrently
    complete: Any = closed.OrderClient.complete
    complete_steps: Any = closed.OrderClient.complete_steps

    def __init__(self, user: ArrivalClient, intended_ns: int, number: int) -> None:
        self._user = user
        self._intended: int | None = intended_ns
        # A Jepsen process has at most one open operation, so each arrival is a process of its own: the
        # user's number times _ARRIVALS plus the arrival's (reused only long after it completed), times
        # OrderClient's slots, which number the submissions of a burst as processes of their own too.
        self.process = (user.process * _ARRIVALS + number % _ARRIVALS) * closed._SLOTS

    def __getattr__(self, name: str) -> Any:
        return getattr(self._user, name)

    def send(self, op: Op, path: str, op_id: str, body: dict[str, Any], value: dict[str, Any],
             attempt: int) -> EventType:
        """``OrderClient.send``, its invoke stamped."""
        self._invoke(op, op_id, attempt, value)
        if self.flows is not None:
            return self._done(self.complete_steps(op, op_id, value, attempt, body))
        return self._done(self.complete(op, op_id, value, attempt, lambda: self._user.client.post(
            path, json=body, name=path, catch_response=True)))

    def read(self, op: Op, op_id: str) -> None:
        """``OrderClient.read``, its invoke stamped."""
        self._invoke(op, op_id, 1, None)
        if self.flows is not None:
            self._done(self.complete_steps(op, op_id, {}, 1, None))
            return
        path = "/orders" if op is Op.GET_ORDER else "/payouts"
        self._done(self.complete(op, op_id, {}, 1, lambda: self._user.client.get(
            f"{path}/{op_id}", name=f"{path}/[id]", catch_response=True)))

    def _invoke(self, op: Op, op_id: str, attempt: int, value: dict[str, Any] | None) -> None:
        closed.RECORDER.record(EventType.INVOKE, op, op_id, process=self.process, attempt=attempt,
                               value=value, intended_time=self._intended)

    def _done(self, kind: EventType) -> EventType:
        self._intended = None  # what follows a completion is the client's reaction, not an arrival
        return kind


class ArrivalClient(FastHttpUser):
    """Offers ``ORDERQUAKE_ARRIVAL_RATE`` arrivals per second for ``ORDERQUAKE_ARRIVAL_SECONDS``, then idles."""

    network_timeout = closed.TIMEOUT_S
    connection_timeout = closed.TIMEOUT_S
    concurrency = 512  # connections: an open model must not queue behind its own pool at modest rates
    on_start = closed.OrderClient.on_start
    process: int  # set by on_start, as OrderClient's
    done = False

    def wait_time(self) -> float:
        return _IDLE_S if self.done else 0.0

    @task
    def offer(self) -> None:
        if self.done:
            return
        interval_ns = 1e9 / RATE
        phase = random.Random(f"{closed.SEED}:{closed.WORKER}:{self.process}").random() * interval_ns
        start = time.monotonic_ns()
        end = start + int(SECONDS * 1e9)
        scheduled = math.ceil((SECONDS * 1e9 - phase) / interval_ns)
        arrivals = Group()
        cpu_start, wall_start = time.process_time(), time.monotonic()
        sent = 0
        while sent < scheduled:
            intended = start + int(phase + sent * interval_ns)
            now = time.monotonic_ns()
            if now >= end:
                break  # behind schedule when the step is over: the rest was never offered
            gevent.sleep(max(0.0, (intended - now) / 1e9))  # zero still yields to the arrivals in flight
            arrivals.spawn(_Arrival(self, intended, sent).act)
            sent += 1
        cpu_end, wall_end = time.process_time(), time.monotonic()
        # Written before the drain: Locust may stop this user while its last arrivals are still answered.
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        (REPORT_DIR / f"arrivals-{self.process}.json").write_text(json.dumps({
            "pid": closed.PID, "process": self.process, "rate": RATE, "seconds": SECONDS,
            "scheduled": scheduled, "sent": sent, "cpu_s": round(cpu_end - cpu_start, 4),
            "wall_s": round(wall_end - wall_start, 4)}))
        arrivals.join(timeout=2 * closed.TIMEOUT_S + 5)
        self.done = True
