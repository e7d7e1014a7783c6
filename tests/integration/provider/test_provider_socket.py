"""The provider over a real socket: dropped connections, error rates by seed, signed retried callbacks."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from provider_process import callback_receiver, provider_process, wait_for


def order(i: int, callback_url: str = "http://127.0.0.1:9/callbacks") -> dict[str, Any]:
    return {"merchant_order_id": f"m-{i}", "amount_minor": 100 + i, "currency": "EUR", "callback_url": callback_url}


def ndjson(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in client.get(path).text.splitlines() if line]


def test_process_then_drop_is_a_connection_error_not_a_500_and_the_record_exists(tmp_path: Path) -> None:
    with provider_process(tmp_path) as provider, provider.client() as client:
        client.put("/_control/behaviour", json={"process_then_drop_rate": 1.0, "settlement_stalled": True})
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/v1/orders", json=order(1))
        client.put("/_control/behaviour", json={"process_then_drop_rate": 0.3})
        dropped = 0
        for i in range(2, 202):
            try:
                assert client.post("/v1/orders", json=order(i)).status_code == 201
            except httpx.RemoteProtocolError:
                dropped += 1
        assert 40 <= dropped <= 80, dropped  # about 30% of 200
        assert len(ndjson(client, "/_ledger/orders")) == 201  # every one was processed
    # The server saw a vanished client, not an app error it would have tried to answer with a 500.
    assert "ASGI callable" not in provider.log.read_text()


def _statuses(tmp_path: Path, seed: int) -> list[int]:
    workdir = tmp_path / f"run-{seed}-{len(list(tmp_path.iterdir()))}"
    workdir.mkdir()
    with provider_process(workdir, seed=seed) as provider, provider.client() as client:
        client.put("/_control/behaviour", json={"error_rate": 0.3, "settlement_stalled": True})
        return [client.post("/v1/orders", json=order(i)).status_code for i in range(1000)]


def test_error_rate_over_a_socket_is_about_right_and_exactly_reproducible(tmp_path: Path) -> None:
    first = _statuses(tmp_path, seed=11)
    assert set(first) == {201, 500}
    assert 250 <= first.count(500) <= 350, first.count(500)
    assert _statuses(tmp_path, seed=11) == first


def test_callbacks_are_signed_and_retried_with_backoff_until_a_2xx(tmp_path: Path) -> None:
    with callback_receiver(statuses=[500, 502]) as receiver, provider_process(tmp_path) as provider, \
            provider.client() as client:
        client.put("/_control/behaviour", json={"settle_delay_ms": 0, "callback_backoff_ms": 50,
                                                "decline_rate": 0.0})
        created = client.post("/v1/orders", json=order(1, receiver.url)).json()

        def delivered() -> bool:
            return any(x["outcome"] == "delivered" for x in ndjson(client, "/_ledger/callbacks"))
        wait_for(delivered, what="callback delivered")
        journal = ndjson(client, "/_ledger/callbacks")
        assert [(x["attempt"], x["outcome"], x["http_status"]) for x in journal] == [
            (1, "failed", 500), (2, "failed", 502), (3, "delivered", 200)]
        assert len(receiver.received) == 3 and all(r.verified for r in receiver.received)
        event = json.loads(receiver.received[-1].body)
        assert event["type"] == "order.succeeded" and event["data"]["order"]["id"] == created["id"]
        assert client.get(f"/v1/orders/{created['id']}").json()["status"] == "succeeded"


def test_idempotency_rules_over_a_socket(tmp_path: Path) -> None:
    with provider_process(tmp_path) as provider, provider.client() as client:
        client.put("/_control/behaviour", json={"settlement_stalled": True})
        first = client.post("/v1/orders", json=order(1), headers={"Idempotency-Key": "a"})
        replay = client.post("/v1/orders", json=order(1), headers={"Idempotency-Key": "a"})
        assert (first.status_code, replay.status_code) == (201, 201)
        assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first.json()
        assert client.post("/v1/orders", json=order(2), headers={"Idempotency-Key": "a"}).status_code == 422
        unkeyed = {client.post("/v1/orders", json=order(3)).json()["id"] for _ in range(2)}
        assert len(unkeyed) == 2
        client.put("/_control/behaviour", json={"delay": {"kind": "fixed", "ms": 300}})

        def keyed(_: int) -> int:
            with provider.client() as own:
                return own.post("/v1/orders", json=order(4), headers={"Idempotency-Key": "b"}).status_code
        with ThreadPoolExecutor(max_workers=2) as pool:
            codes = sorted(pool.map(keyed, range(2)))
        assert codes == [201, 409]
        assert len(ndjson(client, "/_ledger/orders")) == 4
