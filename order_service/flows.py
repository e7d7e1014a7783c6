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
from collections.abc import Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from mock_provider.signing import verify  # the provider's signature scheme, as its SDK would ship it
from order_service.batch import Batcher, Keys
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


def _insert_sql(kind: Kind) -> bytes:
    """Store new rows, one per item of a batch; an id that exists already comes back absent."""
    return (f"INSERT INTO {kind.table} ({kind.id_field}, account_id, amount_minor, currency) "
            f"SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) "
            f"ON CONFLICT DO NOTHING RETURNING *").encode()


def _adopt_sql(kind: Kind) -> bytes:
    """Record the provider's id (kept if one is known) and its terminal status (only over ``pending``)."""
    return (f"UPDATE {kind.table} AS t SET provider_id = COALESCE(t.provider_id, v.pid), updated_at = now(), "
            f"status = CASE WHEN t.status = 'pending' AND v.status IS NOT NULL THEN v.status ELSE t.status END "
            f"FROM unnest(%s::text[], %s::text[], %s::text[]) AS v(id, pid, status) "
            f"WHERE t.{kind.id_field} = v.id RETURNING t.{kind.id_field} AS id, t.status").encode()


def _apply_sql(kind: Kind) -> bytes:
    """Apply a batch of callbacks in one statement: lock the rows, check each claim, remember each
    event, settle. Per callback, ``known``: the row exists; ``matches``: the claim agrees with it
    (amount, currency, provider id); ``fresh``: its event was not seen before; ``updated``: the row
    left ``pending``.

    Nothing is remembered or changed unless the row exists and matches (so a callback that came
    too early can be delivered again); with ``verify`` off (the no-signature-check bug) the
    claim is neither checked nor remembered. Whether a row is still ``pending`` is read from the
    locked rows (``cur``), not tested on the table: a test on the table invites the planner to
    walk the partial index of pending rows, which is thousands long under load.
    """
    table, key = kind.table, kind.id_field
    return f"""
        WITH v AS (SELECT * FROM unnest(%(ids)s::text[], %(statuses)s::text[], %(events)s::text[],
                                        %(amounts)s::bigint[], %(currencies)s::text[], %(pids)s::text[])
                   AS v(id, status, event, amount, currency, pid)),
        cur AS (SELECT t.{key} AS id, t.amount_minor, t.currency, t.provider_id, t.status
                FROM {table} AS t JOIN v ON t.{key} = v.id FOR UPDATE OF t),
        ok AS (SELECT v.* FROM v JOIN cur ON cur.id = v.id
               WHERE NOT %(verify)s OR (cur.amount_minor = v.amount AND cur.currency = v.currency
                                        AND (cur.provider_id IS NULL OR cur.provider_id = v.pid))),
        ev AS (INSERT INTO seen_events (event_id) SELECT event FROM ok WHERE %(verify)s
               ON CONFLICT DO NOTHING RETURNING event_id),
        upd AS (UPDATE {table} AS t SET status = ok.status, provider_id = COALESCE(t.provider_id, ok.pid),
                       updated_at = now()
                FROM ok JOIN cur ON cur.id = ok.id
                WHERE t.{key} = ok.id AND cur.status = 'pending'
                  AND (NOT %(verify)s OR ok.event IN (SELECT event_id FROM ev)) RETURNING t.{key} AS id)
        SELECT v.id, EXISTS (SELECT 1 FROM cur WHERE cur.id = v.id) AS known,
               EXISTS (SELECT 1 FROM ok WHERE ok.id = v.id) AS matches,
               EXISTS (SELECT 1 FROM ev WHERE ev.event_id = v.event) AS fresh,
               EXISTS (SELECT 1 FROM upd WHERE upd.id = v.id) AS updated
        FROM v""".encode()


def _id_key(field: str, request: dict[str, Any]) -> tuple[Hashable, ...]:
    return (("id", request[field]),)


def _adopt_key(item: tuple[str, str | None, str | None]) -> tuple[Hashable, ...]:
    return (("id", item[0]),)


def _callback_keys(claim: dict[str, Any]) -> tuple[Hashable, ...]:
    return (("id", claim["id"]), ("event", claim["event"]))


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
        self._creating: set[str] = set()  # ids whose creation is in flight
        # The hot writes go in batches (order_service.batch); a record is in one batch at a time.
        self._inserts: dict[str, Batcher[dict[str, Any], dict[str, Any] | None]] = {}
        self._adopts: dict[str, Batcher[tuple[str, str | None, str | None], str]] = {}
        self._applies: dict[str, Batcher[dict[str, Any], dict[str, Any] | None]] = {}
        for kind in KINDS.values():
            keys = Keys()
            self._inserts[kind.name] = Batcher(partial(self._insert_batch, kind),
                                               partial(_id_key, kind.id_field), keys)
            self._adopts[kind.name] = Batcher(partial(self._adopt_batch, kind), _adopt_key, keys)
            self._applies[kind.name] = Batcher(partial(self._apply_batch, kind), _callback_keys, keys)

    async def _insert_batch(self, kind: Kind, requests: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        rows = await self.db.all(_insert_sql(kind), [[r[field] for r in requests] for field in (
            kind.id_field, "account_id", "amount_minor", "currency")])
        created = {row[kind.id_field]: row for row in rows}
        return [created.get(r[kind.id_field]) for r in requests]

    async def _adopt_batch(self, kind: Kind, items: list[tuple[str, str | None, str | None]]) -> list[str]:
        rows = await self.db.all(_adopt_sql(kind), [list(column) for column in zip(*items, strict=True)])
        statuses = {row["id"]: str(row["status"]) for row in rows}
        return [statuses.get(record_id, "pending") for record_id, _, _ in items]

    async def _apply_batch(self, kind: Kind, claims: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        params = {name: [c[field] for c in claims] for name, field in (
            ("ids", "id"), ("statuses", "status"), ("events", "event"), ("amounts", "amount"),
            ("currencies", "currency"), ("pids", "pid"))}
        rows = await self.db.all(_apply_sql(kind), {**params, "verify": self.flags.verify_callbacks})
        found = {row["id"]: row for row in rows}
        return [found.get(c["id"]) for c in claims]

    # ---- create ------------------------------------------------------------------------------
    async def create(self, kind: Kind, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Return (201 or 200, body). Raises Conflict, or Unavailable when the row cannot be made durable."""
        if not self.flags.commit_before_ack:
            # BUG (ack-before-commit): the client hears 201 before the row exists anywhere durable.
            self._spawn(self._insert_then_submit(kind, request))
            return 201, {kind.id_field: request[kind.id_field], "status": "pending"}
        record_id = str(request[kind.id_field])
        if (not self.flags.durable_when_busy and record_id not in self._creating
                and len(self._creating) >= self.settings.pool_size):
            # BUG (drop-when-busy): every connection is taken, so the write goes to a buffer never flushed.
            return 201, {kind.id_field: record_id, "status": "pending"}
        self._creating.add(record_id)
        try:
            return await self._create(kind, request)
        finally:
            self._creating.discard(record_id)

    async def _create(self, kind: Kind, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
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
        row = await self._inserts[kind.name](request)
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
        provider_id = record.get("id")
        try:
            return await self._adopts[kind.name](
                (record_id, provider_id if isinstance(provider_id, str) else None, new_status))
        except Unavailable:
            return "pending"  # the row is durable as pending; the reconciler will catch up

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
        found = await self._applies[kind.name](claimed)
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
