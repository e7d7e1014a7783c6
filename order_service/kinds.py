"""Orders and payouts share one flow; a ``Kind`` names what differs (table, id field, provider path)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str            # "order" | "payout"
    table: str
    id_field: str        # the client-chosen id: "order_id" | "payout_id"
    provider_path: str   # "/v1/orders" | "/v1/payouts"
    merchant_field: str  # the provider's name for our id
    success: str         # provider and SUT status of a success
    refusal: str         # ... of a definitive refusal


ORDER = Kind("order", "orders", "order_id", "/v1/orders", "merchant_order_id", "succeeded", "declined")
PAYOUT = Kind("payout", "payouts", "payout_id", "/v1/payouts", "merchant_payout_id", "paid", "rejected")
KINDS = {k.name: k for k in (ORDER, PAYOUT)}
