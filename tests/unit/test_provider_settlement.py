"""Settlement paths and at-least-once signed callbacks, in process with a mock callback receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from harness.stage.ports import free_port
from mock_provider.delivery import AiohttpSender
from mock_provider.testing import WEBHOOK_SECRET, in_process

FAST = {"settle_delay_ms": 0, "callback_backoff_ms": 40}


def order(merchant_order_id: str = "m-1") -> dict[str, Any]:
    return {"merchant_order_id": merchant_order_id, "amount_minor": 1234, "currency": "EUR",
            "callback_url": "http://sut.test/callbacks"}


def payout(merchant_payout_id: str = "p-1") -> dict[str, Any]:
    return {"merchant_payout_id": merchant_payout_id, "amount_minor": 500, "currency": "EUR",
            "destination": "acct-1", "callback_url": "http://sut.test/callbacks"}


class Receiver:
    """Answers callbacks with the given status codes in turn (then 200), keeping what it got."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.statuses = list(statuses)
        self.received: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


async def until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)


async def journal(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (await client.get("/_ledger/callbacks")).text.splitlines() if line]


def run_with(tmp_path: Path, receiver: Receiver, behaviour: dict[str, Any],
             body: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db", callbacks=receiver.transport()) as client:
            assert (await client.put("/_control/behaviour", json=FAST | behaviour)).status_code == 200
            await body(client)
    asyncio.run(scenario())


def test_orders_settle_succeeded_or_declined_and_callbacks_say_so(tmp_path: Path) -> None:
    receiver = Receiver()

    async def body(client: httpx.AsyncClient) -> None:
        ok = (await client.post("/v1/orders", json=order("ok"))).json()["id"]
        await client.put("/_control/behaviour", json={"decline_rate": 1.0})
        no = (await client.post("/v1/orders", json=order("no"))).json()["id"]

        async def settled() -> bool:
            return len(receiver.received) == 2
        await until(settled)
        statuses = {oid: (await client.get(f"/v1/orders/{oid}")).json()["status"] for oid in (ok, no)}
        assert statuses == {ok: "succeeded", no: "declined"}
        types = {json.loads(r.content)["data"]["order"]["id"]: json.loads(r.content)["type"]
                 for r in receiver.received}
        assert types == {ok: "order.succeeded", no: "order.declined"}
    run_with(tmp_path, receiver, {"decline_rate": 0.0}, body)


def test_payouts_settle_paid_or_rejected(tmp_path: Path) -> None:
    receiver = Receiver()

    async def body(client: httpx.AsyncClient) -> None:
        paid = (await client.post("/v1/payouts", json=payout("a"))).json()["id"]
        await client.put("/_control/behaviour", json={"reject_rate": 1.0})
        rejected = (await client.post("/v1/payouts", json=payout("b"))).json()["id"]

        async def settled() -> bool:
            return len(receiver.received) == 2
        await until(settled)
        assert (await client.get(f"/v1/payouts/{paid}")).json()["status"] == "paid"
        assert (await client.get(f"/v1/payouts/{rejected}")).json()["status"] == "rejected"
        assert sorted(json.loads(r.content)["type"] for r in receiver.received) == ["payout.paid", "payout.rejected"]
        listed = (await client.get("/v1/payouts", params={"merchant_payout_id": "b"})).json()["data"]
        assert [p["id"] for p in listed] == [rejected]
    run_with(tmp_path, receiver, {"reject_rate": 0.0}, body)


def test_default_decline_rate_exercises_the_decline_path(tmp_path: Path) -> None:
    receiver = Receiver()

    async def body(client: httpx.AsyncClient) -> None:
        for i in range(200):
            await client.post("/v1/orders", json=order(f"m{i}"))

        async def settled() -> bool:
            return len(receiver.received) == 200
        await until(settled, timeout_s=20)
        declined = sum(json.loads(r.content)["type"] == "order.declined" for r in receiver.received)
        assert 2 <= declined <= 25  # default 5%
    run_with(tmp_path, receiver, {}, body)


def test_callbacks_verify_with_a_standard_hmac_check(tmp_path: Path) -> None:
    receiver = Receiver()

    async def body(client: httpx.AsyncClient) -> None:
        await client.post("/v1/orders", json=order())

        async def delivered() -> bool:
            return len(receiver.received) == 1
        await until(delivered)
        request = receiver.received[0]
        fields = dict(part.split("=", 1) for part in request.headers["provider-signature"].split(","))
        expected = hmac.new(WEBHOOK_SECRET.encode(), fields["t"].encode() + b"." + request.content,
                            hashlib.sha256).hexdigest()
        assert hmac.compare_digest(fields["v1"], expected)
        assert abs(int(fields["t"]) - time.time()) < 60
        event = json.loads(request.content)
        assert event["event_id"] and event["type"] == "order.succeeded"
    run_with(tmp_path, receiver, {"decline_rate": 0.0}, body)


def test_callbacks_are_retried_with_growing_backoff_until_a_2xx(tmp_path: Path) -> None:
    receiver = Receiver(statuses=(500, 503, 500))

    async def body(client: httpx.AsyncClient) -> None:
        await client.post("/v1/orders", json=order())

        async def delivered() -> bool:
            return any(line["outcome"] == "delivered" for line in await journal(client))
        await until(delivered)
        lines = await journal(client)
        assert [(x["attempt"], x["outcome"], x["http_status"]) for x in lines] == [
            (1, "failed", 500), (2, "failed", 503), (3, "failed", 500), (4, "delivered", 200)]
        at = [datetime.fromisoformat(x["at"]).timestamp() for x in lines]
        gaps = [b - a for a, b in itertools.pairwise(at)]
        # Backoff 40 ms doubling: at least 40, 80, 160 ms, each gap longer than the one before.
        assert gaps[0] >= 0.04 and gaps[1] >= 0.08 and gaps[2] >= 0.16
        assert gaps[0] < gaps[1] < gaps[2]
    run_with(tmp_path, receiver, {}, body)


def test_delivery_gives_up_after_max_attempts(tmp_path: Path) -> None:
    receiver = Receiver(statuses=(500,) * 10)

    async def body(client: httpx.AsyncClient) -> None:
        await client.post("/v1/orders", json=order())

        async def exhausted() -> bool:
            return len(await journal(client)) == 3
        await until(exhausted)
        await asyncio.sleep(0.3)  # a fourth attempt would be due by now: show there is none
        assert [x["outcome"] for x in await journal(client)] == ["failed"] * 3
    run_with(tmp_path, receiver, {"callback_max_attempts": 3, "callback_backoff_ms": 10}, body)


def test_callback_drop_and_duplicate(tmp_path: Path) -> None:
    receiver = Receiver()

    async def body(client: httpx.AsyncClient) -> None:
        await client.post("/v1/orders", json=order("dropped"))

        async def journaled() -> bool:
            return len(await journal(client)) == 1
        await until(journaled)
        assert (await journal(client))[0]["outcome"] == "dropped" and receiver.received == []
        await client.put("/_control/behaviour", json={"callback_drop_rate": 0.0, "callback_duplicate_rate": 1.0})
        await client.post("/v1/orders", json=order("twice"))

        async def twice() -> bool:
            return len(receiver.received) == 2
        await until(twice)
        assert receiver.received[0].content == receiver.received[1].content
        assert [x["outcome"] for x in await journal(client)] == ["dropped", "duplicated", "delivered"]
    run_with(tmp_path, receiver, {"callback_drop_rate": 1.0}, body)


def test_callback_reorder_delivers_a_later_settlement_first(tmp_path: Path) -> None:
    receiver = Receiver()

    async def body(client: httpx.AsyncClient) -> None:
        first = (await client.post("/v1/orders", json=order("first"))).json()["id"]

        async def first_settled() -> bool:
            return (await client.get(f"/v1/orders/{first}")).json()["status"] != "processing"
        await until(first_settled)
        await client.put("/_control/behaviour", json={"callback_reorder_rate": 0.0})
        await client.post("/v1/orders", json=order("second"))

        async def both() -> bool:
            return len(receiver.received) == 2
        await until(both, timeout_s=10)
        order_ids = [json.loads(r.content)["data"]["order"]["merchant_order_id"] for r in receiver.received]
        assert order_ids == ["second", "first"]
    run_with(tmp_path, receiver, {"callback_reorder_rate": 1.0, "settle_delay_ms": 0}, body)


def test_settlement_stall_holds_records_in_processing_until_released(tmp_path: Path) -> None:
    receiver = Receiver()

    async def body(client: httpx.AsyncClient) -> None:
        oid = (await client.post("/v1/orders", json=order())).json()["id"]
        await asyncio.sleep(0.2)  # several settlement ticks: show that none settles it
        assert (await client.get(f"/v1/orders/{oid}")).json()["status"] == "processing"
        assert receiver.received == []
        await client.put("/_control/behaviour", json={"settlement_stalled": False})

        async def settled() -> bool:
            return (await client.get(f"/v1/orders/{oid}")).json()["status"] != "processing"
        await until(settled)
    run_with(tmp_path, receiver, {"settlement_stalled": True}, body)


def test_callback_delay_holds_the_first_attempt(tmp_path: Path) -> None:
    receiver = Receiver()

    async def body(client: httpx.AsyncClient) -> None:
        oid = (await client.post("/v1/orders", json=order())).json()["id"]

        async def settled() -> bool:
            return (await client.get(f"/v1/orders/{oid}")).json()["status"] != "processing"
        await until(settled)
        settled_at = time.time()

        async def delivered() -> bool:
            return len(receiver.received) == 1
        await until(delivered)
        assert time.time() - settled_at >= 0.25
    run_with(tmp_path, receiver, {"callback_delay_ms": 300}, body)


def test_callback_drop_and_duplicate_rates_are_about_right(tmp_path: Path) -> None:
    receiver = Receiver()

    async def body(client: httpx.AsyncClient) -> None:
        for i in range(300):
            await client.post("/v1/orders", json=order(f"m{i}"))

        async def all_decided() -> bool:
            return len({x["event_id"] for x in await journal(client)}) == 300 and len(
                [x for x in await journal(client) if x["outcome"] in ("dropped", "delivered")]) == 300
        await until(all_decided, timeout_s=20)
        outcomes = [x["outcome"] for x in await journal(client)]
        dropped, duplicated = outcomes.count("dropped"), outcomes.count("duplicated")
        assert 60 <= dropped <= 120, dropped  # 30% of 300
        assert 30 <= duplicated <= 80, duplicated  # 20% of the ~210 not dropped
        assert len(receiver.received) == 300 - dropped + duplicated
    run_with(tmp_path, receiver, {"callback_drop_rate": 0.3, "callback_duplicate_rate": 0.2}, body)


def test_a_callback_url_httpx_cannot_parse_is_a_journaled_failure_not_a_stuck_loop(tmp_path: Path) -> None:
    receiver = Receiver()

    async def body(client: httpx.AsyncClient) -> None:
        bad = (await client.post("/v1/orders", json=order("bad") | {"callback_url": "http://[::1"})).json()["id"]
        await client.post("/v1/orders", json=order("good"))

        async def both_finished() -> bool:
            lines = await journal(client)
            return len([x for x in lines if x["object_id"] == bad]) == 2 and len(receiver.received) == 1
        await until(both_finished)
        failures = [x for x in await journal(client) if x["object_id"] == bad]
        assert [x["outcome"] for x in failures] == ["failed", "failed"]
        assert failures[0]["error"].startswith("InvalidURL")
    run_with(tmp_path, receiver, {"callback_max_attempts": 2, "callback_backoff_ms": 10}, body)


def test_the_aiohttp_sender_turns_a_bad_url_or_a_closed_port_into_a_journaled_failure() -> None:
    async def body() -> list[tuple[int | None, str | None]]:
        sender = AiohttpSender()
        await sender.open()
        try:
            return [await sender("http://[::1", b"{}", {}),
                    await sender(f"http://127.0.0.1:{free_port()}/callbacks", b"{}", {})]
        finally:
            await sender.close()
    (bad_status, bad_error), (closed_status, closed_error) = asyncio.run(body())
    assert bad_status is None and bad_error is not None and "InvalidUrl" in bad_error
    assert closed_status is None and closed_error is not None and "Connect" in closed_error
