"""``provider: {dialect: stripe, intercept: true}`` on a real stage: an unmodified stripe-python SUT
reaches the mock provider through the intercept proxy and the provider link, faults included."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.stage import LocalStage, StageConfig
from harness.stage.process import alive
from harness.target import load_target

SUT = Path(__file__).resolve().parent / "intercept_sut.py"
LATENCY_MS = 300

pytestmark = pytest.mark.integration


def write_target(folder: Path, start: list[str]) -> Path:
    path = folder / "target.yaml"
    path.write_text(f"""\
name: intercept
start: {start!r}
health: /healthz
provider: {{dialect: stripe, intercept: true}}
state:
  orders_sql: "SELECT 'x' AS order_id, 'pending' AS status WHERE false"
  payouts_sql: "SELECT 'x' AS payout_id, 'pending' AS status WHERE false"
""")
    return path


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStage]:
    root = tmp_path_factory.mktemp("intercept")
    target = load_target(write_target(root, ["{python}", str(SUT)]))
    stage = LocalStage.start(StageConfig(root=root / "stage", target=target))
    try:
        yield stage
    finally:
        stage.stop()


@pytest.fixture(autouse=True)
def healed(stage: LocalStage) -> Iterator[None]:
    yield
    stage.heal()


def pay(stage: LocalStage, order_id: str) -> httpx.Response:
    return httpx.post(f"{stage.sut_url}/pay/{order_id}", timeout=30)


def test_the_sut_calls_api_stripe_com_and_reaches_the_mock_provider(stage: LocalStage) -> None:
    assert httpx.get(f"{stage.sut_url}/healthz").json() == {"api_base": "https://api.stripe.com"}
    answer = pay(stage, "o-plain")
    assert answer.status_code == 200, answer.text
    paid: dict[str, Any] = answer.json()
    assert (paid["amount"], paid["order_id"]) == (1200, "o-plain") and paid["id"].startswith("pi_")
    # The provider itself holds the intent the SDK made: read directly, not through the proxy.
    direct = httpx.get(f"{stage.provider_url}/v1/payment_intents/{paid['id']}", auth=(stage.api_key, ""))
    assert direct.status_code == 200 and direct.json()["metadata"] == {"order_id": "o-plain"}


def test_the_sut_environment_names_the_proxy_and_the_test_ca(stage: LocalStage) -> None:
    env = stage.sut_environment()
    certs = stage.intercept_certs
    assert certs is not None
    assert env["HTTPS_PROXY"] == env["https_proxy"] == f"http://127.0.0.1:{stage.ports['intercept']}"
    assert env["NO_PROXY"] == "127.0.0.1,localhost"
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == env["CURL_CA_BUNDLE"] == str(certs.bundle)
    assert certs.folder == stage.config.root / "intercept"
    assert "intercept" in {entry.name for entry in stage.state.processes}


def test_latency_on_the_provider_link_slows_the_sdk_calls(stage: LocalStage) -> None:
    baseline = min(pay(stage, f"o-base-{n}").json()["seconds"] for n in range(3))
    stage.toxiproxy.add_toxic("provider", "latency", attributes={"latency": f"{LATENCY_MS}ms"})
    slowed = [pay(stage, f"o-slow-{n}").json()["seconds"] for n in range(2)]
    # Two SDK calls, each answered once through the link's downstream.
    assert min(slowed) >= 2 * LATENCY_MS / 1000, (baseline, slowed)
    assert baseline < LATENCY_MS / 1000, baseline


def test_a_provider_link_down_is_a_connection_error_in_the_sdk(stage: LocalStage) -> None:
    stage.toxiproxy.set_enabled("provider", False)
    answer = pay(stage, "o-down")
    assert answer.status_code == 502 and answer.json()["error"] == "APIConnectionError", answer.text
    stage.heal()
    assert pay(stage, "o-down").status_code == 200


def test_the_proxy_refuses_other_hosts_and_plain_http(stage: LocalStage) -> None:
    async def ask(request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", stage.ports["intercept"])
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return answer

    for request in (b"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
                    b"CONNECT api.stripe.com:80 HTTP/1.1\r\n\r\n",
                    b"GET http://api.stripe.com/v1/events HTTP/1.1\r\nHost: api.stripe.com\r\n\r\n"):
        assert asyncio.run(ask(request)).startswith(b"HTTP/1.1 403 Forbidden"), request


def test_stop_removes_the_test_ca_and_the_proxy(tmp_path: Path) -> None:
    target = load_target(write_target(tmp_path, ["{python}", str(SUT)]))
    stage = LocalStage.start(StageConfig(root=tmp_path / "stage", target=target, components=("provider",)))
    certs, proxy = stage.intercept_certs, stage.components["intercept"]
    assert certs is not None and certs.ca_key.exists() and proxy.pid is not None
    pid, started = proxy.pid, proxy.started
    stage.stop()
    assert not certs.folder.exists()
    assert not alive(pid, started)
    assert not os.path.exists(stage.state.path)
