"""What one run did to its clients, operation by operation and fault by fault.

Two views of a run directory that ``verdict.json`` does not hold, for comparing runs:

- ``per_operation``: counts, outcomes and latency percentiles of each operation kind, so that
  a slow ``order`` is not hidden behind fast ``get_order`` reads in the run's overall p99;
- ``blast_radius``: for each fault as the journal says it was applied, the operations it could
  have touched and how they ended, and which violations began inside it.

Both read the history as the checker and the metrics do (``harness.load.history``): an invoke and
its completion are paired on (process, op, id, attempt), and an invoke that never completed is
``info``. Latencies come from the monotonic ``time`` of the pair; window membership from the
epoch ``wall`` relative to the load's start (``run.json``'s ``load_started_wall``), the clock the
fault journal's ``at`` is on too.

    >>> stats = per_operation(RunDir(path))  # doctest: +SKIP
    >>> stats["order"].p99_ms  # doctest: +SKIP
    355.0
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb

from harness.checker.model import Kind, RunVerdict
from harness.load.history import EventType, Op, iter_events
from harness.load.history_sql import QUANTILES, Operations, percentile, rounded
from harness.rundir import RunDir

_COMPLETIONS = {EventType.OK.value, EventType.FAIL.value, EventType.INFO.value}
_T = TypeVar("_T")
_OPS = {op.value: op for op in Op}
_KINDS = {kind.value: kind for kind in Kind}


@dataclass(frozen=True)
class _Operation:
    """One client operation: an invoke with its completion, or either alone."""

    op: Op
    id: str
    outcome: str  # ok, fail or info; an invoke never completed is info
    invoked_wall: float | None  # None: a completion without an invoke
    completed_wall: float | None  # None: never completed
    latency_ms: float | None  # only when both ends are known


@dataclass(frozen=True)
class OperationStats:
    """One operation kind's outcomes and latencies over the whole run.

    ``count`` is every operation of the kind: completions plus invokes never completed, which
    count as ``info`` (the history model's unknown), so ``ok + fail + info == count``. The
    percentiles (nearest rank, as ``run.json``'s metrics) are over the ``ok`` and ``fail``
    completions that have their invoke: an ``info`` has no meaningful latency (it is often the
    client's timeout). ``error_rate`` counts ``info`` as an error, as the SLOs do.
    """

    op: str
    count: int
    ok: int
    fail: int
    info: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    error_rate: float
    info_rate: float

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "count": self.count, "ok": self.ok, "fail": self.fail, "info": self.info,
                "p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms,
                "error_rate": self.error_rate, "info_rate": self.info_rate}


@dataclass(frozen=True)
class FaultWindow:
    """What one fault, from its start to its heal as applied, did to the operations around it.

    ``start_t`` and ``end_t`` are seconds since the load started, from the journal's ``at`` (the
    moment the apply or heal returned); ``end_t`` is None when the fault was never healed, and the
    window then runs to the end of the history. A fault whose apply failed still has its window
    (the verdict is ``unknown`` then and the ``faults`` checker says why).

    ``invoked`` counts operations (writes and reads) invoked in [start_t, end_t); ``in_flight``
    those invoked before ``start_t`` and completed at or after it, or never completed.
    ``ended_info`` and ``ended_fail`` count how those two groups ended.

    ``violations`` maps a violation category to the number of its *examples* in ``verdict.json``
    whose id was first invoked in the window. The verdict keeps at most 20 examples per category,
    so for a category with more than 20 ids the number is a lower bound of the ids the fault
    touched, not a share of the category's count. Categories with no attributed example are left out.
    """

    name: str
    kind: str
    link: str | None
    start_t: float
    end_t: float | None
    invoked: int
    in_flight: int
    ended_info: int
    ended_fail: int
    violations: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "link": self.link, "start_t": self.start_t,
                "end_t": self.end_t, "invoked": self.invoked, "in_flight": self.in_flight,
                "ended_info": self.ended_info, "ended_fail": self.ended_fail,
                "violations": dict(self.violations)}


def per_operation(run_dir: RunDir, ops: Operations | None = None) -> dict[str, OperationStats]:
    """Outcomes and latency percentiles per operation kind, for the kinds the history holds; from ``ops``
    (the history's operations in SQL) when given."""
    if ops is not None:
        try:
            return _sql_per_operation(ops)
        except duckdb.Error:
            pass
    outcomes: dict[Op, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COMPLETIONS, 0))
    latencies: dict[Op, list[float]] = defaultdict(list)
    for operation in _operations(iter_events(run_dir.history)):
        outcomes[operation.op][operation.outcome] += 1
        if operation.latency_ms is not None and operation.outcome != EventType.INFO.value:
            latencies[operation.op].append(operation.latency_ms)
    ranked = {}
    for op, values in latencies.items():
        values.sort()
        ranked[op] = (*(percentile(values, q) for q in QUANTILES), rounded(values[-1]))
    return _stats(outcomes, ranked)


def _stats(outcomes: Mapping[Op, Mapping[str, int]], ranked: Mapping[Op, tuple[float | None, ...]]
           ) -> dict[str, OperationStats]:
    """Per kind: ``ranked`` holds p50, p95, p99 and the maximum, rounded."""
    stats = {}
    for op in Op:  # a stable order: writes first, as the enum lists them
        if op not in outcomes:
            continue
        counts = outcomes[op]
        total = sum(counts.values())
        p50, p95, p99, top = ranked.get(op, (None,) * (len(QUANTILES) + 1))
        stats[op.value] = OperationStats(
            op=op.value, count=total, ok=counts["ok"], fail=counts["fail"], info=counts["info"],
            p50_ms=p50, p95_ms=p95, p99_ms=p99, max_ms=top,
            error_rate=round((counts["fail"] + counts["info"]) / total, 6),
            info_rate=round(counts["info"] / total, 6))
    return stats


def _sql_per_operation(ops: Operations) -> dict[str, OperationStats]:
    """``per_operation`` in SQL: an operation never completed is ``info``."""
    outcomes: dict[Op, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COMPLETIONS, 0))
    for op, outcome, count in ops.rows("SELECT op, coalesce(outcome, 'info'), count(*) FROM ops GROUP BY ALL"):
        outcomes[Op(op)][outcome] += int(count)
    ranked = {Op(key[0]): tuple(rounded(v) for v in values)
              for key, values in ops.ranked(("op",), "outcome IN ('ok', 'fail')", QUANTILES, maximum=True).items()}
    return _stats(outcomes, ranked)


def blast_radius(run_dir: RunDir, verdict: RunVerdict, ops: Operations | None = None) -> list[FaultWindow]:
    """One window per fault started in ``faults.jsonl``, in the order they started; from ``ops`` (the
    history's operations in SQL) when given.

    Raises ``ValueError`` naming the file and line when the journal is not JSON objects.
    """
    journal = _read_journal(run_dir)
    if not journal:
        return []
    origin = _origin(run_dir, journal)
    spans = [(name, kind, params, round(start_at - origin, 3), None if end_at is None else round(end_at - origin, 3))
             for name, kind, params, start_at, end_at in _spans(journal)]
    if ops is not None:
        try:
            return _sql_windows(ops, spans, origin, verdict)
        except duckdb.Error:
            pass
    operations = list(_operations(iter_events(run_dir.history)))
    first_invoked = _first_invoked(operations)
    windows = []
    for name, kind, params, start_t, end_t in spans:
        counts = _window_counts(operations, origin, start_t, end_t)
        windows.append(_window(name, kind, params, start_t, end_t, counts, origin, first_invoked, verdict))
    return windows


_Span = tuple[str, str, Mapping[str, Any], float, float | None]


def _sql_windows(ops: Operations, spans: list[_Span], origin: float, verdict: RunVerdict) -> list[FaultWindow]:
    """``blast_radius``'s windows in SQL: an operation never completed is ``info``, and still in flight."""
    ops.params["origin"] = float(origin)
    ids = sorted({str(example.get("id")) for category, result in verdict.invariants.items() if category.violation
                  for example in result.examples})
    first_invoked: dict[tuple[Kind, str], float] = {}
    if ids:
        for op, op_id, wall in ops.rows("SELECT op, id ->> '$', min(iwall) FROM ops WHERE id ->> '$' IN "
                                        "(SELECT unnest($ids)) GROUP BY ALL", {"ids": ids}):
            key = (_flow(Op(op)), op_id)
            first_invoked[key] = min(wall, first_invoked.get(key, wall))
    windows = []
    for name, kind, params, start_t, end_t in spans:
        inside = "iwall - $origin >= $start" + ("" if end_t is None else " AND iwall - $origin < $end")
        touched = f"({inside}) OR (iwall - $origin < $start AND (cwall IS NULL OR cwall - $origin >= $start))"
        bounds = {"start": float(start_t), **({} if end_t is None else {"end": float(end_t)})}
        ((invoked, in_flight, ended_info, ended_fail),) = ops.rows(
            f"SELECT count(*) FILTER (WHERE {inside}), count(*) FILTER (WHERE NOT ({inside}) AND ({touched})), "
            f"count(*) FILTER (WHERE ({touched}) AND coalesce(outcome, 'info') = 'info'), "
            f"count(*) FILTER (WHERE ({touched}) AND outcome = 'fail') FROM ops", bounds)
        counts = (int(invoked), int(in_flight), int(ended_info), int(ended_fail))
        windows.append(_window(name, kind, params, start_t, end_t, counts, origin, first_invoked, verdict))
    return windows


def _window_counts(operations: list[_Operation], origin: float, start_t: float, end_t: float | None
                   ) -> tuple[int, int, int, int]:
    """(invoked, in flight, ended info, ended fail) of the operations around one fault window."""
    invoked = in_flight = ended_info = ended_fail = 0
    for operation in operations:
        if operation.invoked_wall is None:
            continue
        at = operation.invoked_wall - origin
        if start_t <= at and (end_t is None or at < end_t):
            invoked += 1
        elif at < start_t and (operation.completed_wall is None or operation.completed_wall - origin >= start_t):
            in_flight += 1
        else:
            continue
        ended_info += operation.outcome == EventType.INFO.value
        ended_fail += operation.outcome == EventType.FAIL.value
    return invoked, in_flight, ended_info, ended_fail


def _window(name: str, kind: str, params: Mapping[str, Any], start_t: float, end_t: float | None,
            counts: tuple[int, int, int, int], origin: float, first_invoked: Mapping[tuple[Kind, str], float],
            verdict: RunVerdict) -> FaultWindow:
    def inside(wall: float | None) -> bool:
        return wall is not None and start_t <= wall - origin and (end_t is None or wall - origin < end_t)

    violations: dict[str, int] = {}
    for category, result in verdict.invariants.items():
        if not category.violation:
            continue
        attributed = sum(1 for example in result.examples if inside(_example_first_invoked(example, first_invoked)))
        if attributed:
            violations[category.value] = attributed
    invoked, in_flight, ended_info, ended_fail = counts
    link = params.get("link")
    return FaultWindow(name=name, kind=kind, link=link if isinstance(link, str) else None, start_t=start_t,
                       end_t=end_t, invoked=invoked, in_flight=in_flight, ended_info=ended_info,
                       ended_fail=ended_fail, violations=violations)


def _operations(events: Iterable[Mapping[str, Any]]) -> Iterator[_Operation]:
    """Pair each invoke with its completion; an invoke left unpaired (never completed, or followed
    by a second invoke of the same key, which only a damaged history has) is ``info``."""
    pending: dict[tuple[Any, ...], tuple[Op, str, int | None, float | None]] = {}
    for event in events:
        op = _lookup(_OPS, event.get("op"))
        if op is None:
            continue  # not an operation the load generator makes: the checker reports the damage
        op_id = str(event.get("id"))
        key = (event.get("process"), op, op_id, event.get("attempt"))
        kind = event.get("type")
        if kind == EventType.INVOKE.value:
            earlier = pending.pop(key, None)
            if earlier is not None:
                yield _Operation(op, op_id, EventType.INFO.value, earlier[3], None, None)
            pending[key] = (op, op_id, _int(event.get("time")), _float(event.get("wall")))
            continue
        if kind not in _COMPLETIONS:
            continue
        started = pending.pop(key, None)
        completed_wall = _float(event.get("wall"))
        if started is None:
            yield _Operation(op, op_id, str(kind), None, completed_wall, None)
            continue
        end = _int(event.get("time"))
        latency = None if started[2] is None or end is None else (end - started[2]) / 1e6
        yield _Operation(op, op_id, str(kind), started[3], completed_wall, latency)
    for op, op_id, _, invoked_wall in pending.values():
        yield _Operation(op, op_id, EventType.INFO.value, invoked_wall, None, None)



def _first_invoked(operations: Iterable[_Operation]) -> dict[tuple[Kind, str], float]:
    first: dict[tuple[Kind, str], float] = {}
    for operation in operations:
        if operation.invoked_wall is None:
            continue
        key = (_flow(operation.op), operation.id)
        if key not in first or operation.invoked_wall < first[key]:
            first[key] = operation.invoked_wall
    return first


def _example_first_invoked(example: Mapping[str, Any], first_invoked: Mapping[tuple[Kind, str], float]
                           ) -> float | None:
    """When the example's id was first invoked; None for an id no client submitted (``unexpected``)."""
    kind = _lookup(_KINDS, example.get("kind"))
    return None if kind is None else first_invoked.get((kind, str(example.get("id"))))


def _flow(op: Op) -> Kind:
    return Kind(op.value.removeprefix("get_"))


def _read_journal(run_dir: RunDir) -> list[dict[str, Any]]:
    if not run_dir.faults.exists():
        return []
    records = []
    for number, line in enumerate(run_dir.faults.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or _float(record.get("at")) is None:
            raise ValueError(f"{run_dir.relative(run_dir.faults)}:{number}: expected a JSON object with a "
                             f"numeric 'at', got {line[:80]!r}")
        records.append(record)
    return records


def _origin(run_dir: RunDir, journal: list[dict[str, Any]]) -> float:
    """The epoch second the load started: ``run.json``'s, else what the journal's ``at - t`` implies."""
    try:
        info = json.loads(run_dir.run_info.read_text())
    except (OSError, ValueError):
        info = None
    wall = _float(info.get("load_started_wall")) if isinstance(info, dict) else None
    if wall is not None:
        return wall
    for record in journal:
        t = _float(record.get("t"))
        if t is not None:
            return float(record["at"]) - t
    raise ValueError(f"{run_dir.relative(run_dir.run_info)} has no load_started_wall and "
                     f"{run_dir.relative(run_dir.faults)} no 't': expected one of them to place the faults")


def _spans(journal: list[dict[str, Any]]) -> Iterator[tuple[str, str, Mapping[str, Any], float, float | None]]:
    """(name, kind, params, start at, heal at or None) per start record, each paired with the next heal
    of the same name."""
    heals: dict[str, list[float]] = defaultdict(list)
    for record in journal:
        if record.get("phase") == "heal":
            heals[str(record.get("name"))].append(float(record["at"]))
    for record in journal:
        if record.get("phase") != "start":
            continue
        name = str(record.get("name"))
        start = float(record["at"])
        later = [at for at in heals[name] if at >= start]
        end = min(later) if later else None
        if end is not None:
            heals[name].remove(end)
        params = record.get("params")
        yield name, str(record.get("kind")), params if isinstance(params, dict) else {}, start, end


def _lookup(members: Mapping[str, _T], value: Any) -> _T | None:
    """The enum member named ``value``; None for anything else, an unhashable value included."""
    return members.get(value) if isinstance(value, str) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)
