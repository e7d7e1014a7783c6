"""Each misbehaviour knob measured by its effect; control validation; seeded replay."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
from pathlib import Path
from typing import Any

import pytest

from mock_provider.behaviour import FixedDelay, LognormalDelay, NoDelay, UniformDelay, draw_delay_s
from mock_provider.testing import in_process


def order(i: int) -> dict[str, Any]:
    return {"merchant_order_id": f"m-{i}", "amount_minor": 100 + i, "currency": "EUR",
            "callback_url": "http://sut.test/callbacks"}


def statuses_under(tmp_path: Path, seed: int, behaviour: dict[str, Any], n: int) -> tuple[list[int], int]:
    """The status of each of ``n`` creations, and how many records the ledger ends with."""
    async def scenario() -> tuple[list[int], int]:
        async with in_process(tmp_path / f"{seed}-{len(list(tmp_path.iterdir()))}.db", seed=seed) as client:
            await client.put("/_control/behaviour", json={"settlement_stalled": True} | behaviour)
            codes = [(await client.post("/v1/orders", json=order(i))).status_code for i in range(n)]
            records = len((await client.get("/_ledger/orders")).text.splitlines())
            return codes, records
    return asyncio.run(scenario())


def test_error_rate_gives_that_share_of_500s_without_processing_and_replays_by_seed(tmp_path: Path) -> None:
    codes, records = statuses_under(tmp_path, 7, {"error_rate": 0.3}, 1000)
    errors = codes.count(500)
    assert 250 <= errors <= 350, errors
    assert records == 1000 - errors  # nothing processed for a 500
    again, _ = statuses_under(tmp_path, 7, {"error_rate": 0.3}, 1000)
    assert again == codes  # same seed, same sequence: exactly the same answers
    other, _ = statuses_under(tmp_path, 8, {"error_rate": 0.3}, 1000)
    assert other != codes


def test_process_then_error_commits_every_record(tmp_path: Path) -> None:
    codes, records = statuses_under(tmp_path, 3, {"process_then_error_rate": 0.5}, 400)
    assert 160 <= codes.count(500) <= 240
    assert records == 400


def test_process_then_error_keyed_retry_replays_the_created_record(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db") as client:
            await client.put("/_control/behaviour", json={"process_then_error_rate": 1.0})
            failed = await client.post("/v1/orders", json=order(1), headers={"Idempotency-Key": "k"})
            assert failed.status_code == 500
            await client.put("/_control/behaviour", json={"process_then_error_rate": 0.0})
            retry = await client.post("/v1/orders", json=order(1), headers={"Idempotency-Key": "k"})
            assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
            assert len((await client.get("/_ledger/orders")).text.splitlines()) == 1
    asyncio.run(scenario())


def test_delay_distributions() -> None:
    rng = random.Random(1)
    assert draw_delay_s(NoDelay(), rng) == 0.0
    assert draw_delay_s(FixedDelay(kind="fixed", ms=300), rng) == pytest.approx(0.3)
    uniform = [draw_delay_s(UniformDelay(kind="uniform", min_ms=100, max_ms=500), rng) for _ in range(4000)]
    assert min(uniform) >= 0.1 and max(uniform) <= 0.5
    assert statistics.mean(uniform) == pytest.approx(0.3, rel=0.05)
    lognormal = [draw_delay_s(LognormalDelay(kind="lognormal", median_ms=200, sigma=0.5), rng) for _ in range(4000)]
    assert statistics.median(lognormal) == pytest.approx(0.2, rel=0.05)
    assert max(lognormal) > 0.5  # a long tail, unlike the uniform


def test_fixed_delay_holds_the_response(tmp_path: Path) -> None:
    async def scenario() -> float:
        async with in_process(tmp_path / "l.db") as client:
            await client.put("/_control/behaviour", json={"delay": {"kind": "fixed", "ms": 150}})
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert (await client.post("/v1/orders", json=order(1))).status_code == 201
            return loop.time() - started
    assert asyncio.run(scenario()) >= 0.15


@pytest.mark.parametrize(("change", "param"), [
    ({"no_such_knob": 1}, "no_such_knob"),
    ({"error_rate": 1.5}, "error_rate"),
    ({"delay": {"kind": "fixed"}}, "delay.fixed.ms"),
    ({"delay": {"kind": "gamma"}}, "delay"),
    ({"callback_max_attempts": 0}, "callback_max_attempts"),
])
def test_bad_control_values_are_422_naming_the_field(tmp_path: Path, change: dict[str, Any], param: str) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db") as client:
            before = (await client.get("/_control/behaviour")).json()
            response = await client.put("/_control/behaviour", json=change)
            assert response.status_code == 422
            assert response.json()["error"]["param"] == param
            assert (await client.get("/_control/behaviour")).json() == before
    asyncio.run(scenario())


def test_put_merges_and_reset_restores_and_optionally_empties_the_ledger(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db") as client:
            start = (await client.get("/_control/behaviour")).json()
            assert start["decline_rate"] == 0.05 and start["settle_delay_ms"] == 200
            merged = (await client.put("/_control/behaviour", json={"error_rate": 0.2})).json()
            assert merged == start | {"error_rate": 0.2}
            old_id = (await client.post("/v1/orders", json=order(1))).json()["id"]
            assert (await client.post("/_control/reset")).json() == start
            assert len((await client.get("/_ledger/orders")).text.splitlines()) == 1
            await client.post("/_control/reset", content=json.dumps({"ledger": True}))
            assert (await client.get("/_ledger/orders")).text == ""
        async with in_process(tmp_path / "l.db") as client:  # restarted on the emptied ledger
            new_id = (await client.post("/v1/orders", json=order(1))).json()["id"]
            assert new_id != old_id  # ids are never reused, not even after a wipe and a restart
    asyncio.run(scenario())
