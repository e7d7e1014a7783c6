import json
import time

from harness.run.schedule import FaultScheduler, Planned
from harness.rundir import RunDir


def _wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def _planned(name: str, at: float, duration: float | None, log: list[str],
             fail_apply: bool = False) -> Planned:
    def apply() -> None:
        log.append(f"apply {name}")
        if fail_apply:
            raise RuntimeError("refused")

    return Planned(name=name, kind="latency", at=at, duration=duration, params={"latency": 100},
                   apply=apply, heal=lambda: log.append(f"heal {name}"))


def test_faults_apply_and_heal_in_order_and_are_journaled(tmp_path) -> None:
    log: list[str] = []
    run_dir = RunDir(tmp_path)
    scheduler = FaultScheduler([_planned("b", 0.10, 0.05, log), _planned("a", 0.0, 0.05, log)], run_dir)
    scheduler.start()
    _wait_until(lambda: len(log) == 4)
    scheduler.stop()
    assert log == ["apply a", "heal a", "apply b", "heal b"]
    records = [json.loads(line) for line in run_dir.faults.read_text().splitlines()]
    assert [(r["name"], r["phase"]) for r in records] == [("a", "start"), ("a", "heal"), ("b", "start"),
                                                           ("b", "heal")]
    assert records[2]["t"] >= 0.10


def test_stop_heals_open_ended_and_failed_faults(tmp_path) -> None:
    log: list[str] = []
    run_dir = RunDir(tmp_path)
    scheduler = FaultScheduler([_planned("forever", 0.0, None, log),
                                _planned("broken", 0.0, 100.0, log, fail_apply=True),
                                _planned("later", 60.0, 1.0, log)], run_dir)
    scheduler.start()
    _wait_until(lambda: len(log) == 2)
    scheduler.stop()
    assert sorted(log) == ["apply broken", "apply forever", "heal broken", "heal forever"]
    assert scheduler.errors == ["broken start: RuntimeError: refused"]
