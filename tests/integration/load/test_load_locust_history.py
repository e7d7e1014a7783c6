"""The real locustfile, in a real ``locust`` subprocess, against a tiny contract server that hangs
now and then: the history it writes must be well formed (DESIGN.md section 5)."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.load import LoadShape, iter_events, locust_commands
from harness.stage.ports import free_port
from harness.stage.process import terminate

SERVER = Path(__file__).with_name("load_contract_server.py")
RUN_ID = "rit01"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    terminate(proc.pid, None, grace_s=10.0)  # the whole process group: SIGTERM, then SIGKILL
    proc.wait(timeout=5)


@contextlib.contextmanager
def contract_server(tmp_path: Path, *, hang_every: int) -> Iterator[str]:
    """The contract server; with ``hang_every`` > 0 every such submission hangs for 3 s."""
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, str(SERVER), "--port", str(port), "--hang-every", str(hang_every),
                             "--hang-seconds", "3"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"contract server did not come up; see {tmp_path / 'server.log'}")
            time.sleep(0.1)
        yield url
    finally:
        _stop(proc)
        log.close()


@pytest.fixture
def hanging_server(tmp_path: Path) -> Iterator[str]:
    """Hangs every 6th submission for 3 s; the clients time out after 1 s."""
    with contract_server(tmp_path, hang_every=6) as url:
        yield url


@pytest.fixture
def steady_server(tmp_path: Path) -> Iterator[str]:
    with contract_server(tmp_path, hang_every=0) as url:
        yield url


def _run_locust(url: str, tmp_path: Path, *, workers: int = 0, timeout_s: float = 1.0) -> list[dict[str, Any]]:
    shape = LoadShape(users=6, spawn_rate=6, duration_s=4, duplicates=0.5, request_timeout_s=timeout_s,
                      mix={"order": 6, "payout": 2, "get_order": 1, "get_payout": 1})
    commands = locust_commands(shape, host=url, history_dir=tmp_path / "history", locust_dir=tmp_path / "locust",
                               seed=11, run_id=RUN_ID, workers=workers)
    log = (tmp_path / "locust.log").open("wb")
    procs = []
    try:
        for argv, env in commands:
            procs.append(subprocess.Popen(argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        codes = [proc.wait(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            _stop(proc)
        log.close()
    assert all(code in (0, 1) for code in codes), (tmp_path / "locust.log").read_text()[-2000:]
    return list(iter_events(tmp_path / "history"))


def _assert_well_formed(events: list[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    """Every invoke has exactly one completion after it, and a process has at most one operation open
    at a time (Jepsen's history model; a double click runs as two processes); returns each write
    id's attempts."""
    open_ops: dict[tuple[Any, ...], dict[str, Any]] = {}
    busy: dict[int, tuple[Any, ...]] = {}
    attempts: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
    for event in events:
        key = (event["process"], event["op"], event["id"], event["attempt"])
        if event["type"] == "invoke":
            assert key not in open_ops, f"two invokes in flight for {key}"
            process = event["process"]
            assert process not in busy, f"process {process} opens {key} with {busy.get(process)} open"
            open_ops[key] = event
            busy[event["process"]] = key
            if event["op"] in ("order", "payout"):
                attempts[(event["op"], event["id"])].append(event["attempt"])
                assert re.fullmatch(rf"{RUN_ID}-[op]-\d+-\d+", event["id"])
                assert event["value"]["amount_minor"] > 0
        else:
            invoke = open_ops.pop(key, None)
            assert invoke is not None, f"a {event['type']} without its invoke: {event}"
            busy.pop(event["process"], None)
            assert event["time"] >= invoke["time"]
    assert not open_ops, f"invokes without a completion after a clean stop: {list(open_ops)[:3]}"
    for ids_attempts in attempts.values():
        assert sorted(ids_attempts) == list(range(1, len(ids_attempts) + 1))
    return attempts


def test_locust_history_is_well_formed_with_duplicates_and_timeouts(hanging_server: str, tmp_path: Path) -> None:
    events = _run_locust(hanging_server, tmp_path)
    assert (tmp_path / "locust" / "locust_stats.csv").exists() and (tmp_path / "locust" / "report.html").exists()
    assert len(events) > 50
    attempts = _assert_well_formed(events)
    completions = collections.Counter(e["type"] for e in events if e["type"] != "invoke")

    # Duplicates reuse the id with a higher attempt, each attempt once.
    assert any(len(a) > 1 for a in attempts.values()), "expected duplicate submissions with duplicates=0.5"

    # The hanging server makes clients time out: unknown outcomes, never a success or failure.
    infos = [e for e in events if e["type"] == "info"]
    assert infos and all(e["status"] is None for e in infos)
    assert any("timed out" in (e["error"] or "").lower() or "timeout" in (e["error"] or "").lower() for e in infos)
    assert completions["ok"] > completions["info"]
    # An unknown outcome is resent with the same id and a higher attempt.
    resent = [e for e in infos if e["op"] in ("order", "payout")
              and max(attempts[(e["op"], e["id"])]) > e["attempt"]]
    assert resent


def test_workers_write_their_own_files_with_distinct_processes(steady_server: str, tmp_path: Path) -> None:
    # A long client timeout: on a machine busy with other suites a steady server can take over 1 s to
    # answer, and this test is about files and processes, not timeouts.
    events = _run_locust(steady_server, tmp_path, workers=2, timeout_s=10.0)
    files = sorted((tmp_path / "history").glob("*.jsonl"))
    assert len(files) == 2, "one history file per worker, none for the master"
    _assert_well_formed(events)
    processes_per_file = [{e["process"] for e in iter_events_of(path)} for path in files]
    assert all(processes_per_file) and not set.intersection(*processes_per_file)
    assert not [e for e in events if e["type"] == "info"], [e for e in events if e["type"] == "info"]


def iter_events_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]
