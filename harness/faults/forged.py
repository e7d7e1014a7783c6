"""``forged_callbacks``: the harness posts callbacks the provider never sent, straight to the SUT.

While active, every ``every`` seconds it reads the SUT's pending orders and payouts (its
database, directly, with the target's SQL) and posts, for up to ``count`` of each, a callback
claiming the refusal the provider has not given (``declined`` / ``rejected``), in turn:
unsigned, signed with a wrong secret, and a stale replay (the event id of a real delivered
callback from the provider's journal, signed with the real secret but an hour old). It also
claims success for ids no client ever attempted. A correct SUT rejects them all; each is
journaled in ``forged.jsonl`` so the checker can tell a state the SUT took from a forged claim.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import psycopg

from contract import Flow
from harness._exceptions import OrderquakeError
from harness._units import parse_duration
from harness.faults.base import FaultContext, Param, RoundsFault, whole

FORGED_JOURNAL = "forged.jsonl"
STALE_AGE_S = 3600
_FORMS = ("unsigned", "bad_signature", "stale_replay")


_KINDS = tuple(Flow)


def _signature(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class ForgedCallbacks(RoundsFault):
    kind = "forged_callbacks"
    dialects = ("native",)  # the callbacks it forges are in the native format
    summary = "post unsigned, wrongly signed and stale replayed callbacks to the SUT, contradicting the provider"
    params = (Param("count", "pending ids of each kind forged per round", whole(1, 200), default=5),
              Param("unknown", "never-attempted ids claimed per round", whole(0, 200), default=2),
              Param("every", "seconds between rounds (duration)", lambda v: parse_duration(v, name="every"),
                    default=2.0))

    def round(self, ctx: FaultContext, http: httpx.Client) -> None:
        """One round of forgeries; exposed so that a test can run exactly one."""
        try:
            real_events = ctx.stage.provider.delivered_event_ids()
        except OrderquakeError:
            real_events = []  # the provider may be down under another fault: no stale replay this round
        for index, kind in enumerate(_KINDS):
            for number, (merchant_id, amount) in enumerate(_pending(ctx, kind)[:self.values["count"]]):
                form = _FORMS[(number + index) % len(_FORMS)]
                event_id = ctx.rng.choice(real_events) if form == "stale_replay" and real_events else None
                self._send(ctx, http, kind, merchant_id, amount, kind.refusal, form, event_id)
            for _ in range(self.values["unknown"]):
                merchant_id = f"forged-{kind.value}-{ctx.rng.getrandbits(48):012x}"
                self._send(ctx, http, kind, merchant_id, 1000, kind.success, "unknown_id", None)

    def _send(self, ctx: FaultContext, http: httpx.Client, kind: Flow, merchant_id: str, amount: int,
              claim: str, form: str, event_id: str | None) -> None:
        provider_id = f"{kind.provider_prefix}forged{ctx.rng.getrandbits(40):010x}"
        record = {"id": provider_id, kind.merchant_key: merchant_id, "status": claim, "amount_minor": amount,
                  "currency": "EUR"}
        body = json.dumps({"event_id": event_id or f"evt_forged_{ctx.rng.getrandbits(48):012x}",
                           "type": f"{kind.value}.{claim}", "created": int(time.time()),
                           "data": {kind.value: record}}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if form == "bad_signature":
            headers["Provider-Signature"] = _signature("whsec_not_the_secret", body, int(time.time()))
        elif form == "stale_replay":
            headers["Provider-Signature"] = _signature(ctx.stage.webhook_secret, body, int(time.time()) - STALE_AGE_S)
        sent_at = time.time()
        status: int | None
        try:
            status = http.post(f"{ctx.stage.sut_url}/provider/callbacks", content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = None
        ctx.append_jsonl(FORGED_JOURNAL, {"object": kind.value, "id": merchant_id, "claim": claim, "kind": form,
                                          "sent_at": round(sent_at, 3), "http_status": status})


def _pending(ctx: FaultContext, kind: Flow) -> list[tuple[str, int]]:
    """(id, amount) of the SUT's pending records of ``kind``; none when the database cannot be read."""
    flow = kind.plural
    sql = ctx.target.state.sql(flow)
    status_map = ctx.target.state.status_map(flow)
    try:
        with psycopg.connect(ctx.stage.sut_database_url, connect_timeout=2, autocommit=True) as conn:
            rows: list[Any] = conn.execute(sql.encode()).fetchall()
    except psycopg.Error:
        # the database may be down under another fault: forge only never-attempted ids this round
        return []
    pending = []
    for row in rows:
        status = str(row[1])
        if status_map.get(status, status) == "pending":
            amount = row[2] if len(row) > 2 and isinstance(row[2], int) else 1000
            pending.append((str(row[0]), amount))
    return pending
