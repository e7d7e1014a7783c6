"""Provider outcomes are classified once: only a definitive refusal may fail an order."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from order_service.config import from_env
from order_service.kinds import ORDER, PAYOUT
from order_service.provider_client import ProviderClient, Result

ENV = {"PORT": "1", "DATABASE_URL": "postgresql://x@127.0.0.1/db", "PROVIDER_URL": "http://provider.test",
       "PROVIDER_API_KEY": "sk_1", "PROVIDER_WEBHOOK_SECRET": "s", "CALLBACK_BASE_URL": "http://sut.test",
       "ORDERQUAKE_SUT_PROVIDER_RETRIES": "2"}


def client_answering(responses: list[httpx.Response | Exception], seen: list[httpx.Request]) -> ProviderClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses[min(len(seen), len(responses)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer
    return ProviderClient(from_env(ENV), transport=httpx.MockTransport(handle))


@pytest.mark.parametrize(("status", "result"), [
    (201, Result.ACCEPTED), (200, Result.ACCEPTED), (400, Result.REFUSED), (402, Result.REFUSED),
    (422, Result.REFUSED), (401, Result.UNKNOWN), (409, Result.UNKNOWN), (429, Result.UNKNOWN),
    (500, Result.UNKNOWN), (503, Result.UNKNOWN),
])
def test_status_codes_are_classified(status: int, result: Result) -> None:
    seen: list[httpx.Request] = []
    client = client_answering([httpx.Response(status, json={"id": "po_1", "status": "processing"})], seen)
    outcome = asyncio.run(client.submit_once(ORDER, {"merchant_order_id": "o1"}, "o1"))
    assert outcome.result is result
    assert seen[0].headers["Idempotency-Key"] == "o1" and seen[0].headers["Authorization"] == "Bearer sk_1"


def test_a_reset_is_unknown_and_retried_with_the_same_key_until_accepted() -> None:
    seen: list[httpx.Request] = []
    client = client_answering([httpx.ConnectError("reset"), httpx.Response(500),
                               httpx.Response(201, json={"id": "pp_1", "status": "processing"})], seen)
    outcome = asyncio.run(client.submit(PAYOUT, {"merchant_payout_id": "p1"}, "p1"))
    assert outcome.result is Result.ACCEPTED and outcome.record == {"id": "pp_1", "status": "processing"}
    assert [r.headers["Idempotency-Key"] for r in seen] == ["p1", "p1", "p1"]


def test_retries_are_bounded_and_the_last_error_kept() -> None:
    seen: list[httpx.Request] = []
    client = client_answering([httpx.ReadTimeout("slow")], seen)
    outcome = asyncio.run(client.submit(ORDER, {}, "o1"))
    assert outcome.result is Result.UNKNOWN and "ReadTimeout" in (outcome.error or "")
    assert len(seen) == 3


def test_without_a_key_no_idempotency_header_is_sent() -> None:
    seen: list[httpx.Request] = []
    client = client_answering([httpx.Response(201, json={})], seen)
    asyncio.run(client.submit(ORDER, {}, None))
    assert "Idempotency-Key" not in seen[0].headers


def test_find_asks_by_merchant_id_and_says_none_when_it_cannot() -> None:
    seen: list[httpx.Request] = []
    client = client_answering([httpx.Response(200, json={"object": "list", "data": [{"id": "po_1"}]}),
                               httpx.Response(502)], seen)
    assert asyncio.run(client.find(ORDER, "o 1")) == [{"id": "po_1"}]
    assert seen[0].url.params["merchant_order_id"] == "o 1"
    assert asyncio.run(client.find(ORDER, "o1")) is None
