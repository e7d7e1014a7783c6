"""What the clients experienced, from the history: latency percentiles, error rate, throughput.

Computed from the history rather than from Locust's statistics so that the numbers mean the
same thing with one Locust process or many, and so that ``info`` (unknown) outcomes are counted
as the history model defines them. The per-second timeline feeds the report's charts.

``client_metrics`` over events is the definition; ``history_metrics`` gives the same from a run's
history directory, in SQL (``harness.load.history_sql``) when the history is well-formed, which at a
million orders is seconds instead of a minute.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from harness.load.history import iter_events
from harness.load.history_sql import QUANTILES, Operations, Shared, opened, percentile, rounded

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
    latencies.sort()
    timeline = []
    for second in sorted(per_second):
        bucket = per_second[second]
        lat = sorted(bucket.pop("lat"))
        timeline.append({"t": second, **bucket, "p99_ms": percentile(lat, 0.99)})
    quantiles = tuple(percentile(latencies, q) for q in QUANTILES)
    return _assembled(counts, quantiles, timeline, load_seconds)


def _assembled(counts: Mapping[str, int], quantiles: tuple[float | None, ...], timeline: list[dict[str, Any]],
               load_seconds: float) -> ClientMetrics:
    completed = sum(counts.values())
    p50, p95, p99 = quantiles
    return ClientMetrics(
        completed=completed, ok=counts["ok"], fail=counts["fail"], info=counts["info"],
        p50_ms=p50, p95_ms=p95, p99_ms=p99,
        rps=round(completed / load_seconds, 3) if load_seconds > 0 else 0.0,
        error_rate=round((counts["fail"] + counts["info"]) / completed, 6) if completed else 0.0,
        timeline=timeline,
    )


def history_metrics(directory: Path, *, load_seconds: float, origin_wall: float, clean: bool,
                    shared: Shared | None = None) -> ClientMetrics:
    """``client_metrics`` of the history in ``directory``; ``clean``: the checker found every line JSON;
    ``shared``: its operations, already opened (``harness.load.history_sql.opened``)."""
    try:
        with opened(shared, directory, clean=clean) as ops:
            if ops is not None:
                return _sql_metrics(ops, load_seconds=load_seconds, origin_wall=float(origin_wall))
    except duckdb.Error:  # a number out of SQL's range (a second beyond 64 bits): the reference reads it
        pass
    return client_metrics(iter_events(directory), load_seconds=load_seconds, origin_wall=origin_wall)


def _sql_metrics(ops: Operations, *, load_seconds: float, origin_wall: float) -> ClientMetrics:
    """``client_metrics`` in SQL: an operation never completed is ``info``; a bucket is the second of the
    invoke, and holds the operations that completed."""
    counts = dict.fromkeys(_COMPLETIONS, 0)
    for outcome, count in ops.rows("SELECT coalesce(outcome, 'info'), count(*) FROM ops GROUP BY ALL"):
        counts[str(outcome)] += int(count)
    done = "outcome IN ('ok', 'fail')"
    overall = ops.ranked((), done, QUANTILES).get((), (None,) * len(QUANTILES))
    ops.params["origin"] = origin_wall
    second = "greatest(0, trunc(iwall - $origin))::BIGINT"
    p99 = {key[0]: values[0] for key, values in ops.ranked((second,), done, (0.99,)).items()}
    timeline = [{"t": int(t), "ok": int(ok), "fail": int(fail), "info": int(info), "p99_ms": rounded(p99.get(t))}
                for t, ok, fail, info in ops.rows(
                    f"SELECT {second} AS t, count(*) FILTER (WHERE outcome = 'ok'), count(*) FILTER "
                    "(WHERE outcome = 'fail'), count(*) FILTER (WHERE outcome = 'info') FROM ops "
                    "WHERE outcome IS NOT NULL GROUP BY t ORDER BY t")]
    return _assembled(counts, tuple(rounded(v) for v in overall), timeline, load_seconds)

