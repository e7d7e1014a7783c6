"""The Stripe dialect's own tables beside the shared ledger, in the same SQLite file and transaction.

``stripe_objects`` holds what Stripe has and the core has not (metadata, client secret, payment
method, cancellation) for PaymentIntents and Payouts; ``stripe_events`` holds every Event for
``GET /v1/events``. Idempotency entries go in the ledger's own ``idempotency`` table under the
scope ``stripe``: at Stripe a key is the account's, whichever endpoint it was first used on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from mock_provider.ledger import Ledger
from mock_provider.provider import InFlight, KeyReused

SCHEMA = """
CREATE TABLE IF NOT EXISTS stripe_objects (
    id TEXT PRIMARY KEY,
    object TEXT NOT NULL,                -- 'payment_intent' | 'payout'
    seq INTEGER NOT NULL,                -- the ledger record's seq, reserved when the object is made
    merchant_id TEXT NOT NULL,           -- metadata[order_id] or metadata[payout_id], '' when absent
    body TEXT NOT NULL                   -- the stored fields as JSON
);
CREATE INDEX IF NOT EXISTS stripe_objects_merchant ON stripe_objects(object, merchant_id);
CREATE INDEX IF NOT EXISTS stripe_objects_seq ON stripe_objects(object, seq);
CREATE TABLE IF NOT EXISTS stripe_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    body TEXT NOT NULL
);
"""

_SCOPE = "stripe"


class StripeStore:
    """Reads and uncommitted writes of the dialect's tables; commits ride the ledger's group commit."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        ledger.db.executescript(SCHEMA)
        # A PaymentIntent reserves its seq before it has a ledger record (that comes at confirmation):
        # count those reservations too, so that no id is reused after a restart.
        row = ledger.one("SELECT COALESCE(MAX(seq), 0) AS seq FROM stripe_objects")
        ledger.seq = max(ledger.seq, int(row["seq"]) if row is not None else 0)
        self._in_flight: set[str] = set()

    # ---- idempotency --------------------------------------------------------------------------
    def begin(self, key: str | None, request_hash: str) -> tuple[int, dict[str, Any]] | None:
        """The stored (status, body) of ``key``, or None after marking it in flight."""
        if key is None:
            return None
        if key in self._in_flight:
            raise InFlight
        stored = self.ledger.one("SELECT request_hash, status_code, body FROM idempotency WHERE scope=? AND key=?",
                                 (_SCOPE, key))
        if stored is not None:
            if stored["request_hash"] != request_hash:
                raise KeyReused
            return int(stored["status_code"]), orjson.loads(stored["body"])
        self._in_flight.add(key)
        return None

    def remember(self, key: str | None, request_hash: str, status: int, body: dict[str, Any]) -> None:
        if key is not None:
            self.ledger.execute("INSERT INTO idempotency (scope, key, request_hash, status_code, body) "
                                "VALUES (?,?,?,?,?)", (_SCOPE, key, request_hash, status, orjson.dumps(body).decode()))

    def end(self, key: str | None) -> None:
        if key is not None:
            self._in_flight.discard(key)

    # ---- objects ------------------------------------------------------------------------------
    def put(self, obj: str, fields: dict[str, Any], seq: int, merchant_id: str) -> None:
        self.ledger.execute("INSERT OR REPLACE INTO stripe_objects (id, object, seq, merchant_id, body) "
                            "VALUES (?,?,?,?,?)", (fields["id"], obj, seq, merchant_id, orjson.dumps(fields).decode()))

    def get(self, obj: str, object_id: str) -> tuple[dict[str, Any], int] | None:
        row = self.ledger.one("SELECT body, seq FROM stripe_objects WHERE id=? AND object=?", (object_id, obj))
        return None if row is None else (orjson.loads(row["body"]), int(row["seq"]))

    def record(self, seq: int) -> dict[str, Any] | None:
        row = self.ledger.one("SELECT * FROM records WHERE seq=?", (seq,))
        return None if row is None else dict(row)

    def page(self, obj: str, limit: int, before_seq: int | None,
             where: str = "", params: Iterable[Any] = ()) -> list[tuple[dict[str, Any], int]]:
        """Newest first, ``limit`` of them, older than ``before_seq`` when given."""
        sql = "SELECT body, seq FROM stripe_objects WHERE object=?" + where
        args: list[Any] = [obj, *params]
        if before_seq is not None:
            sql += " AND seq<?"
            args.append(before_seq)
        rows = self.ledger.all(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit))
        return [(orjson.loads(r["body"]), int(r["seq"])) for r in rows]

    # ---- events -------------------------------------------------------------------------------
    def add_event(self, body: dict[str, Any]) -> None:
        self.ledger.execute("INSERT OR IGNORE INTO stripe_events (id, type, body) VALUES (?,?,?)",
                            (body["id"], body["type"], orjson.dumps(body).decode()))

    def event(self, event_id: str) -> dict[str, Any] | None:
        row = self.ledger.one("SELECT body FROM stripe_events WHERE id=?", (event_id,))
        return None if row is None else dict(orjson.loads(row["body"]))

    def events(self, limit: int, after_id: str | None, event_type: str | None) -> tuple[list[dict[str, Any]], bool]:
        sql, args = "SELECT body FROM stripe_events WHERE 1=1", []
        if after_id is not None:
            sql += " AND seq < COALESCE((SELECT seq FROM stripe_events WHERE id=?), -1)"
            args.append(after_id)
        if event_type is not None:
            sql += " AND type=?"
            args.append(event_type)
        rows = self.ledger.all(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit + 1))
        return [orjson.loads(r["body"]) for r in rows[:limit]], len(rows) > limit

    def wipe(self) -> None:
        for table in ("stripe_objects", "stripe_events"):
            self.ledger.execute(f"DELETE FROM {table}")
