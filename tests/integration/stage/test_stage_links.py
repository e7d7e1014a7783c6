"""The local stage on the real PostgreSQL and the real Toxiproxy: links that faults can break."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.stage import LocalStage, StageConfig


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStage]:
    stage = LocalStage.start(StageConfig(root=tmp_path_factory.mktemp("stage"), components=()))
    try:
        yield stage
    finally:
        stage.stop()


@pytest.fixture(autouse=True)
def healed(stage: LocalStage) -> Iterator[None]:
    yield
    stage.heal()


def _db_url(stage: LocalStage) -> str:
    host, port = stage.links["db"].listen.rsplit(":", 1)
    return stage.postgres.database_url("sut", host=host, port=int(port))


def _timed_query(url: str) -> float:
    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        started = time.monotonic()
        conn.execute("SELECT 1").fetchone()
        return time.monotonic() - started


def test_latency_on_the_db_link_slows_a_query_and_goes_away(stage: LocalStage) -> None:
    url = _db_url(stage)
    baseline = min(_timed_query(url) for _ in range(3))
    stage.toxiproxy.add_toxic("db", "latency", attributes={"latency": "150ms"})
    slowed = min(_timed_query(url) for _ in range(3))
    assert slowed >= 0.150, slowed
    stage.toxiproxy.remove_toxic("db", "latency_downstream")
    after = min(_timed_query(url) for _ in range(3))
    assert after < 0.150 and after < baseline + 0.1, (baseline, after)


def test_a_link_down_fails_fast_with_a_clear_error(stage: LocalStage) -> None:
    stage.toxiproxy.set_enabled("db", False)
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(_db_url(stage), connect_timeout=5)
    assert time.monotonic() - started < 2.0
    assert "refused" in str(caught.value).lower() or "connection" in str(caught.value).lower()


def test_reset_peer_breaks_an_open_connection(stage: LocalStage) -> None:
    conn = psycopg.connect(_db_url(stage), autocommit=True)
    try:
        conn.execute("SELECT 1")
        stage.toxiproxy.add_toxic("db", "reset_peer", stream="upstream", attributes={"timeout": 0})
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    finally:
        conn.close()


@pytest.mark.parametrize("how", ["immediate", "fast", "kill"])
def test_committed_rows_survive_a_hard_stop_and_restart(stage: LocalStage, how: str) -> None:
    url = stage.postgres.database_url("sut")
    table = f"durable_{how}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (n int)".encode())
        conn.execute(f"INSERT INTO {table} SELECT generate_series(1, 500)".encode())
    if how == "kill":
        stage.postgres.kill()
    else:
        stage.postgres.stop(how)
    assert not stage.postgres.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    stage.heal()
    with psycopg.connect(url) as conn:
        assert conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone() == (500,)


def test_heal_removes_toxics_and_enables_links(stage: LocalStage) -> None:
    stage.toxiproxy.add_toxic("provider", "latency", attributes={"latency": 100})
    stage.toxiproxy.set_enabled("client", False)
    stage.heal()
    proxies = stage.toxiproxy.proxies()
    assert all(p.enabled and not p.toxics for p in proxies.values())
    assert sorted(proxies) == ["callbacks", "client", "db", "provider"]


def test_stage_root_holds_the_logs(stage: LocalStage) -> None:
    assert (Path(stage.config.root) / "logs" / "toxiproxy.log").exists()
