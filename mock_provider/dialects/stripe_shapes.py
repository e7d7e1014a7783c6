"""Stripe's object and error shapes, as pure functions of the mock's stored state.

A PaymentIntent is two things here: its Stripe-only fields (metadata, client secret, payment
method, whether it was canceled), stored by :mod:`stripe_store`, and, once confirmed, one record
of the shared ledger, whose status settlement decides. The wire status is derived from both:

===========================  ============================  ==========================
ledger record                stored state                  PaymentIntent ``status``
===========================  ============================  ==========================
none                         no payment method             ``requires_payment_method``
none                         payment method                ``requires_confirmation``
none                         canceled                      ``canceled``
``processing``               confirmed                     ``processing``
``succeeded``                confirmed                     ``succeeded``
``declined``                 confirmed                     ``requires_payment_method`` (``last_payment_error`` set)
===========================  ============================  ==========================

Payouts are ledger records from the start: ``processing`` is ``pending``, ``rejected`` is ``failed``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contract import Flow, Status

API_VERSION = "2024-06-20"


@dataclass(frozen=True)
class Decline:
    """How a test card refuses: Stripe's ``code`` and ``decline_code``."""

    code: str
    decline_code: str | None
    message: str


_GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.")

# Stripe's test PaymentMethods (docs "Testing"): these succeed, subject to the seeded decline rate ...
SUCCEEDING_CARDS = frozenset({"pm_card_visa", "pm_card_visa_debit", "pm_card_mastercard", "pm_card_amex",
                              "pm_card_discover", "pm_card_us", "pm_card_gb", "pm_card_de", "pm_card_fr"})
# ... and these are refused at confirmation, synchronously, with a 402 card_error.
DECLINING_CARDS: Mapping[str, Decline] = {
    "pm_card_chargeDeclined": _GENERIC,
    "pm_card_visa_chargeDeclined": _GENERIC,
    "pm_card_chargeDeclinedInsufficientFunds": Decline("card_declined", "insufficient_funds",
                                                       "Your card has insufficient funds."),
    "pm_card_chargeDeclinedFraudulent": Decline("card_declined", "fraudulent", "Your card was declined."),
    "pm_card_chargeDeclinedExpiredCard": Decline("expired_card", None, "Your card has expired."),
    "pm_card_chargeDeclinedIncorrectCvc": Decline("incorrect_cvc", None, "Your card's security code is incorrect."),
    "pm_card_chargeDeclinedProcessingError": Decline("processing_error", None,
                                                     "An error occurred while processing your card."),
}


def unix(iso_time: str | None) -> int | None:
    """Unix seconds of the ledger's ISO-8601 timestamps."""
    return None if iso_time is None else int(datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp())


def error_body(kind: str, message: str, *, code: str | None = None, param: str | None = None,
               **extra: Any) -> dict[str, Any]:
    """``{"error": {"type", "code", "message", "param", ...}}`` as Stripe answers every failure."""
    body: dict[str, Any] = {"type": kind, "message": message}
    if code is not None:
        body["code"] = code
    if param is not None:
        body["param"] = param
    return {"error": body | extra}


def card_error(decline: Decline, intent: dict[str, Any]) -> dict[str, Any]:
    """The 402 body of a refused confirmation; the PaymentIntent travels with it, as at Stripe."""
    extra: dict[str, Any] = {"payment_intent": intent, "charge": intent.get("latest_charge"),
                             "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}"}
    if decline.decline_code is not None:
        extra["decline_code"] = decline.decline_code
    return error_body("card_error", decline.message, code=decline.code, **extra)


def charge_id(intent_id: str) -> str:
    return "ch_" + intent_id.removeprefix("pi_")


def payment_intent(stored: Mapping[str, Any], record: Mapping[str, Any] | None) -> dict[str, Any]:
    """The PaymentIntent object of ``stored`` (its Stripe fields) and its ledger ``record``, if confirmed."""
    intent: dict[str, Any] = {
        "id": stored["id"], "object": "payment_intent", "amount": stored["amount"],
        "amount_received": 0, "currency": stored["currency"], "capture_method": "automatic",
        "client_secret": stored["client_secret"], "confirmation_method": "automatic",
        "created": stored["created"], "description": stored["description"], "last_payment_error": None,
        "latest_charge": None, "livemode": False, "metadata": stored["metadata"],
        "payment_method": stored["payment_method"], "payment_method_types": ["card"],
        "canceled_at": stored["canceled_at"], "cancellation_reason": stored["cancellation_reason"],
    }
    if stored["canceled_at"] is not None:
        intent["status"] = "canceled"
    elif record is None:
        intent["status"] = "requires_confirmation" if stored["payment_method"] else "requires_payment_method"
    else:
        intent["latest_charge"] = charge_id(stored["id"])
        status = record["status"]
        if status == Status.SUCCEEDED:
            intent["status"] = "succeeded"
            intent["amount_received"] = stored["amount"]
        elif status == Status.DECLINED:
            decline = DECLINING_CARDS.get(stored["payment_method"] or "", _GENERIC)
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = card_error(decline, {})["error"] | {
                "payment_method": {"id": stored["payment_method"], "object": "payment_method", "type": "card"}}
            intent["last_payment_error"].pop("payment_intent")
        else:
            intent["status"] = "processing"
    return intent


def charge(intent: Mapping[str, Any]) -> dict[str, Any]:
    """The one Charge of a confirmed PaymentIntent, for ``expand[]=latest_charge``."""
    refused = intent["last_payment_error"] is not None
    status = {"succeeded": "succeeded", "processing": "pending"}.get(intent["status"], "failed")
    return {"id": charge_id(intent["id"]), "object": "charge", "amount": intent["amount"],
            "amount_captured": intent["amount_received"], "captured": status == "succeeded",
            "currency": intent["currency"], "created": intent["created"], "livemode": False,
            "metadata": intent["metadata"], "paid": status == "succeeded", "payment_intent": intent["id"],
            "payment_method": intent["payment_method"], "status": status,
            "failure_code": intent["last_payment_error"]["code"] if refused else None,
            "failure_message": intent["last_payment_error"]["message"] if refused else None}


def payout(stored: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """The Payout object of a ledger record and its Stripe fields."""
    status = {Status.PROCESSING: "pending", Status.PAID: "paid", Status.REJECTED: "failed"}[Status(record["status"])]
    failed = status == "failed"
    return {"id": record["id"], "object": "payout", "amount": record["amount_minor"],
            "arrival_date": unix(record["settled_at"]) or stored["created"], "automatic": False,
            "created": stored["created"], "currency": stored["currency"], "description": stored["description"],
            "destination": record["destination"], "livemode": False, "metadata": stored["metadata"],
            "method": stored["method"], "status": status, "type": "bank_account",
            "failure_code": "could_not_process" if failed else None,
            "failure_message": "The bank could not process this payout." if failed else None}


# The ledger's status words (and a cancellation, which has no ledger record) to Stripe event types.
EVENT_TYPES: Mapping[tuple[Flow, str], str] = {
    (Flow.ORDER, Status.SUCCEEDED): "payment_intent.succeeded",
    (Flow.ORDER, Status.DECLINED): "payment_intent.payment_failed",
    (Flow.ORDER, "canceled"): "payment_intent.canceled",
    (Flow.PAYOUT, Status.PAID): "payout.paid",
    (Flow.PAYOUT, Status.REJECTED): "payout.failed",
}


def event(event_id: str, event_type: str, obj: dict[str, Any], created: float | None = None) -> dict[str, Any]:
    """A v1 Event (snapshot payload): what webhooks carry and ``GET /v1/events/{id}`` returns."""
    return {"id": event_id, "object": "event", "api_version": API_VERSION,
            "created": int(time.time() if created is None else created), "data": {"object": obj},
            "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "type": event_type}


def listing(url: str, data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def search_result(url: str, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "search_result", "data": data, "has_more": False, "next_page": None, "url": url}
