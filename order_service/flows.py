"""The order and payout flows: create, read, apply a callback, reconcile.

The correct order of things: the row is committed as ``pending`` before the provider is called;
the provider call carries ``Idempotency-Key = <our id>``; only a definitive refusal fails it; a
callback moves a ``pending`` row to its terminal state once, whatever order callbacks come in;
the reconciler asks the provider about rows pending too long and adopts what it finds,
resubmitting with the same key where the provider has nothing. Each variant's switch is marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from mock_provider.signing import verify  # the provider's signature scheme, as its SDK would ship it
from order_service.config import Settings
from order_service.db import Conn, Database, Unavailable
from order_service.kinds import KINDS, Kind
from order_service.logs import fields
from order_service.metrics import ACTIONS, BACKGROUND_WRITES_FAILED, CALLBACKS_SEEN, PROVIDER_CALLS
from order_service.provider_client import ProviderClient, Result
from order_service.variants import Flags

log = logging.getLogger("order_service")


class Conflict(Exception):
    """The id exists with a different amount, currency or account."""


def _apply_sql(kind: Kind) -> bytes:
    """Apply a callback in one statement: lock the row, check the claim, remember the event, settle.

    Nothing is remembered or changed unless the row exists and matches (so a callback that came
    too early can be delivered again); with ``verify`` off (the no-signature-check bug) the
    claim is neither checked nor remembered. The counts tell the caller which case it was.
    """
    table, key = kind.table, kind.id_field
    return f"""
        WITH cur AS (SELECT amount_minor, currency, provider_id FROM {table} WHERE {key} = %(id)s FOR UPDATE),
        ok AS (SELECT 1 FROM cur WHERE NOT %(verify)s OR (amount_minor = %(amount)s AND currency = %(currency)s
                                                         AND (provider_id IS NULL OR provider_id = %(pid)s))),
        ev AS (INSERT INTO seen_events (event_id) SELECT %(event)s FROM ok WHERE %(verify)s
               ON CONFLICT DO NOTHING RETURNING 1),
        upd AS (UPDATE {table} SET status = %(status)s, provider_id = COALESCE(provider_id, %(pid)s),
                       updated_at = now()
                WHERE {key} = %(id)s AND status = 'pending' AND EXISTS (SELECT 1 FROM ok)
                  AND (NOT %(verify)s OR EXISTS (SELECT 1 FROM ev)) RETURNING 1)
        SELECT (SELECT count(*) FROM cur) AS known, (SELECT count(*) FROM ok) AS matches,
               (SELECT count(*) FROM ev) AS fresh, (SELECT count(*) FROM upd) AS updated""".encode()


class Rejected(Exception):
    """A callback that must not change anything: unsigned, forged, stale, malformed, unknown or mismatched.

    A replayed event is not rejected: it is acknowledged (so the provider stops retrying) and ignored.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class Service:
    settings: Settings
    flags: Flags
    db: Database
    provider: ProviderClient

    def __post_init__(self) -> None:
        self._background: set[asyncio.Task[Any]] = set()

    # ---- create ------------------------------------------------------------------------------
    async def create(self, kind: Kind, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Return (201 or 200, body). Raises Conflict, or Unavailable when the row cannot be made durable."""
        if not self.flags.commit_before_ack:
            # BUG (ack-before-commit): the client hears 201 before the row exists anywhere durable.
            self._spawn(self._insert_then_submit(kind, request))
            return 201, {kind.id_field: request[kind.id_field], "status": "pending"}
        created, row = await self._insert(kind, request)
        if not created:
            return 200, {kind.id_field: row[kind.id_field], "status": row["status"]}
        status = await self._submit(kind, request)
        return 201, {kind.id_field: request[kind.id_field], "status": status}

    async def _insert_then_submit(self, kind: Kind, request: dict[str, Any]) -> None:
        try:
            created, _ = await self._insert(kind, request)
        except (Unavailable, Conflict) as exc:
            BACKGROUND_WRITES_FAILED.labels(kind=kind.name).inc()
            log.warning("background_insert_failed", extra=fields(kind=kind.name, id=request[kind.id_field],
                                                                  error=str(exc)))
            return
        if created:
            await self._submit(kind, request)

    async def _insert(self, kind: Kind, request: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        row = await self.db.one(
            f"INSERT INTO {kind.table} ({kind.id_field}, account_id, amount_minor, currency) "
            f"VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING *".encode(),
            (request[kind.id_field], request["account_id"], request["amount_minor"], request["currency"]))
        if row is not None:
            return True, row
        existing = await self.db.one(f"SELECT * FROM {kind.table} WHERE {kind.id_field} = %s".encode(),
                                     (request[kind.id_field],))
        if existing is None:
            raise Unavailable(f"{kind.id_field} {request[kind.id_field]} conflicted but cannot be read back")
        if (existing["amount_minor"], existing["currency"], existing["account_id"]) != (
                request["amount_minor"], request["currency"], request["account_id"]):
            raise Conflict(f"{kind.id_field} {request[kind.id_field]} exists with a different amount, currency "
                           "or account")
        return False, existing

    def provider_body(self, kind: Kind, row: dict[str, Any]) -> dict[str, Any]:
        body = {kind.merchant_field: row[kind.id_field], "amount_minor": row["amount_minor"],
                "currency": row["currency"], "callback_url": self.settings.callback_url}
        if kind.name == "payout":
            body["destination"] = f"acct_{row['account_id']}"
        return body

    def key(self, kind: Kind, row: dict[str, Any]) -> str | None:
        # BUG (no-idempotency): without the key every retry is a new charge at the provider.
        return str(row[kind.id_field]) if self.flags.idempotency_key else None

    async def _submit(self, kind: Kind, row: dict[str, Any]) -> str:
        """Call the provider and record what is certain; return the status to answer with."""
        outcome = await self.provider.submit(kind, self.provider_body(kind, row), self.key(kind, row))
        PROVIDER_CALLS.labels(kind=kind.name, result=outcome.result.value).inc()
        if outcome.result is Result.ACCEPTED and outcome.record is not None:
            return await self._adopt(kind, row[kind.id_field], outcome.record)
        if outcome.result is Result.REFUSED:
            return await self._set_terminal(kind, row[kind.id_field], "failed", outcome.error)
        if not self.flags.unknown_stays_pending:
            # BUG (fail-on-timeout): "no answer" is taken for "no", though the provider may have charged.
            return await self._set_terminal(kind, row[kind.id_field], "failed", outcome.error)
        await self._note(kind, row[kind.id_field], outcome.error)
        return "pending"

    async def _adopt(self, kind: Kind, record_id: str, record: dict[str, Any]) -> str:
        """Take the provider's view: its id, and its status when terminal."""
        provider_status = record.get("status")
        new_status = provider_status if provider_status in (kind.success, kind.refusal) else None

        try:
            row = await self.db.one(
                f"UPDATE {kind.table} SET provider_id = COALESCE(provider_id, %s), updated_at = now(), "
                f"status = CASE WHEN status = 'pending' AND %s::text IS NOT NULL THEN %s ELSE status END "
                f"WHERE {kind.id_field} = %s RETURNING status".encode(),
                (record.get("id"), new_status, new_status, record_id))
        except Unavailable:
            return "pending"  # the row is durable as pending; the reconciler will catch up
        return str(row["status"]) if row else "pending"

    async def _set_terminal(self, kind: Kind, record_id: str, status: str, error: str | None) -> str:
        try:
            row = await self.db.one(
                f"UPDATE {kind.table} SET status = %s, last_error = %s, updated_at = now() "
                f"WHERE {kind.id_field} = %s AND status = 'pending' RETURNING status".encode(),
                (status, error, record_id))
        except Unavailable:
            return "pending"
        return str(row["status"]) if row else "pending"

    async def _note(self, kind: Kind, record_id: str, error: str | None) -> None:
        with contextlib.suppress(Unavailable):
            await self.db.one(f"UPDATE {kind.table} SET last_error = %s WHERE {kind.id_field} = %s".encode(),
                              (error, record_id))

    # ---- read --------------------------------------------------------------------------------
    async def get(self, kind: Kind, record_id: str) -> dict[str, Any] | None:
        return await self.db.one(f"SELECT {kind.id_field}, status, amount_minor, currency FROM {kind.table} "
                                 f"WHERE {kind.id_field} = %s".encode(), (record_id,))

    # ---- callbacks ---------------------------------------------------------------------------
    async def apply_callback(self, raw: bytes, signature: str | None) -> str:
        """Verify and apply one provider callback; raise Rejected for anything that must not count."""
        # BUG (no-signature-check) when verify_callbacks is off: anyone can post a "success".
        if self.flags.verify_callbacks and (
                signature is None or not verify(self.settings.webhook_secret, raw, signature, now=time.time(),
                                                tolerance_s=self.settings.callback_tolerance_s)):
            CALLBACKS_SEEN.labels(outcome="bad_signature").inc()
            raise Rejected(401, "missing, invalid or stale Provider-Signature")
        try:
            event = orjson.loads(raw)
            event_id = str(event["event_id"])
            object_name, status = str(event["type"]).split(".", 1)
            kind = KINDS[object_name]
            record = event["data"][object_name]
            record_id = str(record[kind.merchant_field])
        except (ValueError, KeyError, TypeError):
            CALLBACKS_SEEN.labels(outcome="malformed").inc()
            raise Rejected(400, "malformed callback") from None
        if status not in (kind.success, kind.refusal):
            raise Rejected(400, f"unexpected event type {event['type']!r}")

        amount = record.get("amount_minor")
        claimed = {"id": record_id, "status": status, "event": event_id, "verify": self.flags.verify_callbacks,
                   "amount": amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
                   "currency": record.get("currency") if isinstance(record.get("currency"), str) else None,
                   "pid": record.get("id") if isinstance(record.get("id"), str) else None}
        found = await self.db.one(_apply_sql(kind), claimed)
        if found is None or not found["known"]:
            raise Rejected(404, f"unknown {kind.name} {record_id}")
        if not found["matches"]:
            raise Rejected(409, f"callback does not match {kind.name} {record_id} (amount, currency or provider id)")
        if self.flags.verify_callbacks and not found["fresh"]:
            outcome = "replay"
        else:
            outcome = "applied" if found["updated"] else "already_final"
        CALLBACKS_SEEN.labels(outcome=outcome).inc()
        return outcome

    # ---- reconciliation ----------------------------------------------------------------------
    async def reconcile_once(self) -> int:
        """Resolve rows pending past their deadline; return how many were looked at.

        Claiming a row stamps ``updated_at`` and counts an attempt in the same statement, a lease
        that other service processes (SKIP LOCKED) and later passes respect; the deadline doubles
        with each attempt up to 8x, so an order the provider keeps "processing", or a provider
        that is down, costs a few calls a minute rather than one every interval.
        """
        looked = 0
        semaphore = asyncio.Semaphore(32)
        for kind in KINDS.values():
            async def claim(conn: Conn, kind: Kind = kind) -> list[dict[str, Any]]:
                cursor = await conn.execute(
                    f"UPDATE {kind.table} SET updated_at = now(), attempts = attempts + 1 WHERE {kind.id_field} IN ("
                    f"SELECT {kind.id_field} FROM {kind.table} WHERE status = 'pending' AND updated_at < now() - "
                    f"make_interval(secs => %s * power(2, least(attempts, 3))) ORDER BY updated_at LIMIT 200 "
                    f"FOR UPDATE SKIP LOCKED) RETURNING *".encode(), (self.settings.pending_after_s,))
                return await cursor.fetchall()

            rows = await self.db.run(claim)
            looked += len(rows)
            if rows:
                log.info("reconciling", extra=fields(kind=kind.name, rows=len(rows)))

            async def one(row: dict[str, Any], kind: Kind = kind) -> None:
                async with semaphore:
                    await self._reconcile_row(kind, row)

            await asyncio.gather(*(one(row) for row in rows))
        return looked

    async def _reconcile_row(self, kind: Kind, row: dict[str, Any]) -> None:
        found = await self.provider.find(kind, row[kind.id_field])
        if found is None:
            ACTIONS.labels(kind=kind.name, action="provider_unreachable").inc()
            return
        terminal = [r for r in found if r.get("status") in (kind.success, kind.refusal)]
        if terminal:
            ACTIONS.labels(kind=kind.name, action="adopted").inc()
            await self._adopt(kind, row[kind.id_field], terminal[0])
        elif found:
            ACTIONS.labels(kind=kind.name, action="still_processing").inc()
            await self._adopt(kind, row[kind.id_field], found[0])
        else:
            # Absence is not failure: the first request may still be in flight. Resubmit, same key.
            ACTIONS.labels(kind=kind.name, action="resubmitted").inc()
            await self._submit(kind, row)

    async def reconciler(self) -> None:
        """Run until cancelled; survives database and provider outages by trying again later."""
        while True:
            try:
                await self.reconcile_once()
            except Unavailable as exc:
                ACTIONS.labels(kind="any", action="database_unavailable").inc()
                log.info("reconciler_waiting", extra=fields(error=str(exc)[:200]))
            except Exception:
                log.exception("reconciler step failed")
            await asyncio.sleep(self.settings.reconcile_interval_s)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def pending_count(self) -> int:
        row = await self.db.one(" + ".join(
            f"(SELECT count(*) FROM {kind.table} WHERE status = 'pending')" for kind in KINDS.values()
        ).join(("SELECT ", " AS n")).encode())
        return int(row["n"]) if row else 0
