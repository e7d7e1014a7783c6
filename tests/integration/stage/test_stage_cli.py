"""``orderquake up / status / fault / down`` as a user runs them, and the clean-up of a killed harness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stage.process import alive

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private state folder, so these tests never touch a stage the user left up."""
    environment = {**os.environ, "ORDERQUAKE_STATE_DIR": str(tmp_path / "state")}
    yield environment
    subprocess.run([sys.executable, "-m", "harness", "down"], env=environment, cwd=ROOT, capture_output=True,
                   timeout=60)


def _oq(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _pids(state_dir: Path) -> list[tuple[int, int | None]]:
    pids = []
    for path in state_dir.glob("*.json"):
        pids += [(p["pid"], p["started"]) for p in json.loads(path.read_text())["processes"]]
    return pids


def test_up_status_fault_down(env: dict[str, str], tmp_path: Path) -> None:
    started = _oq(env, "up")
    assert started.returncode == 0, started.stderr
    status = json.loads(_oq(env, "status", "--json").stdout)
    assert set(status["components"]) >= {"postgres", "toxiproxy", "provider", "sut"}
    assert all(c["healthy"] for c in status["components"].values()), status
    assert status["components"]["postgres"]["url"].startswith("postgresql://")
    assert set(status["links"]) == {"client", "provider", "callbacks", "db"}
    assert _oq(env, "fault", "add", "latency", "--link", "provider", "--latency", "200ms",
               "--stream", "both").returncode == 0
    assert _oq(env, "fault", "add", "down", "--link", "callbacks").returncode == 0
    links = json.loads(_oq(env, "status", "--json").stdout)["links"]
    assert {t["name"] for t in links["provider"]["toxics"]} == {"latency_upstream", "latency_downstream"}
    assert links["provider"]["toxics"][0]["attributes"]["latency"] == 200
    assert links["callbacks"]["enabled"] is False
    assert _oq(env, "fault", "remove", "latency_upstream").returncode == 0
    assert _oq(env, "fault", "remove", "--all").returncode == 0
    links = json.loads(_oq(env, "status", "--json").stdout)["links"]
    assert all(link["enabled"] and not link["toxics"] for link in links.values())
    pids = _pids(tmp_path / "state")
    assert len(pids) >= 4
    assert _oq(env, "down").returncode == 0
    assert [pid for pid, start in pids if alive(pid, start)] == []
    assert _oq(env, "status").returncode == 2


@pytest.mark.parametrize("args, allowed", [
    (["fault", "add", "latency", "--link", "nowhere"], "client"),
    (["fault", "add", "earthquake", "--link", "db"], "reset_peer"),
    (["fault", "add", "timeout", "--link", "db", "--latency", "5"], "expected timeout"),
    (["fault", "add", "latency", "--link", "db", "--toxicity", "2"], "toxicity"),
    (["fault", "add", "latency", "--link", "db", "--lateny", "5"], "attributes of latency: --latency, --jitter"),
    (["fault", "add", "down", "--link", "db", "--latency", "5"], "takes no attributes"),
    (["up", "--variant", "bogus"], "no-reconciler"),
])
def test_bad_input_exits_2_and_lists_what_is_allowed(env: dict[str, str], args: list[str],
                                                           allowed: str) -> None:
    result = _oq(env, *args)
    assert result.returncode == 2
    assert allowed in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_toxiproxy_exits_4_and_says_how_to_install(env: dict[str, str], tmp_path: Path) -> None:
    result = _oq({**env, "TOXIPROXY_SERVER": str(tmp_path / "no-such-binary")}, "up")
    assert result.returncode == 4
    assert "make setup" in result.stderr and "Traceback" not in result.stderr


def test_missing_postgres_exits_4_and_says_how_to_install(env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = _oq({**env, "ORDERQUAKE_PG_BIN": str(empty)}, "up")
    assert result.returncode == 4, result.stderr
    assert "postgresql" in result.stderr and "Traceback" not in result.stderr


def test_a_killed_harness_leaves_nothing_after_the_next_up(env: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "harness", "up"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_dir = tmp_path / "state"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_pids(state_dir)) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    old = _pids(state_dir)
    assert len(old) >= 3, old
    assert _oq(env, "up").returncode == 0
    assert [pid for pid, start in old if alive(pid, start)] == []
    assert _oq(env, "down").returncode == 0
