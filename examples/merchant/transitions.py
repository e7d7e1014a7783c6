"""How a PaymentIntent's outcome moves an order: the one place that writes an order's status.

A success wins over everything (the money was taken; a shop that shows such an order as failed
has lost track of it); a refusal or a cancellation only closes an order still pending. Every
update names the status it expects, so applying one twice, or two in either order, ends the same.
"""

from __future__ import annotations

from enum import StrEnum

from examples.merchant.db import Conn
from examples.merchant.payments import Intent, IntentStatus


class Outcome(StrEnum):
    """An order's terminal statuses; ``pending`` is the only other one."""

    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"


def outcome_of(intent: Intent) -> Outcome | None:
    """The order status a PaymentIntent has decided, or None while it has not."""
    if intent.status is IntentStatus.SUCCEEDED:
        return Outcome.PAID
    if intent.status is IntentStatus.CANCELED:
        return Outcome.CANCELED
    if intent.attempt_failed and intent.status is IntentStatus.REQUIRES_PAYMENT_METHOD:
        return Outcome.FAILED
    return None


_FROM = {Outcome.PAID: ("pending", "failed", "canceled"), Outcome.FAILED: ("pending",),
         Outcome.CANCELED: ("pending",)}


async def apply(conn: Conn, order_id: str, outcome: Outcome, *, charge_id: str | None = None,
                failure_keeps_paid: bool = True) -> bool:
    """Move ``order_id`` to ``outcome`` if its status allows; True if it changed. A payment keeps its ``charge_id``."""
    allowed = _FROM[outcome]
    if outcome is Outcome.FAILED and not failure_keeps_paid:
        allowed = ("pending", "paid")  # BUG (late-failure-overwrites): a late failure unpays a paid order
    row = await (await conn.execute(
        "UPDATE shop_order SET status = %s, charge_id = coalesce(%s, charge_id), updated_at = now() "
        "WHERE id = %s AND status = ANY(%s) RETURNING id",
        (outcome.value, charge_id, order_id, list(allowed)))).fetchone()
    return row is not None
