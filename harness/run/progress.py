"""Live progress of a run, read from its run directory while the run goes.

    reporter = reporter_for(ProgressMode.AUTO, run_dir, title="smoke (seed 7)")
    with reporter:
        reporter.phase(Phase.LOAD, expected_s=40.0, detail="40 users for 40 s; faults: 1")

Three faces: on a terminal, a panel (rich) refreshed twice a second; elsewhere (CI, a pipe), one
plain line every few seconds and one at each phase change::

    load 12.0/40.0 s: 812 ops/s, ok 99.1% fail 0.2% info 0.7%, p99 41.3 ms, faults: latency@provider

and quiet, nothing. The facts come from the run directory alone: the history files the Locust
processes append in batches, ``faults.jsonl`` and ``consistency.jsonl``. Each file is read from
where the last read stopped and only whole lines are parsed, so one update costs what arrived
since the one before. Rates and p99 cover the completions whose ``wall`` lies in the last
``window_s`` seconds, that window ending ``lag_s`` ago: the Locust processes write every 0.5 s,
so the newest half second is never complete yet and would read as a drop in throughput.

Nothing here may change a run's outcome: the updating thread is a daemon, an exception in any
reporter call is logged once and swallowed, and the thread stops before the final reads.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO

from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from harness.load.history import EventType, decode, split_lines
from harness.rundir import RunDir

_log = logging.getLogger(__name__)
_COMPLETIONS = frozenset({EventType.OK.value, EventType.FAIL.value, EventType.INFO.value})


class ProgressMode(StrEnum):
    """How a run shows its progress; ``auto`` is ``live`` on a terminal and ``plain`` elsewhere."""

    AUTO = "auto"
    LIVE = "live"
    PLAIN = "plain"
    QUIET = "quiet"


class Phase(StrEnum):
    """The steps of a run, as the progress names them."""

    STAGE = "stage"
    LOAD = "load"
    RECOVERY = "recovery"
    FINAL_READS = "final reads"
    CHECK = "check"


@dataclass(frozen=True)
class Clock:
    """Where progress reads the time: monotonic seconds for phases and pacing, epoch seconds to
    compare with the history's ``wall``."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time


class _Tail:
    """The whole lines appended to one JSON-lines file since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        records = []
        for _, line, torn in split_lines(data):
            if torn:
                break  # a batch still being written: it is read again, whole, next time
            self.offset += len(line) + 1
            try:
                value = decode(line)
            except ValueError:
                continue  # the checker says what is wrong with a line; progress only skips it
            if type(value) is dict:
                records.append(value)
        return records


@dataclass(frozen=True)
class Rates:
    """The completions of one window: operations per second, outcome shares (0 to 1), p99 in ms."""

    completed: int
    window_s: float
    ops_s: float
    ok: float
    fail: float
    info: float
    p99_ms: float | None


def _p99(values: list[float]) -> float | None:
    # The same nearest-rank percentile as the run's client metrics, so the live number and the report agree.
    if not values:
        return None
    values.sort()
    return values[max(0, math.ceil(0.99 * len(values)) - 1)]


class _Clients:
    """Pairs each invoke with its completion, by (process, op, id, attempt), and keeps recent completions."""

    def __init__(self) -> None:
        self._invoked: dict[tuple[Any, ...], Any] = {}
        self._done: list[tuple[float, str, float | None]] = []  # (wall, outcome, latency ms or None)

    def add(self, event: dict[str, Any]) -> None:
        key = (event.get("process"), event.get("op"), event.get("id"), event.get("attempt"))
        kind, at = event.get("type"), event.get("time")
        if kind == EventType.INVOKE.value:
            self._invoked[key] = at
            return
        if kind not in _COMPLETIONS:
            return
        started = self._invoked.pop(key, None)
        wall = event.get("wall")
        if not isinstance(wall, int | float):
            return
        latency = None
        # As in the run's metrics, an info's "latency" is a timeout or a reset: not a latency.
        if kind != EventType.INFO.value and isinstance(started, int) and isinstance(at, int):
            latency = (at - started) / 1e6
        self._done.append((float(wall), str(kind), latency))

    def rates(self, start: float, end: float, since: float) -> Rates | None:
        """The completions with ``start < wall <= end``; throughput over the part of it after ``since``."""
        self._done = [done for done in self._done if done[0] > start]
        lower = max(start, since)
        inside = [done for done in self._done if lower < done[0] <= end]
        span = end - lower
        if span <= 0:
            return None
        counts = dict.fromkeys(_COMPLETIONS, 0)
        for _, kind, _ in inside:
            counts[kind] += 1
        total = len(inside)
        share = {kind: count / total if total else 0.0 for kind, count in counts.items()}
        return Rates(completed=total, window_s=span, ops_s=total / span, ok=share["ok"], fail=share["fail"],
                     info=share["info"], p99_ms=_p99([lat for _, _, lat in inside if lat is not None]))


@dataclass(frozen=True)
class ActiveFault:
    """A fault the journal says started and has not healed: ``kind@link`` and seconds from load start."""

    label: str
    since_s: float | None
    failed: bool


@dataclass(frozen=True)
class Backlog:
    """The last recovery sample: pending records, or None with the error of a failed sample."""

    pending: int | None
    error: str | None
    t: float | None


class RunWatcher:
    """The facts of a running run, read incrementally from its directory."""

    def __init__(self, run_dir: RunDir) -> None:
        self._run_dir = run_dir
        self._history: dict[Path, _Tail] = {}
        self._faults_tail = _Tail(run_dir.faults)
        self._consistency_tail = _Tail(run_dir.consistency)
        self.clients = _Clients()
        self._active: dict[str, ActiveFault] = {}
        self.backlog: Backlog | None = None

    def read(self) -> None:
        """Take in whatever was appended since the last call."""
        for path in self._run_dir.history_files():
            tail = self._history.setdefault(path, _Tail(path))
            for event in tail.read():
                self.clients.add(event)
        for record in self._faults_tail.read():
            name = str(record.get("name"))
            if record.get("phase") == "start":
                params = record.get("params")
                link = params.get("link") if isinstance(params, dict) else None
                label = f"{record.get('kind')}@{link}" if link else str(record.get("kind"))
                since = record.get("t")
                self._active[name] = ActiveFault(label, float(since) if isinstance(since, int | float) else None,
                                                 failed=record.get("error") is not None)
            elif record.get("phase") == "heal":
                self._active.pop(name, None)
        for record in self._consistency_tail.read():
            pending, t = record.get("pending"), record.get("t")
            self.backlog = Backlog(pending=pending if isinstance(pending, int) else None,
                                   error=None if record.get("error") is None else str(record.get("error")),
                                   t=float(t) if isinstance(t, int | float) else None)

    @property
    def faults(self) -> tuple[ActiveFault, ...]:
        return tuple(self._active.values())


@dataclass(frozen=True)
class Snapshot:
    """What one progress update shows."""

    title: str
    phase: Phase
    detail: str
    elapsed_s: float
    expected_s: float | None
    rates: Rates | None
    faults: tuple[ActiveFault, ...]
    backlog: Backlog | None


def _ops(ops_s: float) -> str:
    return f"{ops_s:.0f}" if ops_s >= 100 else f"{ops_s:.1f}"


def _clock_text(s: Snapshot) -> str:
    if s.expected_s is None:
        return f"{s.elapsed_s:.1f} s"
    return f"{s.elapsed_s:.1f}/{s.expected_s:.1f} s"


def _outcomes_text(rates: Rates) -> str:
    return f"ok {rates.ok * 100:.1f}% fail {rates.fail * 100:.1f}% info {rates.info * 100:.1f}%"


def _p99_text(rates: Rates) -> str:
    return "p99 - ms" if rates.p99_ms is None else f"p99 {rates.p99_ms:.1f} ms"


def _faults_text(faults: tuple[ActiveFault, ...]) -> str:
    return ", ".join(f.label + (" (apply failed)" if f.failed else "") for f in faults) or "none"


def _backlog_text(backlog: Backlog | None) -> str:
    if backlog is None:
        return "not sampled yet"
    if backlog.pending is None:
        return f"unknown (sample failed: {backlog.error})"
    return str(backlog.pending)


def plain_line(s: Snapshot) -> str:
    """One line of the plain face, e.g. ``load 12.0/40.0 s: 812 ops/s, ok 99.1% fail 0.2% info 0.7%, ...``."""
    parts = []
    if s.rates is not None and s.phase in (Phase.LOAD, Phase.RECOVERY):
        if s.rates.completed:
            parts.append(f"{_ops(s.rates.ops_s)} ops/s, {_outcomes_text(s.rates)}, {_p99_text(s.rates)}")
        else:
            parts.append(f"0.0 ops/s (no completions in the last {s.rates.window_s:.1f} s)")
    if s.phase is Phase.LOAD or s.faults:
        parts.append(f"faults: {_faults_text(s.faults)}")
    if s.phase is Phase.RECOVERY:
        parts.append(f"pending backlog {_backlog_text(s.backlog)}")
    head = f"{s.phase.value} {_clock_text(s)}"
    return f"{head}: {', '.join(parts)}" if parts else head


def panel(s: Snapshot) -> Panel:
    """The live face: one row per fact, each with its unit."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    title = Text(f"orderquake run: {s.title}")
    if s.phase in (Phase.FINAL_READS, Phase.CHECK):  # nothing is read any more: no rate would be true
        grid.add_row("phase", Text(f"{s.phase.value}: {s.detail}"))
        return Panel(grid, title=title, title_align="left", expand=False)
    clock = f"{s.elapsed_s:.1f} s elapsed"
    if s.expected_s is not None:
        clock += f", {max(0.0, s.expected_s - s.elapsed_s):.1f} s remaining of {s.expected_s:.1f} s"
    grid.add_row("phase", Text(f"{s.phase.value}: {clock}"))
    if s.rates is None:
        grid.add_row("throughput", Text("- ops/s (no load yet)"))
    else:
        window = f"last {s.rates.window_s:.1f} s"
        grid.add_row("throughput", Text(f"{_ops(s.rates.ops_s)} ops/s ({s.rates.completed} completed, {window})"))
        if s.rates.completed:
            grid.add_row("outcomes", Text(_outcomes_text(s.rates)))
            grid.add_row("latency", Text(f"{_p99_text(s.rates)} (ok and fail, {window})"))
    faults = ", ".join(f.label + ("" if f.since_s is None else f" since {f.since_s:.1f} s")
                       + (" (apply failed)" if f.failed else "") for f in s.faults)
    grid.add_row("faults", Text(faults or "none active"))
    if s.phase is Phase.RECOVERY or s.backlog is not None:
        grid.add_row("backlog", Text(f"pending {_backlog_text(s.backlog)}"))
    return Panel(grid, title=title, title_align="left", expand=False)


class Reporter:
    """What the runner tells about a run: step lines and phase changes. This one shows nothing (quiet)."""

    def say(self, line: str) -> None:
        """A line about what the run is doing (``run: smoke (seed 7) -> runs/...``)."""

    def phase(self, phase: Phase, *, detail: str, expected_s: float | None = None) -> None:
        """The run entered ``phase``, expected to last ``expected_s`` seconds when that is known."""

    def start(self) -> None:
        """Begin showing progress."""

    def close(self) -> None:
        """Stop showing progress; the terminal is left as it was found."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class EchoReporter(Reporter):
    """Step and phase lines to a function, and no progress display (the matrix passes a no-op)."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self._echo = echo

    def say(self, line: str) -> None:
        self._echo(line)

    def phase(self, phase: Phase, *, detail: str, expected_s: float | None = None) -> None:
        self._echo(f"{phase.value}: {detail}")


class _Watching(Reporter):
    """A reporter that reads the run directory: from a daemon thread, every ``poll_s``, until the final reads."""

    def __init__(self, run_dir: RunDir, *, title: str, clock: Clock, poll_s: float, window_s: float,
                 lag_s: float) -> None:
        self._watcher = RunWatcher(run_dir)
        self._title = title
        self._clock = clock
        self._poll_s, self._window_s, self._lag_s = poll_s, window_s, lag_s
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reading = True
        self._failed = False
        self._phase = Phase.STAGE
        self._detail = ""
        self._phase_started = clock.monotonic()
        self._expected_s: float | None = None
        self._load_started_wall: float | None = None

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        try:
            yield
        except Exception:
            if not self._failed:
                self._failed = True
                _log.warning("progress display failed; the run goes on without it", exc_info=True)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="orderquake-progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._poll_s):
            self.tick()

    def _stop_reading(self) -> None:
        self._reading = False  # a tick under way finishes; none reads after it
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def tick(self) -> None:
        """One update: read what is new, then show it; the thread calls this every ``poll_s``."""
        with self._guarded(), self._lock:
            if not self._reading:
                return
            self._watcher.read()
            self._show()

    def snapshot(self) -> Snapshot:
        """What the run directory has said so far, as of now (reads nothing); no rates once reading stopped."""
        with self._lock:
            rates = None
            if self._load_started_wall is not None and self._reading:
                end = self._clock.wall() - self._lag_s
                rates = self._watcher.clients.rates(end - self._window_s, end, since=self._load_started_wall)
            return Snapshot(title=self._title, phase=self._phase, detail=self._detail,
                            elapsed_s=self._clock.monotonic() - self._phase_started, expected_s=self._expected_s,
                            rates=rates, faults=self._watcher.faults, backlog=self._watcher.backlog)

    def phase(self, phase: Phase, *, detail: str, expected_s: float | None = None) -> None:
        with self._guarded():
            if phase in (Phase.FINAL_READS, Phase.CHECK):
                self._stop_reading()
            with self._lock:
                self._phase, self._detail, self._expected_s = phase, detail, expected_s
                self._phase_started = self._clock.monotonic()
                if phase is Phase.LOAD:
                    self._load_started_wall = self._clock.wall()
                self._changed(f"{phase.value}: {detail}")

    def say(self, line: str) -> None:
        with self._guarded(), self._lock:
            self._print(line)

    def close(self) -> None:
        with self._guarded():
            self._stop_reading()

    def _show(self) -> None:
        raise NotImplementedError

    def _changed(self, line: str) -> None:
        raise NotImplementedError

    def _print(self, line: str) -> None:
        raise NotImplementedError


class PlainReporter(_Watching):
    """Plain lines on ``out``: each step, each phase change, and the facts every ``interval_s``."""

    def __init__(self, run_dir: RunDir, *, title: str, out: TextIO, clock: Clock | None = None,
                 interval_s: float = 5.0, poll_s: float = 0.5, window_s: float = 5.0, lag_s: float = 1.0) -> None:
        clock = clock or Clock()
        super().__init__(run_dir, title=title, clock=clock, poll_s=poll_s, window_s=window_s, lag_s=lag_s)
        self._out = out
        self._interval_s = interval_s
        self._next_line_at = clock.monotonic() + interval_s

    def _print(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    def _changed(self, line: str) -> None:
        self._print(line)
        self._next_line_at = self._clock.monotonic() + self._interval_s

    def _show(self) -> None:
        now = self._clock.monotonic()
        if now >= self._next_line_at:  # the snapshot only then: reading is cheap, the percentile less so
            self._print(plain_line(self.snapshot()))
            self._next_line_at = now + self._interval_s


class LiveReporter(_Watching):
    """A panel on a terminal, redrawn at every poll (twice a second); step lines scroll above it."""

    def __init__(self, run_dir: RunDir, *, title: str, console: Console, clock: Clock | None = None,
                 poll_s: float = 0.5, window_s: float = 5.0, lag_s: float = 1.0) -> None:
        super().__init__(run_dir, title=title, clock=clock or Clock(), poll_s=poll_s, window_s=window_s,
                         lag_s=lag_s)
        self._console = console
        # Redrawn by our own thread only (no rich refresh thread). Transient: once the run is judged the
        # panel goes, the step lines above it stay, and the verdict follows them.
        self._live = Live(console=console, auto_refresh=False, transient=True)

    def start(self) -> None:
        with self._guarded():
            self._live.start()
            self._live.update(panel(self.snapshot()), refresh=True)
        super().start()

    def _print(self, line: str) -> None:
        self._console.print(line, markup=False, highlight=False)

    def _changed(self, line: str) -> None:
        self._print(line)
        self._show()

    def _show(self) -> None:
        self._live.update(panel(self.snapshot()), refresh=True)

    def close(self) -> None:
        super().close()
        with self._guarded():
            self._live.stop()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def reporter_for(mode: ProgressMode, run_dir: RunDir, *, title: str, stream: TextIO | None = None,
                 echo: Callable[[str], None] | None = None, clock: Clock | None = None) -> Reporter:
    """The reporter of one run: ``echo`` (when given) takes the step lines and no progress is shown;
    otherwise ``mode`` decides, on ``stream`` (default stderr)."""
    if echo is not None:
        return EchoReporter(echo)
    if mode is ProgressMode.QUIET:
        return Reporter()
    out = stream if stream is not None else sys.stderr
    if mode is ProgressMode.AUTO:
        mode = ProgressMode.LIVE if _is_terminal(out) else ProgressMode.PLAIN
    if mode is ProgressMode.LIVE:
        return LiveReporter(run_dir, title=title, console=Console(file=out), clock=clock)
    return PlainReporter(run_dir, title=title, out=out, clock=clock)
