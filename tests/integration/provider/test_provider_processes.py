"""``--processes 2``: two provider processes on one port keep every guarantee of one.

Each request goes on a connection of its own, so the kernel spreads them over both processes
(``SO_REUSEPORT``); records made without a key stay where they were made, so their ids (the shard
is the record number's parity) show that both processes took requests.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from provider_process import API_KEY, alive, callback_receiver, children_of, provider_process, wait_for

from mock_provider.provider import Provider


def order(merchant_id: str, callback_url: str = "http://127.0.0.1:9/callbacks") -> dict[str, Any]:
    return {"merchant_order_id": merchant_id, "amount_minor": 250, "currency": "EUR", "callback_url": callback_url}


def fresh(url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request on a new connection: the kernel picks the process anew for each."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10.0) as client:
        return client.request(method, path, **kwargs)


def ndjson(url: str, path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in fresh(url, "GET", path).text.splitlines() if line]


def shard_of(record_id: str) -> int:
    seq = Provider.seq_of(record_id)
    assert seq is not None, record_id
    return (seq - 1) % 2


def test_concurrent_duplicates_through_both_processes_make_one_record_and_agree(tmp_path: Path) -> None:
    with provider_process(tmp_path, processes=2) as provider:
        fresh(provider.url, "PUT", "/_control/behaviour", json={"settlement_stalled": True})
        unkeyed = [fresh(provider.url, "POST", "/v1/orders", json=order(f"u-{i}")).json()["id"] for i in range(24)]
        assert {shard_of(i) for i in unkeyed} == {0, 1}  # both processes took requests

        def submit(attempt: tuple[int, int]) -> tuple[int, int, dict[str, Any]]:
            key = attempt[0]
            response = fresh(provider.url, "POST", "/v1/orders", json=order(f"k-{key}"),
                             headers={"Idempotency-Key": f"key-{key}"})
            return key, response.status_code, response.json()
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(submit, [(key, n) for key in range(30) for n in range(4)]))

        ids: dict[int, set[str]] = {}
        for key, status, body in answers:
            assert status in (201, 409), (status, body)
            if status == 201:
                ids.setdefault(key, set()).add(body["id"])
        assert all(len(ids.get(key, ())) == 1 for key in range(30)), ids  # every 201 of a key names one record
        ledger = [r for r in ndjson(provider.url, "/_ledger/orders") if r["merchant_order_id"].startswith("k-")]
        assert sorted(r["merchant_order_id"] for r in ledger) == sorted(f"k-{key}" for key in range(30))
        assert {r["id"] for r in ledger} == set().union(*ids.values())
        # A key used again with another body is refused by whichever process hears it.
        for _ in range(6):
            assert fresh(provider.url, "POST", "/v1/orders", json=order("other"),
                         headers={"Idempotency-Key": "key-3"}).status_code == 422


def test_a_record_made_by_one_process_reads_the_same_through_either(tmp_path: Path) -> None:
    with provider_process(tmp_path, processes=2) as provider:
        fresh(provider.url, "PUT", "/_control/behaviour", json={"settlement_stalled": True})
        made = [fresh(provider.url, "POST", "/v1/orders", json=order(f"r-{i}")).json() for i in range(16)]
        assert {shard_of(m["id"]) for m in made} == {0, 1}
        for record in made:
            for _ in range(4):
                assert fresh(provider.url, "GET", f"/v1/orders/{record['id']}").json() == record
                listed = fresh(provider.url, "GET", "/v1/orders", params={"merchant_order_id": record[
                    "merchant_order_id"]}).json()["data"]
                assert listed == [record]
        assert fresh(provider.url, "GET", "/v1/orders/po_00000000009999").status_code == 404


def test_every_order_settles_and_is_delivered_exactly_once(tmp_path: Path) -> None:
    with callback_receiver() as receiver, provider_process(tmp_path, processes=2) as provider:
        fresh(provider.url, "PUT", "/_control/behaviour", json={"settle_delay_ms": 50, "callback_backoff_ms": 50})

        def create(i: int) -> str:
            headers = {"Idempotency-Key": f"d-{i}"} if i % 2 else {}
            response = fresh(provider.url, "POST", "/v1/orders", json=order(f"d-{i}", receiver.url), headers=headers)
            assert response.status_code == 201
            return str(response.json()["id"])
        with ThreadPoolExecutor(max_workers=8) as pool:
            created = set(pool.map(create, range(80)))
        assert {shard_of(i) for i in created} == {0, 1}

        def delivered() -> set[str]:
            return {x["object_id"] for x in ndjson(provider.url, "/_ledger/callbacks") if x["outcome"] == "delivered"}
        wait_for(lambda: delivered() == created, timeout_s=30, what="a delivered callback for each of 80 orders")
        journal = ndjson(provider.url, "/_ledger/callbacks")
        # One delivery per order in the one journal of both processes; a second process delivering
        # it too would show as a second line, and the receiver would hear it twice.
        assert Counter(x["object_id"] for x in journal if x["outcome"] == "delivered") == Counter(dict.fromkeys(
            created, 1))
        with receiver.lock:
            events = Counter(json.loads(r.body)["data"]["order"]["id"] for r in receiver.received)
        answered = [x for x in journal if x["http_status"] is not None]  # attempts the receiver saw and answered
        assert set(events) == created and sum(events.values()) == len(answered)
        assert all(r.verified for r in receiver.received)
        assert {r["status"] for r in ndjson(provider.url, "/_ledger/orders")} <= {"succeeded", "declined"}


def test_the_truth_streams_list_every_record_once_whichever_process_answers(tmp_path: Path) -> None:
    with provider_process(tmp_path, processes=2) as provider:
        fresh(provider.url, "PUT", "/_control/behaviour", json={"settlement_stalled": True})
        orders = {fresh(provider.url, "POST", "/v1/orders", json=order(f"t-{i}"),
                        headers={"Idempotency-Key": f"t-{i}"}).json()["id"] for i in range(20)}
        payouts = {fresh(provider.url, "POST", "/v1/payouts", json={
            "merchant_payout_id": f"p-{i}", "amount_minor": 900, "currency": "EUR", "destination": "acct-1",
            "callback_url": "http://127.0.0.1:9/callbacks"}).json()["id"] for i in range(10)}
        assert {shard_of(i) for i in payouts} == {0, 1}
        for _ in range(6):
            listed = [r["id"] for r in ndjson(provider.url, "/_ledger/orders")]
            assert sorted(listed) == sorted(orders) and len(listed) == 20
            listed = [r["id"] for r in ndjson(provider.url, "/_ledger/payouts")]
            assert sorted(listed) == sorted(payouts) and len(listed) == 10


def test_a_control_change_reaches_both_processes(tmp_path: Path) -> None:
    with provider_process(tmp_path, processes=2) as provider:
        assert fresh(provider.url, "PUT", "/_control/behaviour", json={"error_rate": 1.0}).status_code == 200
        assert {fresh(provider.url, "POST", "/v1/orders", json=order(f"e-{i}")).status_code
                for i in range(24)} == {500}
        assert fresh(provider.url, "PUT", "/_control/behaviour", json={"error_rate": 2}).status_code == 422
        # Two changes asked of the processes at once end the same way in both.
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda ms: fresh(provider.url, "PUT", "/_control/behaviour", json={"settle_delay_ms": ms}),
                          (1111, 2222)))
        seen = {fresh(provider.url, "GET", "/_control/behaviour").json()["settle_delay_ms"] for _ in range(16)}
        assert len(seen) == 1 and seen <= {1111, 2222}
        assert fresh(provider.url, "POST", "/_control/reset", json={}).status_code == 200
        made = [fresh(provider.url, "POST", "/v1/orders", json=order(f"ok-{i}")) for i in range(24)]
        assert {m.status_code for m in made} == {201}
        assert {shard_of(m.json()["id"]) for m in made} == {0, 1}
        assert fresh(provider.url, "POST", "/_control/reset", json={"ledger": True}).status_code == 200
        assert ndjson(provider.url, "/_ledger/orders") == []


def test_killing_the_parent_leaves_no_provider_process(tmp_path: Path) -> None:
    with provider_process(tmp_path, processes=2) as provider:
        assert provider.process is not None
        children = provider.children()
        assert len(children) == 2
        provider.process.send_signal(signal.SIGKILL)  # the parent alone, not its group
        provider.process.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in children), timeout_s=10, what="both children gone")
        provider.process = None
    again = tmp_path / "again"
    again.mkdir()
    with provider_process(again, processes=2) as provider:
        assert provider.process is not None
        children = provider.children()
        provider.stop()  # SIGTERM to the parent: it stops its children and exits
        assert not any(alive(pid) for pid in children)


def test_a_provider_process_that_dies_takes_the_provider_down(tmp_path: Path) -> None:
    with provider_process(tmp_path, processes=2) as provider:
        assert provider.process is not None
        first, second = sorted(provider.children())
        os.kill(first, signal.SIGKILL)
        assert provider.process.wait(timeout=15) != 0
        assert not alive(second) and children_of(provider.process.pid) == []
        provider.process = None



def test_a_relayed_creation_misbehaves_as_its_owner_decided(tmp_path: Path) -> None:
    with provider_process(tmp_path, processes=2) as provider:
        fresh(provider.url, "PUT", "/_control/behaviour", json={"settlement_stalled": True,
                                                                 "process_then_drop_rate": 1.0})
        def keyed(i: int) -> httpx.Response:
            return fresh(provider.url, "POST", "/v1/orders", json=order(f"x-{i}"),
                         headers={"Idempotency-Key": f"x-{i}"})
        for i in range(12):  # about half of them land on the process that does not own their key
            with pytest.raises(httpx.RemoteProtocolError):
                keyed(i)
        fresh(provider.url, "PUT", "/_control/behaviour", json={"process_then_drop_rate": 0.0})
        retried = [keyed(i) for i in range(12)]
        assert all(r.status_code == 201 and r.headers["idempotent-replayed"] == "true" for r in retried)
        assert sorted(r["merchant_order_id"] for r in ndjson(provider.url, "/_ledger/orders")) == sorted(
            f"x-{i}" for i in range(12))
