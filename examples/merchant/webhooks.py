"""``POST /webhooks/stripe``: signed events, applied once.

The signature is checked by the SDK (``stripe.Webhook.construct_event``, Stripe's five-minute
tolerance); a bad one is a 400. For a payment, the PaymentIntent is retrieved with its charge
expanded, whose id the order keeps for receipts and refunds. Then the event id goes into
``processed_event`` in the same transaction as the order update it stands for, so either both
are kept or neither is; anything that failed on the way answers 500, and Stripe delivers the
event again.
"""

from __future__ import annotations

import logging

import psycopg
import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from examples.merchant import payments
from examples.merchant.db import Conn, Unavailable
from examples.merchant.payments import Intent, ProviderError
from examples.merchant.transitions import Outcome, apply
from examples.merchant.web import context, error

log = logging.getLogger("merchant.webhooks")

HANDLED = {"payment_intent.succeeded": Outcome.PAID, "payment_intent.payment_failed": Outcome.FAILED,
           "payment_intent.canceled": Outcome.CANCELED}

_MARK = ("INSERT INTO processed_event (event_id, type, order_id) VALUES (%s, %s, %s) "
         "ON CONFLICT (event_id) DO NOTHING RETURNING event_id")


async def stripe_webhook(request: Request) -> Response:
    ctx = context(request)
    flags = ctx.flags
    payload = await request.body()
    try:
        event = stripe.Webhook.construct_event(payload, request.headers.get("stripe-signature", ""),
                                               ctx.settings.stripe_webhook_secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        return error(400, "bad_signature", f"the event is not signed by Stripe: {exc}")
    event_type, event_id = str(event["type"]), str(event["id"])
    outcome = HANDLED.get(event_type)
    if outcome is None:
        return JSONResponse({"received": True, "ignored": event_type})
    intent = Intent.of(event["data"]["object"])
    order_id = intent.order_id
    if order_id is None:  # a PaymentIntent some other integration of the account made
        return JSONResponse({"received": True, "ignored": "no order_id"})
    charge_id: str | None = None

    async def mark(conn: Conn) -> bool:
        return await (await conn.execute(_MARK, (event_id, event_type, order_id))).fetchone() is not None

    async def update(conn: Conn) -> None:
        await apply(conn, order_id, outcome, charge_id=charge_id, failure_keeps_paid=flags.failure_keeps_paid)

    async def mark_and_update(conn: Conn) -> bool:
        if not await mark(conn):
            return False
        await update(conn)
        return True

    async def receipt() -> str | None:
        if outcome is not Outcome.PAID:
            return None
        return (await payments.retrieve_intent(intent.id, with_charge=True)).charge_id

    try:
        if flags.mark_event_with_update:
            charge_id = await receipt()
            fresh = await ctx.db.transaction(mark_and_update)
        else:
            # BUG (event-marked-early): the mark is committed first, on its own; if the work after it fails
            # (Stripe or the database), the redelivery finds the event marked and skips it.
            fresh = await ctx.db.run(mark)
            if fresh:
                charge_id = await receipt()
                await ctx.db.transaction(update)
    except ProviderError as exc:
        log.warning("event %s not applied, Stripe unavailable (it will deliver the event again): %s", event_id, exc)
        return error(500, "payment_provider_error", "the payment could not be looked up, deliver the event again")
    except (Unavailable, psycopg.Error) as exc:
        if flags.webhook_db_error_fails:
            log.warning("event %s not applied (Stripe will deliver it again): %s", event_id, exc)
            return error(500, "database_unavailable", "the event could not be recorded, deliver it again")
        # BUG (webhook-error-200): the error is logged and the event acknowledged, so it is never delivered again.
        log.error("event %s failed: %s", event_id, exc)
        return JSONResponse({"received": True})
    return JSONResponse({"received": True, "duplicate": not fresh})
