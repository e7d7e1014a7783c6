"""Orders: the cart priced from the ``product`` table, the client's reference as the idempotency key,
and the PaymentIntent that pays for it.

``create_payment`` is where a careful service and a careless one part: the careful one records the
PaymentIntent on the order and, when asked again, hands back the one still open (the payer may be
retrying after a lost answer) instead of making a second that could be charged too; its Stripe
idempotency key is the order's, so even two requests racing make one PaymentIntent.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from examples.merchant import payments
from examples.merchant.accounts import authenticate
from examples.merchant.db import Conn
from examples.merchant.payments import IntentStatus, ProviderError
from examples.merchant.web import ClientError, context, error, json_object, text_field

log = logging.getLogger("merchant.orders")

_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_MAX_QUANTITY = 10**9
_ORDER_COLUMNS = "id, status, amount_cents, currency, client_ref, payment_intent_id"


def _order_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "status": row["status"], "amount": row["amount_cents"], "currency": row["currency"],
            "client_ref": row["client_ref"]}


def _cart(body: dict[str, Any]) -> dict[str, int]:
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise ClientError(422, "invalid_field", f"items: expected a non-empty list of {{sku, quantity}}, got {items!r}")
    cart: dict[str, int] = {}
    for n, item in enumerate(items):
        sku = item.get("sku") if isinstance(item, dict) else None
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if not isinstance(sku, str) or not sku:
            raise ClientError(422, "invalid_field", f"items[{n}].sku: expected a product sku, got {sku!r}")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 < quantity <= _MAX_QUANTITY:
            raise ClientError(422, "invalid_field",
                              f"items[{n}].quantity: expected a whole number 1..{_MAX_QUANTITY}, got {quantity!r}")
        cart[sku] = cart.get(sku, 0) + quantity
    return cart


async def create_order(request: Request) -> Response:
    account_id = await authenticate(request)
    body = await json_object(request)
    client_ref, cart = text_field(body, "client_ref"), _cart(body)
    currency = body.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise ClientError(422, "invalid_field", f"currency: expected a three-letter ISO code, got {currency!r}")
    currency = currency.lower()

    async def create(conn: Conn) -> tuple[bool, dict[str, Any]]:
        prices = {row["sku"]: int(row["price_cents"]) for row in await (await conn.execute(
            "SELECT sku, price_cents FROM product WHERE sku = ANY(%s)", (list(cart),))).fetchall()}
        unknown = sorted(set(cart) - set(prices))
        if unknown:
            raise ClientError(422, "unknown_product", f"no such product: {', '.join(unknown)}")
        amount = sum(prices[sku] * quantity for sku, quantity in cart.items())
        row = await (await conn.execute(
            f"INSERT INTO shop_order (id, account_id, client_ref, amount_cents, currency) VALUES (%s, %s, %s, %s, %s) "
            f"ON CONFLICT (account_id, client_ref) DO NOTHING RETURNING {_ORDER_COLUMNS}",
            ("ord_" + secrets.token_hex(12), account_id, client_ref, amount, currency))).fetchone()
        if row is not None:
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO order_line (order_id, sku, quantity, unit_price_cents) VALUES (%s, %s, %s, %s)",
                    [(row["id"], sku, quantity, prices[sku]) for sku, quantity in cart.items()])
            return True, row
        existing = await (await conn.execute(
            f"SELECT {_ORDER_COLUMNS} FROM shop_order WHERE account_id = %s AND client_ref = %s",
            (account_id, client_ref))).fetchone()
        assert existing is not None  # the conflict was on this very row, and orders are never deleted
        if (existing["amount_cents"], existing["currency"]) != (amount, currency):
            raise ClientError(422, "client_ref_reused", f"client_ref {client_ref!r} names an order of "
                              f"{existing['amount_cents']} {existing['currency']}, not {amount} {currency}")
        return False, existing

    created, row = await context(request).db.transaction(create)
    return JSONResponse(_order_json(row), status_code=201 if created else 200)


async def order_by_ref(request: Request) -> Response:
    account_id = await authenticate(request)
    row = await context(request).db.fetch_one(
        f"SELECT {_ORDER_COLUMNS} FROM shop_order WHERE account_id = %s AND client_ref = %s",
        (account_id, request.path_params["client_ref"]))
    if row is None:
        return error(404, "not_found", "no such order")
    return JSONResponse(_order_json(row))


def _not_payable(status: str) -> Response:
    if status == "paid":
        return error(409, "already_paid", "the order is paid")
    return error(422, "order_closed", f"the order is {status}: it can no longer be paid")


async def create_payment(request: Request) -> Response:
    account_id = await authenticate(request)
    ctx = context(request)
    order_id = request.path_params["order_id"]
    order = await ctx.db.fetch_one(f"SELECT {_ORDER_COLUMNS} FROM shop_order WHERE id = %s AND account_id = %s",
                                   (order_id, account_id))
    if order is None:
        return error(404, "not_found", "no such order")
    if order["status"] != "pending":
        return _not_payable(order["status"])
    if ctx.flags.reuse_open_intent and order["payment_intent_id"] is not None:
        intent = await payments.retrieve_intent(order["payment_intent_id"])
        if intent.open:
            return JSONResponse({"payment_intent_id": intent.id, "client_secret": intent.client_secret})
        if intent.status in (IntentStatus.PROCESSING, IntentStatus.SUCCEEDED):
            return error(409, "payment_submitted", f"the payment is {intent.status.value}")
        return _not_payable("failed" if intent.attempt_failed else "canceled")
    if ctx.flags.reuse_open_intent:
        key: str | None = f"order-{order_id}-payment"  # one PaymentIntent per order, even for racing requests
    else:
        key = str(uuid.uuid4())  # BUG (retry-double-payment): every attempt is a new payment
    intent = await payments.create_intent(int(order["amount_cents"]), order["currency"], order_id, key)

    async def record(conn: Conn) -> dict[str, Any] | None:
        guard = "" if not ctx.flags.reuse_open_intent else " AND (payment_intent_id IS NULL OR payment_intent_id = %s)"
        params: tuple[Any, ...] = (intent.id, order_id) + ((intent.id,) if guard else ())
        return await (await conn.execute(
            "UPDATE shop_order SET payment_intent_id = %s, updated_at = now() WHERE id = %s AND status = 'pending'"
            + guard + " RETURNING status", params)).fetchone()
    if await ctx.db.run(record) is None:
        # The order was closed (or paid) while the PaymentIntent was being made: nobody may pay it now.
        try:
            await payments.cancel_intent(intent.id)
        except ProviderError as exc:
            log.warning("could not cancel PaymentIntent %s of closed order %s: %s", intent.id, order_id, exc)
        current = await ctx.db.fetch_one("SELECT status FROM shop_order WHERE id = %s", (order_id,))
        return _not_payable(current["status"] if current else "canceled")
    return JSONResponse({"payment_intent_id": intent.id, "client_secret": intent.client_secret})
