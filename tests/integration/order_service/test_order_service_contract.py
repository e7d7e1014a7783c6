"""The reference service against real PostgreSQL and the real mock provider: the correct behaviour.

Each test names the failure it provokes and what a careful service must still guarantee.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from order_service_support import StageFactory, behave, eventually, ledger, order_body, payout_body

from mock_provider.signing import sign


def test_a_repeated_post_returns_the_same_order_and_one_provider_record(stage_factory: StageFactory) -> None:
    stage = stage_factory()
    with httpx.Client(base_url=stage.client_url, timeout=10) as client:
        first = client.post("/orders", json=order_body("rep-1"))
        again = client.post("/orders", json=order_body("rep-1"))
        different = client.post("/orders", json=order_body("rep-1", amount=999))
        assert first.status_code == 201 and again.status_code == 200
        assert again.json()["order_id"] == "rep-1" and again.json()["status"] in ("pending", "succeeded")
        assert different.status_code == 409, different.text
        eventually(lambda: client.get("/orders/rep-1").json()["status"] == "succeeded", 10, "rep-1 settles")
        assert client.post("/orders", json=order_body("rep-1")).json() == {"order_id": "rep-1",
                                                                           "status": "succeeded"}
    records = [r for r in ledger(stage, "orders") if r["merchant_order_id"] == "rep-1"]
    assert len(records) == 1 and records[0]["amount_minor"] == 1000


def test_a_burst_with_one_id_sent_ten_times_gives_one_201_and_one_provider_record(
        stage_factory: StageFactory) -> None:
    """Many concurrent creates share a batch (group commit); the same id in it must still win once."""
    stage = stage_factory()

    async def burst() -> list[tuple[str, int, int]]:
        async with httpx.AsyncClient(base_url=stage.client_url, timeout=10) as client:
            bodies = [order_body("burst-dup") for _ in range(10)] + [order_body(f"burst-{n}") for n in range(40)]
            bodies.append(order_body("burst-dup", amount=999))
            replies = await asyncio.gather(*(client.post("/orders", json=body) for body in bodies))
        return [(body["order_id"], body["amount_minor"], reply.status_code)
                for body, reply in zip(bodies, replies, strict=True)]

    replies = asyncio.run(burst())
    assert all(status == 201 for order_id, _, status in replies if order_id != "burst-dup")
    duplicate = [(amount, status) for order_id, amount, status in replies if order_id == "burst-dup"]
    winners = [amount for amount, status in duplicate if status == 201]
    assert len(winners) == 1, duplicate
    # The one that won decides: the same amount again is that order (200), another amount a conflict.
    assert all(status == (201 if status == 201 else 200 if amount == winners[0] else 409)
               for amount, status in duplicate), duplicate
    with httpx.Client(base_url=stage.client_url, timeout=10) as client:
        eventually(lambda: client.get("/orders/burst-dup").json()["status"] == "succeeded", 10, "burst-dup settles")
    records = [r for r in ledger(stage, "orders") if r["merchant_order_id"].startswith("burst-")]
    assert len(records) == 41
    assert [r["amount_minor"] for r in records if r["merchant_order_id"] == "burst-dup"] == winners


def _callback(order_id: str, provider_id: str, amount: int, event_id: str) -> bytes:
    return json.dumps({"event_id": event_id, "type": "order.succeeded", "data": {"order": {
        "id": provider_id, "merchant_order_id": order_id, "status": "succeeded", "amount_minor": amount,
        "currency": "EUR"}}}).encode()


def test_forged_unsigned_and_stale_callbacks_change_nothing(stage_factory: StageFactory) -> None:
    stage = stage_factory()
    behave(stage, settlement_stalled=True)  # the order stays "processing" at the provider
    now = int(time.time())
    with httpx.Client(base_url=stage.client_url, timeout=10) as client:
        assert client.post("/orders", json=order_body("cb-1")).status_code == 201
        provider_id = ledger(stage, "orders")[0]["id"]
        body = _callback("cb-1", provider_id, 1000, "evt_forged_1")
        attempts: dict[str, dict[str, str]] = {
            "unsigned": {},
            "forged": {"Provider-Signature": sign("not-the-secret", body, now)},
            "stale": {"Provider-Signature": sign(stage.webhook_secret, body, now - 3600)},
            "garbled": {"Provider-Signature": "t=abc,v1=00"},
        }
        for name, headers in attempts.items():
            response = httpx.post(f"{stage.sut_url}/provider/callbacks", content=body, headers=headers)
            assert response.status_code == 401, (name, response.text)
        # Correctly signed but about an order the service never made: no row appears.
        unknown = _callback("never-made", "po_x", 1000, "evt_unknown_1")
        response = httpx.post(f"{stage.sut_url}/provider/callbacks", content=unknown,
                              headers={"Provider-Signature": sign(stage.webhook_secret, unknown, now)})
        assert response.status_code == 404
        # Correctly signed but with another amount than the order's: refused.
        wrong = _callback("cb-1", provider_id, 1, "evt_wrong_amount")
        response = httpx.post(f"{stage.sut_url}/provider/callbacks", content=wrong,
                              headers={"Provider-Signature": sign(stage.webhook_secret, wrong, now)})
        assert response.status_code == 409
        time.sleep(1.5)  # past the reconciler's deadline: it keeps the order pending while the provider does
        assert client.get("/orders/cb-1").json()["status"] == "pending"
        assert client.get("/orders/never-made").status_code == 404


def test_a_replayed_event_is_applied_once(stage_factory: StageFactory) -> None:
    stage = stage_factory()
    behave(stage, settlement_stalled=True)
    with httpx.Client(base_url=stage.client_url, timeout=10) as client:
        client.post("/orders", json=order_body("rp-1"))
        client.post("/orders", json=order_body("rp-2"))
    records = {r["merchant_order_id"]: r["id"] for r in ledger(stage, "orders")}
    body = _callback("rp-1", records["rp-1"], 1000, "evt_same")
    headers = {"Provider-Signature": sign(stage.webhook_secret, body, int(time.time()))}
    outcomes = [httpx.post(f"{stage.sut_url}/provider/callbacks", content=body, headers=headers).json()["outcome"]
                for _ in range(2)]
    assert outcomes == ["applied", "replay"]
    # The same event id stuck onto another order is a replay too, not a licence to settle it.
    other = _callback("rp-2", records["rp-2"], 1000, "evt_same")
    response = httpx.post(f"{stage.sut_url}/provider/callbacks", content=other,
                          headers={"Provider-Signature": sign(stage.webhook_secret, other, int(time.time()))})
    assert response.json()["outcome"] == "replay"
    assert httpx.get(f"{stage.sut_url}/orders/rp-2").json()["status"] == "pending"


def _statuses(stage: Any, kind: str, ids: list[str]) -> dict[str, str]:
    with httpx.Client(base_url=stage.sut_url, timeout=5) as client:
        return {i: client.get(f"/{kind}/{i}").json().get("status", "?") for i in ids}


def test_with_callbacks_dropped_and_a_crash_the_reconciler_settles_everything(stage_factory: StageFactory) -> None:
    stage = stage_factory()
    behave(stage, callback_drop_rate=1.0, decline_rate=0.3, reject_rate=0.3)
    orders = [f"drop-o{i}" for i in range(12)]
    payouts = [f"drop-p{i}" for i in range(6)]
    with httpx.Client(base_url=stage.client_url, timeout=10) as client:
        for order_id in orders:
            assert client.post("/orders", json=order_body(order_id)).status_code == 201
        for payout_id in payouts:
            assert client.post("/payouts", json=payout_body(payout_id)).status_code == 201
    stage.components["sut"].crash()  # SIGKILL with everything still pending
    stage.postgres.stop("immediate")  # and the database goes too, then comes back
    stage.postgres.start()
    stage.restart("sut")
    truth = {r["merchant_order_id"]: r["status"] for r in ledger(stage, "orders")}
    truth_p = {r["merchant_payout_id"]: r["status"] for r in ledger(stage, "payouts")}
    eventually(lambda: _statuses(stage, "orders", orders) == {o: truth[o] for o in orders}
               and _statuses(stage, "payouts", payouts) == {p: truth_p[p] for p in payouts}, 20,
               "every order and payout in its provider state")
    assert set(truth.values()) == {"succeeded", "declined"} and len(truth) == len(orders)
    assert set(truth_p.values()) <= {"paid", "rejected"} and len(truth_p) == len(payouts)
    metrics = httpx.get(f"{stage.sut_url}/metrics").text
    assert 'reconciler_actions_total{action="adopted",kind="order"}' in metrics
    assert "orders_pending 0.0" in metrics


def test_a_response_lost_after_processing_ends_in_the_provider_state_once(stage_factory: StageFactory) -> None:
    stage = stage_factory()
    behave(stage, process_then_drop_rate=1.0)
    with httpx.Client(base_url=stage.client_url, timeout=10) as client:
        answered = client.post("/orders", json=order_body("lost-1"))
        behave(stage, process_then_drop_rate=0.0)
        assert answered.status_code == 201 and answered.json()["status"] == "pending"
        eventually(lambda: client.get("/orders/lost-1").json()["status"] == "succeeded", 15, "lost-1 settles")
    assert [r["status"] for r in ledger(stage, "orders")] == ["succeeded"]


def test_a_payout_retried_after_a_timeout_is_paid_once(stage_factory: StageFactory) -> None:
    stage = stage_factory()
    behave(stage, delay={"kind": "fixed", "ms": 900})  # longer than the service's 500 ms read timeout
    with httpx.Client(base_url=stage.client_url, timeout=20) as client:
        answered = client.post("/payouts", json=payout_body("slow-p1"))
        assert answered.status_code == 201 and answered.json()["status"] == "pending"
        time.sleep(1.0)  # the reconciler resubmits, times out again, with the same key
        behave(stage, delay={"kind": "none"})
        eventually(lambda: client.get("/payouts/slow-p1").json()["status"] == "paid", 15, "slow-p1 paid")
    assert [r["status"] for r in ledger(stage, "payouts")] == ["paid"]


def test_orders_wait_out_a_provider_outage(stage_factory: StageFactory) -> None:
    stage = stage_factory()
    behave(stage, error_rate=1.0)  # 500 before processing: the outcome is unknown to the service
    with httpx.Client(base_url=stage.client_url, timeout=10) as client:
        assert client.post("/orders", json=order_body("out-1")).json()["status"] == "pending"
        time.sleep(1.0)
        assert client.get("/orders/out-1").json()["status"] == "pending"  # never failed on a guess
        behave(stage, error_rate=0.0)
        eventually(lambda: client.get("/orders/out-1").json()["status"] == "succeeded", 15, "out-1 settles")
    assert len(ledger(stage, "orders")) == 1


def test_a_database_restart_costs_no_request(stage_factory: StageFactory) -> None:
    stage = stage_factory()
    with httpx.Client(base_url=stage.client_url, timeout=15) as client:
        for i in range(8):  # every pooled connection used once
            assert client.post("/orders", json=order_body(f"before-{i}")).status_code == 201
        stage.postgres.stop("immediate")
        stage.postgres.start()
        answers = [client.post("/orders", json=order_body(f"after-{i}")).status_code for i in range(8)]
        assert answers == [201] * 8
        eventually(lambda: client.get("/orders/after-7").json()["status"] == "succeeded", 15, "after-7 settles")
