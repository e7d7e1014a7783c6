"""Locust users that submit orders and payouts with client-chosen ids and record every outcome.

Run only inside ``locust`` (it patches the process with gevent); configured by the
``ORDERQUAKE_*`` environment variables that ``harness.load.command`` sets. Each submission
gets a fresh id ``<run_id>-o-<pid>-<n>`` (``-p-`` for payouts). A fraction of submissions
(``ORDERQUAKE_DUPLICATES``) is duplicated on purpose, with the same id and a higher attempt:

- ``double``: two concurrent submissions (a double click),
- ``resend``: a second submission after the first completed (a response the client lost),
- ``storm``: three to five concurrent submissions (a retry storm).

Independently, every submission whose outcome was unknown (``info``) is resent once, as a
careful client does. Every request is recorded as an ``invoke`` before it is sent and exactly
one completion after it ends, even when the user is stopped mid-request.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import deque
from enum import StrEnum
from pathlib import Path
from typing import Any

import gevent
from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING

from contract import Flow
from harness.flows.engine import Result
from harness.load.history import EventType, HistoryWriter, Op
from harness.load.steps import UserFlows, from_environment

RUN_ID = os.environ.get("ORDERQUAKE_RUN_ID", "r0")
SEED = int(os.environ.get("ORDERQUAKE_SEED", "0"))
WORKER = os.environ.get("ORDERQUAKE_WORKER_INDEX", "0")
TIMEOUT_S = float(os.environ.get("ORDERQUAKE_REQUEST_TIMEOUT", "5"))
THINK_S = float(os.environ.get("ORDERQUAKE_THINK_TIME", "0"))
DUPLICATES = float(os.environ.get("ORDERQUAKE_DUPLICATES", "0"))
MIX: dict[str, float] = json.loads(os.environ.get("ORDERQUAKE_MIX", '{"order": 1}'))
HISTORY_ON = os.environ.get("ORDERQUAKE_HISTORY", "on") != "off"
HISTORY_DIR = Path(os.environ.get("ORDERQUAKE_HISTORY_DIR", "history"))
FLOWS = from_environment()  # a target's own HTTP steps (harness.load.steps), else the contract's API

# A remote worker's slot adds its process base (harness.distributed.protocol), so that the ids,
# process numbers and history file names of processes on different machines never collide.
PID = os.getpid() + int(os.environ.get("ORDERQUAKE_PROCESS_BASE", "0"))
_SEQUENCE = itertools.count(1)
_USERS = itertools.count()


class Duplicate(StrEnum):
    """How a submission chosen as a duplicate is sent again with the same id."""

    DOUBLE = "double"  # two at once: a double click
    RESEND = "resend"  # again after the first completed: a response the client lost
    STORM = "storm"  # three to five at once: a retry storm


_PATTERNS = list(Duplicate)
_SLOTS = 8  # process numbers per user: its own and one per submission of a burst (at most 5)
_PATHS = {Op.ORDER: ("/orders", "order_id", "o"), Op.PAYOUT: ("/payouts", "payout_id", "p")}
_READS = {Op.GET_ORDER: Op.ORDER, Op.GET_PAYOUT: Op.PAYOUT}


class _Recorder:
    """The process's history writer, opened on first use so a coordinating master writes no file."""

    writer: HistoryWriter | None = None
    flusher: Any = None

    def record(self, kind: EventType, op: Op, op_id: str, **fields: Any) -> None:
        if not HISTORY_ON:
            return
        if self.writer is None:
            self.writer = HistoryWriter(HISTORY_DIR, process_file=str(PID))
            self.flusher = gevent.spawn(self._flush_every, 0.5)
        self.writer.record(kind, op, op_id, **fields)

    def _flush_every(self, seconds: float) -> None:
        # An idle process still gets its last events onto disk within half a second.
        while True:
            gevent.sleep(seconds)
            if self.writer is not None:
                self.writer.flush()

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()


RECORDER = _Recorder()


@events.test_stop.add_listener
def _on_test_stop(**_: Any) -> None:
    RECORDER.flush()


@events.quitting.add_listener
def _on_quitting(**_: Any) -> None:
    RECORDER.flush()


_STOPPING = (STATE_CLEANUP, STATE_STOPPING, STATE_STOPPED)


def classify(status: int | None) -> EventType:
    """2xx done, 4xx definitely not done (408 aside), anything else (no response, 5xx) unknown."""
    if status is None or status == 0:
        return EventType.INFO
    if 200 <= status < 300:
        return EventType.OK
    if 400 <= status < 500 and status != 408:
        return EventType.FAIL
    return EventType.INFO


class OrderClient(FastHttpUser):
    """One client (a Jepsen process): submits, duplicates and reads orders and payouts."""

    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S
    wait_time = constant(THINK_S)

    def on_start(self) -> None:
        index = next(_USERS)
        # A Jepsen process has at most one open operation: the submissions of a concurrent burst
        # (double click, retry storm) run as processes of their own, this number plus 1 to 7.
        self.process = (PID * 100_000 + index) * _SLOTS
        self.rng = random.Random(f"{SEED}:{WORKER}:{index}")
        self.ops = [Op(name) for name, weight in MIX.items() if weight > 0]
        self.weights = [MIX[op.value] for op in self.ops]
        self.known: dict[Op, deque[str]] = {Op.ORDER: deque(maxlen=256), Op.PAYOUT: deque(maxlen=256)}
        self.flows = UserFlows(FLOWS, self.client, PID * 100_000 + index) if FLOWS is not None else None

    @task
    def act(self) -> None:
        runner = self.environment.runner
        if runner is not None and runner.state in _STOPPING:
            # Locust kills a user it finds waiting; with no think time the user may already be woken
            # and would open an operation the kill then cuts short, an unknown outcome of our own
            # making. Once the runner is stopping, no operation starts.
            raise StopUser
        op = self.rng.choices(self.ops, self.weights)[0]
        target = _READS.get(op)
        if self.flows is not None and not self.flows.set_up(Flow((target or op).value)):
            gevent.sleep(0.2)  # the user's sign-up or log-in did not pass (a fault?): no operation yet
            return
        if target is None:
            self.submit(op)
        elif self.known[target]:
            self.read(op, self.rng.choice(self.known[target]))
        else:
            self.submit(target)

    def submit(self, op: Op) -> None:
        path, key, letter = _PATHS[op]
        op_id = f"{RUN_ID}-{letter}-{PID}-{next(_SEQUENCE)}"
        value = {"amount_minor": self.rng.randint(100, 100_000), "currency": "EUR"}
        body = {key: op_id, "account_id": f"acct-{self.rng.randint(1, 50)}", **value}
        pattern = self.rng.choice(_PATTERNS) if self.rng.random() < DUPLICATES else None
        if pattern in (Duplicate.DOUBLE, Duplicate.STORM):
            count = 2 if pattern is Duplicate.DOUBLE else self.rng.randint(3, 5)
            outcome = self.concurrently(op, path, op_id, body, value, count=count)
            attempt = count + 1
        else:
            outcome = self.send(op, path, op_id, body, value, 1)
            attempt = 2
        if pattern is Duplicate.RESEND:
            outcome = self.send(op, path, op_id, body, value, attempt)
            attempt += 1
        if outcome is EventType.INFO:
            self.send(op, path, op_id, body, value, attempt)
        self.known[op].append(op_id)

    def concurrently(self, op: Op, path: str, op_id: str, body: dict[str, Any], value: dict[str, Any], *,
                     count: int) -> EventType:
        """Send ``count`` submissions at once; ``ok`` if any was acknowledged, else the last outcome."""
        greenlets = [gevent.spawn(_Slot(self, i + 1).send, op, path, op_id, body, value, 1 + i) for i in range(count)]
        gevent.joinall(greenlets)
        outcomes = [g.value for g in greenlets if g.successful()]
        if EventType.OK in outcomes:
            return EventType.OK
        return outcomes[-1] if outcomes else EventType.INFO

    def send(self, op: Op, path: str, op_id: str, body: dict[str, Any], value: dict[str, Any],
             attempt: int) -> EventType:
        RECORDER.record(EventType.INVOKE, op, op_id, process=self.process, attempt=attempt, value=value)
        if self.flows is not None:
            return self.complete_steps(op, op_id, value, attempt, body)
        return self.complete(op, op_id, value, attempt, lambda: self.client.post(
            path, json=body, name=path, catch_response=True))

    def read(self, op: Op, op_id: str) -> None:
        path = _PATHS[_READS[op]][0]
        RECORDER.record(EventType.INVOKE, op, op_id, process=self.process, attempt=1)
        if self.flows is not None:
            self.complete_steps(op, op_id, {}, 1, None)
            return
        self.complete(op, op_id, {}, 1, lambda: self.client.get(
            f"{path}/{op_id}", name=f"{path}/[id]", catch_response=True))

    def complete_steps(self, op: Op, op_id: str, value: dict[str, Any], attempt: int,
                       body: dict[str, Any] | None) -> EventType:
        """The target's steps of one operation, recorded as one completion with each step's status."""
        assert self.flows is not None
        try:
            if body is None:
                result = self.flows.read(Flow(_READS[op].value), op_id)
            else:
                result = self.flows.submit(Flow(op.value), op_id, body, attempt)
        except Exception as exc:
            result = Result("info", error=f"{type(exc).__name__}: {exc}")
        except BaseException as exc:  # the user is being stopped: the outcome stays unknown
            RECORDER.record(EventType.INFO, op, op_id, process=self.process, attempt=attempt, value=value,
                            status=None, error=f"{type(exc).__name__}: stopped mid-request")
            raise
        kind = EventType(result.outcome)
        RECORDER.record(kind, op, op_id, process=self.process, attempt=attempt, value=value, status=result.status,
                        error=result.error, steps=[list(step) for step in result.steps],
                        captured=result.captures or None)
        return kind

    def complete(self, op: Op, op_id: str, value: dict[str, Any], attempt: int, request: Any) -> EventType:
        """Run ``request`` and record exactly one completion, whatever happens to it."""
        try:
            with request() as response:
                status = int(response.status_code or 0) or None
                kind = classify(status)
                error = None
                if kind is EventType.OK:
                    response.success()
                else:
                    failure = response.request_meta.get("exception") if status is None else None
                    error = f"{type(failure).__name__}: {failure}" if failure is not None else f"HTTP {status}"
                    response.failure(error)
        except Exception as exc:
            kind, status, error = EventType.INFO, None, f"{type(exc).__name__}: {exc}"
        except BaseException as exc:  # the user is being stopped: the outcome stays unknown
            RECORDER.record(EventType.INFO, op, op_id, process=self.process, attempt=attempt, value=value,
                            status=None, error=f"{type(exc).__name__}: stopped mid-request")
            raise
        RECORDER.record(kind, op, op_id, process=self.process, attempt=attempt, value=value,
                        status=status, error=error)
        return kind


class _Slot:
    """A user seen as another process: one submission of a concurrent burst, with its own process number."""

    # OrderClient's own functions, run with a slot as ``self`` (typed Any: a slot is not a User).
    send: Any = OrderClient.send
    complete: Any = OrderClient.complete
    complete_steps: Any = OrderClient.complete_steps

    def __init__(self, user: OrderClient, slot: int) -> None:
        self._user = user
        self.process = user.process + slot

    def __getattr__(self, name: str) -> Any:
        return getattr(self._user, name)
