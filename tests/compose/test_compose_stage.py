"""The compose stage itself: its links are the local stage's, its process faults stop, kill and
start containers, and ``stop`` leaves no container or network behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from harness.stage import LINKS, StageConfig
from harness.stage.compose import LABEL_OWNER, ComposeStage, clean_container_orphans, engine, load_links

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.compose, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStage]:
    root = tmp_path_factory.mktemp("compose")
    stage = ComposeStage.start(StageConfig(root=root / "stage", seed=3, log_dir=root / "logs"))
    try:
        yield stage
    finally:
        stage.stop()
        assert _owned_by(os.getpid()) == []
        assert {p.name for p in (root / "logs").iterdir()} >= {"postgres.log", "toxiproxy.log", "provider.log",
                                                                "sut.log"}


def _order(stage: ComposeStage, order_id: str) -> httpx.Response:
    return httpx.post(f"{stage.client_url}/orders", timeout=10.0,
                      json={"order_id": order_id, "account_id": "acc-1", "amount_minor": 1200, "currency": "EUR"})


def test_the_four_links_are_toxiproxy_proxies_as_declared(stage: ComposeStage) -> None:
    proxies = stage.toxiproxy.proxies()
    links, direct = load_links()
    assert sorted(proxies) == sorted((*LINKS, direct.name))
    for name, link in [*links.items(), (direct.name, direct)]:
        port = link.listen.rsplit(":", 1)[1]
        assert (proxies[name].listen.rsplit(":", 1)[1], proxies[name].upstream) == (port, link.upstream)
    assert {name: (link.listen, link.upstream) for name, link in stage.links.items()} == {
        name: (proxies[name].listen, proxies[name].upstream) for name in LINKS}
    assert _order(stage, "compose-o-1").status_code == 201  # client link -> SUT -> db and provider links
    with psycopg.connect(stage.sut_database_url, connect_timeout=5) as conn:  # direct, never a link
        assert conn.execute("SELECT count(*) FROM orders WHERE order_id = 'compose-o-1'").fetchone() == (1,)


def test_a_link_taken_down_cuts_the_sut_from_its_database(stage: ComposeStage) -> None:
    stage.toxiproxy.set_enabled("db", False)
    try:
        assert _order(stage, "compose-o-2").status_code >= 500
    finally:
        stage.heal()
    # The SUT's pool finds its broken connections on use: it takes orders again soon, not at once.
    deadline = time.monotonic() + 20.0
    while _order(stage, "compose-o-3").status_code not in (200, 201):  # 200: an earlier try had stored it
        assert time.monotonic() < deadline, "the SUT took no order within 20 s of the db link's return"
        time.sleep(0.2)


@pytest.mark.parametrize("mode", ["immediate", "kill"])
def test_postgres_stops_in_its_container_and_heal_starts_it(stage: ComposeStage, mode: str) -> None:
    if mode == "kill":
        stage.postgres.kill()
    else:
        stage.postgres.stop(mode)
    assert not stage.postgres.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(stage.sut_database_url, connect_timeout=2)
    stage.heal()
    assert stage.postgres.running and stage.postgres.accepts_connections()


def test_a_killed_sut_is_restarted_with_its_rows(stage: ComposeStage) -> None:
    assert _order(stage, "compose-o-4").status_code == 201
    stage.components["sut"].crash()
    assert not stage.components["sut"].running
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{stage.sut_url}/healthz", timeout=2.0)
    stage.restart("sut")
    assert httpx.get(f"{stage.client_url}/orders/compose-o-4", timeout=5.0).status_code == 200


def test_stage_files_name_only_loopback_ports(stage: ComposeStage, tmp_path: Path) -> None:
    for url in (stage.client_url, stage.sut_url, stage.provider_url, stage.sut_database_url, stage.toxiproxy.base_url):
        assert "@127.0.0.1:" in url or "//127.0.0.1:" in url, url


def _owned_by(pid: int) -> list[str]:
    client = engine()
    owner = {"label": LABEL_OWNER}
    return ([c.name for c in client.containers.list(all=True, filters=owner)
             if c.labels[LABEL_OWNER].startswith(f"{pid}:")]
            + [n.name for n in client.networks.list(filters=owner)
               if n.attrs["Labels"][LABEL_OWNER].startswith(f"{pid}:")])


def test_the_containers_of_a_killed_orderquake_are_removed_by_the_next(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path; from harness.stage import StageConfig; "
            "from harness.stage.compose import ComposeStage; "
            "ComposeStage.start(StageConfig(root=Path(sys.argv[1]))); print('up', flush=True); time.sleep(300)")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "up"
    finally:
        child.kill()
        child.wait()
    assert len(_owned_by(child.pid)) == 5  # four containers and the network, left by SIGKILL
    assert clean_container_orphans(engine())
    assert _owned_by(child.pid) == []
