"""Configuration comes from the environment only, and a bad value says what was expected."""

from __future__ import annotations

import pytest

from order_service.config import ConfigError, from_env
from order_service.variants import Flags, Variant

BASE = {"PORT": "8080", "DATABASE_URL": "postgresql://x@127.0.0.1/db", "PROVIDER_URL": "http://127.0.0.1:1",
        "PROVIDER_API_KEY": "k", "PROVIDER_WEBHOOK_SECRET": "s", "CALLBACK_BASE_URL": "http://127.0.0.1:2/"}


def test_defaults_and_the_callback_url_built_from_the_base() -> None:
    settings = from_env(BASE)
    assert settings.port == 8080 and settings.pending_after_s == 2.0 and settings.provider_timeout_s == 2.0
    assert settings.callback_url == "http://127.0.0.1:2/provider/callbacks"


def test_tuning_knobs_are_milliseconds() -> None:
    settings = from_env({**BASE, "ORDERQUAKE_SUT_PENDING_AFTER_MS": "250",
                         "ORDERQUAKE_SUT_RECONCILE_INTERVAL_MS": "50"})
    assert (settings.pending_after_s, settings.reconcile_interval_s) == (0.25, 0.05)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("PORT", "", "PORT is required"),
    ("PORT", "eighty", "expected a port number"),
    ("CALLBACK_BASE_URL", " ", "CALLBACK_BASE_URL is required"),
    ("ORDERQUAKE_SUT_PENDING_AFTER_MS", "soon", "expected a number"),
    ("ORDERQUAKE_SUT_PROVIDER_TIMEOUT_MS", "-1", "expected zero or more"),
])
def test_bad_environment_is_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_env({**BASE, name: value})


def test_each_variant_flips_exactly_one_switch() -> None:
    correct = Flags.of(Variant.CORRECT)
    for variant in Variant:
        if variant is Variant.CORRECT:
            continue
        flags = Flags.of(variant)
        changed = [name for name in vars(correct) if getattr(flags, name) != getattr(correct, name)]
        assert len(changed) == 1, (variant, changed)
