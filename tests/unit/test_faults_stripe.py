"""The Stripe dialect's late events: the failure event built from a success, signed as Stripe signs."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from harness.faults import REGISTRY, fault_class
from harness.faults.stripe import failure_of, stripe_signature

SUCCESS = {"id": "evt_9_succeeded", "object": "event", "created": 1796126571, "type": "payment_intent.succeeded",
           "data": {"object": {"id": "pi_9", "object": "payment_intent", "status": "succeeded", "amount": 1250,
                               "amount_received": 1250, "payment_method": "pm_card_visa", "latest_charge": "ch_9",
                               "metadata": {"order_id": "ord_1"}}}}


def test_the_late_failure_is_the_same_payment_intent_as_a_declined_attempt_left_it() -> None:
    late = failure_of(SUCCESS)
    intent = late["data"]["object"]
    assert late["type"] == "payment_intent.payment_failed" and late["id"] != SUCCESS["id"]
    assert late["created"] < SUCCESS["created"]  # the earlier attempt's event, arriving late
    assert (intent["id"], intent["metadata"], intent["amount"]) == ("pi_9", {"order_id": "ord_1"}, 1250)
    assert intent["status"] == "requires_payment_method" and intent["last_payment_error"]["code"] == "card_declined"
    assert SUCCESS["data"]["object"]["status"] == "succeeded"  # the provider's own event is left as it was


def test_the_signature_is_stripe_s_scheme() -> None:
    header = stripe_signature("whsec_x", b'{"a":1}', 1700000000)
    expected = hmac.new(b"whsec_x", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    stripe = pytest.importorskip("stripe")
    event = stripe.Webhook.construct_event(b'{"id": "evt_1", "object": "event"}',
                                           stripe_signature("whsec_x", b'{"id": "evt_1", "object": "event"}',
                                                            int(__import__("time").time())), "whsec_x")
    assert event["id"] == "evt_1"


def test_each_fault_says_which_dialects_can_express_it() -> None:
    assert fault_class("late_failure_events").dialects == ("stripe",)
    assert fault_class("forged_callbacks").dialects == ("native",)
    assert all(set(cls.dialects) <= {"native", "stripe"} for cls in REGISTRY.values())
    assert fault_class("latency").dialects == ("native", "stripe")
