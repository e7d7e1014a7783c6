"""The scenario as typed, frozen data: what load to drive, which faults when, what must hold.

Times are seconds from the start of the load. A scheduled fault keeps its ``at`` and ``for``
whatever the run's duration: a soak (the same scenario with a longer ``--duration``, or the
scenario's own ``soak.duration`` with ``--soak``) runs the same faults at the same times and
then steady load, while a nemesis draws its schedule over the whole duration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from harness.scenario.slo import SloRule


class Operation(StrEnum):
    """The operations a Locust user picks from, by weight."""

    ORDER = "order"
    PAYOUT = "payout"
    GET_ORDER = "get_order"
    GET_PAYOUT = "get_payout"


@dataclass(frozen=True)
class LoadProfile:
    """The load shape: users, how fast they arrive, what they do, how often they resubmit."""

    users: int = 10
    spawn_rate: float = 10.0
    mix: Mapping[Operation, int] = field(default_factory=lambda: {Operation.ORDER: 8, Operation.PAYOUT: 1,
                                                                  Operation.GET_ORDER: 1})
    duplicates: float = 0.0
    request_timeout: float = 5.0

    def mix_json(self) -> dict[str, int]:
        """The weights as ``ORDERQUAKE_MIX`` wants them."""
        return {op.value: weight for op, weight in self.mix.items()}


@dataclass(frozen=True)
class ScheduledFault:
    """One fault at a time: ``duration`` None lasts until the load phase ends."""

    name: str
    kind: str
    at: float
    duration: float | None
    params: Mapping[str, Any]

    def end(self, run_duration: float) -> float:
        return run_duration if self.duration is None else self.at + self.duration

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "at": self.at}
        if self.duration is not None:
            data["for"] = self.duration
        return {**data, **self.params}


@dataclass(frozen=True)
class NemesisChoice:
    """A fault the nemesis may draw, with fixed parameters; a missing ``link`` is drawn too."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Nemesis:
    """A seeded random schedule: a fault every ``interval`` (+/- 50 %), each lasting ``span`` (+/- 50 %)."""

    seed: int
    interval: float
    span: float
    kinds: tuple[NemesisChoice, ...]
    max_concurrent: int = 1
    start: float = 5.0

    def to_data(self) -> dict[str, Any]:
        return {"seed": self.seed, "interval": self.interval, "for": self.span, "start": self.start,
                "max_concurrent": self.max_concurrent,
                "kinds": [{"kind": c.kind, **c.params} for c in self.kinds]}


@dataclass(frozen=True)
class Scenario:
    """A resolved scenario: overrides applied, every field checked."""

    name: str
    description: str
    seed: int
    duration: float
    load: LoadProfile
    faults: tuple[ScheduledFault, ...] = ()
    nemesis: Nemesis | None = None
    recovery_deadline: float = 60.0
    slo: tuple[SloRule, ...] = ()
    expect: Mapping[str, str] = field(default_factory=dict)
    soak_duration: float | None = None
    source: Path | None = None
    min_ops: int = 1  # fewer acknowledged orders and payouts than this: the verdict is unknown

    def schedule(self) -> tuple[ScheduledFault, ...]:
        """The fixed faults and the nemesis's draw, by start time; the same seed gives the same list."""
        from harness.scenario.nemesis import expand  # the nemesis needs the fault catalogue; the model does not

        drawn = expand(self.nemesis, self.duration) if self.nemesis is not None else ()
        return tuple(sorted((*self.faults, *drawn), key=lambda f: (f.at, f.name)))

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name, "description": self.description, "seed": self.seed, "duration": self.duration,
            "load": {"users": self.load.users, "spawn_rate": self.load.spawn_rate, "mix": self.load.mix_json(),
                     "duplicates": self.load.duplicates, "request_timeout": self.load.request_timeout},
            "faults": [f.to_data() for f in self.faults],
        }
        if self.nemesis is not None:
            data["nemesis"] = self.nemesis.to_data()
        data["recovery"] = {"deadline": self.recovery_deadline}
        data["slo"] = [rule.text for rule in self.slo]
        data["min_ops"] = self.min_ops
        if self.expect:
            data["expect"] = dict(self.expect)
        if self.soak_duration is not None:
            data["soak"] = {"duration": self.soak_duration}
        return data

    def to_yaml(self) -> str:
        """The resolved scenario (``scenario.yaml`` of the run directory); it loads back to the same scenario."""
        return yaml.safe_dump(self.to_data(), sort_keys=False, allow_unicode=True)
