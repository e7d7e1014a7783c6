"""What the clients experienced, from the history: latency percentiles, error rate, throughput.

Computed from the history rather than from Locust's statistics so that the numbers mean the
same thing with one Locust process or many, and so that ``info`` (unknown) outcomes are counted
as the history model defines them. The per-second timeline feeds the report's charts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_COMPLETIONS = ("ok", "fail", "info")


@dataclass(frozen=True)
class ClientMetrics:
    """Client-side numbers of one run; latencies in milliseconds, rates per second."""

    completed: int
    ok: int
    fail: int
    info: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rps: float
    error_rate: float
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def observed(self, recovery_seconds: float | None) -> dict[str, float | None]:
        """The values an SLO rule can name (``p99``, ``error_rate``, ``rps``, ``recovery`` ...)."""
        return {"p50": self.p50_ms, "p95": self.p95_ms, "p99": self.p99_ms, "error_rate": self.error_rate,
                "rps": self.rps, "recovery": recovery_seconds}


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = max(0, math.ceil(q * len(sorted_values)) - 1)
    return round(sorted_values[index], 3)


def client_metrics(events: Iterable[Mapping[str, Any]], *, load_seconds: float,
                   origin_wall: float) -> ClientMetrics:
    """Pair each ``invoke`` with its completion and summarise; unmatched invokes count as ``info``.

    ``origin_wall`` is the epoch second the load started: the timeline's ``t`` counts from it,
    as the fault journal's does. ``error_rate`` is (fail + info) / completed: from a client's
    point of view an unknown outcome is an error even when the order later turned out fine.
    """
    pending: dict[tuple[Any, ...], tuple[int, float]] = {}
    latencies: list[float] = []
    per_second: dict[int, dict[str, Any]] = defaultdict(lambda: {"ok": 0, "fail": 0, "info": 0, "lat": []})
    counts = dict.fromkeys(_COMPLETIONS, 0)
    for event in events:
        key = (event.get("process"), event.get("op"), event.get("id"), event.get("attempt"))
        kind = event.get("type")
        if kind == "invoke":
            pending[key] = (int(event.get("time") or 0), float(event.get("wall") or origin_wall))
            continue
        if kind not in counts:
            continue
        counts[kind] += 1
        started = pending.pop(key, None)
        if started is None:
            continue
        latency_ms = (int(event.get("time") or 0) - started[0]) / 1e6
        bucket = per_second[max(0, int(started[1] - origin_wall))]
        bucket[kind] += 1
        if kind != "info":
            latencies.append(latency_ms)
            bucket["lat"].append(latency_ms)
    counts["info"] += len(pending)
    completed = sum(counts.values())
    latencies.sort()
    timeline = []
    for second in sorted(per_second):
        bucket = per_second[second]
        lat = sorted(bucket.pop("lat"))
        timeline.append({"t": second, **bucket, "p99_ms": _percentile(lat, 0.99)})
    return ClientMetrics(
        completed=completed, ok=counts["ok"], fail=counts["fail"], info=counts["info"],
        p50_ms=_percentile(latencies, 0.50), p95_ms=_percentile(latencies, 0.95),
        p99_ms=_percentile(latencies, 0.99),
        rps=round(completed / load_seconds, 3) if load_seconds > 0 else 0.0,
        error_rate=round((counts["fail"] + counts["info"]) / completed, 6) if completed else 0.0,
        timeline=timeline,
    )
