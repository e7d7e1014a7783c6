"""Each seeded bug shows under the condition that triggers it, and the correct service does not show it.

Every test runs twice, once per variant of the pair, under the same provider or link condition.
"""

from __future__ import annotations

import time

import httpx
import pytest
from order_service_support import StageFactory, behave, eventually, ledger, order_body

from mock_provider.signing import sign


@pytest.mark.parametrize("variant", ["correct", "no-idempotency"])
def test_no_idempotency_duplicates_a_charge_whose_response_was_lost(stage_factory: StageFactory,
                                                                      variant: str) -> None:
    stage = stage_factory(variant)
    behave(stage, process_then_drop_rate=1.0)  # processed, then the connection drops: the service retries
    with httpx.Client(base_url=stage.client_url, timeout=10) as client:
        assert client.post("/orders", json=order_body("dup-1")).status_code == 201
    behave(stage, process_then_drop_rate=0.0)
    eventually(lambda: httpx.get(f"{stage.sut_url}/orders/dup-1").json()["status"] == "succeeded", 15,
               "dup-1 settles")
    records = [r for r in ledger(stage, "orders") if r["merchant_order_id"] == "dup-1"]
    if variant == "correct":
        assert len(records) == 1 and records[0]["idempotency_key"] == "dup-1"
    else:
        assert len(records) > 1, records  # one charge per attempt
        assert all(r["idempotency_key"] is None for r in records)


@pytest.mark.parametrize("variant", ["correct", "no-reconciler"])
def test_no_reconciler_leaves_orders_pending_when_callbacks_are_lost(stage_factory: StageFactory,
                                                                     variant: str) -> None:
    stage = stage_factory(variant)
    behave(stage, callback_drop_rate=1.0)
    ids = [f"nr-{i}" for i in range(5)]
    with httpx.Client(base_url=stage.client_url, timeout=10) as client:
        for order_id in ids:
            assert client.post("/orders", json=order_body(order_id)).status_code == 201

        def statuses() -> set[str]:
            return {client.get(f"/orders/{order_id}").json()["status"] for order_id in ids}

        eventually(lambda: {r["status"] for r in ledger(stage, "orders")} == {"succeeded"}, 10,
                   "the provider settles every order")
        if variant == "correct":
            eventually(lambda: statuses() == {"succeeded"}, 10, "the reconciler adopts every settlement")
        else:
            # Ten reconciler deadlines (500 ms each) pass and nothing moves: nobody asks the provider.
            end = time.monotonic() + 5.0
            while time.monotonic() < end:
                assert statuses() == {"pending"}
                time.sleep(0.5)


@pytest.mark.parametrize("variant", ["correct", "ack-before-commit"])
def test_ack_before_commit_loses_an_acknowledged_order_in_a_database_outage(stage_factory: StageFactory,
                                                                            variant: str) -> None:
    stage = stage_factory(variant)
    with httpx.Client(base_url=stage.client_url, timeout=15) as client:
        assert client.post("/orders", json=order_body("warm-1")).status_code == 201
        eventually(lambda: client.get("/orders/warm-1").status_code == 200, 10, "warm-1 is written")
        stage.toxiproxy.set_enabled("db", False)
        try:
            answered = client.post("/orders", json=order_body("ack-1"))
            if variant == "correct":
                assert answered.status_code == 503, answered.text  # not acknowledged: the client knows to retry
            else:
                assert answered.status_code == 201, answered.text
                eventually(lambda: 'background_writes_failed_total{kind="order"} 1.0'
                           in httpx.get(f"{stage.sut_url}/metrics").text, 15, "the background write gives up")
        finally:
            stage.toxiproxy.set_enabled("db", True)
        eventually(lambda: client.get("/orders/warm-1").status_code == 200, 15, "the database is back")
        assert client.get("/orders/ack-1").status_code == 404  # acknowledged (buggy) or refused (correct): absent
    assert "ack-1" not in {r["merchant_order_id"] for r in ledger(stage, "orders")}


@pytest.mark.parametrize("variant", ["correct", "fail-on-timeout"])
def test_fail_on_timeout_fails_an_order_the_provider_charged(stage_factory: StageFactory, variant: str) -> None:
    stage = stage_factory(variant)
    behave(stage, delay={"kind": "fixed", "ms": 900})  # beyond the service's 500 ms read timeout
    with httpx.Client(base_url=stage.client_url, timeout=20) as client:
        answered = client.post("/orders", json=order_body("slow-1"))
        behave(stage, delay={"kind": "none"})
        assert answered.status_code == 201
        eventually(lambda: [r["status"] for r in ledger(stage, "orders")] == ["succeeded"], 10,
                   "the provider charges slow-1 once")
        if variant == "correct":
            assert answered.json()["status"] == "pending"
            eventually(lambda: client.get("/orders/slow-1").json()["status"] == "succeeded", 10, "slow-1 adopted")
        else:
            assert answered.json()["status"] == "failed"
            # The provider's callback cannot undo it: the service no longer waits for this order.
            eventually(lambda: any(line for line in httpx.get(f"{stage.provider_url}/_ledger/callbacks").text
                                   .splitlines() if '"delivered"' in line), 10, "the success callback arrives")
            assert client.get("/orders/slow-1").json()["status"] == "failed"


@pytest.mark.parametrize("variant", ["correct", "no-signature-check"])
def test_no_signature_check_lets_a_forged_callback_settle_an_order(stage_factory: StageFactory,
                                                                   variant: str) -> None:
    stage = stage_factory(variant)
    behave(stage, settlement_stalled=True)  # the provider never settles: any "succeeded" is a lie
    with httpx.Client(base_url=stage.client_url, timeout=10) as client:
        assert client.post("/orders", json=order_body("forge-1")).status_code == 201
        forged = (b'{"event_id": "evt_attacker", "type": "order.succeeded", "data": {"order": '
                  b'{"id": "po_fake", "merchant_order_id": "forge-1", "status": "succeeded", "amount_minor": 1,'
                  b' "currency": "EUR"}}}')
        response = httpx.post(f"{stage.sut_url}/provider/callbacks", content=forged,
                              headers={"Provider-Signature": sign("guessed", forged, int(time.time()))})
        status = client.get("/orders/forge-1").json()["status"]
    assert [r["status"] for r in ledger(stage, "orders")] == ["processing"]
    if variant == "correct":
        assert (response.status_code, status) == (401, "pending")
    else:
        assert (response.status_code, status) == (200, "succeeded")
