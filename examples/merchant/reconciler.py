"""The reconciler: every couple of seconds, ask Stripe about orders still pending, and close abandoned ones.

Webhooks can be lost, late or refused by a database that was down; Stripe's PaymentIntent is the
truth. An order pending for ``reconcile_after_s`` has its PaymentIntent retrieved and a decided
outcome applied. An order with no confirmed payment after ``payment_window_s`` is canceled, its
PaymentIntent canceled at Stripe first: once that succeeds nobody can pay it, so the shop
never cancels an order that is being charged (a payer confirming at that moment gets a refusal,
and the next round sees what won). Orders are claimed with ``FOR UPDATE SKIP LOCKED`` and stamped
``checked_at``, so several processes share the work and each order is asked about at most once a round.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from examples.merchant import payments
from examples.merchant.db import Conn, Unavailable
from examples.merchant.payments import ProviderError
from examples.merchant.transitions import Outcome, apply, outcome_of
from examples.merchant.variants import Reconcile
from examples.merchant.web import Context

log = logging.getLogger("merchant.reconciler")

_BATCH = 100
_CONCURRENCY = 8

_CLAIM = """
UPDATE shop_order SET checked_at = now()
WHERE id IN (
    SELECT id FROM shop_order o
    WHERE status = 'pending' AND created_at < now() - make_interval(secs => %(after)s)
      AND (checked_at IS NULL OR checked_at < now() - make_interval(secs => %(interval)s))
      AND (%(all)s OR NOT EXISTS (SELECT 1 FROM processed_event e WHERE e.order_id = o.id))
    ORDER BY checked_at NULLS FIRST, created_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED)
RETURNING id, payment_intent_id, created_at < now() - make_interval(secs => %(window)s) AS expired
"""


class Reconciler:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._slots = asyncio.Semaphore(_CONCURRENCY)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.round()
            except Unavailable as exc:
                log.warning("reconciliation skipped, database unavailable: %s", exc)
            except Exception:  # the loop must outlive any one bad round
                log.exception("reconciliation round failed")
            await asyncio.sleep(self.ctx.settings.reconcile_interval_s)

    async def round(self) -> int:
        """One pass over the pending orders due; the number of orders looked at."""
        settings, scope = self.ctx.settings, self.ctx.flags.reconcile
        after = settings.payment_window_s if scope is Reconcile.ABANDONED else settings.reconcile_after_s
        params = {"after": after, "interval": settings.reconcile_interval_s * 0.9,
                  "window": settings.payment_window_s, "batch": _BATCH,
                  # BUG (event-marked-early): orders that received an event are taken as handled.
                  "all": scope is not Reconcile.WITHOUT_EVENT}

        async def claim(conn: Conn) -> list[dict[str, Any]]:
            return await (await conn.execute(_CLAIM, params)).fetchall()
        rows = await self.ctx.db.transaction(claim)
        await asyncio.gather(*(self._settle(row) for row in rows))
        return len(rows)

    async def _settle(self, row: dict[str, Any]) -> None:
        async with self._slots:
            try:
                await self._settle_one(row["id"], row["payment_intent_id"], bool(row["expired"]))
            except (ProviderError, Unavailable) as exc:
                log.info("order %s left for the next round: %s", row["id"], exc)

    async def _settle_one(self, order_id: str, intent_id: str | None, expired: bool) -> None:
        db = self.ctx.db
        if intent_id is None:
            if expired:
                async def abandon(conn: Conn) -> None:
                    await conn.execute("UPDATE shop_order SET status = 'canceled', updated_at = now() "
                                       "WHERE id = %s AND status = 'pending' AND payment_intent_id IS NULL",
                                       (order_id,))
                await db.run(abandon)
            return
        intent = await payments.retrieve_intent(intent_id)
        if intent.open and expired:
            try:
                intent = await payments.cancel_intent(intent_id)
            except ProviderError as exc:
                if exc.code != "payment_intent_unexpected_state":
                    raise
                return  # the payer confirmed it just now: the next round sees how that ended
        outcome = outcome_of(intent)
        if self.ctx.flags.reconcile is Reconcile.ABANDONED and outcome is not Outcome.CANCELED:
            return  # BUG (webhook-error-200): a confirmed payment is left to a webhook that may never come
        if outcome is not None:
            async def settle(conn: Conn) -> None:
                await apply(conn, order_id, outcome, charge_id=intent.charge_id,
                            failure_keeps_paid=self.ctx.flags.failure_keeps_paid)
            await db.run(settle)
            if outcome is not Outcome.PAID:
                log.info("order %s %s by reconciliation (PaymentIntent %s)", order_id, outcome.value, intent_id)
