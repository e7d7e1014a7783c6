"""Requests are checked before anything is written; a callback without a valid signature never reaches the database."""

from __future__ import annotations

import asyncio
import time

import pytest

from mock_provider.signing import sign
from order_service.app import _validate
from order_service.config import from_env
from order_service.db import Database
from order_service.flows import Rejected, Service
from order_service.kinds import ORDER, PAYOUT
from order_service.provider_client import ProviderClient
from order_service.variants import Flags, Variant

ENV = {"PORT": "1", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "PROVIDER_URL": "http://provider.test",
       "PROVIDER_API_KEY": "k", "PROVIDER_WEBHOOK_SECRET": "whsec_1", "CALLBACK_BASE_URL": "http://sut.test"}
GOOD = {"order_id": "o-1", "account_id": "a1", "amount_minor": 100, "currency": "EUR"}


def test_a_good_order_keeps_only_the_contract_fields() -> None:
    assert _validate(ORDER, {**GOOD, "extra": 1}) == GOOD
    payout = {"payout_id": "p1", "account_id": "a1", "amount_minor": 1, "currency": "USD"}
    assert _validate(PAYOUT, payout) == payout


@pytest.mark.parametrize(("change", "message"), [
    ({"order_id": ""}, "order_id"), ({"order_id": "a/b"}, "order_id"), ({"account_id": 7}, "account_id"),
    ({"amount_minor": 0}, "amount_minor"), ({"amount_minor": 1.5}, "amount_minor"),
    ({"amount_minor": True}, "amount_minor"), ({"currency": "eur"}, "currency"),
])
def test_a_bad_field_is_named(change: dict[str, object], message: str) -> None:
    problem = _validate(ORDER, {**GOOD, **change})
    assert isinstance(problem, str) and problem.startswith(message)


def _service(variant: Variant) -> Service:
    settings = from_env(ENV)
    return Service(settings=settings, flags=Flags.of(variant), db=Database(settings.database_url, 2),
                   provider=ProviderClient(settings))


BODY = b'{"event_id": "e1", "type": "order.succeeded", "data": {"order": {"merchant_order_id": "o-1"}}}'


@pytest.mark.parametrize("signature", [
    None, "garbage", sign("wrong", BODY, int(time.time())), sign("whsec_1", BODY, int(time.time()) - 301),
    sign("whsec_1", BODY + b" ", int(time.time())),
])
def test_an_unverified_callback_is_rejected_before_the_database(signature: str | None) -> None:
    with pytest.raises(Rejected) as caught:
        asyncio.run(_service(Variant.CORRECT).apply_callback(BODY, signature))
    assert caught.value.status == 401


def test_a_malformed_but_signed_callback_is_a_400() -> None:
    body = b'{"event_id": "e1", "type": "order"}'
    with pytest.raises(Rejected) as caught:
        asyncio.run(_service(Variant.CORRECT).apply_callback(body, sign("whsec_1", body, int(time.time()))))
    assert caught.value.status == 400
