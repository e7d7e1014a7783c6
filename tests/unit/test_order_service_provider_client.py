"""Provider outcomes are classified once: only a definitive refusal may fail an order."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from order_service.config import from_env
from order_service.kinds import ORDER, PAYOUT
from order_service.provider_client import ProviderClient, Reply, Result, classify

ENV = {"PORT": "1", "DATABASE_URL": "postgresql://x@127.0.0.1/db", "PROVIDER_URL": "http://provider.test",
       "PROVIDER_API_KEY": "sk_1", "PROVIDER_WEBHOOK_SECRET": "s", "CALLBACK_BASE_URL": "http://sut.test",
       "ORDERQUAKE_SUT_PROVIDER_RETRIES": "2"}
RECORD = orjson.dumps({"id": "po_1", "status": "processing"})


@pytest.mark.parametrize(("status", "result"), [
    (201, Result.ACCEPTED), (200, Result.ACCEPTED), (400, Result.REFUSED), (402, Result.REFUSED),
    (422, Result.REFUSED), (401, Result.UNKNOWN), (409, Result.UNKNOWN), (429, Result.UNKNOWN),
    (500, Result.UNKNOWN), (503, Result.UNKNOWN), (None, Result.UNKNOWN),
])
def test_answers_are_classified(status: int | None, result: Result) -> None:
    assert classify(Reply(status, RECORD)).result is result


def test_an_accepted_answer_carries_the_record_and_a_garbled_one_is_unknown() -> None:
    assert classify(Reply(201, RECORD)).record == {"id": "po_1", "status": "processing"}
    assert classify(Reply(201, b"<html>")).result is Result.UNKNOWN


class Scripted(ProviderClient):
    """A client whose answers are a script, recording what it was asked."""

    def __init__(self, replies: list[Reply]) -> None:
        super().__init__(from_env(ENV))
        self.replies = replies
        self.asked: list[dict[str, Any]] = []

    async def request(self, method: str, path: str, *, body: bytes | None = None,
                      headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> Reply:
        self.asked.append({"method": method, "path": path, "headers": headers or {}, "params": params})
        return self.replies[min(len(self.asked), len(self.replies)) - 1]


def test_a_reset_is_unknown_and_retried_with_the_same_key_until_accepted() -> None:
    client = Scripted([Reply(None, error="ServerDisconnectedError"), Reply(500), Reply(201, RECORD)])
    outcome = asyncio.run(client.submit(PAYOUT, {"merchant_payout_id": "p1"}, "p1"))
    assert outcome.result is Result.ACCEPTED
    assert [a["headers"]["Idempotency-Key"] for a in client.asked] == ["p1", "p1", "p1"]
    assert {a["path"] for a in client.asked} == {"/v1/payouts"}


def test_retries_are_bounded_and_the_last_error_kept() -> None:
    client = Scripted([Reply(None, error="TimeoutError: slow")])
    outcome = asyncio.run(client.submit(ORDER, {}, "o1"))
    assert outcome.result is Result.UNKNOWN and "TimeoutError" in (outcome.error or "")
    assert len(client.asked) == 3


def test_a_refusal_is_not_retried() -> None:
    client = Scripted([Reply(422, b'{"error": "bad"}')])
    assert asyncio.run(client.submit(ORDER, {}, "o1")).result is Result.REFUSED
    assert len(client.asked) == 1


def test_without_a_key_no_idempotency_header_is_sent() -> None:
    client = Scripted([Reply(201, RECORD)])
    asyncio.run(client.submit(ORDER, {}, None))
    assert "Idempotency-Key" not in client.asked[0]["headers"]


def test_find_asks_by_merchant_id_and_says_none_when_it_cannot() -> None:
    client = Scripted([Reply(200, orjson.dumps({"object": "list", "data": [{"id": "po_1"}]})), Reply(502)])
    assert asyncio.run(client.find(ORDER, "o 1")) == [{"id": "po_1"}]
    assert client.asked[0]["params"] == {"merchant_order_id": "o 1"}
    assert asyncio.run(client.find(ORDER, "o1")) is None


def test_a_client_that_was_not_opened_says_so() -> None:
    with pytest.raises(RuntimeError, match="open"):
        asyncio.run(ProviderClient(from_env(ENV)).request("GET", "/v1/orders"))
