"""Idempotency rules of DESIGN.md section 3, and the API key, in process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from mock_provider.testing import in_process


def order(merchant_order_id: str = "m-1", amount_minor: int = 1234) -> dict[str, Any]:
    return {"merchant_order_id": merchant_order_id, "amount_minor": amount_minor, "currency": "EUR",
            "callback_url": "http://sut.test/callbacks"}


def payout(merchant_payout_id: str = "m-1") -> dict[str, Any]:
    return {"merchant_payout_id": merchant_payout_id, "amount_minor": 500, "currency": "EUR",
            "destination": "acct-1", "callback_url": "http://sut.test/callbacks"}


async def ledger_lines(client: httpx.AsyncClient, what: str) -> list[str]:
    response = await client.get(f"/_ledger/{what}")
    return [line for line in response.text.splitlines() if line]


def test_same_key_same_body_replays_the_first_response(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db") as client:
            first = await client.post("/v1/orders", json=order(), headers={"Idempotency-Key": "k1"})
            again = await client.post("/v1/orders", json=order(), headers={"Idempotency-Key": "k1"})
            assert first.status_code == 201 and "idempotent-replayed" not in first.headers
            assert again.status_code == 201
            assert again.headers["idempotent-replayed"] == "true"
            assert again.json() == first.json()
            assert len(await ledger_lines(client, "orders")) == 1
    asyncio.run(scenario())


def test_same_key_different_body_is_422(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db") as client:
            await client.post("/v1/orders", json=order(amount_minor=100), headers={"Idempotency-Key": "k1"})
            other = await client.post("/v1/orders", json=order(amount_minor=101), headers={"Idempotency-Key": "k1"})
            assert other.status_code == 422
            assert other.json()["error"]["type"] == "idempotency_error"
            assert len(await ledger_lines(client, "orders")) == 1
    asyncio.run(scenario())


def test_same_key_in_flight_is_409(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db") as client:
            await client.put("/_control/behaviour", json={"delay": {"kind": "fixed", "ms": 200}})
            first, second = await asyncio.gather(
                client.post("/v1/orders", json=order(), headers={"Idempotency-Key": "k1"}),
                client.post("/v1/orders", json=order(), headers={"Idempotency-Key": "k1"}))
            assert sorted([first.status_code, second.status_code]) == [201, 409]
            conflict = first if first.status_code == 409 else second
            assert conflict.json()["error"]["type"] == "idempotency_error"
            # Once the first has finished, the key replays instead.
            third = await client.post("/v1/orders", json=order(), headers={"Idempotency-Key": "k1"})
            assert third.status_code == 201 and third.headers["idempotent-replayed"] == "true"
    asyncio.run(scenario())


def test_no_key_creates_a_new_record_every_time(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db") as client:
            ids = {(await client.post("/v1/orders", json=order())).json()["id"] for _ in range(3)}
            assert len(ids) == 3
            listed = await client.get("/v1/orders", params={"merchant_order_id": "m-1"})
            assert {o["id"] for o in listed.json()["data"]} == ids
    asyncio.run(scenario())


def test_keys_are_scoped_per_endpoint(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db") as client:
            o = await client.post("/v1/orders", json=order(), headers={"Idempotency-Key": "shared"})
            p = await client.post("/v1/payouts", json=payout(), headers={"Idempotency-Key": "shared"})
            assert o.status_code == p.status_code == 201
            assert o.json()["id"].startswith("po_") and p.json()["id"].startswith("pp_")
            assert "idempotent-replayed" not in p.headers
    asyncio.run(scenario())


def test_wrong_or_missing_key_is_401_and_rotation_takes_effect(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db") as client:
            missing = await client.post("/v1/orders", json=order(), headers={"Authorization": ""})
            assert missing.status_code == 401
            assert missing.json()["error"]["type"] == "authentication_error"
            await client.put("/_control/behaviour", json={"api_key": "rotated"})
            old = await client.post("/v1/orders", json=order())
            new = await client.post("/v1/orders", json=order(), headers={"Authorization": "Bearer rotated"})
            assert (old.status_code, new.status_code) == (401, 201)
            assert len(await ledger_lines(client, "orders")) == 1
    asyncio.run(scenario())
