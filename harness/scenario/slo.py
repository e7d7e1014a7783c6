"""SLO rules: ``"p99 < 1500ms"``, ``"error_rate < 0.3"``, ``"rps >= 20"``, ``"recovery < 30s"``.

Units: latency percentiles in milliseconds (``1.5s`` is read as 1500), ``recovery`` in seconds,
``error_rate`` a fraction, ``rps`` requests per second. An observation that is missing (no
request completed, the system never recovered) fails the rule: unknown is never a pass.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from harness._exceptions import UsageError
from harness._units import parse_duration


class Metric(StrEnum):
    P50 = "p50"
    P95 = "p95"
    P99 = "p99"
    ERROR_RATE = "error_rate"
    RPS = "rps"
    RECOVERY = "recovery"


class Op(StrEnum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


_COMPARE: dict[Op, Callable[[float, float], bool]] = {
    Op.LT: operator.lt, Op.LE: operator.le, Op.GT: operator.gt, Op.GE: operator.ge}
_RULE = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class SloRule:
    """One rule; ``text`` is the rule as written, kept for reports."""

    metric: Metric
    op: Op
    threshold: float
    text: str

    @classmethod
    def parse(cls, text: object) -> SloRule:
        """``SloRule.parse("p99 < 1.5s")`` is p99 < 1500 (ms)."""
        if not isinstance(text, str):
            raise UsageError(f"expected a rule like 'p99 < 1500ms', got {text!r} ({type(text).__name__})")
        match = _RULE.match(text)
        if match is None:
            raise UsageError(f"expected '<metric> <op> <threshold>' like 'p99 < 1500ms' with op one of "
                             f"{', '.join(o.value for o in Op)}, got {text!r}")
        name, op, raw = match.groups()
        try:
            metric = Metric(name)
        except ValueError:
            raise UsageError(f"unknown SLO metric {name!r}: expected one of "
                             f"{', '.join(m.value for m in Metric)}") from None
        return cls(metric=metric, op=Op(op), threshold=_threshold(metric, raw), text=text.strip())

    def evaluate(self, observed: Mapping[str, float | None]) -> tuple[float | None, bool]:
        """``(value, passed)`` against the observations by metric name (missing fails)."""
        value = observed.get(self.metric.value)
        if value is None:
            return None, False
        return value, _COMPARE[self.op](value, self.threshold)


def _threshold(metric: Metric, raw: str) -> float:
    if metric in (Metric.P50, Metric.P95, Metric.P99):
        try:
            return float(raw)
        except ValueError:
            return parse_duration(raw, name=metric.value) * 1000
    if metric is Metric.RECOVERY:
        return parse_duration(raw, name=metric.value)
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"expected a number for {metric.value}, got {raw!r}") from None
    if value < 0:
        raise UsageError(f"expected a number of zero or more for {metric.value}, got {raw!r}")
    return value
