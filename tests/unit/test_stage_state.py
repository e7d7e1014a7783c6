"""State files and orphan clean-up: a stage left by a dead owner is killed, never a stranger's pid."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness._exceptions import ToxiproxyError
from harness.stage.ports import free_port
from harness.stage.process import alive, start_time
from harness.stage.state import StageState, all_states, clean_orphans, new_state
from harness.stage.toxiproxy import ToxiproxyClient


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERQUAKE_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process in its own session, as the stage starts its components; killed whatever the test does."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait(timeout=10)


def _dead_owner() -> tuple[int, int | None]:
    """A pid and start time of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = start_time(proc.pid)
    proc.wait(timeout=10)
    return proc.pid, started


def _state(tmp_path: Path, *, owner: tuple[int, int | None], detached: bool) -> StageState:
    return StageState(name="left", owner_pid=owner[0], owner_started=owner[1], detached=detached,
                      root=str(tmp_path / "root"))


def test_a_stage_whose_owner_died_is_killed_and_removed(tmp_path: Path,
                                                        sleeper: subprocess.Popen[bytes]) -> None:
    state = _state(tmp_path, owner=_dead_owner(), detached=False)
    state.record("provider", sleeper.pid, "http://127.0.0.1:1")
    assert state.orphaned
    cleaned = clean_orphans()
    assert len(cleaned) == 1 and "provider" in cleaned[0]
    assert sleeper.wait(timeout=10) != 0
    assert all_states() == []


def test_a_detached_stage_or_a_living_owner_is_left_alone(tmp_path: Path,
                                                          sleeper: subprocess.Popen[bytes]) -> None:
    detached = _state(tmp_path, owner=_dead_owner(), detached=True)
    detached.record("sut", sleeper.pid)
    mine = new_state("mine", tmp_path / "mine")
    mine.record("sut", sleeper.pid)
    assert clean_orphans() == []
    assert sleeper.poll() is None
    assert {s.name for s in all_states()} == {"left", "mine"}


def test_a_recycled_pid_is_not_killed(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    state = _state(tmp_path, owner=_dead_owner(), detached=False)
    state.record("provider", sleeper.pid)
    state.processes[0].started = (state.processes[0].started or 0) - 1  # as if another process had that pid
    state.save()
    assert not alive(sleeper.pid, state.processes[0].started)
    clean_orphans()
    assert sleeper.poll() is None


def test_state_survives_a_round_trip_and_a_torn_file_is_skipped(tmp_path: Path) -> None:
    state = new_state("round", tmp_path / "round")
    state.record("postgres", os.getpid(), "postgresql://x@127.0.0.1:1/postgres", group=False)
    state.links = {"db": {"listen": "127.0.0.1:2", "upstream": "127.0.0.1:1"}}
    state.save()
    (state.path.parent / "torn.json").write_text('{"name": ')
    [loaded] = all_states()
    assert loaded == state


def test_an_unreachable_toxiproxy_is_a_clear_error() -> None:
    client = ToxiproxyClient(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(ToxiproxyError, match="Toxiproxy"):
        client.proxies()
    assert time.monotonic() - started < 5
    client.close()
