"""The service's own schema, and ``migrate``: idempotent, safe to run from several processes at once.

Amounts are integer cents, currencies lower case as Stripe writes them. ``shop_order.id`` is the
server's id (what Stripe's ``metadata[order_id]`` carries); ``client_ref`` is the client's, unique
per account, so a repeated create is answered with the order it already made.
"""

from __future__ import annotations

import psycopg

SCHEMA = """
CREATE TABLE IF NOT EXISTS account (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS auth_token (
    token_hash TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES account (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS product (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents > 0)
);
CREATE TABLE IF NOT EXISTS shop_order (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES account (id),
    client_ref TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'failed', 'canceled')),
    payment_intent_id TEXT,
    charge_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    checked_at TIMESTAMPTZ,
    UNIQUE (account_id, client_ref)
);
CREATE INDEX IF NOT EXISTS shop_order_pending ON shop_order (created_at) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS order_line (
    order_id TEXT NOT NULL REFERENCES shop_order (id),
    sku TEXT NOT NULL REFERENCES product (sku),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_cents BIGINT NOT NULL,
    PRIMARY KEY (order_id, sku)
);
CREATE TABLE IF NOT EXISTS processed_event (
    event_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    order_id TEXT,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS processed_event_order ON processed_event (order_id);
"""

_LOCK = 7301  # an advisory lock id of this service's own: concurrent migrations run one after the other


def migrate(conninfo: str = "", timeout_s: float = 10.0) -> None:
    """Create every table and index that is missing (libpq's ``PG*`` environment when ``conninfo`` is empty)."""
    with psycopg.connect(conninfo, connect_timeout=max(1, int(timeout_s))) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute(SCHEMA.encode())
