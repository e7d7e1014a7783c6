"""The service's settings, from its own environment only, as a deployed service reads them.

PostgreSQL is reached through libpq's own ``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER`` and
``PGPASSWORD``, which psycopg reads itself; Stripe through the SDK at its default address.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and the value."""


@dataclass(frozen=True)
class Settings:
    port: int
    stripe_secret_key: str
    stripe_webhook_secret: str
    db_pool_size: int = 10
    db_timeout_s: float = 5.0
    reconcile_interval_s: float = 2.0
    reconcile_after_s: float = 5.0
    payment_window_s: float = 15.0  # an order with no confirmed payment after this is canceled
    password_hash_n: int = 2**14  # scrypt's cost; test benches lower it, as test settings of shops do


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def _number(env: Mapping[str, str], name: str, default: float, *, whole: bool = False) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a {'whole ' if whole else ''}number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name}: expected a positive number, got {raw!r}")
    return value


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Settings of ``serve``: ``MERCHANT_PORT`` and the Stripe keys are required, the tuning optional.

    Tuning: ``MERCHANT_DB_POOL_SIZE`` (10), ``MERCHANT_DB_TIMEOUT_S`` (5), ``MERCHANT_RECONCILE_INTERVAL_S``
    (2), ``MERCHANT_RECONCILE_AFTER_S`` (5), ``MERCHANT_PAYMENT_WINDOW_S`` (15),
    ``MERCHANT_PASSWORD_HASH_N`` (16384, a power of two: scrypt's cost for new passwords).
    """
    env = os.environ if env is None else env
    raw_port = _required(env, "MERCHANT_PORT")
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ConfigError(f"MERCHANT_PORT: expected a port number 1..65535, got {raw_port!r}")
    return Settings(
        port=int(raw_port),
        stripe_secret_key=_required(env, "STRIPE_SECRET_KEY"),
        stripe_webhook_secret=_required(env, "STRIPE_WEBHOOK_SECRET"),
        db_pool_size=int(_number(env, "MERCHANT_DB_POOL_SIZE", 10, whole=True)),
        db_timeout_s=_number(env, "MERCHANT_DB_TIMEOUT_S", 5.0),
        reconcile_interval_s=_number(env, "MERCHANT_RECONCILE_INTERVAL_S", 2.0),
        reconcile_after_s=_number(env, "MERCHANT_RECONCILE_AFTER_S", 5.0),
        payment_window_s=_number(env, "MERCHANT_PAYMENT_WINDOW_S", 15.0),
        password_hash_n=_power_of_two(env, "MERCHANT_PASSWORD_HASH_N", 2**14),
    )


def _power_of_two(env: Mapping[str, str], name: str, default: int) -> int:
    value = int(_number(env, name, default, whole=True))
    if value < 2 or value & (value - 1):
        raise ConfigError(f"{name}: expected a power of two of at least 2, got {env.get(name)!r}")
    return value
