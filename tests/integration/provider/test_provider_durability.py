"""The ledger survives SIGKILL; settlement and callback delivery resume after the restart."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from provider_process import callback_receiver, provider_process, wait_for


def ndjson(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in client.get(path).text.splitlines() if line]


def test_acknowledged_orders_survive_sigkill_and_their_callbacks_arrive_after_restart(tmp_path: Path) -> None:
    with callback_receiver(default=503) as receiver, provider_process(tmp_path) as provider:
        # Phase 1: orders acknowledged concurrently (many share a group commit), due to settle later.
        with provider.client() as client:
            client.put("/_control/behaviour", json={"settle_delay_ms": 4000, "callback_backoff_ms": 50,
                                                    "callback_max_attempts": 100})

        with provider.client() as shared, ThreadPoolExecutor(max_workers=16) as pool:
            def create(i: int) -> str:
                response = shared.post("/v1/orders", json={"merchant_order_id": f"p-{i}", "amount_minor": 200 + i,
                                                           "currency": "EUR", "callback_url": receiver.url},
                                       headers={"Idempotency-Key": f"key-{i}"})
                assert response.status_code == 201
                return str(response.json()["id"])
            pending_ids = list(pool.map(create, range(300)))

        # Phase 2: orders that settle at once, whose callbacks keep failing (the receiver is down).
        with provider.client() as client:
            client.put("/_control/behaviour", json={"settle_delay_ms": 0})
            settled_ids = [client.post("/v1/orders", json={
                "merchant_order_id": f"s-{i}", "amount_minor": 100, "currency": "EUR",
                "callback_url": receiver.url}).json()["id"] for i in range(20)]

            def all_attempted() -> bool:
                return {x["object_id"] for x in ndjson(client, "/_ledger/callbacks")} >= set(settled_ids)
            wait_for(all_attempted, what="a failed attempt for every settled order")

        provider.sigkill()  # nothing gets a clean shutdown
        receiver.default = 200
        provider.start()
        with provider.client() as client:
            ledger = {x["id"]: x for x in ndjson(client, "/_ledger/orders")}
            assert set(ledger) == set(pending_ids) | set(settled_ids)
            # The idempotency entries survived too: a retry replays instead of charging again.
            replay = client.post("/v1/orders", json={"merchant_order_id": "p-7", "amount_minor": 207,
                                                     "currency": "EUR", "callback_url": receiver.url},
                                 headers={"Idempotency-Key": "key-7"})
            assert replay.headers["idempotent-replayed"] == "true" and replay.json()["id"] == pending_ids[7]

            def all_delivered() -> bool:
                journal = ndjson(client, "/_ledger/callbacks")
                return {x["object_id"] for x in journal if x["outcome"] == "delivered"} == set(ledger)
            wait_for(all_delivered, timeout_s=30, what="a delivered callback for every order")
            assert {x["status"] for x in ndjson(client, "/_ledger/orders")} <= {"succeeded", "declined"}
        assert all(r.verified for r in receiver.received if r.complete)
