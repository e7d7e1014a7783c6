"""``provider: {dialect: stripe, intercept: true}`` for the SDK it was made for: stripe-go, whose default
client has no base-URL setting, built from ``intercept_go/`` and run unmodified as the stage's SUT.

Slow (the first ``go build`` of stripe-go takes a minute), and skipped where ``go`` is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.stage import LocalStage, StageConfig
from harness.target import load_target

SOURCE = Path(__file__).resolve().parent / "intercept_go"
LATENCY_MS = 300

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStage]:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go not found on PATH: the stripe-go SUT cannot be built")
    root = tmp_path_factory.mktemp("intercept-go")
    binary = root / "sut"
    built = subprocess.run([go, "build", "-o", str(binary), "."], cwd=SOURCE, capture_output=True, text=True,
                           timeout=600, env={**os.environ, "GOFLAGS": "-mod=readonly"})
    assert built.returncode == 0, f"go build of {SOURCE} failed:\n{built.stderr}"
    target_file = root / "target.yaml"
    target_file.write_text(f"""\
name: intercept-go
start: [{str(binary)!r}]
health: /healthz
provider: {{dialect: stripe, intercept: true}}
state:
  orders_sql: "SELECT 'x' AS order_id, 'pending' AS status WHERE false"
  payouts_sql: "SELECT 'x' AS payout_id, 'pending' AS status WHERE false"
""")
    stage = LocalStage.start(StageConfig(root=root / "stage", target=load_target(target_file)))
    try:
        yield stage
    finally:
        stage.stop()


def pay(stage: LocalStage, order_id: str) -> httpx.Response:
    return httpx.post(f"{stage.sut_url}/pay/{order_id}", timeout=60)


def test_stripe_go_calls_api_stripe_com_and_reaches_the_mock_provider(stage: LocalStage) -> None:
    assert httpx.get(f"{stage.sut_url}/healthz").json() == {"api_base": "https://api.stripe.com"}
    answer = pay(stage, "go-plain")
    assert answer.status_code == 200, answer.text
    paid = answer.json()
    assert (paid["amount"], paid["order_id"]) == (1200, "go-plain") and paid["id"].startswith("pi_")
    direct = httpx.get(f"{stage.provider_url}/v1/payment_intents/{paid['id']}", auth=(stage.api_key, ""))
    assert direct.status_code == 200 and direct.json()["metadata"] == {"order_id": "go-plain"}


def test_latency_on_the_provider_link_slows_stripe_go(stage: LocalStage) -> None:
    baseline = min(pay(stage, f"go-base-{n}").json()["seconds"] for n in range(3))
    stage.toxiproxy.add_toxic("provider", "latency", attributes={"latency": f"{LATENCY_MS}ms"})
    try:
        slowed = [pay(stage, f"go-slow-{n}").json()["seconds"] for n in range(2)]
    finally:
        stage.heal()
    assert min(slowed) >= 2 * LATENCY_MS / 1000, (baseline, slowed)
    assert baseline < LATENCY_MS / 1000, baseline
