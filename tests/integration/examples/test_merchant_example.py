"""The example merchant service against a real PostgreSQL and the real stripe-dialect mock provider.

The flow is the target file's, by plain HTTP: sign up, log in, create the order, create its
payment, confirm at the provider with the publishable key as Stripe.js would, and wait for the
webhook. Each seeded bug is shown where it bites, and the correct service beside it not biting.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from merchant_stage import Merchant, Stage, stage, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    with stage(tmp_path_factory.mktemp("merchant")) as started:
        yield started


@pytest.fixture
def provider_defaults(bench: Stage) -> Iterator[None]:
    yield
    bench.provider.behave(settlement_stalled=False, callback_drop_rate=0.0)


def failed_event(merchant: Merchant, order_id: str, intent: str, event_id: str) -> dict[str, Any]:
    """A ``payment_intent.payment_failed`` as Stripe would send it for ``intent``."""
    error = {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}
    obj = {"id": intent, "object": "payment_intent", "status": "requires_payment_method", "amount": 1234,
           "currency": "eur", "metadata": {"order_id": order_id}, "last_payment_error": error}
    return {"id": event_id, "object": "event", "type": "payment_intent.payment_failed", "created": int(time.time()),
            "api_version": "2024-06-20", "livemode": False, "data": {"object": obj}}


def test_the_correct_service_takes_a_payment_a_decline_and_a_repeat(bench: Stage) -> None:
    with bench.merchant() as merchant:
        assert merchant.api("POST", "/api/signup/", json={"email": "buyer@shop.test", "password": "x"}
                            ).status_code == 409
        assert merchant.api("POST", "/api/login/", json={"email": "buyer@shop.test", "password": "wrong"}
                            ).status_code == 401
        assert merchant.http.post(f"{merchant.url}/api/orders/", json={}).status_code == 401

        first = merchant.order("c-paid", 1234, "EUR")
        assert first["id"].startswith("ord_") and (first["status"], first["amount"]) == ("pending", 1234)
        again = merchant.api("POST", "/api/orders/", json={
            "client_ref": "c-paid", "items": [{"sku": "credit", "quantity": 1234}], "currency": "EUR"})
        assert (again.status_code, again.json()["id"]) == (200, first["id"])
        other_cart = merchant.api("POST", "/api/orders/", json={
            "client_ref": "c-paid", "items": [{"sku": "credit", "quantity": 5}], "currency": "EUR"})
        assert other_cart.status_code == 422

        intent, secret = merchant.pay(first["id"])
        assert merchant.pay(first["id"]) == (intent, secret)  # the open PaymentIntent, not a second one
        confirmed = bench.provider.confirm(intent, secret)
        assert confirmed.status_code == 200, confirmed.text
        merchant.wait_status("c-paid", "paid")
        paid_again = merchant.api("POST", f"/api/orders/{first['id']}/create-payment/")
        assert paid_again.status_code == 409
        [record] = bench.provider.records(first["id"])
        assert (record["id"], record["status"], record["amount_minor"], record["currency"]) == (
            intent, "succeeded", 1234, "EUR")
        assert merchant.sql("SELECT payment_intent_id, charge_id, amount_cents, currency FROM shop_order "
                            "WHERE id = %s", (first["id"],)) == [(intent, "ch_" + intent[3:], 1234, "eur")]

        declined = merchant.order("c-declined", 700)
        intent, secret = merchant.pay(declined["id"])
        assert bench.provider.confirm(intent, secret, "pm_card_chargeDeclined").status_code == 402
        merchant.wait_status("c-declined", "failed")
        assert merchant.api("POST", f"/api/orders/{declined['id']}/create-payment/").status_code == 422

        assert merchant.api("GET", "/api/orders/by-ref/nope/").status_code == 404
        forged = merchant.webhook(failed_event(merchant, first["id"], intent, "evt_forged"), secret="whsec_wrong")
        assert forged.status_code == 400
        assert merchant.status("c-paid") == "paid"


def test_reconciliation_recovers_a_lost_webhook_and_cancels_what_nobody_paid(
        bench: Stage, provider_defaults: None) -> None:
    with bench.merchant(MERCHANT_PAYMENT_WINDOW_S="2") as merchant:
        bench.provider.behave(callback_drop_rate=1.0)
        lost = merchant.order("c-lost")
        intent, secret = merchant.pay(lost["id"])
        assert bench.provider.confirm(intent, secret).status_code == 200
        unpaid, never = merchant.order("c-unpaid"), merchant.order("c-never")
        unpaid_intent, unpaid_secret = merchant.pay(unpaid["id"])
        merchant.wait_status("c-lost", "paid")  # the webhook was dropped: the reconciler asked Stripe
        assert [d["outcome"] for d in bench.provider.deliveries(intent)] == ["dropped"]
        # Past the payment window: the open PaymentIntent is canceled at Stripe, then the order.
        merchant.wait_status("c-unpaid", "canceled")
        merchant.wait_status("c-never", "canceled")
        assert bench.provider.confirm(unpaid_intent, unpaid_secret).status_code == 400
        assert bench.provider.records(unpaid["id"]) == [] and bench.provider.records(never["id"]) == []


@pytest.mark.parametrize("variant", ["correct", "retry-double-payment"])
def test_a_resend_after_a_lost_answer_pays_twice_only_in_retry_double_payment(
        bench: Stage, provider_defaults: None, variant: str) -> None:
    with bench.merchant(variant) as merchant:
        bench.provider.behave(settlement_stalled=True)  # the first charge is still processing when the resend comes
        order = merchant.order("c-twice")
        intent, secret = merchant.pay(order["id"])
        assert bench.provider.confirm(intent, secret).status_code == 200
        # The client lost that answer and runs the whole operation again, as the load generator does.
        assert merchant.order("c-twice")["id"] == order["id"]
        resent = merchant.api("POST", f"/api/orders/{order['id']}/create-payment/")
        if variant == "correct":
            assert resent.status_code == 409, resent.text  # its payment is already submitted
        else:
            assert resent.status_code == 200, resent.text
            second, second_secret = resent.json()["payment_intent_id"], resent.json()["client_secret"]
            assert second != intent
            assert bench.provider.confirm(second, second_secret).status_code == 200
        bench.provider.behave(settlement_stalled=False)
        merchant.wait_status("c-twice", "paid")
        charges = 1 if variant == "correct" else 2
        wait_for(lambda: [r["status"] for r in bench.provider.records(order["id"])] == ["succeeded"] * charges,
                 10, f"{charges} charge(s) of order {order['id']} succeeded")


@pytest.mark.parametrize("variant", ["correct", "late-failure-overwrites"])
def test_a_late_payment_failed_unpays_an_order_only_in_late_failure_overwrites(bench: Stage, variant: str) -> None:
    with bench.merchant(variant) as merchant:
        order = merchant.order("c-late")
        intent, secret = merchant.pay(order["id"])
        assert bench.provider.confirm(intent, secret).status_code == 200
        merchant.wait_status("c-late", "paid")
        late = merchant.webhook(failed_event(merchant, order["id"], intent, "evt_late_failure"))
        assert late.status_code == 200, late.text
        assert merchant.status("c-late") == ("paid" if variant == "correct" else "failed")


def _pay_while_updates_fail(bench: Stage, merchant: Merchant, client_ref: str) -> tuple[str, str]:
    """Pay ``client_ref`` while the database refuses every update of it (``test_fault``); its ids."""
    order = merchant.order(client_ref)
    merchant.sql("INSERT INTO test_fault VALUES (%s)", (order["id"],))
    intent, secret = merchant.pay(order["id"])
    assert bench.provider.confirm(intent, secret).status_code == 200
    return order["id"], intent


@pytest.mark.parametrize("variant", ["correct", "event-marked-early"])
def test_a_database_error_in_the_webhook_is_redelivered_and_lost_only_in_event_marked_early(
        bench: Stage, provider_defaults: None, variant: str) -> None:
    with bench.merchant(variant) as merchant:
        order_id, intent = _pay_while_updates_fail(bench, merchant, "c-dberror")
        wait_for(lambda: any(d["http_status"] == 500 for d in bench.provider.deliveries(intent)), 10,
                 "the webhook answered 500")
        merchant.sql("DELETE FROM test_fault")
        wait_for(lambda: bench.provider.deliveries(intent)[-1]["outcome"] == "delivered", 10,
                 "a redelivery accepted")
        if variant == "correct":
            merchant.wait_status("c-dberror", "paid")
            return
        # Accepted as a duplicate, so never applied. A canary whose webhook is lost proves the reconciler
        # ran meanwhile: it rescues orders it never heard of, not one whose event it marked.
        bench.provider.behave(callback_drop_rate=1.0)
        canary = merchant.order("c-canary")
        canary_intent, canary_secret = merchant.pay(canary["id"])
        assert bench.provider.confirm(canary_intent, canary_secret).status_code == 200
        merchant.wait_status("c-canary", "paid")
        assert merchant.status("c-dberror") == "pending"
        assert [r["status"] for r in bench.provider.records(order_id)] == ["succeeded"]


def test_webhook_error_200_acknowledges_what_it_failed_to_record(bench: Stage) -> None:
    with bench.merchant("webhook-error-200") as merchant:
        order_id, intent = _pay_while_updates_fail(bench, merchant, "c-swallowed")
        wait_for(lambda: [d["outcome"] for d in bench.provider.deliveries(intent)] == ["delivered"], 10,
                 "the webhook acknowledged")
        assert bench.provider.deliveries(intent)[0]["http_status"] == 200
        merchant.sql("DELETE FROM test_fault")
        assert merchant.status("c-swallowed") == "pending"
        assert merchant.sql("SELECT count(*) FROM processed_event WHERE order_id = %s", (order_id,)) == [(0,)]
        assert [r["status"] for r in bench.provider.records(order_id)] == ["succeeded"]
