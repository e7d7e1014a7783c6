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
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from mock_provider.signing import verify  # the provider's signature scheme, as its SDK would ship it
from order_service.config import Settings
from order_service.db import Conn, Database, Unavailable
from order_service.kinds import KINDS, Kind
from order_service.metrics import ACTIONS, BACKGROUND_WRITES_FAILED, CALLBACKS_SEEN, PROVIDER_CALLS
from order_service.provider_client import ProviderClient, Result
from order_service.variants import Flags

log = logging.getLogger("order_service")


class Conflict(Exception):
    """The id exists with a different amount, currency or account."""


class Rejected(Exception):
    """A callback that must not change anything (bad signature, stale, replay, unknown, mismatched)."""

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
            log.warning(json.dumps({"event": "background_insert_failed", "id": request[kind.id_field],
                                    "error": str(exc)}))
            return
        if created:
            await self._submit(kind, request)

    async def _insert(self, kind: Kind, request: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        async def insert(conn: Conn) -> tuple[bool, dict[str, Any]]:
            cursor = await conn.execute(
                f"INSERT INTO {kind.table} ({kind.id_field}, account_id, amount_minor, currency) "
                f"VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING *".encode(),
                (request[kind.id_field], request["account_id"], request["amount_minor"], request["currency"]))
            row = await cursor.fetchone()
            if row is not None:
                return True, row
            cursor = await conn.execute(f"SELECT * FROM {kind.table} WHERE {kind.id_field} = %s".encode(),
                                        (request[kind.id_field],))
            existing = await cursor.fetchone()
            assert existing is not None
            return False, existing

        created, row = await self.db.run(insert)
        if not created and (row["amount_minor"], row["currency"], row["account_id"]) != (
                request["amount_minor"], request["currency"], request["account_id"]):
            raise Conflict(f"{kind.id_field} {request[kind.id_field]} exists with a different amount, currency "
                           "or account")
        return created, row

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

        async def update(conn: Conn) -> str:
            cursor = await conn.execute(
                f"UPDATE {kind.table} SET provider_id = COALESCE(provider_id, %s), updated_at = now(), "
                f"status = CASE WHEN status = 'pending' AND %s::text IS NOT NULL THEN %s ELSE status END "
                f"WHERE {kind.id_field} = %s RETURNING status".encode(),
                (record.get("id"), new_status, new_status, record_id))
            row = await cursor.fetchone()
            return str(row["status"]) if row else "pending"

        try:
            return await self.db.run(update)
        except Unavailable:
            return "pending"  # the row is durable as pending; the reconciler will catch up

    async def _set_terminal(self, kind: Kind, record_id: str, status: str, error: str | None) -> str:
        async def update(conn: Conn) -> str:
            cursor = await conn.execute(
                f"UPDATE {kind.table} SET status = %s, last_error = %s, updated_at = now() "
                f"WHERE {kind.id_field} = %s AND status = 'pending' RETURNING status".encode(),
                (status, error, record_id))
            row = await cursor.fetchone()
            return str(row["status"]) if row else "pending"

        try:
            return await self.db.run(update)
        except Unavailable:
            return "pending"

    async def _note(self, kind: Kind, record_id: str, error: str | None) -> None:
        async def update(conn: Conn) -> None:
            await conn.execute(f"UPDATE {kind.table} SET last_error = %s WHERE {kind.id_field} = %s".encode(),
                               (error, record_id))
        with contextlib.suppress(Unavailable):
            await self.db.run(update)

    # ---- read --------------------------------------------------------------------------------
    async def get(self, kind: Kind, record_id: str) -> dict[str, Any] | None:
        async def select(conn: Conn) -> dict[str, Any] | None:
            cursor = await conn.execute(
                f"SELECT {kind.id_field}, status, amount_minor, currency FROM {kind.table} "
                f"WHERE {kind.id_field} = %s".encode(), (record_id,))
            return await cursor.fetchone()
        return await self.db.run(select)

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
            event = json.loads(raw)
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

        async def apply(conn: Conn) -> str:
            if self.flags.verify_callbacks:
                seen = await conn.execute(
                    b"INSERT INTO seen_events (event_id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING event_id",
                    (event_id,))
                if await seen.fetchone() is None:
                    return "replay"
            cursor = await conn.execute(f"SELECT * FROM {kind.table} WHERE {kind.id_field} = %s FOR UPDATE".encode(),
                                        (record_id,))
            row = await cursor.fetchone()
            if row is None:
                raise Rejected(404, f"unknown {kind.name} {record_id}")
            if self.flags.verify_callbacks and (
                    record.get("amount_minor") != row["amount_minor"] or record.get("currency") != row["currency"]
                    or (row["provider_id"] is not None and record.get("id") != row["provider_id"])):
                raise Rejected(409, f"callback does not match {kind.name} {record_id}")
            if row["status"] != "pending":
                return "already_final"
            await conn.execute(
                f"UPDATE {kind.table} SET status = %s, provider_id = COALESCE(provider_id, %s), updated_at = now() "
                f"WHERE {kind.id_field} = %s".encode(), (status, record.get("id"), record_id))
            return "applied"

        outcome = await self.db.run(apply)
        CALLBACKS_SEEN.labels(outcome=outcome).inc()
        return outcome

    # ---- reconciliation ----------------------------------------------------------------------
    async def reconcile_once(self) -> int:
        """Resolve rows pending past the deadline; return how many were looked at."""
        looked = 0
        semaphore = asyncio.Semaphore(32)
        for kind in KINDS.values():
            async def claim(conn: Conn, kind: Kind = kind) -> list[dict[str, Any]]:
                cursor = await conn.execute(
                    f"UPDATE {kind.table} SET updated_at = now(), attempts = attempts + 1 WHERE {kind.id_field} IN ("
                    f"SELECT {kind.id_field} FROM {kind.table} WHERE status = 'pending' "
                    f"AND updated_at < now() - make_interval(secs => %s) ORDER BY updated_at LIMIT 200 "
                    f"FOR UPDATE SKIP LOCKED) RETURNING *".encode(), (self.settings.pending_after_s,))
                return await cursor.fetchall()

            rows = await self.db.run(claim)
            looked += len(rows)

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
                log.info(json.dumps({"event": "reconciler_waiting", "error": str(exc)[:200]}))
            except Exception:
                log.exception("reconciler step failed")
            await asyncio.sleep(self.settings.reconcile_interval_s)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def pending_count(self) -> int:
        async def count(conn: Conn) -> int:
            total = 0
            for kind in KINDS.values():
                cursor = await conn.execute(f"SELECT count(*) AS n FROM {kind.table} WHERE status = 'pending'".encode())
                row = await cursor.fetchone()
                total += int(row["n"]) if row else 0
            return total
        return await self.db.run(count)
