"""A supervised process: argv, env, a log file, readiness within a deadline, stop, crash, restart.

Each process starts in its own session (process group), so that stopping it stops whatever it
spawned; its pid and start time go into the stage's state file, so that a stage left behind by
a killed harness can be found and cleaned without ever killing a recycled pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness._exceptions import InfrastructureError, SutError
from harness.stage.ports import port_open

Probe = Callable[[], bool]


def http_probe(url: str) -> Probe:
    """Ready when ``GET url`` answers 2xx."""

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=0.5).is_success
        except httpx.HTTPError:
            return False

    return probe


def tcp_probe(host: str, port: int) -> Probe:
    """Ready when ``host:port`` accepts a TCP connection."""
    return lambda: port_open(host, port)


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None when it is gone.

    A zombie (exited, not yet reaped: its parent died and init has not collected it) is gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def alive(pid: int, started: int | None) -> bool:
    """True when ``pid`` still runs and is the same process (not a recycled pid)."""
    current = start_time(pid)
    return current is not None and (started is None or current == started)


def kill_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by ``pid``; a group already gone is not an error."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def live_processes() -> Iterator[tuple[int, int, int]]:
    """``(pid, parent pid, process group)`` of every process that still runs, from /proc (a zombie is gone,
    as in ``start_time``)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            yield int(entry.name), int(fields[1]), int(fields[2])


def group_members(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` that still run."""
    return [pid for pid, _, group in live_processes() if group == pgid]


def children_of(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` that still run."""
    return [pid for pid, ppid, _ in live_processes() if ppid == parent]


def wait_group_gone(pgid: int, deadline_s: float) -> bool:
    """Poll until no process of group ``pgid`` runs: a SIGKILLed group's members die one by one, each when
    the kernel next schedules it, after its leader may already have been reaped."""
    end = time.monotonic() + deadline_s
    while group_members(pgid):
        if time.monotonic() >= end:
            return False
        time.sleep(0.02)
    return True


def wait_gone(pid: int, started: int | None, deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if not alive(pid, started):
            return True
        time.sleep(0.02)
    return not alive(pid, started)


def terminate(pid: int, started: int | None, *, grace_s: float = 3.0) -> None:
    """SIGTERM the group, then SIGKILL it if it has not gone within ``grace_s``."""
    if not alive(pid, started):
        return
    kill_group(pid, signal.SIGTERM)
    if not wait_gone(pid, started, grace_s):
        kill_group(pid, signal.SIGKILL)
        wait_gone(pid, started, 2.0)


@dataclass
class SupervisedProcess:
    """One component of the stage; ``start`` returns once the probe says it is ready."""

    name: str
    argv: Sequence[str]
    log_path: Path
    probe: Probe
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready_deadline_s: float = 20.0
    error: type[InfrastructureError] | type[SutError] = InfrastructureError
    run_as: tuple[int, int] | None = None  # (uid, gid) for servers that refuse root
    _proc: subprocess.Popen[bytes] | None = None
    started: int | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def spawn(self) -> None:
        """Start the process without waiting for it to be ready."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        identity: dict[str, object] = {}
        if self.run_as is not None:
            identity = {"user": self.run_as[0], "group": self.run_as[1], "extra_groups": []}
        with self.log_path.open("ab") as log:
            if self.run_as is not None:
                os.chown(self.log_path, *self.run_as)
            try:
                self._proc = subprocess.Popen(  # type: ignore[call-overload]
                    list(self.argv), env={**os.environ, **self.env}, cwd=self.cwd, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, **identity)
            except OSError as exc:
                raise self.error(f"could not start {self.name} ({' '.join(self.argv[:3])}...): {exc}") from exc
        self.started = start_time(self._proc.pid)

    def wait_ready(self, deadline_s: float | None = None) -> None:
        """Poll the probe until ready; a process that exits or stays unready is an error with its log."""
        end = time.monotonic() + (deadline_s or self.ready_deadline_s)
        while time.monotonic() < end:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise self.error(f"{self.name} exited with code {code} before it was ready; "
                                 f"its log ({self.log_path}) ends with:\n{self.log_tail()}")
            if self.probe():
                return
            time.sleep(0.03)
        raise self.error(f"{self.name} was not ready within {deadline_s or self.ready_deadline_s:.0f} s; "
                         f"its log ({self.log_path}) ends with:\n{self.log_tail()}")

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def stop(self, grace_s: float = 3.0, sig: signal.Signals = signal.SIGTERM) -> None:
        """``sig`` (SIGTERM), then SIGKILL after ``grace_s``; the whole process group goes."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            kill_group(self._proc.pid, sig)
            try:
                self._proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                kill_group(self._proc.pid, signal.SIGKILL)
        self._reap()

    def crash(self) -> None:
        """SIGKILL the whole group, as a machine or OOM-killer would."""
        if self._proc is None:
            return
        kill_group(self._proc.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        """The leader reaped, then every other process of its group gone (SIGKILLed if one lingers), so that
        nothing of a stopped or crashed component still holds its port when it is started again."""
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kill_group(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=5)
            if not wait_group_gone(self._proc.pid, 5.0):
                kill_group(self._proc.pid, signal.SIGKILL)
                wait_group_gone(self._proc.pid, 5.0)

    def log_tail(self, lines: int = 12) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def run_setup(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None, log: Path, deadline: float) -> None:
    """One of a target's ``setup`` commands, its output appended to ``log``; it must exit 0 before
    ``deadline`` (a ``time.monotonic()`` value), else the SUT is not started (a SutError with the log)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        handle.write(f"$ {' '.join(argv)}\n".encode())
        handle.flush()
        try:
            proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise SutError(f"could not run the target's setup command {' '.join(argv[:3])}...: {exc}") from exc
        try:
            code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
            raise SutError(f"the target's setup command {' '.join(argv)} did not finish within its setup_deadline; "
                           f"its output is in {log}") from None
        except BaseException:
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
            raise
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-12:])
        raise SutError(f"the target's setup command {' '.join(argv)} exited with code {code}; {log} ends with:\n{tail}")
