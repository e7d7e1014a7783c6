"""Faults applied and healed on a real stage: Toxiproxy, PostgreSQL, the mock provider, the reference SUT.

One stage serves the whole module (starting one is most of the cost); every test heals what it
applied in a ``finally``, and the fixture's ``stage.heal()`` + ``stage.stop()`` run whatever
happens, so no toxic, stopped server or process outlives a test.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from harness.faults import FORGED_JOURNAL, FaultContext, make_fault
from harness.faults.forged import ForgedCallbacks
from harness.stage import LocalStage, StageConfig
from harness.target import load_target


def eventually(check: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` when the deadline passes first."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {deadline_s} s: {what}")


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStage]:
    root = tmp_path_factory.mktemp("faults-stage")
    stage = LocalStage.start(StageConfig(root=root, seed=3, sut_env={"ORDERQUAKE_SUT_POOL_SIZE": "4"}))
    try:
        yield stage
    finally:
        try:
            stage.heal()
        finally:
            stage.stop()


@pytest.fixture
def ctx(stage: LocalStage, tmp_path: Path) -> Iterator[FaultContext]:
    yield FaultContext(stage=stage, target=load_target(None), run_dir=tmp_path, rng=random.Random(3))
    stage.heal()


def _toxic_names(stage: LocalStage, link: str) -> list[str]:
    return [t.name for t in stage.toxiproxy.proxy(link).toxics]


def _client_healthy(stage: LocalStage) -> bool:
    try:
        return httpx.get(f"{stage.client_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _db_accepts(stage: LocalStage) -> bool:
    try:
        with psycopg.connect(stage.sut_database_url, connect_timeout=1):
            return True
    except psycopg.OperationalError:
        return False


def test_latency_toxic_slows_the_link_and_heal_removes_it(stage: LocalStage, ctx: FaultContext) -> None:
    fault = make_fault("f1-latency", "latency", {"link": "client", "latency": "400ms"})
    try:
        fault.apply(ctx)
        assert _toxic_names(stage, "client") == ["f1-latency"]
        started = time.monotonic()
        assert _client_healthy(stage)
        assert time.monotonic() - started >= 0.4
    finally:
        fault.heal(ctx)
    fault.heal(ctx)
    assert _toxic_names(stage, "client") == []


def test_link_down_refuses_connections_until_healed(stage: LocalStage, ctx: FaultContext) -> None:
    fault = make_fault("d", "down", {"link": "client"})
    try:
        fault.apply(ctx)
        assert not _client_healthy(stage)
    finally:
        fault.heal(ctx)
    assert stage.toxiproxy.proxy("client").enabled
    eventually(lambda: _client_healthy(stage), 5, "the client link serves again after heal")


def test_db_outage_stops_postgres_and_heal_restarts_it(stage: LocalStage, ctx: FaultContext) -> None:
    fault = make_fault("o", "db_outage", {})
    try:
        fault.apply(ctx)
        assert not stage.postgres.running
        assert not _db_accepts(stage)
    finally:
        fault.heal(ctx)
    fault.heal(ctx)
    assert _db_accepts(stage)


def test_sut_crash_kills_and_heal_waits_until_healthy(stage: LocalStage, ctx: FaultContext) -> None:
    sut = stage.components["sut"]
    pid = sut.pid
    fault = make_fault("c", "sut_crash", {})
    try:
        fault.apply(ctx)
        assert not sut.running
    finally:
        fault.heal(ctx)
    assert sut.running and sut.pid != pid
    assert httpx.get(f"{stage.sut_url}/healthz", timeout=2).status_code == 200


def _behaviour(stage: LocalStage) -> dict[str, object]:
    response = httpx.get(f"{stage.provider_url}/_control/behaviour", timeout=5)
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body


def test_provider_behaviour_faults_overlap_and_restore(stage: LocalStage, ctx: FaultContext) -> None:
    before = _behaviour(stage)
    stall = make_fault("s", "settlement_stall", {})
    key = make_fault("k", "api_key_rotation", {})
    try:
        stall.apply(ctx)
        key.apply(ctx)
        during = _behaviour(stage)
        assert during["settlement_stalled"] is True
        assert during["api_key"] != before["api_key"]
        stall.heal(ctx)
        assert _behaviour(stage)["settlement_stalled"] is False
        assert _behaviour(stage)["api_key"] == during["api_key"], "healing one fault must leave the other"
    finally:
        stall.heal(ctx)
        key.heal(ctx)
    assert _behaviour(stage) == before


def _forge_one_round(stage: LocalStage, ctx: FaultContext) -> tuple[list[str], list[dict[str, object]]]:
    """Three pending orders (settlement stalled), one round of forgeries; the ids and the journal."""
    stall = make_fault("s", "settlement_stall", {})
    forged = make_fault("fc", "forged_callbacks", {"count": 3, "unknown": 1})
    assert isinstance(forged, ForgedCallbacks)
    ids = [f"fc-{random.Random().getrandbits(32):08x}-{n}" for n in range(3)]
    try:
        stall.apply(ctx)
        for order_id in ids:
            body = {"order_id": order_id, "account_id": "a", "amount_minor": 700, "currency": "EUR"}
            assert httpx.post(f"{stage.sut_url}/orders", json=body, timeout=5).status_code in (200, 201)
        with httpx.Client(timeout=3) as http:
            forged.round(ctx, http)
    finally:
        forged.heal(ctx)
        stall.heal(ctx)
    lines = [json.loads(line) for line in (ctx.run_dir / FORGED_JOURNAL).read_text().splitlines()]
    return ids, lines


def _sut_status(stage: LocalStage, order_id: str) -> str:
    return str(httpx.get(f"{stage.sut_url}/orders/{order_id}", timeout=5).json()["status"])


def test_forged_callbacks_are_journaled_and_rejected_by_the_correct_service(stage: LocalStage,
                                                                            ctx: FaultContext) -> None:
    ids, lines = _forge_one_round(stage, ctx)
    by_id = {line["id"]: line for line in lines if line["object"] == "order"}
    assert set(ids) <= set(by_id)
    assert {by_id[i]["kind"] for i in ids} == {"unsigned", "bad_signature", "stale_replay"}
    assert all(by_id[i]["claim"] == "declined" for i in ids)
    assert sum(1 for line in lines if line["kind"] == "unknown_id") == 2
    assert set(lines[0]) == {"object", "id", "claim", "kind", "sent_at", "http_status"}
    statuses = [line["http_status"] for line in lines]
    assert all(isinstance(s, int) and 400 <= s < 500 for s in statuses), statuses
    assert all(_sut_status(stage, order_id) != "declined" for order_id in ids)


def test_forged_callbacks_change_a_service_that_does_not_check_signatures(tmp_path: Path) -> None:
    stage = LocalStage.start(StageConfig(root=tmp_path / "stage", seed=4, variant="no-signature-check",
                                         sut_env={"ORDERQUAKE_SUT_POOL_SIZE": "4"}))
    try:
        ctx = FaultContext(stage=stage, target=load_target(None), run_dir=tmp_path, rng=random.Random(4))
        ids, _ = _forge_one_round(stage, ctx)
        assert [_sut_status(stage, order_id) for order_id in ids] == ["declined"] * 3
    finally:
        stage.stop()
