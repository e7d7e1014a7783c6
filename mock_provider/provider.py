"""The provider's domain: create, read and list orders and payouts, idempotently; settle them.

Orders and payouts are one record type with an ``object`` of ``order`` or ``payout``; the HTTP
layer names the fields per object. The rules of DESIGN.md section 3: a repeated key with the
same body replays the first response (``Idempotent-Replayed: true``), with a different body is a
422, while the first is still in flight a 409; without a key every call is a new record.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import math
import random
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from contract import Flow
from mock_provider.behaviour import Behaviour, draw_delay_s
from mock_provider.ledger import Ledger
from mock_provider.metrics import CALLBACKS, MISBEHAVIOURS
from mock_provider.shards import Shards

Kind = Flow  # the provider's records are of the contract's two flows


_second: tuple[int, str] = (-1, "")


def iso(ts: float) -> str:
    """``ts`` as ISO-8601 UTC to the millisecond, ``2026-01-01T00:00:00.123Z``; equal to
    ``datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")`` with ``Z`` for ``+00:00``.

    Several stamps a millisecond are written under load, so the date and time of the current
    second are formatted once and reused; the microseconds are rounded as ``fromtimestamp``
    rounds them (half to even, on the exact fraction) before the milliseconds are cut.
    """
    global _second
    whole = math.floor(ts)
    micros = round((ts - whole) * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    if _second[0] != whole:
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{micros // 1000:03d}Z"


def public(kind: Kind, row: sqlite3.Row | Mapping[str, Any]) -> dict[str, Any]:
    """The API view of a record."""
    body: dict[str, Any] = {"id": row["id"], kind.merchant_key: row["merchant_id"], "status": row["status"],
                            "amount_minor": row["amount_minor"], "currency": row["currency"],
                            "created_at": row["created_at"]}
    if kind is Kind.PAYOUT:
        body["destination"] = row["destination"]
    if row["settled_at"] is not None:
        body["settled_at"] = row["settled_at"]
    return body


def ledger_line(row: sqlite3.Row) -> dict[str, Any]:
    """A record as the truth endpoints stream it (docs/architecture.md, ledger NDJSON)."""
    kind = Kind(row["object"])
    line = public(kind, row)
    line["idempotency_key"] = row["idempotency_key"]
    line["settled_at"] = row["settled_at"]
    return line


# How a settled (or otherwise decided) record is announced: (kind, record row with its new status,
# unix time) to (event id, event type, callback body), or None for "no callback to deliver". The
# native shape is below; a dialect (mock_provider.dialects) brings its own.
EventFor = Callable[[Kind, Mapping[str, Any], float], "tuple[str, str, dict[str, Any]] | None"]


def native_event(kind: Kind, row: Mapping[str, Any], now: float) -> tuple[str, str, dict[str, Any]]:
    """The native callback (DESIGN.md section 3): ``{event_id, type, created, data: {order|payout}}``."""
    event_id = f"evt_{row['id']}_{row['status']}"
    event_type = f"{kind.value}.{row['status']}"
    return event_id, event_type, {"event_id": event_id, "type": event_type, "created": int(now),
                                  "data": {kind.value: public(kind, row)}}


_RECORD_COLUMNS = ("id", "object", "merchant_id", "amount_minor", "currency", "destination", "callback_url", "status",
                   "idempotency_key", "created_at", "settled_at", "settle_after", "seq")
_INSERT_RECORD = f"INSERT INTO records ({', '.join(_RECORD_COLUMNS)}) VALUES ({','.join('?' * len(_RECORD_COLUMNS))})"
_OUTBOX_COLUMNS = "event_id, object, object_id, merchant_id, type, url, body, attempt, next_at"


def _seq(row: sqlite3.Row) -> int:
    return int(row["seq"])


def _outbox_row(row: sqlite3.Row) -> dict[str, Any]:
    return {key: row[key] for key in _OUTBOX_COLUMNS.split(", ")} | {"_rowid": row["rowid"]}


@dataclass(frozen=True)
class Outcome:
    """A creation's answer: stored with its idempotency key, so a replay returns it unchanged."""

    status_code: int
    body: dict[str, Any]


class InFlight(Exception):
    """The same idempotency key is being processed by another request."""


class KeyReused(Exception):
    """The idempotency key was used before with a different body."""


class Provider:
    """State and rules; the HTTP layer (``app``) and the background loops (``delivery``) call in."""

    def __init__(self, ledger: Ledger, behaviour: Behaviour, seed: int, event_for: EventFor | None = None, *,
                 shards: Shards | None = None) -> None:
        self.ledger = ledger
        self.event_for = event_for or native_event
        self.initial = behaviour
        self.behaviour = behaviour
        # Reads of other provider processes' records (mock_provider.shards); None: this ledger holds all.
        self.shards = shards
        # One seed, one independent stream per concern: the draws made for requests do not shift
        # when settlement happens to run between two requests, so a request sequence replays exactly.
        # Each of several processes draws from streams of its own (shard 0's are those of one process).
        stream = seed if shards is None or shards.layout.index == 0 else f"{seed}/{shards.layout.index}"
        self.rng = random.Random(f"{stream}:requests")
        self.settlement_rng = random.Random(f"{stream}:settlement")
        self.callback_rng = random.Random(f"{stream}:callbacks")
        # Duplicates are drawn at delivery, the other callback draws at settlement: one stream each,
        # so the order in which the two happen to interleave changes no decision.
        self.duplicate_rng = random.Random(f"{stream}:duplicates")
        self.seed = seed
        self._in_flight: set[tuple[str, str]] = set()
        self._id_salt = hashlib.blake2s(str(seed).encode(), digest_size=2).hexdigest()
        # (settle_after, seq) of every record still processing: derived from the table, so a
        # restart rebuilds it and settlement carries on where the last commit left it.
        self._due = [(float(r["settle_after"]), int(r["seq"]))
                     for r in ledger.all("SELECT settle_after, seq FROM records WHERE status='processing'")]
        heapq.heapify(self._due)
        # (next_at, rowid, row) of every callback not yet done: the outbox table's rows in the order
        # its index gives them (next_at, then insertion), kept in memory so that delivery never
        # reads the table back; rebuilt from it on start like the settlement schedule.
        self._outbox = [(float(r["next_at"]), int(r["rowid"]), _outbox_row(r)) for r in ledger.all(
            f"SELECT rowid, {_OUTBOX_COLUMNS} FROM outbox WHERE done=0 ORDER BY next_at, rowid")]
        heapq.heapify(self._outbox)
        # A wipe starts a new generation: a delivery in flight across it must not requeue its event.
        self.generation = 0
        self._callback_outcomes: dict[str, Any] = {}

    def chance(self, rate: float, rng: random.Random | None = None) -> bool:
        return rate > 0 and (rng or self.rng).random() < rate

    async def held_then_failed(self, behaviour: Behaviour) -> bool:
        """Hold a creation's answer for ``behaviour``'s delay (an idempotency key stays in flight through
        it, as at a slow provider), then whether it fails with an injected error, nothing processed."""
        delay = draw_delay_s(behaviour.delay, self.rng)
        if delay:
            await asyncio.sleep(delay)
        if self.chance(behaviour.error_rate):
            MISBEHAVIOURS.labels(kind="error").inc()
            return True
        return False

    def new_id(self, kind: Kind, seq: int, prefix: str | None = None) -> str:
        """The id of record ``seq``: ``prefix`` (the kind's own by default), the seed's salt, ten digits."""
        return f"{prefix or kind.provider_prefix}{self._id_salt}{seq:010d}"

    @staticmethod
    def seq_of(record_id: str) -> int | None:
        """The record number an id ends with (its last ten digits), or None for a malformed id."""
        digits = record_id[-10:]
        return int(digits) if len(record_id) > 10 and digits.isascii() and digits.isdigit() else None

    def forget_schedule(self) -> None:
        """Drop the settlement schedule and the callbacks not yet delivered, for a wiped ledger."""
        self._due.clear()
        self._outbox.clear()
        self.generation += 1

    # ---- idempotency --------------------------------------------------------------------------
    def begin(self, kind: Kind, key: str | None, request_hash: str) -> Outcome | None:
        """Return the stored outcome of ``key`` (a replay), or mark it in flight and return None."""
        if key is None:
            return None
        scope = (kind.value, key)
        # In flight is checked first: the first request's idempotency row is already visible on
        # this connection before its group commit, and replaying it then would acknowledge
        # something a SIGKILL could still take back.
        if scope in self._in_flight:
            raise InFlight
        stored = self.ledger.one("SELECT request_hash, status_code, body FROM idempotency WHERE scope=? AND key=?",
                                 scope)
        if stored is not None:
            if stored["request_hash"] != request_hash:
                raise KeyReused
            return Outcome(stored["status_code"], orjson.loads(stored["body"]))
        self._in_flight.add(scope)
        return None

    def end(self, kind: Kind, key: str | None) -> None:
        if key is not None:
            self._in_flight.discard((kind.value, key))

    # ---- records ------------------------------------------------------------------------------
    def create(self, kind: Kind, fields: dict[str, Any], key: str | None, request_hash: str) -> Outcome:
        """Insert a new record (status ``processing``) and its idempotency entry, uncommitted."""
        seq = self.ledger.next_seq()
        row = self.insert_record(kind, self.new_id(kind, seq), seq, merchant_id=fields[kind.merchant_key],
                                 amount_minor=fields["amount_minor"], currency=fields["currency"],
                                 destination=fields.get("destination"), callback_url=fields["callback_url"], key=key)
        body = {"id": row["id"], kind.merchant_key: fields[kind.merchant_key], "status": "processing",
                "amount_minor": fields["amount_minor"], "currency": fields["currency"], "created_at": row["created_at"]}
        if kind is Kind.PAYOUT:
            body["destination"] = fields.get("destination")
        if key is not None:
            self.ledger.execute("INSERT INTO idempotency (scope, key, request_hash, status_code, body) "
                                "VALUES (?,?,?,?,?)", (kind.value, key, request_hash, 201, orjson.dumps(body).decode()))
        return Outcome(201, body)

    def insert_record(self, kind: Kind, record_id: str, seq: int, *, merchant_id: str, amount_minor: int,
                      currency: str, destination: str | None, callback_url: str, key: str | None,
                      status: str = "processing") -> dict[str, Any]:
        """Insert one ledger record, uncommitted; a ``processing`` one is scheduled for settlement.

        ``seq`` must come from ``ledger.next_seq()`` and ``record_id`` must end with it (``seq_of``).
        Any other ``status`` is already decided (a dialect's synchronous refusal) and never settles.
        """
        now = time.time()
        settle_after = now + self.behaviour.settle_delay_ms / 1000
        row = {"id": record_id, "object": kind.value, "merchant_id": merchant_id, "amount_minor": amount_minor,
               "currency": currency, "destination": destination, "callback_url": callback_url, "status": status,
               "idempotency_key": key, "created_at": iso(now),
               "settled_at": None if status == "processing" else iso(now),
               "settle_after": settle_after, "seq": seq}
        self.ledger.execute(_INSERT_RECORD, tuple(row.values()))
        if status == "processing":
            heapq.heappush(self._due, (settle_after, seq))
        return row

    def get(self, kind: Kind, record_id: str) -> dict[str, Any] | None:
        seq = self.seq_of(record_id)
        if seq is None:
            return None
        source = self.ledger if self.shards is None else self.shards.of_seq(seq)
        row = source.one("SELECT * FROM records WHERE seq=? AND id=? AND object=?", (seq, record_id, kind.value))
        return public(kind, row) if row is not None else None

    def by_merchant_id(self, kind: Kind, merchant_id: str) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM records WHERE object=? AND merchant_id=? ORDER BY seq", (kind.value, merchant_id)
        rows = self.ledger.all(sql, params) if self.shards is None else self.shards.all(sql, params, _seq)
        return [public(kind, row) for row in rows]

    # ---- settlement ---------------------------------------------------------------------------
    def journal(self, event: Mapping[str, Any], attempt: int, outcome: str, status: int | None,
                error: str | None, at: str | None = None) -> None:
        """Append one line to the callback journal (docs/architecture.md, callback journal)."""
        line = {"event_id": event["event_id"], "object": event["object"], "object_id": event["object_id"],
                "merchant_id": event["merchant_id"], "type": event["type"], "attempt": attempt, "url": event["url"],
                "outcome": outcome, "http_status": status, "error": error, "at": at or iso(time.time())}
        # Appends commute with every other write: they are batched into the next commit.
        self.ledger.execute_later("INSERT INTO journal (line) VALUES (?)", (orjson.dumps(line).decode(),))
        counter = self._callback_outcomes.get(outcome)
        if counter is None:
            counter = self._callback_outcomes[outcome] = CALLBACKS.labels(outcome)
        counter.inc()

    def settle_due(self, now: float, limit: int = 500) -> int:
        """Settle records whose delay has passed, and put their callbacks in the outbox."""
        if self.behaviour.settlement_stalled:
            return 0
        due: list[int] = []
        while self._due and self._due[0][0] <= now and len(due) < limit:
            due.append(heapq.heappop(self._due)[1])
        if not due:
            return 0
        rows = self.ledger.all(f"SELECT * FROM records WHERE seq IN ({','.join('?' * len(due))}) "
                               "AND status='processing' ORDER BY settle_after, seq", tuple(due))
        settled_at = iso(now)
        decided: list[tuple[Kind, dict[str, Any]]] = []
        for row in rows:
            kind = Kind(row["object"])
            refuse_rate = self.behaviour.decline_rate if kind is Kind.ORDER else self.behaviour.reject_rate
            status = kind.refusal if self.chance(refuse_rate, self.settlement_rng) else kind.success
            decided.append((kind, dict(row) | {"status": status, "settled_at": settled_at}))
        self.ledger.executemany("UPDATE records SET status=?, settled_at=? WHERE seq=?",
                                [(record["status"], settled_at, record["seq"]) for _, record in decided])
        for kind, record in decided:
            self.announce(kind, record, now)
        return len(rows)

    def announce(self, kind: Kind, row: Mapping[str, Any], now: float) -> None:
        """Put the callback for ``row``'s new status in the outbox, applying the callback misbehaviours."""
        event = self.event_for(kind, row, now)
        if event is None:
            return
        event_id, event_type, payload = event
        at = iso(now)
        journaled = {"event_id": event_id, "object": kind.value, "object_id": row["id"],
                     "merchant_id": row["merchant_id"], "type": event_type, "url": row["callback_url"]}
        # A dropped event is decided here, once: it never enters the outbox.
        if self.chance(self.behaviour.callback_drop_rate, self.callback_rng):
            self.journal(journaled, 1, "dropped", None, None, at=at)
            return
        delay_s = self.behaviour.callback_delay_ms / 1000
        if self.chance(self.behaviour.callback_reorder_rate, self.callback_rng):
            # Hold this event back so that events settled after it are delivered first.
            delay_s += self.callback_rng.uniform(0.5, 3.0) * max(self.behaviour.settle_delay_ms / 1000, 0.5)
        body = orjson.dumps(payload).decode()
        next_at = now + delay_s
        cursor = self.ledger.execute(
            "INSERT OR IGNORE INTO outbox (event_id, object, object_id, merchant_id, type, url, body, next_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (event_id, kind.value, row["id"], row["merchant_id"], event_type, row["callback_url"], body, next_at))
        if cursor.rowcount == 1:  # an event already in the outbox (done or not) is not queued twice
            heapq.heappush(self._outbox, (next_at, cursor.lastrowid or 0, {
                "event_id": event_id, "object": kind.value, "object_id": row["id"], "merchant_id": row["merchant_id"],
                "type": event_type, "url": row["callback_url"], "body": body, "attempt": 0, "next_at": next_at,
                "_rowid": cursor.lastrowid or 0}))

    # ---- the outbox ---------------------------------------------------------------------------
    def due_callbacks(self, now: float, limit: int) -> list[dict[str, Any]]:
        """Take up to ``limit`` callbacks whose time has come, earliest first, out of the queue.

        Each must come back through ``callback_done`` or ``callback_retry`` (or ``requeue``).
        """
        taken: list[dict[str, Any]] = []
        while self._outbox and self._outbox[0][0] <= now and len(taken) < limit:
            taken.append(heapq.heappop(self._outbox)[2])
        return taken

    def callback_done(self, row: dict[str, Any], attempt: int) -> None:
        """The callback's last attempt was made (delivered, or the attempts ran out)."""
        row["attempt"] = attempt
        self.ledger.execute_later("UPDATE outbox SET done=1, attempt=? WHERE event_id=?", (attempt, row["event_id"]))

    def callback_retry(self, row: dict[str, Any], attempt: int, next_at: float) -> None:
        """The callback failed ``attempt`` times: try it again at ``next_at`` (requeued by ``requeue``)."""
        row["attempt"], row["next_at"] = attempt, next_at
        self.ledger.execute_later("UPDATE outbox SET attempt=?, next_at=? WHERE event_id=?",
                                  (attempt, next_at, row["event_id"]))

    def requeue(self, row: dict[str, Any], generation: int) -> None:
        """Put a taken callback back in the queue at its ``next_at``, unless the ledger was wiped since."""
        if generation == self.generation:
            heapq.heappush(self._outbox, (float(row["next_at"]), int(row["_rowid"]), row))
