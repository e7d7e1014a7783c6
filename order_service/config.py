"""Configuration from the environment only (DESIGN.md section 4), checked once at start.

Required: PORT, DATABASE_URL, PROVIDER_URL, PROVIDER_API_KEY, PROVIDER_WEBHOOK_SECRET,
CALLBACK_BASE_URL. Tuning (milliseconds unless said), with defaults chosen so that a one-minute
scenario settles well within its recovery deadline:

| variable                                 | default | meaning                                         |
|------------------------------------------|---------|-------------------------------------------------|
| ORDERQUAKE_SUT_PROVIDER_TIMEOUT_MS       | 2000    | read timeout of one provider call               |
| ORDERQUAKE_SUT_PROVIDER_RETRIES          | 2       | immediate retries of an unknown outcome         |
| ORDERQUAKE_SUT_RECONCILE_INTERVAL_MS     | 500     | how often the reconciler looks                  |
| ORDERQUAKE_SUT_PENDING_AFTER_MS          | 2000    | a record pending this long is reconciled        |
| ORDERQUAKE_SUT_CALLBACK_TOLERANCE_S      | 300     | accepted age of a callback signature            |
| ORDERQUAKE_SUT_POOL_SIZE                 | 16      | database connections                            |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(Exception):
    """A missing or malformed environment variable."""


@dataclass(frozen=True)
class Settings:
    port: int
    database_url: str
    provider_url: str
    provider_api_key: str
    webhook_secret: str
    callback_base_url: str
    provider_timeout_s: float = 2.0
    provider_retries: int = 2
    reconcile_interval_s: float = 0.5
    pending_after_s: float = 2.0
    callback_tolerance_s: float = 300.0
    pool_size: int = 16

    @property
    def callback_url(self) -> str:
        return self.callback_base_url.rstrip("/") + "/provider/callbacks"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required (see DESIGN.md section 4)")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r}: expected zero or more")
    return value


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    port = _required(env, "PORT")
    if not port.isdigit():
        raise ConfigError(f"PORT={port!r}: expected a port number")
    return Settings(
        port=int(port), database_url=_required(env, "DATABASE_URL"), provider_url=_required(env, "PROVIDER_URL"),
        provider_api_key=_required(env, "PROVIDER_API_KEY"), webhook_secret=_required(env, "PROVIDER_WEBHOOK_SECRET"),
        callback_base_url=_required(env, "CALLBACK_BASE_URL"),
        provider_timeout_s=_number(env, "ORDERQUAKE_SUT_PROVIDER_TIMEOUT_MS", 2000) / 1000,
        provider_retries=int(_number(env, "ORDERQUAKE_SUT_PROVIDER_RETRIES", 2)),
        reconcile_interval_s=_number(env, "ORDERQUAKE_SUT_RECONCILE_INTERVAL_MS", 500) / 1000,
        pending_after_s=_number(env, "ORDERQUAKE_SUT_PENDING_AFTER_MS", 2000) / 1000,
        callback_tolerance_s=_number(env, "ORDERQUAKE_SUT_CALLBACK_TOLERANCE_S", 300),
        pool_size=max(2, int(_number(env, "ORDERQUAKE_SUT_POOL_SIZE", 16))),
    )
