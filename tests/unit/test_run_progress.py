"""Live progress: plain lines, the panel and quiet, from hand-written run directories and a fake clock."""

from __future__ import annotations

import argparse
import io
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from harness.cli.main import build_parser
from harness.cli.run import request_for
from harness.load.history import read_events
from harness.run.metrics import client_metrics
from harness.run.progress import (
    Clock,
    LiveReporter,
    Phase,
    PlainReporter,
    ProgressMode,
    Reporter,
    RunWatcher,
    _Tail,
    panel,
    reporter_for,
)
from harness.rundir import RunDir

WALL0 = 1_700_000_000.0


class FakeClock:
    """Monotonic and wall time that move together, only when the test says."""

    def __init__(self) -> None:
        self.mono = 100.0
        self.wall = WALL0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds

    @property
    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.mono, wall=lambda: self.wall)


def pair(op_id: str, *, done_wall: float, outcome: str, latency_ms: int, process: int = 1) -> bytes:
    """An invoke and its completion as a Locust process writes them."""
    done_ns = int(done_wall * 1e9)
    common = {"op": "order", "id": op_id, "process": process, "attempt": 1, "value": {}}
    invoke = {**common, "type": "invoke", "time": done_ns - latency_ms * 1_000_000,
              "wall": done_wall - latency_ms / 1000, "status": None, "error": None}
    done = {**common, "type": outcome, "time": done_ns, "wall": done_wall,
            "status": {"ok": 201, "fail": 422, "info": None}[outcome], "error": None}
    return orjson.dumps(invoke) + b"\n" + orjson.dumps(done) + b"\n"


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def journal(run_dir: RunDir, path: Path, record: dict[str, Any]) -> None:
    run_dir.append_jsonl(path, record)


def fault(name: str, kind: str, phase: str, t: float, **params: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "params": params, "phase": phase, "at": WALL0 + t, "t": t, "error": None}


@pytest.fixture
def run_dir(tmp_path: Path) -> RunDir:
    return RunDir.create("progress", out=tmp_path)


def plain(run_dir: RunDir, fake: FakeClock) -> tuple[PlainReporter, io.StringIO]:
    out = io.StringIO()
    return PlainReporter(run_dir, title="progress (seed 1)", out=out, clock=fake.clock, interval_s=5.0,
                         window_s=5.0, lag_s=1.0), out


def first_seconds_of_load(run_dir: RunDir) -> None:
    """200 completions in the load's first 4 s (190 ok, 6 fail, 4 info), across two processes; the 196
    ok and fail took 1, 2, ..., 196 ms. One more completion lies in the lag, one before the load."""
    outcomes = ["ok"] * 190 + ["fail"] * 6 + ["info"] * 4
    for n, outcome in enumerate(outcomes):
        process = 1 + n % 2
        append(run_dir.history / f"{process}.jsonl",
               pair(f"o-{n}", done_wall=WALL0 + 0.01 + n * 0.0195, outcome=outcome, latency_ms=n + 1,
                    process=process))
    append(run_dir.history / "1.jsonl", pair("o-late", done_wall=WALL0 + 4.5, outcome="ok", latency_ms=5000))
    append(run_dir.history / "2.jsonl", pair("o-early", done_wall=WALL0 - 0.5, outcome="fail", latency_ms=5000))


def test_plain_prints_the_phase_change_then_a_line_every_interval_with_rates_and_faults(run_dir: RunDir) -> None:
    fake = FakeClock()
    reporter, out = plain(run_dir, fake)
    reporter.phase(Phase.LOAD, expected_s=40.0, detail="6 users for 40 s; faults: 2")
    first_seconds_of_load(run_dir)
    journal(run_dir, run_dir.faults, fault("f1", "db_outage", "start", 1.0))
    journal(run_dir, run_dir.faults, fault("f2", "latency", "start", 2.0, link="provider", latency=300))
    journal(run_dir, run_dir.faults, fault("f1", "db_outage", "heal", 3.0))
    for _ in range(4):
        fake.advance(1.0)
        reporter.tick()
    assert out.getvalue() == "load: 6 users for 40 s; faults: 2\n"
    fake.advance(1.0)
    reporter.tick()
    # The window is the 4 s of load before the 1 s lag: 200 completions, 50 a second; the p99 of 196
    # latencies is the 195th.
    assert out.getvalue().splitlines()[1:] == [
        "load 5.0/40.0 s: 50.0 ops/s, ok 95.0% fail 3.0% info 2.0%, p99 195.0 ms, faults: latency@provider"]

    # Five seconds on, only the late completion is left in the window, and the fault has healed.
    journal(run_dir, run_dir.faults, fault("f2", "latency", "heal", 8.0, link="provider", latency=300))
    for _ in range(5):
        fake.advance(1.0)
        reporter.tick()
    assert out.getvalue().splitlines()[2:] == [
        "load 10.0/40.0 s: 0.2 ops/s, ok 100.0% fail 0.0% info 0.0%, p99 5000.0 ms, faults: none"]


def test_a_phase_change_prints_a_line_and_the_recovery_lines_show_the_backlog(run_dir: RunDir) -> None:
    fake = FakeClock()
    reporter, out = plain(run_dir, fake)
    reporter.phase(Phase.STAGE, detail="starting the stage")
    fake.advance(5.0)
    reporter.tick()
    reporter.phase(Phase.LOAD, expected_s=12.0, detail="6 users for 12 s; faults: 0")
    fake.advance(12.5)
    reporter.phase(Phase.RECOVERY, expected_s=30.0, detail="waiting up to 30 s for the pending backlog to drain")
    journal(run_dir, run_dir.consistency, {"t": 0.0, "wall": fake.wall, "pending": 42})
    fake.advance(5.0)
    reporter.tick()
    journal(run_dir, run_dir.consistency, {"t": 5.0, "wall": fake.wall, "pending": None, "error": "db down"})
    fake.advance(5.0)
    reporter.tick()
    reporter.phase(Phase.FINAL_READS, detail="reading")
    assert out.getvalue().splitlines() == [
        "stage: starting the stage",
        "stage 5.0 s",
        "load: 6 users for 12 s; faults: 0",
        "recovery: waiting up to 30 s for the pending backlog to drain",
        "recovery 5.0/30.0 s: 0.0 ops/s (no completions in the last 5.0 s), pending backlog 42",
        "recovery 10.0/30.0 s: 0.0 ops/s (no completions in the last 5.0 s), "
        "pending backlog unknown (sample failed: db down)",
        "final reads: reading",
    ]


def test_quiet_prints_nothing(run_dir: RunDir) -> None:
    fake = FakeClock()
    out = io.StringIO()
    reporter = reporter_for(ProgressMode.QUIET, run_dir, title="progress (seed 1)", stream=out, clock=fake.clock)
    assert type(reporter) is Reporter
    with reporter:
        reporter.say("run: progress (seed 1) -> somewhere")
        reporter.phase(Phase.LOAD, expected_s=40.0, detail="6 users for 40 s; faults: 0")
        first_seconds_of_load(run_dir)
        fake.advance(10.0)
        reporter.phase(Phase.CHECK, detail="judging")
    assert out.getvalue() == ""


@pytest.mark.parametrize(("argv", "mode"), [
    (["run", "s.yaml"], ProgressMode.AUTO), (["run", "s.yaml", "--quiet"], ProgressMode.QUIET),
    (["suite", "--quiet"], ProgressMode.QUIET)])
def test_quiet_option_of_run_and_suite(argv: list[str], mode: ProgressMode) -> None:
    args: argparse.Namespace = build_parser().parse_args(argv)
    assert request_for(Path("s.yaml"), args).progress is mode


def test_auto_is_live_on_a_terminal_and_plain_elsewhere(run_dir: RunDir) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert type(reporter_for(ProgressMode.AUTO, run_dir, title="t", stream=io.StringIO())) is PlainReporter
    assert type(reporter_for(ProgressMode.AUTO, run_dir, title="t", stream=Terminal())) is LiveReporter
    lines: list[str] = []
    echoing = reporter_for(ProgressMode.AUTO, run_dir, title="t", echo=lines.append)
    echoing.phase(Phase.LOAD, expected_s=1.0, detail="1 user for 1 s; faults: 0")
    assert lines == ["load: 1 user for 1 s; faults: 0"]


def test_a_torn_last_line_is_not_read_until_it_is_whole(run_dir: RunDir) -> None:
    fake = FakeClock()
    reporter, _ = plain(run_dir, fake)
    reporter.phase(Phase.LOAD, expected_s=40.0, detail="load")
    data = pair("o-1", done_wall=WALL0 + 1.0, outcome="ok", latency_ms=10)
    history = run_dir.history / "1.jsonl"
    append(history, data[:-20])  # the invoke and most of the completion
    fake.advance(3.0)
    reporter.tick()
    rates = reporter.snapshot().rates
    assert rates is not None and rates.completed == 0
    append(history, data[-20:])
    reporter.tick()
    rates = reporter.snapshot().rates
    assert rates is not None and (rates.completed, rates.ok, rates.p99_ms) == (1, 1.0, 10.0)


_EVENT = st.fixed_dictionaries({"type": st.sampled_from(["invoke", "ok", "fail", "info"]),
                                "id": st.text(max_size=8), "wall": st.floats(0, 1e9)})


@given(events=st.lists(_EVENT, max_size=30), cuts=st.lists(st.integers(0, 10_000), max_size=12),
       junk=st.sampled_from([b"", b"not json\n", b"[1, 2]\n", b"\n"]))
def test_reading_in_pieces_parses_each_whole_line_once(events: list[dict[str, Any]], cuts: list[int],
                                                       junk: bytes) -> None:
    whole = junk + b"".join(orjson.dumps(e) + b"\n" for e in events)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "1.jsonl"
        path.write_bytes(b"")
        tail = _Tail(path)
        seen: list[dict[str, Any]] = []
        written = 0
        for cut in [*sorted(c % (len(whole) + 1) for c in cuts), len(whole)]:
            append(path, whole[written:cut])
            written = max(written, cut)
            seen.extend(tail.read())
            # Everything up to the last newline is consumed, nothing after it: no line read twice or torn.
            assert tail.offset == whole.rfind(b"\n", 0, written) + 1
        assert seen == read_events(path) == events


@given(st.lists(st.tuples(st.sampled_from(["ok", "fail", "info"]), st.integers(1, 3000)), min_size=1, max_size=80),
       st.integers(1, 7))
def test_window_over_the_whole_load_agrees_with_the_run_metrics(completions: list[tuple[str, int]],
                                                                pieces: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        run_dir = RunDir.create("agree", out=Path(folder))
        data = b"".join(pair(f"o-{n}", done_wall=WALL0 + 0.01 * (n + 1), outcome=outcome, latency_ms=latency,
                             process=1 + n % 3)
                        for n, (outcome, latency) in enumerate(completions))
        watcher = RunWatcher(run_dir)
        step = len(data) // pieces + 1
        for start in range(0, len(data), step):
            append(run_dir.history / "1.jsonl", data[start:start + step])
            watcher.read()
        rates = watcher.clients.rates(WALL0 - 1, WALL0 + 10, since=WALL0)
        metrics = client_metrics(read_events(run_dir.history / "1.jsonl"), load_seconds=10.0, origin_wall=WALL0)
    assert rates is not None
    assert (rates.completed, rates.ops_s) == (metrics.completed, metrics.rps)
    assert rates.fail == pytest.approx(metrics.fail / metrics.completed)
    assert (None if rates.p99_ms is None else round(rates.p99_ms, 3)) == metrics.p99_ms


def test_an_exception_in_the_thread_is_logged_once_and_swallowed(run_dir: RunDir,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClock()
    out = io.StringIO()
    reporter = PlainReporter(run_dir, title="t", out=out, clock=fake.clock, poll_s=0.001)
    calls = 0
    thrice = threading.Event()

    def broken() -> None:
        nonlocal calls
        calls += 1
        if calls >= 3:
            thrice.set()
        raise RuntimeError("a bug in the progress")

    reporter._watcher.read = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="harness.run.progress"), reporter:
        assert reporter._thread is not None and reporter._thread.daemon
        assert thrice.wait(timeout=30)
        reporter.tick()  # from the caller's thread too: swallowed
        reporter.phase(Phase.FINAL_READS, detail="reading")
        assert not reporter._thread.is_alive()
    assert [r.getMessage() for r in caplog.records] == ["progress display failed; the run goes on without it"]
    assert "a bug in the progress" in caplog.text
    assert out.getvalue() == "final reads: reading\n"


def test_nothing_is_read_from_the_final_reads_on(run_dir: RunDir) -> None:
    fake = FakeClock()
    reporter, out = plain(run_dir, fake)
    reads: list[float] = []
    reporter._watcher.read = lambda: reads.append(fake.mono)  # type: ignore[method-assign]
    reporter.phase(Phase.LOAD, expected_s=40.0, detail="load")
    fake.advance(1.0)
    reporter.tick()
    assert reads == [101.0]
    reporter.phase(Phase.FINAL_READS, detail="reading")
    fake.advance(6.0)
    reporter.tick()
    reporter.phase(Phase.CHECK, detail="judging")
    fake.advance(6.0)
    reporter.tick()
    reporter.close()
    assert reads == [101.0]
    assert reporter.snapshot().rates is None
    assert out.getvalue() == "load: load\nfinal reads: reading\ncheck: judging\n"


def test_the_live_panel_shows_every_fact_with_its_unit(run_dir: RunDir) -> None:
    fake = FakeClock()
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, color_system=None, width=120)
    with LiveReporter(run_dir, title="progress (seed 1)", console=console, clock=fake.clock) as reporter:
        reporter.say("run: progress (seed 1) -> somewhere")
        reporter.phase(Phase.LOAD, expected_s=40.0, detail="6 users for 40 s; faults: 1")
        first_seconds_of_load(run_dir)
        journal(run_dir, run_dir.faults, fault("f2", "latency", "start", 2.0, link="provider", latency=300))
        fake.advance(5.0)
        reporter.tick()
        snapshot = reporter.snapshot()
        reporter.phase(Phase.CHECK, detail="judging")
    assert "run: progress (seed 1) -> somewhere" in screen.getvalue()
    assert "6 users for 40 s" in screen.getvalue()
    assert "latency@provider since 2.0 s" in screen.getvalue(), "the panel was never drawn"
    record = Console(record=True, width=120, file=io.StringIO())
    record.print(panel(snapshot))
    text = record.export_text()
    for fact in ("orderquake run: progress (seed 1)", "load: 5.0 s elapsed, 35.0 s remaining of 40.0 s",
                 "50.0 ops/s (200 completed, last 4.0 s)", "ok 95.0% fail 3.0% info 2.0%",
                 "p99 195.0 ms (ok and fail, last 4.0 s)", "latency@provider since 2.0 s"):
        assert fact in text, text


def test_the_panel_shows_the_backlog_in_recovery(run_dir: RunDir) -> None:
    fake = FakeClock()
    reporter, _ = plain(run_dir, fake)
    reporter.phase(Phase.RECOVERY, expected_s=30.0, detail="recovery")
    journal(run_dir, run_dir.consistency, {"t": 1.0, "wall": fake.wall, "pending": 7})
    fake.advance(2.0)
    reporter.tick()
    record = Console(record=True, width=120, file=io.StringIO())
    record.print(panel(reporter.snapshot()))
    text = record.export_text()
    assert "pending 7" in text and "- ops/s (no load yet)" in text and "none active" in text, text
