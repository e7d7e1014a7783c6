"""A stage with two provider processes behind its one provider link: one provider to the SUT and the faults."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.stage import LocalStage, StageConfig
from harness.stage.process import alive, children_of, start_time
from mock_provider.provider import Provider


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStage]:
    stage = LocalStage.start(StageConfig(root=tmp_path_factory.mktemp("stage"), components=("provider",),
                                         provider_processes=2))
    try:
        yield stage
    finally:
        stage.stop()


def _children(pid: int) -> list[tuple[int, int | None]]:
    return [(child, start_time(child)) for child in children_of(pid)]


def _create(stage: LocalStage, merchant_id: str) -> httpx.Response:
    # A connection of its own through the link, so that each lands on either process.
    with httpx.Client(base_url=stage.links["provider"].url, timeout=10.0,
                      headers={"Authorization": f"Bearer {stage.api_key}"}) as client:
        return client.post("/v1/orders", json={"merchant_order_id": merchant_id, "amount_minor": 100,
                                               "currency": "EUR", "callback_url": "http://127.0.0.1:9/cb"})


def _shard(response: httpx.Response) -> int:
    seq = Provider.seq_of(response.json()["id"])
    assert seq is not None
    return (seq - 1) % 2


def test_both_processes_serve_the_provider_link_and_obey_its_faults(stage: LocalStage) -> None:
    stage.provider.set_behaviour({"settlement_stalled": True})
    assert {_shard(_create(stage, f"a-{i}")) for i in range(24)} == {0, 1}
    stage.provider.set_behaviour({"error_rate": 1.0})
    assert {_create(stage, f"b-{i}").status_code for i in range(24)} == {500}
    stage.provider.set_behaviour({"error_rate": 0.0})


def test_a_provider_crash_takes_every_process_and_heal_brings_them_back(stage: LocalStage) -> None:
    provider = stage.components["provider"]
    assert provider.pid is not None
    before = _children(provider.pid)
    assert len(before) == 2
    records = len(httpx.get(f"{stage.provider_url}/_ledger/orders", timeout=10).text.splitlines())
    provider.crash()  # what the provider_crash fault does: SIGKILL of the group
    assert not any(alive(pid, started) for pid, started in before)
    stage.heal()
    assert provider.pid is not None and len(_children(provider.pid)) == 2
    assert len(httpx.get(f"{stage.provider_url}/_ledger/orders", timeout=10).text.splitlines()) == records
