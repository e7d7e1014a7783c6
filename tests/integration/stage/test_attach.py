"""Attach mode against a stage started by ``orderquake up`` in another process (a stand-in for
staging): a scenario with network and provider faults runs unchanged and passes, what the stage
held before is left as it was, nothing of it is stopped; a process fault is refused with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.stage.attach import stage_file_from_status

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.integration

NETWORK = """
name: attached
seed: 9
duration: 12s
load: {users: 8, spawn_rate: 8, mix: {order: 5, payout: 1, get_order: 1}, duplicates: 0.05}
faults:
  - {at: 2s, for: 4s, kind: latency, link: provider, latency: 400ms}
  - {at: 4s, for: 3s, kind: reset_peer, link: db, toxicity: 0.5}
  - {at: 7s, for: 3s, kind: callback_drop, rate: 0.5}
recovery: {deadline: 40s}
"""
CRASH = """
name: attached-crash
duration: 10s
load: {users: 2, spawn_rate: 2, mix: {order: 1}}
faults:
  - {at: 2s, for: 2s, kind: sut_crash}
"""


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    env = {**os.environ, "ORDERQUAKE_STATE_DIR": str(tmp_path / "state")}
    try:
        started = _oq(env, "up")
        assert started.returncode == 0, started.stderr
        stage_file = tmp_path / "staging.yaml"
        stage_file.write_text(yaml.safe_dump(stage_file_from_status(_status(env))))
        yield env, stage_file
    finally:
        _oq(env, "down")


def _oq(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _status(env: dict[str, str]) -> dict[str, object]:
    return json.loads(_oq(env, "status", "--json").stdout)


def test_a_scenario_runs_unchanged_on_an_attached_stage_and_leaves_it_as_it_was(
        staging: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, stage_file = staging
    # What the stage holds before the run (someone's own toxic) must be there after it.
    added = _oq(env, "fault", "add", "latency", "--link", "client", "--latency", "1ms", "--name", "theirs")
    assert added.returncode == 0, added.stderr
    before = _status(env)
    scenario = tmp_path / "attached.yaml"
    scenario.write_text(NETWORK)
    done = _oq(env, "run", str(scenario), "--attach", str(stage_file), "--out", str(tmp_path / "runs"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = next((tmp_path / "runs").iterdir())
    faults = [json.loads(line) for line in (run_dir / "faults.jsonl").read_text().splitlines()]
    assert {f.get("kind") for f in faults} >= {"latency", "reset_peer", "callback_drop"}
    after = _status(env)
    pids = {name: c["pid"] for name, c in before["components"].items()}  # type: ignore[attr-defined]
    assert {name: c["pid"] for name, c in after["components"].items()} == pids  # type: ignore[attr-defined]
    assert all(c["healthy"] for c in after["components"].values())  # type: ignore[attr-defined]
    toxics = {name: [t["name"] for t in link["toxics"]] for name, link in after["links"].items()}  # type: ignore[attr-defined]
    assert toxics == {"client": ["theirs"], "provider": [], "callbacks": [], "db": []}


def test_a_process_fault_is_refused_before_anything_starts(staging: tuple[dict[str, str], Path],
                                                           tmp_path: Path) -> None:
    env, stage_file = staging
    scenario = tmp_path / "crash.yaml"
    scenario.write_text(CRASH)
    done = _oq(env, "run", str(scenario), "--attach", str(stage_file), "--out", str(tmp_path / "runs"), "--quiet")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "sut_crash" in done.stderr and "never stops or kills" in done.stderr
    assert not (tmp_path / "runs").exists()  # refused before a run directory was made
    assert all(c["healthy"] for c in _status(env)["components"].values())  # type: ignore[attr-defined]


def test_a_remote_address_in_the_stage_file_needs_allow_remote(staging: tuple[dict[str, str], Path],
                                                               tmp_path: Path) -> None:
    env, stage_file = staging
    data = yaml.safe_load(stage_file.read_text())
    data["provider_url"] = "http://203.0.113.7:9100"
    remote = tmp_path / "remote.yaml"
    remote.write_text(yaml.safe_dump(data))
    scenario = tmp_path / "attached.yaml"
    scenario.write_text(NETWORK)
    done = _oq(env, "run", str(scenario), "--attach", str(remote), "--out", str(tmp_path / "runs"), "--quiet")
    assert done.returncode == 2 and "not a loopback address" in done.stderr, done.stdout + done.stderr
    assert "remote.yaml" in done.stderr and "provider_url" in done.stderr
    assert not (tmp_path / "runs").exists()
