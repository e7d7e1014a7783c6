"""stripe-python 14, the last major whose objects are dicts, against the mock's ``stripe`` dialect.

test_stripe_sdk.py judges the dialect by the venv's stripe 16. Until 15.0 (stripe-python #1762)
every ``StripeObject`` was a ``dict``, and merchant code of that era reads ``intent["id"]``,
``intent.get(...)`` and ``json.dumps(intent)``; 14 also still waits out a ``Retry-After`` between
its retries (dropped in #1843; the mock sends none). ``make setup`` installs 14 into
``.tools/stripe-old``; stripe_old_client.py runs it there, in a process of its own beside a real
provider process, and these tests judge what it reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from provider_process import REPO, StripeHooks, stripe_hooks, stripe_provider, wait_for

from harness._paths import tools_dir

pytestmark = pytest.mark.integration

KEY = "sk_test_x"
WHSEC = "whsec_x"
HOOK_PATH = "/hook"
CLIENT = Path(__file__).with_name("stripe_old_client.py")
MAJOR = "14"


@pytest.fixture(scope="module")
def old_sdk() -> Path:
    """Where setup.sh installed stripe 14; a missing install skips here, and fails wherever CI is set."""
    where = tools_dir() / "stripe-old"
    if not (where / "stripe").is_dir():
        reason = f"stripe {MAJOR}.x is not installed in {where}: run 'make setup'"
        if "CI" in os.environ:
            pytest.fail(reason)
        pytest.skip(reason)
    return where


@dataclass
class Hooks(StripeHooks):
    """Webhooks received (``provider_process.StripeHooks``), looked up by event type and object."""

    def find(self, event_type: str, object_id: str) -> tuple[bytes, str, str] | None:
        with self.lock:
            for hook in self.received:
                event = json.loads(hook[0])
                if (event["type"], event["data"]["object"]["id"]) == (event_type, object_id):
                    return hook
        return None


@dataclass
class OldClient:
    """stripe_old_client.py running stripe 14 in its own process, a request line in, an answer line out."""

    process: subprocess.Popen[str]

    def run(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the stripe 14 client exited with {self.process.wait()}: see its stderr above"
        return list(json.loads(line))


@pytest.fixture(scope="module")
def old_client(old_sdk: Path) -> Iterator[OldClient]:
    # One process for the module: a start costs seconds on a busy machine. stderr is left to pytest.
    process = subprocess.Popen([sys.executable, str(CLIENT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, cwd=REPO, env=os.environ | {"PYTHONPATH": str(old_sdk)})
    try:
        assert process.stdout is not None
        hello = json.loads(process.stdout.readline() or "null")
        assert hello is not None, f"the stripe 14 client exited with {process.wait()}"
        assert hello["version"].split(".")[0] == MAJOR and Path(hello["module"]).is_relative_to(old_sdk), hello
        yield OldClient(process)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Mock:
    url: str
    hooks: Hooks
    control: httpx.Client
    client: OldClient
    baseline: dict[str, float] = field(default_factory=dict)

    def behave(self, **fields: Any) -> None:
        self.control.put("/_control/behaviour", json=fields).raise_for_status()

    def reset(self) -> None:
        """Start-up behaviour, an empty ledger, no webhooks seen, misbehaviours counted from zero."""
        self.control.post("/_control/reset", json={"ledger": True}).raise_for_status()
        with self.hooks.lock:
            self.hooks.received.clear()
        self.baseline = self._misbehaviours()

    def ledger(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.control.get("/_ledger/orders").text.splitlines() if line]

    def _misbehaviours(self) -> dict[str, float]:
        counts: dict[str, float] = {}
        for family in text_string_to_metric_families(self.control.get("/metrics").text):
            for sample in family.samples:
                if sample.name == "provider_misbehaviours_total":
                    counts[sample.labels["kind"]] = sample.value
        return counts

    def misbehaviours(self, kind: str) -> float:
        """How many times the provider applied misbehaviour ``kind`` since ``reset`` (its /metrics counter)."""
        return self._misbehaviours().get(kind, 0.0) - self.baseline.get(kind, 0.0)

    def old(self, *calls: dict[str, Any], retries: int = 0) -> list[dict[str, Any]]:
        """Make ``calls`` with stripe 14 (``retries`` automatic retries each); one result per call."""
        return self.client.run({"api_base": self.url, "api_key": KEY, "max_network_retries": retries,
                                "calls": list(calls)})


def call(name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"call": name, "args": list(args), "kwargs": kwargs}


def create(order_id: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"amount": 1200, "currency": "eur", "metadata": {"order_id": order_id}}
    return call("PaymentIntent.create", **(params | extra))


@pytest.fixture(scope="module")
def hooks() -> Iterator[Hooks]:
    with stripe_hooks(Hooks) as found:
        yield found


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory, hooks: Hooks, old_client: OldClient) -> Iterator[Mock]:
    """One stripe-dialect provider process for the module (a start costs seconds on a busy machine)."""
    with stripe_provider(tmp_path_factory.mktemp("stripe-old"), api_key=KEY, webhook_secret=WHSEC, hooks=hooks,
                         hook_path=HOOK_PATH, seed=7) as url, httpx.Client(base_url=url, timeout=10.0) as control:
        yield Mock(url, hooks, control, old_client)


@pytest.fixture
def mock(provider: Mock) -> Mock:
    provider.reset()
    return provider


def test_create_confirm_and_retrieve_give_objects_that_are_dicts(mock: Mock) -> None:
    mock.behave(settle_delay_ms=0, decline_rate=0.0, reject_rate=0.0)
    [made] = mock.old(create("o-1", confirm=True, payment_method="pm_card_visa"))
    intent = made["object"]
    assert (intent["class"], intent["is_dict"], intent["metadata_is_dict"]) == ("PaymentIntent", True, True)
    assert intent["item_id"] == intent["attribute_id"] == intent["plain_dict_id"] == intent["data"]["id"]
    assert intent["get_object"] == "payment_intent"
    data = intent["data"]
    assert (data["status"], data["amount"], data["currency"], data["metadata"]) == (
        "processing", 1200, "eur", {"order_id": "o-1"})
    wait_for(lambda: [r["status"] for r in mock.ledger()] == ["succeeded"], 10, "the intent settled")
    [again] = mock.old(call("PaymentIntent.retrieve", data["id"]))
    assert (again["object"]["is_dict"], again["object"]["data"]["status"]) == (True, "succeeded")
    assert again["object"]["data"]["id"] == data["id"]


@pytest.mark.parametrize("fault", ["process_then_error_rate", "process_then_drop_rate"])
def test_sdk_retries_after_processing_replay_the_one_intent(mock: Mock, fault: str) -> None:
    mock.behave(**{fault: 1.0, "settlement_stalled": True})
    [made] = mock.old(create("o-retried", confirm=True, payment_method="pm_card_visa", idempotency_key="k-after"),
                      retries=3)
    intent = made["object"]
    # The first attempt was processed and then failed; the SDK's retry got the stored answer back.
    assert mock.misbehaviours(fault.removesuffix("_rate")) == 1
    assert intent["headers"]["idempotent-replayed"] == "true" and intent["data"]["status"] == "processing"
    records = mock.ledger()
    assert [(r["id"], r["merchant_order_id"], r["idempotency_key"]) for r in records] == [
        (intent["data"]["id"], "o-retried", "k-after")]


def test_sdk_retries_through_injected_500s_make_exactly_one_intent(mock: Mock) -> None:
    mock.behave(error_rate=1.0, settlement_stalled=True)

    def heal_after_the_first_500() -> None:
        wait_for(lambda: mock.misbehaviours("error") >= 1, 20, "an injected 500")
        mock.behave(error_rate=0.0)

    with ThreadPoolExecutor(1) as pool:
        healer = pool.submit(heal_after_the_first_500)
        # Five retries back off 0.5 s and more each: the healer has ample time after the first 500.
        [made] = mock.old(create("o-500", confirm=True, payment_method="pm_card_visa", idempotency_key="k-500"),
                          retries=5)
        healer.result()
    assert mock.misbehaviours("error") >= 1
    intent = made["object"]
    assert "idempotent-replayed" not in intent["headers"]  # nothing was stored before: the retry acted anew
    assert [(r["id"], r["idempotency_key"]) for r in mock.ledger()] == [(intent["data"]["id"], "k-500")]


def test_sdk_gives_up_on_500s_after_its_retries_and_made_nothing(mock: Mock) -> None:
    mock.behave(error_rate=1.0)
    [failed] = mock.old(create("o-down", confirm=True, payment_method="pm_card_visa"), retries=2)
    error = failed["error"]
    assert (error["class"], error["http_status"], error["error"]["type"]) == ("APIError", 500, "api_error")
    assert mock.misbehaviours("error") == 3  # the first attempt and two retries
    assert mock.ledger() == []


def test_each_error_raises_the_old_sdk_class_it_maps_to(mock: Mock) -> None:
    declined, wrong_key, bad_param, missing, first, reused = mock.old(
        create("o-card", confirm=True, payment_method="pm_card_chargeDeclined"),
        call("PaymentIntent.list", api_key="sk_test_wrong"),
        create("o-bad", amount=0),
        call("PaymentIntent.retrieve", "pi_missing"),
        create("o-key", idempotency_key="fixed-key"),
        create("o-key", amount=1300, idempotency_key="fixed-key"))
    card = declined["error"]
    assert (card["class"], card["http_status"], card["code"]) == ("CardError", 402, "card_declined")
    assert card["error_is_dict"] and card["error"]["payment_intent"]["status"] == "requires_payment_method"
    assert (wrong_key["error"]["class"], wrong_key["error"]["http_status"]) == ("AuthenticationError", 401)
    assert (bad_param["error"]["class"], bad_param["error"]["http_status"], bad_param["error"]["param"]) == (
        "InvalidRequestError", 400, "amount")
    assert (missing["error"]["class"], missing["error"]["http_status"], missing["error"]["code"]) == (
        "InvalidRequestError", 404, "resource_missing")
    assert first["object"]["data"]["status"] == "requires_payment_method"
    assert reused["error"]["class"] == "IdempotencyError"
    for found in (card, wrong_key["error"], bad_param["error"], missing["error"], reused["error"]):
        assert "StripeError" in found["mro"], found


def test_construct_event_accepts_the_mocks_webhook_and_rejects_forgeries(mock: Mock) -> None:
    mock.behave(settle_delay_ms=0, decline_rate=0.0, reject_rate=0.0)
    [made] = mock.old(create("o-hook", confirm=True, payment_method="pm_card_visa"))
    intent_id = made["object"]["data"]["id"]
    wait_for(lambda: mock.hooks.find("payment_intent.succeeded", intent_id) is not None, 10, "its webhook arrived")
    found = mock.hooks.find("payment_intent.succeeded", intent_id)
    assert found is not None
    body, signature, path = found
    assert path == HOOK_PATH and signature.startswith("t=")
    payload = body.decode()
    forged_body = payload.replace('"succeeded"', '"canceled"', 1)
    forged_signature = signature.replace("v1=", "v1=0", 1)[:-1]
    real, retrieved, altered, resigned, other_secret = mock.old(
        call("Webhook.construct_event", payload, signature, WHSEC),
        call("Event.retrieve", json.loads(body)["id"]),
        call("Webhook.construct_event", forged_body, signature, WHSEC),
        call("Webhook.construct_event", payload, forged_signature, WHSEC),
        call("Webhook.construct_event", payload, signature, "whsec_someone_else"))
    event = real["object"]
    assert (event["class"], event["is_dict"], event["get_object"]) == ("Event", True, "event")
    assert (event["data"]["type"], event["data"]["data"]["object"]["id"]) == ("payment_intent.succeeded", intent_id)
    assert retrieved["object"]["data"] == event["data"]
    for forged in (altered, resigned, other_secret):
        assert forged["error"]["class"] == "SignatureVerificationError", forged
