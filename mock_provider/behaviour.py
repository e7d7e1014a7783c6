"""The provider's behaviour: every app-level misbehaviour Toxiproxy cannot express, as one model.

``GET /_control/behaviour`` returns it, ``PUT`` merges fields into it (an unknown field or a bad
value is a 422 naming it), ``POST /_control/reset`` returns it to its start-up values. Every
random choice is drawn from the provider's one seeded RNG, so a run with the same seed and the
same request sequence replays exactly.
"""

from __future__ import annotations

import math
import random
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class NoDelay(BaseModel):
    """Answer as soon as the work is done."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["none"] = "none"


class FixedDelay(BaseModel):
    """Every response held ``ms``: a uniformly slow provider."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["fixed"]
    ms: Annotated[float, Field(ge=0)]


class UniformDelay(BaseModel):
    """Held between ``min_ms`` and ``max_ms``: jitter without a tail."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["uniform"]
    min_ms: Annotated[float, Field(ge=0)]
    max_ms: Annotated[float, Field(ge=0)]


class LognormalDelay(BaseModel):
    """Median ``median_ms`` with a long tail set by ``sigma``: how real latencies look, some far past a timeout."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["lognormal"]
    median_ms: Annotated[float, Field(gt=0)]
    sigma: Annotated[float, Field(ge=0, le=5)]


Delay = Annotated[NoDelay | FixedDelay | UniformDelay | LognormalDelay, Field(discriminator="kind")]


def draw_delay_s(delay: NoDelay | FixedDelay | UniformDelay | LognormalDelay, rng: random.Random) -> float:
    """Seconds to hold a response, drawn from ``delay``'s distribution."""
    if isinstance(delay, FixedDelay):
        return delay.ms / 1000
    if isinstance(delay, UniformDelay):
        low, high = sorted((delay.min_ms, delay.max_ms))
        return rng.uniform(low, high) / 1000
    if isinstance(delay, LognormalDelay):
        return rng.lognormvariate(math.log(delay.median_ms), delay.sigma) / 1000
    return 0.0


class Behaviour(BaseModel):
    """Fields documented in docs/architecture.md (Mock provider control)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_rate: Rate = 0.0
    process_then_error_rate: Rate = 0.0
    process_then_drop_rate: Rate = 0.0
    delay: Delay = NoDelay()
    decline_rate: Rate = 0.05
    reject_rate: Rate = 0.05
    settle_delay_ms: Annotated[int, Field(ge=0, le=3_600_000)] = 200
    settlement_stalled: bool = False
    callback_drop_rate: Rate = 0.0
    callback_duplicate_rate: Rate = 0.0
    callback_delay_ms: Annotated[int, Field(ge=0, le=3_600_000)] = 0
    callback_reorder_rate: Rate = 0.0
    callback_max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    callback_backoff_ms: Annotated[int, Field(ge=1, le=600_000)] = 200
    api_key: Annotated[str, Field(min_length=1)]
    webhook_secret: Annotated[str, Field(min_length=1)]
