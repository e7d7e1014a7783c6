"""The ``stripe`` dialect's publishable key: the payer confirms with it and the client secret, nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract import publishable_key
from mock_provider.app import create_app
from mock_provider.dialects import Dialect, StripeOptions

KEY = "sk_test_pk"
SECRET = {"Authorization": f"Bearer {KEY}"}
PUBLIC = {"Authorization": "Bearer pk_test_pk"}


@asynccontextmanager
async def provider(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    app = create_app(db=tmp_path / "ledger.db", api_key=KEY, webhook_secret="whsec_pk", seed=3, transport=transport,
                     dialect=Dialect.STRIPE, stripe=StripeOptions(callback_base_url="http://sut.test"))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://provider.test") as client:
        yield client


async def new_intent(client: httpx.AsyncClient, order_id: str = "o-1") -> dict[str, Any]:
    response = await client.post("/v1/payment_intents", headers=SECRET,
                                 data={"amount": "500", "currency": "eur", "metadata[order_id]": order_id})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize(("api_key", "expected"), [("sk_test_abc", "pk_test_abc"), ("sk_live_x", "pk_live_x"),
                                                    ("it-key", "pk_it-key"), ("sk_", "pk_")])
def test_publishable_key_is_derived_from_the_secret_key(api_key: str, expected: str) -> None:
    assert publishable_key(api_key) == expected


def test_the_payer_confirms_and_reads_with_the_publishable_key_and_client_secret(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with provider(tmp_path) as client:
            await client.put("/_control/behaviour", json={"decline_rate": 0.0})
            intent = await new_intent(client)
            path, secret = f"/v1/payment_intents/{intent['id']}", intent["client_secret"]
            read = await client.get(path, headers=PUBLIC, params={"client_secret": secret})
            assert (read.status_code, read.json()["status"]) == (200, "requires_payment_method")
            confirmed = await client.post(f"{path}/confirm", headers=PUBLIC,
                                          data={"client_secret": secret, "payment_method": "pm_card_visa"})
            assert (confirmed.status_code, confirmed.json()["status"]) == (200, "processing"), confirmed.text
            ledger = (await client.get("/_ledger/orders")).text.splitlines()
            assert len(ledger) == 1 and '"merchant_order_id":"o-1"' in ledger[0]
    asyncio.run(scenario())


def test_the_publishable_key_without_the_right_client_secret_is_refused_and_charges_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with provider(tmp_path) as client:
            intent, other = await new_intent(client, "o-1"), await new_intent(client, "o-2")
            confirm = f"/v1/payment_intents/{intent['id']}/confirm"
            missing = await client.post(confirm, headers=PUBLIC, data={"payment_method": "pm_card_visa"})
            assert missing.status_code == 400
            assert (missing.json()["error"]["type"], missing.json()["error"]["param"]) == (
                "invalid_request_error", "client_secret")
            wrong = await client.post(confirm, headers=PUBLIC | {"Idempotency-Key": "k1"},
                                      data={"client_secret": other["client_secret"], "payment_method": "pm_card_visa"})
            assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "client_secret"
            read = await client.get(f"/v1/payment_intents/{intent['id']}", headers=PUBLIC,
                                    params={"client_secret": "pi_x_secret_y"})
            assert read.status_code == 400
            unknown = await client.post("/v1/payment_intents/pi_nope/confirm", headers=PUBLIC,
                                        data={"client_secret": intent["client_secret"]})
            assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "resource_missing")
            assert (await client.get("/_ledger/orders")).text == ""
            # The refusal was not stored under the key: the right secret with that key confirms.
            right = await client.post(confirm, headers=PUBLIC | {"Idempotency-Key": "k2"},
                                      data={"client_secret": intent["client_secret"], "payment_method": "pm_card_visa"})
            assert right.status_code == 200, right.text
    asyncio.run(scenario())


@pytest.mark.parametrize(("method", "path", "data"), [
    ("POST", "/v1/payment_intents", {"amount": "500", "currency": "eur"}),
    ("GET", "/v1/payment_intents", None),
    ("GET", "/v1/payment_intents/search", None),
    ("POST", "/v1/payment_intents/{id}/cancel", {}),
    ("POST", "/v1/payouts", {"amount": "500", "currency": "eur"}),
    ("GET", "/v1/events", None),
])
def test_the_publishable_key_may_call_nothing_else(tmp_path: Path, method: str, path: str,
                                                   data: dict[str, str] | None) -> None:
    async def scenario() -> None:
        async with provider(tmp_path) as client:
            intent = await new_intent(client)
            response = await client.request(method, path.format(id=intent["id"]), headers=PUBLIC, data=data)
            assert response.status_code == 401, response.text
            assert "publishable API key" in response.json()["error"]["message"]
            assert (await client.get("/_ledger/orders")).text == ""
    asyncio.run(scenario())


def test_the_secret_key_still_calls_everything_and_a_wrong_secret_is_checked_when_given(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with provider(tmp_path) as client:
            intent = await new_intent(client)
            path = f"/v1/payment_intents/{intent['id']}"
            assert (await client.get(path, headers=SECRET)).status_code == 200
            wrong = await client.post(f"{path}/confirm", headers=SECRET,
                                      data={"client_secret": "pi_x_secret_y", "payment_method": "pm_card_visa"})
            assert wrong.status_code == 400
            confirmed = await client.post(f"{path}/confirm", headers=SECRET, data={"payment_method": "pm_card_visa"})
            assert confirmed.status_code == 200, confirmed.text
            assert (await client.get("/v1/events", headers=SECRET)).status_code == 200
            assert (await client.get(path, headers={"Authorization": "Bearer pk_test_other"})).status_code == 401
    asyncio.run(scenario())
