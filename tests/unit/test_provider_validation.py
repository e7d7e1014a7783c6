"""Strict input validation: every bad request is a 4xx with a JSON error naming the problem."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mock_provider.signing import sign, verify
from mock_provider.testing import in_process

GOOD = {"merchant_order_id": "m-1", "amount_minor": 100, "currency": "EUR", "callback_url": "http://sut.test/cb"}


@pytest.mark.parametrize(("body", "status", "param"), [
    (b"not json", 400, None),
    (b"[1, 2]", 422, "body"),
    (GOOD | {"amount_minor": 0}, 422, "amount_minor"),
    (GOOD | {"amount_minor": 1.5}, 422, "amount_minor"),
    (GOOD | {"amount_minor": True}, 422, "amount_minor"),
    (GOOD | {"currency": "eur"}, 422, "currency"),
    (GOOD | {"callback_url": "ftp://x"}, 422, "callback_url"),
    (GOOD | {"callback_url": "http://\rexample"}, 422, "callback_url"),
    (GOOD | {"callback_url": "http://exa mple"}, 422, "callback_url"),
    (GOOD | {"merchant_order_id": ""}, 422, "merchant_order_id"),
    (GOOD | {"extra": 1}, 422, "extra"),
    ({k: v for k, v in GOOD.items() if k != "currency"}, 422, "currency"),
])
def test_bad_order_bodies(tmp_path: Path, body: Any, status: int, param: str | None) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db") as client:
            kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
            response = await client.post("/v1/orders", **kwargs)
            assert response.status_code == status
            assert response.json()["error"].get("param") == param
            assert (await client.get("/_ledger/orders")).text == ""
    asyncio.run(scenario())


def test_bad_idempotency_key_missing_list_filter_and_unknown_id(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with in_process(tmp_path / "l.db") as client:
            bad_key = await client.post("/v1/orders", json=GOOD, headers={"Idempotency-Key": "x" * 200})
            assert bad_key.status_code == 400 and bad_key.json()["error"]["param"] == "Idempotency-Key"
            assert (await client.get("/v1/orders")).status_code == 400
            assert (await client.get("/v1/payouts/pp_nope")).status_code == 404
            assert (await client.get("/healthz")).json()["status"] == "ok"
            assert "provider_requests_total" in (await client.get("/metrics")).text
            assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.")
    asyncio.run(scenario())


def test_sign_and_verify() -> None:
    header = sign("secret", b'{"a":1}', 1_700_000_000)
    assert verify("secret", b'{"a":1}', header, now=1_700_000_010)
    assert not verify("other", b'{"a":1}', header, now=1_700_000_010)
    assert not verify("secret", b'{"a":2}', header, now=1_700_000_010)
    assert not verify("secret", b'{"a":1}', header, now=1_700_001_000)  # outside the tolerance
    assert not verify("secret", b'{"a":1}', "garbage", now=1_700_000_010)
