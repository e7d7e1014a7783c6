"""What a capacity run is asked for: the step rates, the faults held during every step, the request.

Rates are given as a list (``--rates 20,40,80``) or as a geometric ladder (``--start 20 --factor 2
--max 160``: 20, 40, 80, 160). A held fault is given as a short spec or as a scenario's fault entry:

    latency:provider:300ms          KIND:LINK:VALUE, VALUE the kind's first parameter after the link
    reset_peer:db:0,toxicity=0.1    more parameters as NAME=VALUE after a comma
    provider_slow,ms=400            a fault without a link
    {kind: latency, link: provider, latency: 300ms, jitter: 50ms}   a scenario's fault entry (YAML)

Every spec is checked against the fault catalogue's parameters (``harness.faults``) before anything
starts, so a misspelled parameter is told with the allowed names.

    >>> parse_fault("latency:provider:300ms").params["latency"]
    300
    >>> geometric(20, 2, 160)
    (20.0, 40.0, 80.0, 160.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness._exceptions import UsageError
from harness.faults import fault_class
from harness.faults.base import Fault, ParamError
from harness.scenario import ScheduledFault

_POSITIONAL_SKIP = ("link", "stream", "toxicity")
MAX_STEPS = 32


def parse_rates(text: str) -> tuple[float, ...]:
    """``"20,40,80"`` to ascending positive rates (operations per second)."""
    rates = []
    for part in text.split(","):
        try:
            rate = float(part)
        except ValueError:
            raise UsageError(f"expected rates like '20,40,80' (operations per second), got --rates {text!r}") from None
        if not rate > 0:
            raise UsageError(f"expected positive rates, got {part.strip()!r} in --rates {text!r}")
        rates.append(rate)
    return _checked(rates, f"--rates {text!r}")


def geometric(start: float, factor: float, maximum: float) -> tuple[float, ...]:
    """``start``, ``start * factor``, ... up to ``maximum`` (included when reached within rounding)."""
    if not start > 0 or not maximum >= start:
        raise UsageError(f"expected 0 < --start <= --max, got --start {start:g} --max {maximum:g}")
    if not factor > 1:
        raise UsageError(f"expected --factor above 1, got --factor {factor:g}")
    rates: list[float] = []
    rate = float(start)
    while rate <= maximum * (1 + 1e-9) and len(rates) <= MAX_STEPS:
        rates.append(round(rate, 6))
        rate *= factor
    return _checked(rates, f"--start {start:g} --factor {factor:g} --max {maximum:g}")


def _checked(rates: Sequence[float], given: str) -> tuple[float, ...]:
    if len(rates) > MAX_STEPS:
        raise UsageError(f"expected at most {MAX_STEPS} steps, got {len(rates)} from {given}")
    if list(rates) != sorted(set(rates)):
        raise UsageError(f"expected strictly increasing rates, got {', '.join(f'{r:g}' for r in rates)} "
                         f"from {given}")
    return tuple(float(r) for r in rates)


def _value(text: str) -> Any:
    """A command-line value as YAML reads it, so ``5`` is a number and ``300ms`` stays text."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_fault(spec: str, *, name: str | None = None) -> ScheduledFault:
    """A held fault (from the load's start to its end) from a short spec or a fault entry; see the module."""
    text = spec.strip()
    if text.startswith("{"):
        entry = _value(text)
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
            raise UsageError(f"expected a fault entry like '{{kind: latency, link: provider, latency: 300ms}}', "
                             f"got {spec!r}")
        kind = entry.pop("kind")
        raw = {str(k): v for k, v in entry.items() if k not in ("name", "at", "for")}
    else:
        head, *extra = text.split(",")
        kind, *positional = head.split(":")
        cls = fault_class(kind)
        names = [p.name for p in cls.params]
        slots = (["link"] if "link" in names else []) + [n for n in names if n not in _POSITIONAL_SKIP][:1]
        if len(positional) > len(slots):
            raise UsageError(f"fault spec {spec!r}: {kind} takes at most {len(slots)} value(s) after its kind "
                             f"({':'.join([kind, *slots]) if slots else kind}); give others as ',NAME=VALUE'")
        raw = {slot: _value(value) for slot, value in zip(slots, positional, strict=False)}
        for item in extra:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"fault spec {spec!r}: expected NAME=VALUE after a comma, got {item!r}")
            raw[key.strip()] = _value(value.strip())
    cls = fault_class(kind)
    try:
        params = cls.parse_params(raw)
    except ParamError as exc:
        raise UsageError(f"fault spec {spec!r}: {exc}") from None
    return ScheduledFault(name=name or f"held-{kind}", kind=kind, at=0.0, duration=None, params=params)


def describe_fault(fault: ScheduledFault) -> str:
    """A held fault in one short line: ``latency provider latency=300 jitter=0``."""
    shown = {k: v for k, v in fault.params.items() if k not in ("stream", "toxicity") or v not in ("downstream", 1.0)}
    link = shown.pop("link", None)
    return " ".join([fault.kind, *([str(link)] if link else []), *(f"{k}={v}" for k, v in shown.items())])


def make(fault: ScheduledFault) -> Fault:
    return fault_class(fault.kind)(fault.name, fault.params)


@dataclass(frozen=True)
class CapacityRequest:
    """What ``orderquake capacity`` was asked for; ``None`` means "as the scenario says"."""

    scenario: Path
    rates: tuple[float, ...]
    step_seconds: float = 8.0
    target: Path | None = None
    variant: str | None = None
    faults: tuple[ScheduledFault, ...] = ()
    compare_fault: ScheduledFault | None = None
    seed: int | None = None
    out: Path | None = None
    stop_after: int = 1
    workers: int = 0
    recovery_deadline: float | None = None
    quiet: bool = False
    users: int = field(default=0)  # arrival loops; 0: one per Locust process that sends load
    provider_processes: int = 1  # mock provider processes (StageConfig.provider_processes)

    def __post_init__(self) -> None:
        if not self.rates:
            raise UsageError("expected at least one step rate")
        if not self.step_seconds >= 1:
            raise UsageError(f"expected --step-duration of 1 s or more, got {self.step_seconds:g} s")
        if self.provider_processes < 1:
            raise UsageError(f"expected --provider-processes of 1 or more, got {self.provider_processes}")
        if self.stop_after < 0:
            raise UsageError(f"expected --stop-after of zero or more, got {self.stop_after}")
