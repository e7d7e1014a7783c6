"""``late_failure_events``: Stripe's late or out-of-order events, for targets whose provider speaks Stripe.

Stripe documents that events are not delivered in order: a ``payment_intent.payment_failed`` of
an earlier, declined attempt can arrive after the ``payment_intent.succeeded`` of the attempt
that paid. While active, every ``every`` seconds this fault reads the provider's recent
``payment_intent.succeeded`` events (``ProviderControl.stripe_events``) and, for a
seeded ``rate`` of those it has not seen, delivers that earlier attempt's failure event: the
same PaymentIntent as the provider's own event carries it, in the state a declined attempt
leaves (``requires_payment_method``, ``last_payment_error`` card_declined), a fresh event id and
a ``created`` one second before the success, signed with the provider's real webhook secret in
Stripe's scheme, POSTed to the target's webhook path through the callbacks link (so every fault
on that link applies to it). The provider's ledger is untouched: the payment succeeded. A
correct SUT keeps the order paid; one that lets a late failure overwrite it diverges from the
ledger. Harness-side because the provider's delivery core sends one event per decision;
journaled in ``late_events.jsonl``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from harness._exceptions import OrderquakeError
from harness._units import parse_duration, parse_fraction
from harness.faults.base import FaultContext, Param, RoundsFault

LATE_JOURNAL = "late_events.jsonl"


def stripe_signature(secret: str, payload: bytes, timestamp: int) -> str:
    """``Stripe-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def failure_of(event: dict[str, Any]) -> dict[str, Any]:
    """The late ``payment_failed`` event of the declined attempt before ``event``'s success."""
    intent = dict(event["data"]["object"])
    intent.update(status="requires_payment_method", amount_received=0, latest_charge=None,
                  last_payment_error={"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                                      "message": "Your card was declined.",
                                      "payment_method": {"id": intent.get("payment_method"),
                                                         "object": "payment_method"}})
    return {**event, "id": f"{event['id']}_late_failure", "type": "payment_intent.payment_failed",
            "created": int(event["created"]) - 1, "data": {"object": intent}}


class LateFailureEvents(RoundsFault):
    kind = "late_failure_events"
    summary = ("deliver a declined attempt's payment_intent.payment_failed after the success (Stripe dialect): "
               "events out of order")
    dialects = ("stripe",)
    params = (Param("rate", "fraction of succeeded PaymentIntents that also get the late failure",
                    lambda v: parse_fraction(v, name="rate"), default=0.3),
              Param("every", "seconds between rounds (duration)", lambda v: parse_duration(v, name="every"),
                    default=1.0))

    def __init__(self, name: str, params: Mapping[str, Any]) -> None:
        super().__init__(name, params)
        self._seen: set[str] = set()  # succeeded events already drawn for, across rounds

    def round(self, ctx: FaultContext, http: httpx.Client) -> int:
        """One round; returns how many late failures were sent (a test can run exactly one)."""
        try:
            events = ctx.stage.provider.stripe_events("payment_intent.succeeded")
        except (OrderquakeError, ValueError, KeyError, TypeError):
            return 0  # the provider may be down under another fault: nothing this round
        url = ctx.stage.links["callbacks"].url + ctx.target.provider.webhook_path
        sent = 0
        for event in reversed(events):  # oldest first
            if event["id"] in self._seen:
                continue
            self._seen.add(event["id"])
            if ctx.rng.random() >= self.values["rate"]:
                continue
            late = failure_of(event)
            payload = json.dumps(late, separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                       "Stripe-Signature": stripe_signature(ctx.stage.webhook_secret, payload, int(time.time()))}
            status: int | None
            try:
                status = http.post(url, content=payload, headers=headers).status_code
            except httpx.HTTPError:
                status = None
            ctx.append_jsonl(LATE_JOURNAL, {"event": late["id"], "payment_intent": late["data"]["object"]["id"],
                                            "sent_at": round(time.time(), 3), "http_status": status})
            sent += 1
        return sent
