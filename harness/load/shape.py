"""The load shape of a scenario: how many users, how fast they come, what they do."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from harness._exceptions import UsageError
from harness.load.history import Op

DEFAULT_MIX: Mapping[str, float] = {"order": 8.0, "payout": 1.0, "get_order": 1.0}


@dataclass(frozen=True)
class LoadShape:
    """What Locust is told to do; checked at construction, so a bad shape never reaches Locust.

    >>> LoadShape(users=40, spawn_rate=20, duration_s=60, mix={"order": 8, "payout": 1}).users
    40
    """

    users: int
    spawn_rate: float
    duration_s: float
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    duplicates: float = 0.0
    request_timeout_s: float = 5.0
    think_time_s: float = 0.0

    def __post_init__(self) -> None:
        _positive_int("users", self.users)
        _positive("spawn_rate", self.spawn_rate)
        _positive("duration_s", self.duration_s)
        _positive("request_timeout_s", self.request_timeout_s)
        if isinstance(self.think_time_s, bool) or not isinstance(self.think_time_s, int | float) \
                or self.think_time_s < 0:
            raise UsageError(f"expected think_time_s of zero or more seconds, got think_time_s={self.think_time_s!r}")
        if isinstance(self.duplicates, bool) or not isinstance(self.duplicates, int | float) \
                or not 0.0 <= self.duplicates <= 1.0:
            raise UsageError(f"expected duplicates from 0 to 1, got duplicates={self.duplicates!r}")
        allowed = sorted(op.value for op in Op)
        for name, weight in self.mix.items():
            if name not in allowed:
                raise UsageError(f"expected mix keys among {allowed}, got mix key {name!r}")
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
                raise UsageError(f"expected a weight of zero or more, got mix.{name}={weight!r}")
        if not any(self.mix.get(op.value, 0) > 0 for op in Op if op.is_write):
            raise UsageError(f"expected a positive weight for 'order' or 'payout', got mix={dict(self.mix)!r}: "
                             "reads alone would check nothing")
        # Normalised to plain floats so that equal shapes compare and serialise equally.
        object.__setattr__(self, "mix", {name: float(self.mix[name]) for name in sorted(self.mix)})

    @property
    def stop_timeout_s(self) -> float:
        """Locust's ``--stop-timeout``: longer than a request, so no user is killed mid-request."""
        return self.request_timeout_s + 5.0

    def mix_json(self) -> str:
        return json.dumps(dict(self.mix), sort_keys=True)


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise UsageError(f"expected a positive number, got {name}={value!r} ({type(value).__name__})")


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"expected a positive whole number, got {name}={value!r} ({type(value).__name__})")
