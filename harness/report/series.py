"""The report's time series: what the clients saw second by second, and the backlog after heal.

Throughput is counted when an operation *completes* (the second of its completion's ``wall``,
counted from ``run.json``'s ``load_started_wall``, the clock the fault journal's ``t`` is on), so a
fault that makes requests hang shows as a gap where they hang and a burst of ``info`` when they
time out. Latency is the pair's monotonic ``time`` difference, over ``ok`` and ``fail`` only (an
``info`` is usually the client's own timeout), with nearest-rank percentiles as ``run.json``'s
metrics. An invoke and its completion are paired on (process, op, id, attempt); an invoke that
never completed has no second to be counted in and is reported apart (``never_completed``).

    >>> timeline = per_second(iter_events(run_dir.history), origin_wall=1796117070.33)  # doctest: +SKIP
    >>> timeline.ops[0].ok[:3]  # doctest: +SKIP
    [196, 300, 262]
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from harness.load.history import EventType, Op, iter_events
from harness.load.history_sql import QUANTILES, Operations, percentile, rounded
from harness.rundir import RunDir

_OUTCOMES = (EventType.OK.value, EventType.FAIL.value, EventType.INFO.value)


@dataclass(frozen=True)
class OpSeries:
    """One operation kind, one value per second: completions by outcome, latency percentiles (ms)."""

    op: str
    ok: tuple[int, ...]
    fail: tuple[int, ...]
    info: tuple[int, ...]
    p50_ms: tuple[float | None, ...]
    p95_ms: tuple[float | None, ...]
    p99_ms: tuple[float | None, ...]

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "ok": list(self.ok), "fail": list(self.fail), "info": list(self.info),
                "p50": list(self.p50_ms), "p95": list(self.p95_ms), "p99": list(self.p99_ms)}


@dataclass(frozen=True)
class Timeline:
    """Every operation kind the history holds (writes first), over ``seconds`` one-second buckets."""

    seconds: int
    ops: tuple[OpSeries, ...]
    never_completed: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "t": list(range(self.seconds)),
                "ops": [series.to_json() for series in self.ops], "never_completed": dict(self.never_completed)}


def per_second(events: Iterable[Mapping[str, Any]], *, origin_wall: float, min_seconds: int = 0) -> Timeline:
    """Bucket completions by second since ``origin_wall``; at least ``min_seconds`` buckets.

    Events that are not operations of the load generator (damage, which the checker reports) are
    passed over; a completion with no invoke is counted, without a latency.
    """
    invoked: dict[tuple[Any, ...], int | None] = {}
    counts: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: {o: defaultdict(int) for o in _OUTCOMES})
    latencies: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    last = min_seconds - 1
    for event in events:
        op = event.get("op")
        kind = event.get("type")
        if not isinstance(op, str) or op not in _OP_NAMES:
            continue
        key = (event.get("process"), op, event.get("id"), event.get("attempt"))
        if kind == EventType.INVOKE.value:
            invoked[key] = _int(event.get("time"))
            continue
        if kind not in _OUTCOMES:
            continue
        wall = _number(event.get("wall"))
        if wall is None:
            continue
        second = max(0, int(wall - origin_wall))
        last = max(last, second)
        counts[op][str(kind)][second] += 1
        started = invoked.pop(key, None)
        end = _int(event.get("time"))
        if kind != EventType.INFO.value and started is not None and end is not None:
            latencies[op][second].append((end - started) / 1e6)
    never: dict[str, int] = defaultdict(int)
    for _, op, _, _ in invoked:
        never[op] += 1
    seconds = last + 1
    ops = tuple(_series(op, counts[op], latencies[op], seconds) for op in _OP_NAMES if op in counts or op in never)
    return Timeline(seconds=seconds, ops=ops, never_completed=dict(never))


def read_timeline(run_dir: RunDir, *, min_seconds: int = 0, ops: Operations | None = None) -> Timeline:
    """The run directory's timeline, over the load's seconds (``run.json``) or ``min_seconds`` if more;
    from ``ops`` (its history's operations in SQL) when given, else by ``per_second``."""
    load = _number(_json_object(run_dir.run_info).get("load_seconds")) or 0.0
    origin, least = load_origin(run_dir, ops), max(math.ceil(load), min_seconds)
    if ops is not None:
        try:
            return _sql_timeline(ops, origin_wall=origin, min_seconds=least)
        except duckdb.Error:  # a second beyond SQL's integers: the reference reads it
            pass
    return per_second(iter_events(run_dir.history), origin_wall=origin, min_seconds=least)


def _sql_timeline(ops: Operations, *, origin_wall: float, min_seconds: int) -> Timeline:
    """``per_second`` in SQL: a completion counts in the second of its ``wall``; its latency too, unless
    it is ``info``."""
    ops.params["origin"] = float(origin_wall)
    second = "greatest(0, trunc(cwall - $origin))::BIGINT"
    counts: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: {o: {} for o in _OUTCOMES})
    last = min_seconds - 1
    for op, outcome, t, count in ops.rows(f"SELECT op, outcome, {second} AS t, count(*) FROM ops "
                                          "WHERE outcome IS NOT NULL GROUP BY ALL"):
        counts[op][outcome][t] = int(count)
        last = max(last, int(t))
    ranked = ops.ranked(("op", second), "outcome IN ('ok', 'fail')", QUANTILES)
    never = {op: int(n) for op, n in ops.rows(
        "SELECT op, count(*) FROM ops WHERE outcome IS NULL GROUP BY op ORDER BY min(irow)")}
    seconds = last + 1
    series = []
    for op in _OP_NAMES:
        if op not in counts and op not in never:
            continue
        picked = [ranked.get((op, s), (None,) * len(QUANTILES)) for s in range(seconds)]
        p50, p95, p99 = (tuple(rounded(row[n]) for row in picked)
                         for n in range(len(QUANTILES)))
        outcome = {name: tuple(counts[op][name].get(s, 0) for s in range(seconds)) for name in _OUTCOMES}
        series.append(OpSeries(op=op, ok=outcome["ok"], fail=outcome["fail"], info=outcome["info"],
                               p50_ms=p50, p95_ms=p95, p99_ms=p99))
    return Timeline(seconds=seconds, ops=tuple(series), never_completed=never)


def load_origin(run_dir: RunDir, ops: Operations | None = None) -> float:
    """The epoch second the load started: ``run.json``'s, else the fault journal's ``at - t``, else the
    first event's (from ``ops`` when given); what every chart of a run counts its seconds from."""
    wall = _number(_json_object(run_dir.run_info).get("load_started_wall"))
    if wall is not None:
        return wall
    for record in read_jsonl(run_dir.faults):
        at, t = _number(record.get("at")), _number(record.get("t"))
        if at is not None and t is not None:
            return at - t
    if ops is not None:  # every event of a well-formed history has a wall
        ((first,),) = ops.rows("SELECT least(min(iwall), min(cwall)) FROM ops")
        return 0.0 if first is None else float(first)
    walls = (_number(event.get("wall")) for event in iter_events(run_dir.history))
    return min((w for w in walls if w is not None), default=0.0)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; a line that is not one is passed over (the checker reports it)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _series(op: str, counts: Mapping[str, Mapping[int, int]], latencies: Mapping[int, list[float]],
            seconds: int) -> OpSeries:
    quantiles: dict[float, list[float | None]] = {q: [] for q in QUANTILES}
    for second in range(seconds):
        values = sorted(latencies.get(second, ()))
        for q, column in quantiles.items():
            column.append(percentile(values, q))
    outcome = {name: tuple(counts.get(name, {}).get(s, 0) for s in range(seconds)) for name in _OUTCOMES}
    return OpSeries(op=op, ok=outcome["ok"], fail=outcome["fail"], info=outcome["info"],
                    p50_ms=tuple(quantiles[0.50]), p95_ms=tuple(quantiles[0.95]), p99_ms=tuple(quantiles[0.99]))



@dataclass(frozen=True)
class Backlog:
    """The pending orders and payouts sampled after heal (``consistency.jsonl``), and the deadline."""

    t: tuple[float, ...]
    pending: tuple[int | None, ...]
    deadline_s: float | None

    def to_json(self) -> dict[str, Any]:
        return {"t": list(self.t), "pending": list(self.pending), "deadline": self.deadline_s}


def backlog(samples: Iterable[Mapping[str, Any]], *, deadline_s: float | None) -> Backlog:
    """The samples in time order; a sample whose count could not be read (``pending: null``) stays a gap."""
    points = []
    for sample in samples:
        t = _number(sample.get("t"))
        if t is None:
            continue
        pending = sample.get("pending")
        points.append((t, pending if isinstance(pending, int) and not isinstance(pending, bool) else None))
    points.sort(key=lambda point: point[0])
    return Backlog(t=tuple(t for t, _ in points), pending=tuple(p for _, p in points), deadline_s=deadline_s)


_OP_NAMES = tuple(op.value for op in Op)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)
