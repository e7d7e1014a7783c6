"""Two runs side by side, and whether the second is worse than the first by more than allowed.

A run is judged alone by its verdict; a change to a service is judged by how its run compares
with a baseline's: the same scenario slower, or more often unsure of its outcome, is a
regression even when both pass. ``compare_runs`` reads two run directories and gives a
``Comparison``: every number of both (verdict, counts, per-operation percentiles and rates,
recovery, blast radius per fault) and the list of limits the run exceeded.

    >>> limits = Limits.parse(p99_increase="20%", recovery_increase="10s")  # doctest: +SKIP
    >>> comparison = compare_runs(Path("runs/base"), Path("runs/new"), limits)  # doctest: +SKIP
    >>> comparison.exceeded  # doctest: +SKIP
    ['p99 of order: 40.2 ms -> 355.0 ms (+783%), limit +20%']

Latency limits are relative (``20%`` of the baseline's value); rate limits are absolute, in
percentage points (``5%`` or ``0.05``), since a baseline's error rate is often zero; the recovery
limit is a duration. The verdict is always compared: pass, then SLO breach, then fail, with
``unknown`` worse than pass (and ranked with an SLO breach: neither proves a violation).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from harness._exceptions import UsageError
from harness._units import format_duration, parse_duration
from harness.checker.model import RunVerdict, Verdict
from harness.report.analysis import FaultWindow, OperationStats, blast_radius, per_operation
from harness.rundir import RunDir


class Outcome(Enum):
    """A verdict as a comparison ranks it: a higher rank is worse."""

    PASS = ("pass", 0)
    SLO_BREACH = ("pass (SLO breached)", 1)
    UNKNOWN = ("unknown", 1)
    FAIL = ("fail", 2)

    def __init__(self, label: str, rank: int) -> None:
        self.label = label
        self.rank = rank

    @classmethod
    def of(cls, verdict: RunVerdict) -> Outcome:
        if verdict.verdict is Verdict.FAIL:
            return cls.FAIL
        if verdict.verdict is Verdict.UNKNOWN:
            return cls.UNKNOWN
        return cls.SLO_BREACH if any(not outcome.passed for outcome in verdict.slo) else cls.PASS


@dataclass(frozen=True)
class Limits:
    """How much worse the run may be than the baseline; None: not checked.

    ``p99_increase`` and ``p95_increase`` are fractions of the baseline's value (0.2 is +20 %);
    ``error_rate_increase`` and ``info_rate_increase`` are absolute increases of a rate (0.05 is
    five percentage points); ``recovery_increase`` is seconds.
    """

    p99_increase: float | None = None
    p95_increase: float | None = None
    error_rate_increase: float | None = None
    info_rate_increase: float | None = None
    recovery_increase: float | None = None

    @classmethod
    def parse(cls, *, p99_increase: str | None = None, p95_increase: str | None = None,
              error_rate_increase: str | None = None, info_rate_increase: str | None = None,
              recovery_increase: str | None = None) -> Limits:
        """Limits as the command line spells them; a bad one is a ``UsageError`` naming its option."""
        return cls(
            p99_increase=_percent(p99_increase, "--max-p99-increase"),
            p95_increase=_percent(p95_increase, "--max-p95-increase"),
            error_rate_increase=_rate(error_rate_increase, "--max-error-rate-increase"),
            info_rate_increase=_rate(info_rate_increase, "--max-info-rate-increase"),
            recovery_increase=None if recovery_increase is None
            else parse_duration(recovery_increase, name="--max-recovery-increase"))

    def to_json(self) -> dict[str, float | None]:
        return {"p99_increase": self.p99_increase, "p95_increase": self.p95_increase,
                "error_rate_increase": self.error_rate_increase, "info_rate_increase": self.info_rate_increase,
                "recovery_increase_seconds": self.recovery_increase}


@dataclass(frozen=True)
class RunSummary:
    """What a comparison needs of one run directory."""

    path: Path
    verdict: RunVerdict
    operations: dict[str, OperationStats]
    windows: tuple[FaultWindow, ...]

    @property
    def outcome(self) -> Outcome:
        return Outcome.of(self.verdict)

    @classmethod
    def read(cls, path: Path) -> RunSummary:
        """Read a run directory; anything that makes it not one is a ``UsageError`` saying what."""
        if not path.is_dir():
            raise UsageError(f"expected a run directory, got {path} (not a directory)")
        run_dir = RunDir(path)
        if not run_dir.history.is_dir():
            raise UsageError(f"expected {run_dir.history}/ with the client history: is {path} a run directory?")
        if not run_dir.verdict.exists():
            raise UsageError(f"expected {run_dir.verdict}, got none: run 'orderquake check {path}' to judge it")
        try:
            verdict = RunVerdict.from_json(json.loads(run_dir.verdict.read_text()))
        except ValueError as exc:
            raise UsageError(f"{run_dir.verdict}: {exc}: run 'orderquake check {path}' to judge it again") from None
        try:
            windows = tuple(blast_radius(run_dir, verdict))
        except ValueError as exc:
            raise UsageError(f"{path}: {exc}") from None
        return cls(path=path, verdict=verdict, operations=per_operation(run_dir), windows=windows)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "scenario": self.verdict.scenario, "variant": self.verdict.variant,
                "verdict": self.verdict.verdict.value, "outcome": self.outcome.label,
                "exit_code": int(self.verdict.exit_code), "counts": self.verdict.counts.to_json(),
                "violations": {c.value: n for c, n in self.verdict.violations.items()},
                "recovery_seconds": self.verdict.recovery_seconds,
                "operations": {op: stats.to_json() for op, stats in self.operations.items()},
                "blast_radius": [window.to_json() for window in self.windows]}


class Metric(Enum):
    """What a limit is on; a breach names one, and the operation when the limit is per operation."""

    VERDICT = "verdict"
    P95 = "p95"
    P99 = "p99"
    ERROR_RATE = "error rate"
    INFO_RATE = "info rate"
    RECOVERY = "recovery"


@dataclass(frozen=True)
class Breach:
    """One limit the run exceeded: ``text`` says it with both values and the limit."""

    metric: Metric
    op: str | None
    text: str


@dataclass(frozen=True)
class Comparison:
    """A baseline run and a run side by side; ``breaches`` names every limit the run broke, the
    verdict included, each with both values and the limit."""

    baseline: RunSummary
    run: RunSummary
    limits: Limits
    breaches: tuple[Breach, ...]

    @property
    def exceeded(self) -> list[str]:
        return [breach.text for breach in self.breaches]

    def breached(self, metric: Metric, op: str | None = None) -> bool:
        """Whether the run exceeded the limit on ``metric`` (of ``op``, for a per-operation one)."""
        return any(b.metric is metric and b.op == op for b in self.breaches)

    @property
    def exit_code(self) -> int:
        return 1 if self.exceeded else 0

    def to_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline.to_json(), "run": self.run.to_json(), "limits": self.limits.to_json(),
                "exceeded": list(self.exceeded), "exit_code": self.exit_code}

    def to_markdown(self) -> str:
        base, run = self.baseline, self.run
        lines = ["# orderquake compare", "", f"- baseline: `{base.path}`", f"- run: `{run.path}`", "",
                 "| | baseline | run | change |", "|---|---|---|---|",
                 f"| verdict | {base.outcome.label} | {run.outcome.label} | "
                 f"{'worse' if run.outcome.rank > base.outcome.rank else ''} |",
                 f"| exit code | {int(base.verdict.exit_code)} | {int(run.verdict.exit_code)} | |"]
        for name in ("attempted", "ok", "fail", "info", "ids"):
            before, after = getattr(base.verdict.counts, name), getattr(run.verdict.counts, name)
            lines.append(f"| {name} | {before} | {after} | {relative_change(before, after)} |")
        categories = sorted({*base.verdict.violations, *run.verdict.violations})
        for category in categories:
            before, after = base.verdict.violations.get(category, 0), run.verdict.violations.get(category, 0)
            lines.append(f"| {category.value} | {before} | {after} | {after - before:+d} |")
        before_s, after_s = base.verdict.recovery_seconds, run.verdict.recovery_seconds
        change = "" if before_s is None or after_s is None else _signed_duration(after_s - before_s)
        lines.append(f"| recovery | {_duration(before_s)} | {_duration(after_s)} | {change} |")
        lines += ["", "## Operations", "", "| op | metric | baseline | run | change |", "|---|---|---|---|---|"]
        for op in operations_of(base, run):
            lines += _operation_rows(op, base.operations.get(op), run.operations.get(op))
        lines += ["", "## Blast radius", ""]
        if base.windows or run.windows:
            lines += ["| run | fault | kind | link | window | invoked | in flight | ended info | ended fail | "
                      "violations (examples) |", "|---|---|---|---|---|---|---|---|---|---|"]
            for label, summary in (("baseline", base), ("run", run)):
                lines += [_window_row(label, window) for window in summary.windows]
        else:
            lines.append("No fault in either run.")
        lines += ["", "## Limits", ""]
        lines += [f"- EXCEEDED: {line}" for line in self.exceeded] or ["- none exceeded"]
        return "\n".join(lines) + "\n"


def compare_runs(baseline: Path, run: Path, limits: Limits) -> Comparison:
    """Read both run directories and check ``limits``; a directory that is not a run is a ``UsageError``."""
    base_summary, run_summary = RunSummary.read(baseline), RunSummary.read(run)
    return Comparison(baseline=base_summary, run=run_summary, limits=limits,
                      breaches=tuple(exceeded_limits(base_summary, run_summary, limits)))


def exceeded_limits(base: RunSummary, run: RunSummary, limits: Limits) -> list[Breach]:
    """One breach per limit the run exceeds, the verdict first: ``p99 of order: 40.2 ms -> 355.0 ms (+783%),
    limit +20%``."""
    exceeded = []
    if run.outcome.rank > base.outcome.rank:
        exceeded.append(Breach(Metric.VERDICT, None,
                               f"verdict: {base.outcome.label} -> {run.outcome.label}, worse than the baseline"))
    for op in operations_of(base, run):
        before, after = base.operations.get(op), run.operations.get(op)
        if before is None or after is None:
            continue
        for metric, limit in ((Metric.P95, limits.p95_increase), (Metric.P99, limits.p99_increase)):
            attribute = f"{metric.value}_ms"
            line = _latency_exceeded(f"{metric.value} of {op}", getattr(before, attribute),
                                     getattr(after, attribute), limit)
            if line:
                exceeded.append(Breach(metric, op, line))
        for metric, limit in ((Metric.ERROR_RATE, limits.error_rate_increase),
                              (Metric.INFO_RATE, limits.info_rate_increase)):
            attribute = metric.value.replace(" ", "_")
            line = _rate_exceeded(f"{metric.value} of {op}", getattr(before, attribute), getattr(after, attribute),
                                  limit)
            if line:
                exceeded.append(Breach(metric, op, line))
    line = _recovery_exceeded(base.verdict.recovery_seconds, run.verdict.recovery_seconds, limits.recovery_increase)
    if line:
        exceeded.append(Breach(Metric.RECOVERY, None, line))
    return exceeded


def _latency_exceeded(what: str, before: float | None, after: float | None, limit: float | None) -> str | None:
    if limit is None or before is None or after is None:
        return None  # an operation with no ok or fail completion in one run has no latency to compare
    increase = (after - before) / before if before > 0 else (math.inf if after > before else 0.0)
    if increase <= limit:
        return None
    return f"{what}: {before:.1f} ms -> {after:.1f} ms ({_percent_text(increase)}), limit +{_number(limit * 100)}%"


def _rate_exceeded(what: str, before: float, after: float, limit: float | None) -> str | None:
    if limit is None or after - before <= limit:
        return None
    return (f"{what}: {before * 100:.1f}% -> {after * 100:.1f}% ({(after - before) * 100:+.1f} points), "
            f"limit +{_number(limit * 100)} points")


def _recovery_exceeded(before: float | None, after: float | None, limit: float | None) -> str | None:
    """A run that never reached consistency took longer than any baseline that did."""
    if limit is None or after == before or (after is not None and before is None):
        return None
    if after is None:
        return f"recovery: {_duration(before)} -> never consistent, limit +{format_duration(limit)}"
    assert before is not None
    if after - before <= limit:
        return None
    return (f"recovery: {_duration(before)} -> {_duration(after)} ({_signed_duration(after - before)}), "
            f"limit +{format_duration(limit)}")


def _percent(value: str | None, name: str) -> float | None:
    """``20%`` as 0.2. The sign is required: a bare ``20`` could mean 20 % or 2000 %."""
    if value is None:
        return None
    text = value.strip()
    try:
        number = float(text.removesuffix("%")) if text.endswith("%") else None
    except ValueError:
        number = None
    if number is None or not math.isfinite(number) or number < 0:
        raise UsageError(f"expected a percentage of zero or more like '20%', got {name}={value!r}")
    return number / 100


def _rate(value: str | None, name: str) -> float | None:
    """An absolute increase of a rate: ``5%`` (percentage points) or ``0.05``."""
    if value is None:
        return None
    text = value.strip()
    try:
        number = float(text.removesuffix("%")) / 100 if text.endswith("%") else float(text)
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:
        raise UsageError(f"expected a rate increase from 0 to 1 like '0.05' or '5%', got {name}={value!r}")
    return number


def operations_of(base: RunSummary, run: RunSummary) -> list[str]:
    """The operation kinds of either run, the baseline's first, in the order each met them."""
    ops = list(base.operations)
    return ops + [op for op in run.operations if op not in ops]


_ROWS = (("count", "count"), ("ok", "ok"), ("fail", "fail"), ("info", "info"), ("p50", "p50_ms"),
         ("p95", "p95_ms"), ("p99", "p99_ms"), ("max", "max_ms"), ("error rate", "error_rate"),
         ("info rate", "info_rate"))


def _operation_rows(op: str, before: OperationStats | None, after: OperationStats | None) -> list[str]:
    rows = []
    for label, attribute in _ROWS:
        a = None if before is None else getattr(before, attribute)
        b = None if after is None else getattr(after, attribute)
        if attribute.endswith("_ms"):
            cells = (_ms(a), _ms(b), "" if a is None or b is None else relative_change(a, b))
        elif attribute.endswith("_rate"):
            cells = (_rate_text(a), _rate_text(b),
                     "" if a is None or b is None else f"{(b - a) * 100:+.1f} points")
        else:
            cells = (_cell(a), _cell(b), "" if a is None or b is None else relative_change(a, b))
        rows.append(f"| {op} | {label} | {cells[0]} | {cells[1]} | {cells[2]} |")
    return rows


def _window_row(label: str, window: FaultWindow) -> str:
    end = "never healed" if window.end_t is None else f"{window.end_t:.1f}s"
    violations = ", ".join(f"{name} {count}" for name, count in sorted(window.violations.items())) or "none"
    return (f"| {label} | {window.name} | {window.kind} | {window.link or '-'} | {window.start_t:.1f}s to {end} | "
            f"{window.invoked} | {window.in_flight} | {window.ended_info} | {window.ended_fail} | {violations} |")


def relative_change(before: float, after: float) -> str:
    """``+783%``, ``0%``, or ``new`` for a rise from zero, as every comparison table prints it."""
    if before == after:
        return "0%"
    if before == 0:
        return "new"
    return _percent_text((after - before) / before)


def _percent_text(fraction: float) -> str:
    return "+inf%" if math.isinf(fraction) else f"{fraction * 100:+.0f}%"


def _number(value: float) -> str:
    return f"{value:.4g}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _rate_text(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def _duration(seconds: float | None) -> str:
    return "never consistent" if seconds is None else format_duration(seconds)


def _signed_duration(seconds: float) -> str:
    return ("+" if seconds >= 0 else "-") + format_duration(abs(seconds))


def write_comparison(comparison: Comparison, out: Path) -> tuple[Path, Path]:
    """Write ``compare.md`` and ``compare.json`` into ``out`` (made if missing), each atomically."""
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in (("compare.md", comparison.to_markdown()),
                           ("compare.json", json.dumps(comparison.to_json(), indent=2, sort_keys=True) + "\n")):
            path = out / name
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(text)
            tmp.replace(path)
            written.append(path)
    except OSError as exc:
        raise UsageError(f"expected a directory to write the comparison into, got --out {out}: {exc}") from exc
    return written[0], written[1]
