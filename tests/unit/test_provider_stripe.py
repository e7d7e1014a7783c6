"""The ``stripe`` dialect in process: wire format, idempotency, objects, events, faults, one ledger."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st
from stripe._encode import _api_encode

from mock_provider.app import create_app
from mock_provider.dialects import Dialect, StripeOptions
from mock_provider.dialects.forms import FormError, decode_form

KEY = "sk_test_unit"
WHSEC = "whsec_unit"
AUTH = {"Authorization": f"Bearer {KEY}"}


@asynccontextmanager
async def stripe_mock(tmp_path: Path, answer: Callable[[httpx.Request], httpx.Response] | None = None,
                      base_url: str | None = "http://sut.test") -> AsyncIterator[httpx.AsyncClient]:
    """A stripe-dialect provider in this loop; webhooks go to ``answer`` (200 by default)."""
    transport = httpx.MockTransport(answer or (lambda request: httpx.Response(200)))
    app = create_app(db=tmp_path / "ledger.db", api_key=KEY, webhook_secret=WHSEC, seed=3, transport=transport,
                     dialect=Dialect.STRIPE, stripe=StripeOptions(callback_base_url=base_url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://provider.test", headers=AUTH) as client:
        yield client


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def form(**params: Any) -> dict[str, Any]:
    """Keyword arguments as the SDK encodes them: nested dicts and lists in brackets, booleans as words."""
    return {"content": urlencode(list(_api_encode(params))),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


async def ndjson(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (await client.get(path)).text.splitlines() if line]


async def poll(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s} s")
        await asyncio.sleep(0.02)


# ---- forms ------------------------------------------------------------------------------------
def test_forms_nest_brackets_and_make_lists() -> None:
    assert decode_form("metadata[order_id]=o-1&expand[]=a&expand[]=b&x[0][y]=1&x[1][y]=2&amount=5") == {
        "metadata": {"order_id": "o-1"}, "expand": ["a", "b"], "x": [{"y": "1"}, {"y": "2"}], "amount": "5"}
    for bad in ("a=1&a=2", "a=1&a[b]=2", "a[0]=1&a[2]=2", "a[b=1"):
        with pytest.raises(FormError):
            decode_form(bad)


_text = st.text(st.characters(codec="utf-8", exclude_characters="[]"), min_size=1, max_size=8)
_names = _text.filter(lambda s: not s.isdigit())
_values = st.recursive(_text, lambda inner: st.dictionaries(_names, inner, min_size=1, max_size=3)
                       | st.lists(inner, min_size=1, max_size=3), max_leaves=8)


@given(st.dictionaries(_names, _values, min_size=1, max_size=4))
def test_forms_decode_what_the_sdk_encodes(params: dict[str, Any]) -> None:
    assert decode_form(urlencode(list(_api_encode(params)))) == params


# ---- PaymentIntents -----------------------------------------------------------------------------
def test_create_confirmed_intent_settles_into_the_shared_ledger_with_the_order_id(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with stripe_mock(tmp_path) as client:
            await client.put("/_control/behaviour", json={"settle_delay_ms": 0, "decline_rate": 0.0})
            created = await client.post("/v1/payment_intents", **form(
                amount=1234, currency="EUR", confirm=True, payment_method="pm_card_visa",
                metadata={"order_id": "o-1"}, expand=["latest_charge"]))
            assert created.status_code == 200, created.text
            intent = created.json()
            assert intent["object"] == "payment_intent" and intent["id"].startswith("pi_")
            assert (intent["currency"], intent["amount"], intent["status"]) == ("eur", 1234, "processing")
            assert intent["client_secret"].startswith(intent["id"] + "_secret_")
            assert intent["latest_charge"]["object"] == "charge"
            assert created.headers["request-id"].startswith("req_")

            async def settled() -> bool:
                got = (await client.get(f"/v1/payment_intents/{intent['id']}")).json()
                return bool(got["status"] == "succeeded")
            await poll(settled, "the PaymentIntent succeeded")
            [line] = await ndjson(client, "/_ledger/orders")
            assert line["id"] == intent["id"] and line["merchant_order_id"] == "o-1"
            assert (line["status"], line["currency"], line["amount_minor"]) == ("succeeded", "EUR", 1234)
            assert line["idempotency_key"] is None
    run(scenario)


def test_unconfirmed_intent_has_no_ledger_record_until_confirmed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with stripe_mock(tmp_path) as client:
            bare = (await client.post("/v1/payment_intents", **form(amount=100, currency="usd"))).json()
            assert bare["status"] == "requires_payment_method" and bare["latest_charge"] is None
            with_pm = (await client.post("/v1/payment_intents", **form(
                amount=100, currency="usd", payment_method="pm_card_visa", metadata={"order_id": "o-2"}))).json()
            assert with_pm["status"] == "requires_confirmation"
            assert await ndjson(client, "/_ledger/orders") == []
            confirmed = await client.post(f"/v1/payment_intents/{with_pm['id']}/confirm", **form())
            assert confirmed.json()["status"] == "processing"
            no_pm = await client.post(f"/v1/payment_intents/{bare['id']}/confirm", **form())
            assert no_pm.status_code == 400 and no_pm.json()["error"]["param"] == "payment_method"
            again = await client.post(f"/v1/payment_intents/{with_pm['id']}/confirm", **form())
            assert again.json()["error"]["code"] == "payment_intent_unexpected_state"
            assert [r["merchant_order_id"] for r in await ndjson(client, "/_ledger/orders")] == ["o-2"]
    run(scenario)


def test_declining_test_card_is_a_402_replayed_under_its_key_and_a_payment_failed_event(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with stripe_mock(tmp_path) as client:
            params = form(amount=500, currency="eur", confirm=True, payment_method="pm_card_chargeDeclined",
                          metadata={"order_id": "o-3"})
            headers = params["headers"] | {"Idempotency-Key": "k-decline"}
            first = await client.post("/v1/payment_intents", content=params["content"], headers=headers)
            again = await client.post("/v1/payment_intents", content=params["content"], headers=headers)
            assert first.status_code == 402 == again.status_code
            error = first.json()["error"]
            assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined",
                                                                              "generic_decline")
            assert error["payment_intent"]["status"] == "requires_payment_method"
            assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
            [line] = await ndjson(client, "/_ledger/orders")
            assert (line["status"], line["idempotency_key"]) == ("declined", "k-decline")
            events = (await client.get("/v1/events", params={"type": "payment_intent.payment_failed"})).json()
            assert [e["data"]["object"]["id"] for e in events["data"]] == [error["payment_intent"]["id"]]
    run(scenario)


def test_idempotency_key_rules(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with stripe_mock(tmp_path) as client:
            def keyed(key: str, **params: Any) -> dict[str, Any]:
                encoded = form(**params)
                return {"content": encoded["content"], "headers": encoded["headers"] | {"Idempotency-Key": key}}
            # A parameter error is not stored: the same key then works for a valid request.
            invalid = await client.post("/v1/payment_intents", **keyed("k1", amount=-1, currency="eur"))
            assert invalid.status_code == 400 and invalid.json()["error"]["param"] == "amount"
            first = await client.post("/v1/payment_intents", **keyed("k1", amount=100, currency="eur"))
            replay = await client.post("/v1/payment_intents", **keyed("k1", amount=100, currency="eur"))
            assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first.json()
            other = await client.post("/v1/payment_intents", **keyed("k1", amount=200, currency="eur"))
            assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
            # At Stripe a key belongs to the account, not the endpoint.
            payout = await client.post("/v1/payouts", **keyed("k1", amount=100, currency="eur"))
            assert payout.status_code == 400 and payout.json()["error"]["type"] == "idempotency_error"
            # Without a key every request acts anew: two PaymentIntents.
            await client.post("/v1/payment_intents", **form(amount=100, currency="eur"))
            await client.post("/v1/payment_intents", **form(amount=100, currency="eur"))
            listed = (await client.get("/v1/payment_intents", params={"limit": 10})).json()
            assert len(listed["data"]) == 3 and listed["has_more"] is False

            # A wide window (the first held 2 s, the second sent after 0.5 s), so a busy machine cannot close it.
            await client.put("/_control/behaviour", json={"delay": {"kind": "fixed", "ms": 2000}})
            slow = asyncio.create_task(client.post("/v1/payment_intents", **keyed("k2", amount=1, currency="eur")))
            await asyncio.sleep(0.5)
            busy = await client.post("/v1/payment_intents", **keyed("k2", amount=1, currency="eur"))
            assert busy.status_code == 409 and busy.json()["error"]["code"] == "idempotency_key_in_use"
            assert (await slow).status_code == 200
    run(scenario)


def test_search_list_cancel_and_retrieve_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with stripe_mock(tmp_path) as client:
            ids = [(await client.post("/v1/payment_intents", **form(
                amount=100 + i, currency="eur", metadata={"order_id": f"o-{i % 2}", "shop": f"s{i}"}))).json()["id"]
                for i in range(5)]
            found = (await client.get("/v1/payment_intents/search",
                                      params={"query": "metadata['order_id']:'o-1'"})).json()
            assert found["object"] == "search_result" and {i["id"] for i in found["data"]} == {ids[1], ids[3]}
            query = "metadata['shop']:'s4' AND status:'requires_payment_method'"
            by_other = await client.get("/v1/payment_intents/search", params={"query": query})
            assert [i["id"] for i in by_other.json()["data"]] == [ids[4]]
            bad = await client.get("/v1/payment_intents/search", params={"query": "amount>3"})
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "query"
            page = (await client.get("/v1/payment_intents", params={"limit": 2, "starting_after": ids[4]})).json()
            assert [i["id"] for i in page["data"]] == [ids[3], ids[2]] and page["has_more"] is True

            canceled = await client.post(f"/v1/payment_intents/{ids[0]}/cancel",
                                         **form(cancellation_reason="abandoned"))
            assert canceled.json()["status"] == "canceled"
            twice = await client.post(f"/v1/payment_intents/{ids[0]}/cancel", **form())
            assert twice.status_code == 400
            [event] = (await client.get("/v1/events", params={"type": "payment_intent.canceled"})).json()["data"]
            assert (await client.get(f"/v1/events/{event['id']}")).json() == event

            missing = await client.get("/v1/payment_intents/pi_nope")
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"
            unknown = await client.post("/v1/payment_intents", **form(amount=1, currency="eur", colour="red"))
            assert unknown.json()["error"] == {"type": "invalid_request_error", "code": "parameter_unknown",
                                               "message": "Received unknown parameter: colour", "param": "colour"}
            assert (await client.get("/v1/orders")).status_code == 404  # the native API is not served
    run(scenario)


def test_auth_bearer_or_basic_with_the_key_as_user(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with stripe_mock(tmp_path) as client:
            wrong = await client.get("/v1/events", headers={"Authorization": "Bearer sk_test_wrong"})
            assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "invalid_request_error"
            assert (await client.get("/v1/events", headers={"Authorization": ""})).status_code == 401
            basic = await client.get("/v1/events", auth=(KEY, ""))
            assert basic.status_code == 200
    run(scenario)


# ---- Payouts, webhooks, faults ------------------------------------------------------------------
def test_payouts_settle_and_every_webhook_verifies_with_the_sdk(tmp_path: Path) -> None:
    received: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(500 if len(received) == 1 else 200)  # the first delivery fails: retried

    async def scenario() -> None:
        async with stripe_mock(tmp_path, answer) as client:
            await client.put("/_control/behaviour", json={"settle_delay_ms": 0, "reject_rate": 0.0,
                                                          "callback_backoff_ms": 10})
            payout = (await client.post("/v1/payouts", **form(amount=700, currency="gbp",
                                                              metadata={"payout_id": "p-1"}))).json()
            assert (payout["object"], payout["status"], payout["id"][:3]) == ("payout", "pending", "po_")

            async def delivered() -> bool:
                return any(j["outcome"] == "delivered" for j in await ndjson(client, "/_ledger/callbacks"))
            await poll(delivered, "the payout.paid webhook was delivered")
            assert (await client.get(f"/v1/payouts/{payout['id']}")).json()["status"] == "paid"
            [line] = await ndjson(client, "/_ledger/payouts")
            assert (line["merchant_payout_id"], line["status"], line["currency"]) == ("p-1", "paid", "GBP")
    run(scenario)
    assert len(received) == 2 and received[0].content == received[1].content
    assert str(received[0].url) == "http://sut.test/stripe/webhook"
    event = stripe.Webhook.construct_event(received[1].content.decode(), received[1].headers["stripe-signature"],
                                           WHSEC)
    assert (event.type, event.data.object.id, event.object) == ("payout.paid", json.loads(
        received[1].content)["data"]["object"]["id"], "event")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(received[1].content.decode(), received[1].headers["stripe-signature"],
                                       "whsec_forged")


def test_without_a_callback_base_url_events_are_recorded_not_delivered(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with stripe_mock(tmp_path, base_url=None) as client:
            await client.put("/_control/behaviour", json={"settle_delay_ms": 0})
            await client.post("/v1/payouts", **form(amount=1, currency="eur"))

            async def evented() -> bool:
                return bool((await client.get("/v1/events")).json()["data"])
            await poll(evented, "an event was recorded")
            assert await ndjson(client, "/_ledger/callbacks") == []
    run(scenario)


def test_injected_errors_use_the_status_picked_for_the_dialect_and_store_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with stripe_mock(tmp_path) as client:
            await client.put("/_control/behaviour", json={"error_rate": 1.0})
            for status, kind in ((500, "api_error"), (503, "api_error"), (429, "invalid_request_error")):
                assert (await client.put("/_control/stripe", json={"injected_error_status": status})).is_success
                failed = await client.post("/v1/payment_intents", **form(amount=1, currency="eur"))
                assert failed.status_code == status and failed.json()["error"]["type"] == kind
            bad = await client.put("/_control/stripe", json={"injected_error_status": 418})
            assert bad.status_code == 422 and "418" in bad.json()["error"]["message"]
            await client.post("/_control/reset", json={"ledger": True})
            assert (await client.get("/_control/stripe")).json()["injected_error_status"] == 500
            assert (await client.get("/v1/payment_intents")).json()["data"] == []
    run(scenario)
