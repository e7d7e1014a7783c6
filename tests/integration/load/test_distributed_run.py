"""Locust's distributed mode end to end on the real stage: ``orderquake run --remote-workers 1`` with
an ``orderquake worker`` in a process group of its own, as on another machine.

A worker that ships its history gives a complete history and the same verdict as one Locust
process; a worker killed with SIGKILL mid-run ships nothing, and the verdict is ``unknown``,
naming the history that never arrived (``orderquake check`` says the same from the directory).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.load import iter_events
from harness.stage.ports import free_port_pair

ROOT = Path(__file__).resolve().parents[3]
ORDERQUAKE = [sys.executable, "-m", "harness"]
SCENARIO = """
name: distributed-smoke
description: steady orders and payouts, no faults, from one remote worker
seed: 11
duration: 10s
load: {users: 8, spawn_rate: 8, mix: {order: 6, payout: 2, get_order: 1, get_payout: 1}, duplicates: 0.2}
recovery: {deadline: 30s}
slo: ["error_rate < 0.05"]
"""


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([*ORDERQUAKE, *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _distributed(tmp_path: Path, *, kill_after_records: int | None = None,
                 only_locust: bool = False) -> tuple[int, Path, int | None]:
    """A run with one remote worker; with ``kill_after_records`` the worker's group (``only_locust``: its
    Locust process alone) is SIGKILLed once its history holds that many lines. Returns the run's exit
    code, its directory, the worker's exit code."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    port = free_port_pair()  # the worker collector takes the next port
    out, worker_dir = tmp_path / "runs", tmp_path / "worker-history"
    run = _start(["run", str(scenario), "--remote-workers", "1", "--master-bind", f"127.0.0.1:{port}",
                  "--out", str(out), "--quiet"], tmp_path / "run.log")
    worker = _start(["worker", "--master", f"127.0.0.1:{port}", "--history-dir", str(worker_dir), "--wait", "60"],
                    tmp_path / "worker.log")
    try:
        if kill_after_records is not None:
            deadline = time.monotonic() + 90
            while sum(p.read_bytes().count(b"\n") for p in worker_dir.glob("*.jsonl")) < kill_after_records:
                assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "worker.log").read_text()
                time.sleep(0.1)
            if only_locust:
                for child in _children(worker.pid):
                    os.kill(child, signal.SIGKILL)
            else:
                os.killpg(worker.pid, signal.SIGKILL)
        code = run.wait(timeout=240)
        worker_code = worker.wait(timeout=60)
    finally:
        for proc in (run, worker):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, (tmp_path / "run.log").read_text()
    return code, dirs[0], worker_code


def _verdict(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "verdict.json").read_text()))


def _checked_again(run_dir: Path, verdict: dict[str, Any]) -> None:
    checked = subprocess.run([*ORDERQUAKE, "check", str(run_dir)], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == verdict["exit_code"], checked.stdout + checked.stderr
    again = _verdict(run_dir)
    times = ("finished", "duration_seconds")
    assert {k: v for k, v in again.items() if k not in times} == {k: v for k, v in verdict.items() if k not in times}


def _assert_complete(events: list[dict[str, Any]]) -> None:
    """Every invoke has its completion, and a process has at most one operation open at a time."""
    open_ops: dict[int, tuple[Any, ...]] = {}
    for event in events:
        key = (event["op"], event["id"], event["attempt"])
        if event["type"] == "invoke":
            assert event["process"] not in open_ops, f"{event['process']} opens {key} with {open_ops}"
            open_ops[event["process"]] = key
        else:
            assert open_ops.pop(event["process"]) == key
    assert not open_ops


def test_a_remote_worker_ships_a_complete_history_and_the_run_passes_as_one_process_does(tmp_path: Path) -> None:
    code, run_dir, worker_code = _distributed(tmp_path)
    log = (tmp_path / "run.log").read_text() + (tmp_path / "worker.log").read_text()
    verdict = _verdict(run_dir)
    assert code == 0 and worker_code == 0, log
    assert verdict["verdict"] == "pass" and verdict["checkers"]["workers"]["valid"] == "pass"
    assert verdict["workers"]["took_part"] == 1 and verdict["workers"]["histories_arrived"] == 1
    assert "workers: 1 took part (0 local, 1 of 1 remote joined); histories: 1 of 1 arrived" in log
    files = list((run_dir / "history").glob("*.jsonl"))
    assert len(files) == 1 and int(files[0].stem) >= 1 << 22, "the remote slot's process base names the file"
    events = list(iter_events(run_dir / "history"))
    _assert_complete(events)
    assert collections.Counter(e["type"] for e in events)["ok"] > 100
    _checked_again(run_dir, verdict)

    # The same scenario from one Locust process, and from two local workers: the same verdict and exit code.
    single = subprocess.run([*ORDERQUAKE, "run", str(tmp_path / "scenario.yaml"), "--out", str(tmp_path / "one"),
                             "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    alone = _verdict(next(p for p in (tmp_path / "one").iterdir() if p.is_dir()))
    assert (single.returncode, alone["verdict"], alone["workers"]) == (0, "pass", None), single.stdout
    assert set(alone["checkers"]) | {"workers"} == set(verdict["checkers"])
    local = subprocess.run([*ORDERQUAKE, "run", str(tmp_path / "scenario.yaml"), "--workers", "2", "--out",
                            str(tmp_path / "two"), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    two_dir = next(p for p in (tmp_path / "two").iterdir() if p.is_dir())
    two = _verdict(two_dir)
    assert (local.returncode, two["verdict"], set(two["checkers"])) == (0, "pass", set(verdict["checkers"])), \
        local.stdout
    assert (two["workers"]["took_part"], two["workers"]["histories_arrived"]) == (2, 2)
    assert len(list((two_dir / "history").glob("*.jsonl"))) == 2
    _assert_complete(list(iter_events(two_dir / "history")))


def test_a_worker_killed_mid_run_gives_unknown_naming_the_history_that_never_arrived(tmp_path: Path) -> None:
    code, run_dir, worker_code = _distributed(tmp_path, kill_after_records=200)
    verdict = _verdict(run_dir)
    assert worker_code == -signal.SIGKILL
    assert code == 4 and verdict["verdict"] == "unknown", (tmp_path / "run.log").read_text()
    reason = verdict["checkers"]["workers"]["reason"]
    assert "0 of 1 worker histories arrived" in reason and "w1" in reason and "never arrived" in reason
    assert verdict["workers"]["took_part"] == 1 and verdict["workers"]["histories_arrived"] == 0
    assert not list((run_dir / "history").glob("*.jsonl")), "nothing was shipped, nothing is judged as complete"
    _checked_again(run_dir, verdict)


def test_a_locust_process_killed_mid_run_has_its_history_shipped_and_judged_with_open_invokes_as_info(
        tmp_path: Path) -> None:
    code, run_dir, worker_code = _distributed(tmp_path, kill_after_records=200, only_locust=True)
    verdict = _verdict(run_dir)
    assert code == verdict["exit_code"]
    assert worker_code == 4, "the worker says one of its processes died"
    assert verdict["workers"]["died"] == ["w1 slot 0 (signal 9)"] and verdict["workers"]["histories_arrived"] == 1
    assert verdict["checkers"]["workers"]["valid"] == "pass"
    assert verdict["verdict"] != "fail", verdict["reason"]
    events = list(iter_events(run_dir / "history"))
    assert len(events) >= 200
    invokes = collections.Counter((e["id"], e["attempt"]) for e in events if e["type"] == "invoke"
                                  and e["op"] in ("order", "payout"))
    completed = collections.Counter((e["id"], e["attempt"]) for e in events if e["type"] != "invoke"
                                    and e["op"] in ("order", "payout"))
    open_ops = sum((invokes - completed).values())
    counts = verdict["counts"]
    assert counts["attempted"] == counts["ok"] + counts["fail"] + counts["info"] == sum(invokes.values())
    assert counts["info"] >= open_ops, "an invoke without its completion is info, never lost"
    _checked_again(run_dir, verdict)
