"""The merchant's settings and variants, without a server: errors name the variable and its value."""

from __future__ import annotations

import pytest

from examples.merchant.config import ConfigError, from_env
from examples.merchant.payments import Intent, IntentStatus
from examples.merchant.transitions import Outcome, outcome_of
from examples.merchant.variants import Flags, Reconcile, Variant

BASE = {"MERCHANT_PORT": "8123", "STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}


def test_settings_come_from_the_environment_with_defaults_for_tuning() -> None:
    settings = from_env(BASE | {"MERCHANT_PAYMENT_WINDOW_S": "2.5", "MERCHANT_PASSWORD_HASH_N": "2048"})
    assert (settings.port, settings.stripe_secret_key, settings.payment_window_s) == (8123, "sk_test_x", 2.5)
    assert (settings.password_hash_n, settings.db_pool_size, settings.reconcile_interval_s) == (2048, 10, 2.0)


@pytest.mark.parametrize(("env", "message"), [
    ({"MERCHANT_PORT": ""}, "MERCHANT_PORT is not set"),
    ({"MERCHANT_PORT": "http"}, "MERCHANT_PORT: expected a port number 1..65535, got 'http'"),
    ({"STRIPE_WEBHOOK_SECRET": ""}, "STRIPE_WEBHOOK_SECRET is not set"),
    ({"MERCHANT_DB_POOL_SIZE": "2.5"}, "MERCHANT_DB_POOL_SIZE: expected a whole number, got '2.5'"),
    ({"MERCHANT_RECONCILE_AFTER_S": "-1"}, "MERCHANT_RECONCILE_AFTER_S: expected a positive number, got '-1'"),
    ({"MERCHANT_PASSWORD_HASH_N": "1000"}, "MERCHANT_PASSWORD_HASH_N: expected a power of two of at least 2, "
                                           "got '1000'"),
])
def test_a_bad_setting_names_the_variable_and_the_value(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        from_env(BASE | env)
    assert str(raised.value) == message


def test_the_correct_variant_has_every_flag_at_its_default_and_each_bug_one_switch() -> None:
    assert Flags.of(Variant.CORRECT) == Flags()
    for variant in Variant:
        changed = {name for name, value in vars(Flags.of(variant)).items() if value != getattr(Flags(), name)}
        assert len(changed - {"reconcile"}) == (0 if variant is Variant.CORRECT else 1), variant
    assert Flags.of(Variant.EVENT_MARKED_EARLY).reconcile is Reconcile.WITHOUT_EVENT


@pytest.mark.parametrize(("status", "error", "outcome", "open_"), [
    ("requires_payment_method", None, None, True),
    ("requires_confirmation", None, None, True),
    ("processing", None, None, False),
    ("succeeded", None, Outcome.PAID, False),
    ("canceled", None, Outcome.CANCELED, False),
    ("requires_payment_method", {"code": "card_declined"}, Outcome.FAILED, False),
])
def test_a_payment_intent_decides_an_order_only_once_it_is_terminal(
        status: str, error: dict[str, str] | None, outcome: Outcome | None, open_: bool) -> None:
    intent = Intent.of({"id": "pi_1", "status": status, "client_secret": "pi_1_secret_x", "last_payment_error": error,
                        "metadata": {"order_id": "ord_1"}, "latest_charge": {"id": "ch_1"}})
    assert (outcome_of(intent), intent.open, intent.order_id, intent.charge_id) == (outcome, open_, "ord_1", "ch_1")
    assert intent.status is IntentStatus(status)
