"""Every provider fault of the catalogue, applied by orderquake's own fault classes to the Stripe
dialect, changes what the official SDK sees as the fault says; healed, the SDK works again."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import stripe
from provider_process import wait_for
from test_stripe_sdk import KEY, WHSEC, Mock, create, hooks, mock  # noqa: F401 - the fixtures are used by name

from harness.faults import FaultContext, make_fault
from harness.stage.provider_control import ProviderControl
from harness.target import load_target

pytestmark = pytest.mark.integration


def _context(mock: Mock, tmp_path: Path) -> FaultContext:  # noqa: F811 - mock is the fixture's value
    stage = SimpleNamespace(provider=ProviderControl(mock.url, api_key=KEY), provider_url=mock.url)
    return FaultContext(stage=cast(Any, stage), target=load_target(None), run_dir=tmp_path, rng=random.Random(3))


def _confirmed(order_id: str) -> Any:
    return create(order_id, confirm=True, payment_method="pm_card_visa")


def _errors(mock: Mock, order_id: str) -> None:  # noqa: F811
    with pytest.raises(stripe.APIError) as caught:
        _confirmed(order_id)
    assert caught.value.http_status == 500
    assert not [r for r in mock.ledger() if r["merchant_order_id"] == order_id]  # nothing was processed


def _charged_then_error(mock: Mock, order_id: str) -> None:  # noqa: F811
    with pytest.raises(stripe.APIError):
        _confirmed(order_id)
    assert [r["merchant_order_id"] for r in mock.ledger()].count(order_id) == 1  # charged, the answer lost


def _charged_then_dropped(mock: Mock, order_id: str) -> None:  # noqa: F811
    with pytest.raises(stripe.APIConnectionError):
        _confirmed(order_id)
    assert [r["merchant_order_id"] for r in mock.ledger()].count(order_id) == 1


def _slow(mock: Mock, order_id: str) -> None:  # noqa: F811
    started = time.monotonic()
    assert _confirmed(order_id).status == "processing"
    assert time.monotonic() - started >= 0.8


def _declined(mock: Mock, order_id: str) -> None:  # noqa: F811
    intent = _confirmed(order_id)
    wait_for(lambda: stripe.PaymentIntent.retrieve(intent.id).status != "processing", 10, "the intent settled")
    settled = stripe.PaymentIntent.retrieve(intent.id)
    assert settled.status == "requires_payment_method" and settled.last_payment_error is not None


def _stalled(mock: Mock, order_id: str) -> None:  # noqa: F811
    intent = _confirmed(order_id)
    time.sleep(1.0)
    assert stripe.PaymentIntent.retrieve(intent.id).status == "processing"


def _rotated(mock: Mock, order_id: str) -> None:  # noqa: F811
    with pytest.raises(stripe.AuthenticationError):
        _confirmed(order_id)


def _hooks_for(mock: Mock, intent_id: str) -> list[Any]:  # noqa: F811
    found = []
    with mock.hooks.lock:
        received = list(mock.hooks.received)
    for body, signature, _ in received:
        if intent_id.encode() in body:
            found.append((body, signature))
    return found


def _secret_mismatch(mock: Mock, order_id: str) -> None:  # noqa: F811
    intent = _confirmed(order_id)
    wait_for(lambda: _hooks_for(mock, intent.id), 10, "a webhook arrived")
    body, signature = _hooks_for(mock, intent.id)[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode(), signature, WHSEC)


def _dropped(mock: Mock, order_id: str) -> None:  # noqa: F811
    intent = _confirmed(order_id)
    wait_for(lambda: stripe.PaymentIntent.retrieve(intent.id).status == "succeeded", 10, "the intent settled")
    time.sleep(1.5)
    assert _hooks_for(mock, intent.id) == []


def _duplicated(mock: Mock, order_id: str) -> None:  # noqa: F811
    intent = _confirmed(order_id)
    wait_for(lambda: len(_hooks_for(mock, intent.id)) >= 2, 10, "the webhook arrived twice")
    events = [stripe.Webhook.construct_event(body.decode(), signature, WHSEC)
              for body, signature in _hooks_for(mock, intent.id)]
    assert len({event.id for event in events}) == 1  # one event, delivered again


CASES: list[tuple[str, dict[str, Any], int, Callable[[Mock, str], None]]] = [
    ("provider_errors", {"rate": 1.0}, 0, _errors),
    ("provider_process_then_error", {"rate": 1.0}, 0, _charged_then_error),
    ("provider_response_lost", {"rate": 1.0}, 0, _charged_then_dropped),
    ("provider_slow", {"distribution": "fixed", "ms": 800}, 0, _slow),
    ("provider_declines", {"rate": 1.0}, 0, _declined),
    ("settlement_stall", {}, 0, _stalled),
    ("api_key_rotation", {}, 0, _rotated),
    ("webhook_secret_mismatch", {}, 0, _secret_mismatch),
    ("callback_drop", {"rate": 1.0}, 0, _dropped),
    ("callback_duplicate", {"rate": 1.0}, 0, _duplicated),
]


@pytest.mark.parametrize("kind, params, retries, sees", CASES, ids=[case[0] for case in CASES])
def test_each_provider_fault_is_what_the_sdk_sees_and_heal_undoes_it(
        mock: Mock, tmp_path: Path, kind: str, params: dict[str, Any], retries: int,  # noqa: F811
        sees: Callable[[Mock, str], None]) -> None:
    mock.behave(settle_delay_ms=0, decline_rate=0.0)
    ctx = _context(mock, tmp_path)
    fault = make_fault("f", kind, params)
    stripe.max_network_retries = retries
    fault.apply(ctx)
    try:
        sees(mock, f"o-{kind}")
    finally:
        fault.heal(ctx)
    intent = _confirmed(f"o-{kind}-healed")
    wait_for(lambda: stripe.PaymentIntent.retrieve(intent.id).status == "succeeded", 10, "a healed intent settled")
    wait_for(lambda: bool(_hooks_for(mock, intent.id)), 10, "the healed intent's webhook arrived")
