"""What the clients saw in one step, from the history alone. Pure.

Every id a step's clients choose starts with the step's run id (``<run id>-s<n>-``), so an event,
and a violation the checker finds on an id, belongs to the step in which the id was first
invoked (``step_of``). Invokes and completions are paired on (process, op, id, attempt) as in
``harness.run.metrics``; an invoke with no completion counts as ``info``.

Latency runs from the invoke's ``intended_time`` when it has one (the open model's schedule,
DESIGN.md section 5) and from its ``time`` otherwise, over ``ok`` and ``fail`` completions, with
the report's nearest-rank percentiles (``harness.report.series.percentile``). Throughput is the
step's completions over the time they took: from its first intended start to its last completion,
and never less than the step's duration, so a service that lags behind an offered rate shows the
rate it served, not the one it was offered. Concurrency is Little's law over every completion:
``N = X * R``, throughput times the mean latency.

    >>> step_of("r1a2b3c4d-s3-o-4242-17")
    3
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.report.series import percentile

_STEP = re.compile(r"^r[0-9a-f]+-s(\d+)-")
_OUTCOMES = ("ok", "fail", "info")


def step_run_id(run_id: str, index: int) -> str:
    """The id prefix of step ``index``'s clients."""
    return f"{run_id}-s{index}"


def step_of(op_id: object) -> int | None:
    """The step whose clients chose ``op_id``, or None for an id no step chose."""
    match = _STEP.match(op_id) if isinstance(op_id, str) else None
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Latency:
    """Milliseconds from the intended start to the completion, over ok and fail."""

    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None

    @classmethod
    def of(cls, values: list[float]) -> Latency:
        values = sorted(values)
        return cls(percentile(values, 0.50), percentile(values, 0.95), percentile(values, 0.99),
                   round(values[-1], 3) if values else None)


@dataclass(frozen=True)
class OpLoad:
    """One operation kind in one step: completions by outcome, per second, and latency."""

    ok: int = 0
    fail: int = 0
    info: int = 0
    per_second: Mapping[str, float] = field(default_factory=dict)
    latency: Latency = Latency()


@dataclass(frozen=True)
class StepLoad:
    """The step as its clients saw it."""

    seconds: float
    span_seconds: float  # first intended start to last completion, at least ``seconds``
    arrivals: int  # invokes that carried an intended start: what the generator offered
    completed: int
    ok: int
    fail: int
    info: int
    throughput: float  # completions per second
    ok_per_second: float
    error_rate: float  # (fail + info) / completed, as the SLOs count it
    info_rate: float
    latency: Latency
    mean_latency_ms: float | None
    concurrency: float | None  # Little's law: throughput x mean latency
    lag_p99_ms: float | None  # how late the generator sent its arrivals
    ops: Mapping[str, OpLoad]

    def observed(self) -> dict[str, float | None]:
        """The values an SLO rule names, as ``ClientMetrics.observed`` has them (recovery aside)."""
        return {"p50": self.latency.p50_ms, "p95": self.latency.p95_ms, "p99": self.latency.p99_ms,
                "error_rate": self.error_rate, "rps": self.throughput}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def step_load(events: Iterable[Mapping[str, Any]], *, seconds: float) -> StepLoad:
    """Summarise the events of one step, which offered load for ``seconds``."""
    invoked: dict[tuple[Any, ...], tuple[int, int]] = {}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_OUTCOMES, 0))
    latencies: dict[str, list[float]] = defaultdict(list)
    every: list[float] = []
    lags: list[float] = []
    arrivals = 0
    first: int | None = None
    last: int | None = None
    for event in events:
        op, kind = event.get("op"), event.get("type")
        if not isinstance(op, str):
            continue
        key = (event.get("process"), op, event.get("id"), event.get("attempt"))
        actual = _int(event.get("time"))
        if kind == "invoke":
            intended = _int(event.get("intended_time"))
            if intended is not None and actual is not None:
                arrivals += event.get("attempt") == 1
                lags.append(max(0.0, (actual - intended) / 1e6))
            if actual is not None:
                invoked[key] = (intended if intended is not None else actual, actual)
                first = min(first, invoked[key][0]) if first is not None else invoked[key][0]
            continue
        if kind not in _OUTCOMES:
            continue
        counts[op][str(kind)] += 1
        if actual is not None:
            last = max(last, actual) if last is not None else actual
        started = invoked.pop(key, None)
        if started is not None and actual is not None:
            latency = max(0.0, (actual - started[0]) / 1e6)
            every.append(latency)
            if kind != "info":
                latencies[op].append(latency)
    for _, op, _, _ in invoked:
        counts[op]["info"] += 1
    total = {outcome: sum(c[outcome] for c in counts.values()) for outcome in _OUTCOMES}
    completed = sum(total.values())
    span = max(seconds, (last - first) / 1e9 if first is not None and last is not None else 0.0)
    throughput = completed / span if span > 0 else 0.0
    mean = sum(every) / len(every) if every else None
    ops = {op: OpLoad(ok=c["ok"], fail=c["fail"], info=c["info"],
                      per_second={o: round(c[o] / span, 3) if span > 0 else 0.0 for o in _OUTCOMES},
                      latency=Latency.of(latencies[op]))
           for op, c in sorted(counts.items())}
    return StepLoad(
        seconds=seconds, span_seconds=round(span, 3), arrivals=arrivals, completed=completed, ok=total["ok"],
        fail=total["fail"], info=total["info"], throughput=round(throughput, 3),
        ok_per_second=round(total["ok"] / span, 3) if span > 0 else 0.0,
        error_rate=round((total["fail"] + total["info"]) / completed, 6) if completed else 0.0,
        info_rate=round(total["info"] / completed, 6) if completed else 0.0,
        latency=Latency.of([v for op in latencies for v in latencies[op]]),
        mean_latency_ms=round(mean, 3) if mean is not None else None,
        concurrency=round(throughput * mean / 1000, 3) if mean is not None else None,
        lag_p99_ms=percentile(sorted(lags), 0.99), ops=ops)


def by_step(events: Iterable[Mapping[str, Any]]) -> dict[int, list[Mapping[str, Any]]]:
    """The events of each step, by the step their id belongs to."""
    steps: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for event in events:
        index = step_of(event.get("id"))
        if index is not None:
            steps[index].append(event)
    return dict(steps)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)
