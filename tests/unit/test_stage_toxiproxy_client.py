"""The Toxiproxy client against a recorded fake API: what it sends, and how refusals read."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from harness._exceptions import ToxiproxyError, UsageError
from harness.stage.toxiproxy import ToxiproxyClient


class FakeToxiproxy:
    """Answers like Toxiproxy 2.12 for the calls under test and keeps every request body."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body: Any = json.loads(request.content) if request.content else None
        self.sent.append((request.method, request.url.path, body))
        if request.url.path == "/proxies" and request.method == "POST" and body["name"] == "taken":
            return httpx.Response(409, json={"error": "proxy already exists", "status": 409})
        if request.url.path.endswith("/toxics") and request.method == "POST":
            return httpx.Response(200, json=body)
        if request.url.path == "/version":
            return httpx.Response(200, text="2.12.0")
        return httpx.Response(204)


@pytest.fixture
def fake() -> FakeToxiproxy:
    return FakeToxiproxy()


@pytest.fixture
def client(fake: FakeToxiproxy) -> ToxiproxyClient:
    return ToxiproxyClient("http://toxiproxy.test", transport=httpx.MockTransport(fake))


def test_a_toxic_is_sent_complete_with_durations_in_milliseconds(client: ToxiproxyClient,
                                                                  fake: FakeToxiproxy) -> None:
    toxic = client.add_toxic("db", "latency", stream="upstream", toxicity=0.5, attributes={"latency": "1.2s"})
    assert fake.sent == [("POST", "/proxies/db/toxics", {
        "name": "latency_upstream", "type": "latency", "stream": "upstream", "toxicity": 0.5,
        "attributes": {"latency": 1200, "jitter": 0}})]
    assert (toxic.name, toxic.kind, toxic.attributes["latency"]) == ("latency_upstream", "latency", 1200)


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "earthquake"}, "expected one of latency"),
    ({"kind": "latency", "stream": "sideways"}, "expected upstream or downstream"),
    ({"kind": "latency", "toxicity": 1.5}, "within 0..1"),
    ({"kind": "latency", "attributes": {"latncy": 5}}, "expected latency, jitter"),
])
def test_bad_toxics_are_usage_errors_and_never_reach_toxiproxy(client: ToxiproxyClient, fake: FakeToxiproxy,
                                                                kwargs: dict[str, Any], message: str) -> None:
    kind = kwargs.pop("kind")
    with pytest.raises(UsageError, match=message):
        client.add_toxic("db", kind, **kwargs)
    assert fake.sent == []


def test_a_refusal_carries_toxiproxys_own_message(client: ToxiproxyClient) -> None:
    with pytest.raises(ToxiproxyError, match="409 proxy already exists"):
        client.create_proxy("taken", "127.0.0.1:0", "127.0.0.1:1")


def test_version_and_reset(client: ToxiproxyClient, fake: FakeToxiproxy) -> None:
    assert client.version() == "2.12.0"
    client.reset()
    assert fake.sent[-1] == ("POST", "/reset", None)
