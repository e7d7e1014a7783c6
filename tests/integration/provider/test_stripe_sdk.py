"""The official ``stripe`` SDK against the mock's ``stripe`` dialect over a real socket.

The SDK is configured only through its module-level settings (``stripe.api_base``,
``stripe.max_network_retries``), which every major version has, with its own automatic retries on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from provider_process import StripeHooks, stripe_hooks, stripe_provider, wait_for

KEY = "sk_test_it"
WHSEC = "whsec_it"
HOOK_PATH = "/hooks/stripe"


Hooks = StripeHooks


@dataclass
class Mock:
    url: str
    hooks: Hooks
    control: httpx.Client

    def behave(self, **fields: Any) -> None:
        self.control.put("/_control/behaviour", json=fields).raise_for_status()

    def ledger(self, what: str = "orders") -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.control.get(f"/_ledger/{what}").text.splitlines() if line]


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    with stripe_hooks(StripeHooks) as found:
        yield found


@pytest.fixture
def mock(tmp_path: Path, hooks: Hooks) -> Iterator[Mock]:
    """A stripe-dialect provider process, and the SDK pointed at it with automatic retries on."""
    saved = (stripe.api_key, stripe.api_base, stripe.max_network_retries)
    with stripe_provider(tmp_path, api_key=KEY, webhook_secret=WHSEC, hooks=hooks, hook_path=HOOK_PATH,
                         seed=5) as url:
        try:
            stripe.api_key, stripe.api_base, stripe.max_network_retries = KEY, url, 3
            with httpx.Client(base_url=url, timeout=10.0) as control:
                yield Mock(url, hooks, control)
        finally:
            stripe.api_key, stripe.api_base, stripe.max_network_retries = saved


def create(order_id: str, **extra: Any) -> Any:
    params: dict[str, Any] = {"amount": 1200, "currency": "eur", "metadata": {"order_id": order_id}}
    return stripe.PaymentIntent.create(**(params | extra))


def test_create_confirm_retrieve_search_and_payout(mock: Mock) -> None:
    mock.behave(settle_delay_ms=0, decline_rate=0.0, reject_rate=0.0)
    intent = create("o-1", confirm=True, payment_method="pm_card_visa", expand=["latest_charge"])
    assert (intent.object, intent.status, intent.currency) == ("payment_intent", "processing", "eur")
    assert intent.metadata["order_id"] == "o-1" and intent.latest_charge.object == "charge"
    wait_for(lambda: stripe.PaymentIntent.retrieve(intent.id).status == "succeeded", 10, "succeeded")
    later = create("o-2", payment_method="pm_card_visa")
    assert later.status == "requires_confirmation"
    assert stripe.PaymentIntent.confirm(later.id).status == "processing"
    found = stripe.PaymentIntent.search(query="metadata['order_id']:'o-1'")
    assert [i.id for i in found.data] == [intent.id]
    assert [i.id for i in stripe.PaymentIntent.list(limit=1).data] == [later.id]
    payout = stripe.Payout.create(amount=300, currency="eur", metadata={"payout_id": "p-1"})
    wait_for(lambda: stripe.Payout.retrieve(payout.id).status == "paid", 10, "payout paid")
    assert [(r["merchant_payout_id"], r["status"]) for r in mock.ledger("payouts")] == [("p-1", "paid")]


def test_a_chunked_form_body_is_read_whole(mock: Mock) -> None:
    def pieces() -> Iterator[bytes]:
        yield b"amount=77&curr"
        yield b"ency=eur&metadata[order_id]=o-chunked&metadata[no"
        yield b"te]=x"
    response = httpx.post(f"{mock.url}/v1/payment_intents", content=pieces(),
                          headers={"Authorization": f"Bearer {KEY}",
                                   "Content-Type": "application/x-www-form-urlencoded"})
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"order_id": "o-chunked", "note": "x"}


def test_each_error_status_raises_the_sdk_class_it_maps_to(mock: Mock) -> None:
    stripe.max_network_retries = 0
    with pytest.raises(stripe.InvalidRequestError) as bad:
        create("o-bad", amount=0)
    assert (bad.value.http_status, bad.value.param) == (400, "amount")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.PaymentIntent.retrieve("pi_missing")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    with pytest.raises(stripe.AuthenticationError):
        stripe.PaymentIntent.list(api_key="sk_test_wrong")
    with pytest.raises(stripe.CardError) as declined:
        create("o-card", confirm=True, payment_method="pm_card_chargeDeclinedInsufficientFunds")
    assert (declined.value.http_status, declined.value.code) == (402, "card_declined")
    create("o-key", idempotency_key="fixed-key")
    with pytest.raises(stripe.IdempotencyError):
        create("o-key", amount=1300, idempotency_key="fixed-key")

    # A wide window (the first held 4 s, the second sent after 1 s), so a busy machine cannot close it.
    mock.behave(delay={"kind": "fixed", "ms": 4000})
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(create, "o-busy", idempotency_key="busy-key")
        time.sleep(1.0)  # the first must be in flight: this is the condition under test, not a wait for one
        with pytest.raises(stripe.APIError) as busy:
            create("o-busy", idempotency_key="busy-key")
        assert first.result().status == "requires_payment_method"
    assert busy.value.http_status == 409

    mock.behave(delay={"kind": "none"}, error_rate=1.0)
    for status, error_class in ((429, stripe.RateLimitError), (500, stripe.APIError), (503, stripe.APIError)):
        mock.control.put("/_control/stripe", json={"injected_error_status": status}).raise_for_status()
        with pytest.raises(error_class) as injected:
            create(f"o-{status}")
        assert injected.value.http_status == status


@pytest.mark.parametrize("fault", ["process_then_drop_rate", "process_then_error_rate"])
def test_sdk_retries_reuse_their_key_so_exactly_one_intent_is_made(mock: Mock, fault: str) -> None:
    mock.behave(**{fault: 1.0, "settlement_stalled": True})
    intent = create("o-retried", confirm=True, payment_method="pm_card_visa")  # the SDK retried for us
    assert intent.status == "processing"
    records = mock.ledger()
    assert [(r["id"], r["merchant_order_id"]) for r in records] == [(intent.id, "o-retried")]
    assert records[0]["idempotency_key"] is not None


def test_an_application_retry_with_a_new_key_makes_a_second_intent(mock: Mock) -> None:
    mock.behave(process_then_drop_rate=1.0, settlement_stalled=True)
    stripe.max_network_retries = 0
    with pytest.raises(stripe.APIConnectionError):
        create("o-twice", confirm=True, payment_method="pm_card_visa")
    mock.behave(process_then_drop_rate=0.0)
    create("o-twice", confirm=True, payment_method="pm_card_visa")  # a new call: the SDK sends a new key
    records = mock.ledger()
    assert [r["merchant_order_id"] for r in records] == ["o-twice", "o-twice"]
    assert len({r["idempotency_key"] for r in records}) == 2


def test_webhooks_verify_with_construct_event_and_forgeries_do_not(mock: Mock) -> None:
    mock.behave(settle_delay_ms=0, decline_rate=0.0)
    intent = create("o-hook", confirm=True, payment_method="pm_card_visa")
    wait_for(lambda: len(mock.hooks.received) >= 1, 10, "a webhook arrived")
    body, signature, path = mock.hooks.received[0]
    assert path == HOOK_PATH and signature.startswith("t=")
    event = stripe.Webhook.construct_event(body.decode(), signature, WHSEC)
    assert (event.type, event.object, event.data.object.id) == ("payment_intent.succeeded", "event", intent.id)
    assert event.id.startswith("evt_") and stripe.Event.retrieve(event.id).type == event.type
    forged_body = body.replace(b'"succeeded"', b'"canceled"', 1)
    for forged_payload, forged_signature in ((forged_body, signature),
                                             (body, signature.replace("v1=", "v1=0", 1)[:-1])):
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(forged_payload.decode(), forged_signature, WHSEC)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode(), signature, "whsec_someone_else")
