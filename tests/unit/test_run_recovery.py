from harness._exceptions import InfrastructureError
from harness.run.recovery import wait_for_consistency
from harness.rundir import RunDir


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_backlog_drains_and_series_is_recorded(tmp_path) -> None:
    run_dir = RunDir(tmp_path)
    clock = FakeClock()
    backlog = iter([5, 3, 0])
    result = wait_for_consistency(lambda: next(backlog), deadline_s=30, run_dir=run_dir, clock=clock,
                                  sleep=clock.sleep, wall=clock)
    assert result.seconds == 2.0
    assert result.samples == 3
    lines = run_dir.consistency.read_text().splitlines()
    assert len(lines) == 3 and '"pending": 0' in lines[-1]


def test_deadline_passes_with_backlog_left(tmp_path) -> None:
    clock = FakeClock()
    result = wait_for_consistency(lambda: 4, deadline_s=5, run_dir=RunDir(tmp_path), clock=clock,
                                  sleep=clock.sleep, wall=clock)
    assert result.seconds is None
    assert result.last_pending == 4
    assert clock.now == 5.0


def test_failed_sample_is_recorded_and_waiting_goes_on(tmp_path) -> None:
    clock = FakeClock()
    answers: list[object] = [InfrastructureError("database down"), 0]

    def sample() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return int(answer)  # type: ignore[call-overload]

    run_dir = RunDir(tmp_path)
    result = wait_for_consistency(sample, deadline_s=10, run_dir=run_dir, clock=clock, sleep=clock.sleep,
                                  wall=clock)
    assert result.seconds == 1.0
    assert "database down" in run_dir.consistency.read_text()
