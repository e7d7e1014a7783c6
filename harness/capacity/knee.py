"""Each step's verdict, whether the harness was its limit, and the knee. Pure.

A step **holds** when the checker found no violation on the ids first invoked in it, its verdict
is not ``unknown``, and every SLO of the scenario holds on its own numbers. The **knee** is the
highest step that holds below the **first broken step**, reported with why (which SLO, which
invariant and how many ids), which is:

- the first step with a violation or an undecided verdict: correctness is never taken for noise;
- else the first of the broken steps that end the ladder. An SLO broken at one step and held
  again at a higher one was the machine, not the service (a busy neighbour on a shared host can
  stall one step): it is reported as transient and does not set the knee. So stepping goes on
  until ``stop_after`` more steps have broken past the first of the final broken run.

A step is **harness-limited** when what was measured is the load generator or the stage, not the
SUT: the generator offered less than 90 % of the step's rate, or a Locust process was busy more
than 90 % of the step on its one core (gevent runs on one), or Toxiproxy or the mock provider used
more CPU than the SUT. The knee is then a **lower bound**: the SUT was not shown to break there.
It is a lower bound too when no step broke (the ladder ended first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.capacity.steps import StepLoad
from harness.checker.model import SloOutcome

OFFER_SHORTFALL = 0.10
LOCUST_SATURATED = 0.90
STAGE_COMPONENTS = ("toxiproxy", "provider")


@dataclass(frozen=True)
class Generator:
    """What the load generator's processes said of their own step (``arrivals-*.json``)."""

    scheduled: int = 0
    sent: int = 0
    busiest: float | None = None  # CPU seconds / wall seconds of the busiest Locust process
    processes: int = 0
    cpu_s: float = 0.0  # CPU seconds of every Locust process during its schedule


@dataclass(frozen=True)
class Step:
    """One step, measured and judged."""

    index: int
    rate: float
    seconds: float
    load: StepLoad
    generator: Generator
    backlog: int | None  # the SUT's pending orders and payouts when the step's load ended
    cpu: Mapping[str, float]  # CPU seconds per component during the step
    slo: tuple[SloOutcome, ...]
    violations: Mapping[str, int]  # category -> ids first invoked in this step
    examples: Mapping[str, tuple[str, ...]]
    verdict: str  # the checker's, on this step's ids: pass, fail, unknown
    verdict_reason: str | None = None
    limits: tuple[str, ...] = field(default=())

    @property
    def achieved_offer(self) -> float:
        """Arrivals per second the generator actually sent."""
        return round(self.generator.sent / self.seconds, 3) if self.seconds > 0 else 0.0

    @property
    def harness_limited(self) -> bool:
        return bool(self.limits)

    @property
    def broken(self) -> tuple[str, ...]:
        """Why this step does not hold; empty when it does."""
        why = [f"{n} {category}" for category, n in self.violations.items() if n]
        if self.verdict == "unknown":
            why.append(f"verdict unknown: {self.verdict_reason or 'not decided'}")
        elif self.verdict == "fail" and not why:
            why.append(f"checker failed: {self.verdict_reason or 'see verdict.json'}")
        why += [f"SLO {s.rule} (observed {_shown(s.observed)})" for s in self.slo if not s.passed]
        return tuple(why)

    @property
    def holds(self) -> bool:
        return not self.broken

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "rate": self.rate, "seconds": self.seconds,
                "offered": self.rate, "achieved_offer": self.achieved_offer,
                "generator": vars(self.generator), "load": self.load.to_json(), "backlog": self.backlog,
                "cpu_seconds": dict(self.cpu),
                "slo": [{"rule": s.rule, "observed": s.observed, "pass": s.passed} for s in self.slo],
                "violations": dict(self.violations), "examples": {k: list(v) for k, v in self.examples.items()},
                "verdict": self.verdict, "verdict_reason": self.verdict_reason, "holds": self.holds,
                "broken": list(self.broken), "harness_limited": self.harness_limited, "limits": list(self.limits)}


def _shown(value: float | None) -> str:
    return "nothing" if value is None else f"{value:g}"


def harness_limits(rate: float, seconds: float, generator: Generator, cpu: Mapping[str, float]) -> tuple[str, ...]:
    """Why the harness, not the SUT, limited a step; empty when it did not."""
    limits = []
    offered = generator.sent / seconds if seconds > 0 else 0.0
    if offered < rate * (1 - OFFER_SHORTFALL):
        limits.append(f"the generator offered {offered:.1f}/s of {rate:g}/s")
    if generator.busiest is not None and generator.busiest > LOCUST_SATURATED:
        limits.append(f"Locust was busy {generator.busiest:.0%} of the step on its core")
    sut = cpu.get("sut")
    for name in STAGE_COMPONENTS:
        used = cpu.get(name)
        if sut is not None and used is not None and used > sut:
            limits.append(f"{name} used more CPU than the SUT ({used:.2f} s against {sut:.2f} s)")
    return tuple(limits)


@dataclass(frozen=True)
class Knee:
    """The highest step that holds below the first broken one, and what broke."""

    step: Step | None
    broken: Step | None
    lower_bound: bool
    why: str

    @property
    def rate(self) -> float | None:
        return self.step.rate if self.step is not None else None

    def to_json(self) -> dict[str, Any]:
        return {"rate": self.rate, "step": self.step.index if self.step else None,
                "achieved_throughput": self.step.load.throughput if self.step else None,
                "first_broken": self.broken.index if self.broken else None,
                "first_broken_rate": self.broken.rate if self.broken else None,
                "broken_because": list(self.broken.broken) if self.broken else [],
                "set_by": _set_by(self.broken), "lower_bound": self.lower_bound, "why": self.why}


def _set_by(broken: Step | None) -> str | None:
    if broken is None:
        return None
    if any(broken.violations.values()):
        return "invariant"
    if broken.verdict != "pass":
        return "verdict"
    return "slo"


def _final_breaks(steps: Sequence[Step]) -> int:
    """Where the run of broken steps that ends ``steps`` begins (``len(steps)`` when the last holds)."""
    start = len(steps)
    while start > 0 and not steps[start - 1].holds:
        start -= 1
    return start


def find_knee(steps: Sequence[Step]) -> Knee:
    """The knee of steps run in ascending rate order; see the module."""
    wrong = next((s for s in steps if any(s.violations.values()) or s.verdict != "pass"), None)
    considered = [s for s in steps if wrong is None or s.index <= wrong.index]
    start = _final_breaks(considered)  # with a violation, the run of breaks that ends in it
    broken = considered[start] if start < len(considered) else None
    below = considered[:start]
    holding = [s for s in below if s.holds]
    knee = holding[-1] if holding else None
    transient = [s for s in below if not s.holds]
    noise = "; ".join(f"{s.rate:g}/s broke ({'; '.join(s.broken)}) but a higher step held: transient"
                      for s in transient)
    limited = [s for s in (*below, *([broken] if broken else [])) if s.harness_limited]
    if broken is None:
        why = (f"no step broke up to {steps[-1].rate:g}/s: the knee is at least there" if steps
               else "no step ran")
        why += f". {noise}" if noise else ""
        return Knee(knee, None, True, why + (_limited(limited) if limited else ""))
    what = "; ".join(broken.broken)
    base = (f"{knee.rate:g}/s holds; {broken.rate:g}/s breaks: {what}" if knee is not None
            else f"the first step ({broken.rate:g}/s) already breaks: {what}")
    base += f". {noise[0].upper()}{noise[1:]}" if noise else ""
    if limited:
        return Knee(knee, broken, True, base + _limited(limited))
    return Knee(knee, broken, False, base)


def _limited(steps: Sequence[Step]) -> str:
    shown = "; ".join(f"{s.rate:g}/s: {', '.join(s.limits)}" for s in steps)
    return f". A lower bound: the harness was the limit ({shown})"


def keep_stepping(results: Sequence[Step], stop_after: int) -> bool:
    """Whether to go on stepping: until the broken steps that end the ladder are ``1 + stop_after``."""
    return len(results) - _final_breaks(results) < 1 + stop_after
