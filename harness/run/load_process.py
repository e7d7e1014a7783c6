"""Locust as a subprocess: started in its own process group, waited for with a deadline, stopped.

Locust is never imported here (it monkey-patches the whole process with gevent). Its exit code
1 only means "some requests failed", which under fault injection is expected; any other non-zero
code, or an exit before the load phase could have run, means the load generator itself broke.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness._exceptions import InfrastructureError
from harness.stage.process import kill_group

_TERM_GRACE_S = 10.0


@dataclass
class LoadProcess:
    """A running ``locust`` (master and, when asked, its workers are one process group each)."""

    processes: list[subprocess.Popen[bytes]]
    log_path: Path
    started: float

    @classmethod
    def start(cls, commands: Sequence[tuple[Sequence[str], Mapping[str, str]]], *, log_path: Path,
              cwd: Path) -> LoadProcess:
        """Start every ``(argv, env)`` in ``commands`` (the master first), logging to ``log_path``."""
        processes = []
        log = log_path.open("ab")
        try:
            for argv, env in commands:
                processes.append(subprocess.Popen(
                    list(argv), env={**os.environ, **env}, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True))
        except OSError as exc:
            for proc in processes:
                kill_group(proc.pid, signal.SIGKILL)
            message = f"could not start the load generator ({exc}): run 'make setup'"
            raise InfrastructureError(message) from exc
        finally:
            log.close()
        return cls(processes=processes, log_path=log_path, started=time.monotonic())

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.processes]

    def wait(self, timeout_s: float) -> int:
        """Wait for the master to finish; raise if it broke or overran ``timeout_s``."""
        master = self.processes[0]
        try:
            code = master.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            message = f"Locust did not finish within {timeout_s:.0f} s; see {self.log_path}"
            raise InfrastructureError(message) from exc
        for worker in self.processes[1:]:
            try:
                worker.wait(timeout=_TERM_GRACE_S)
            except subprocess.TimeoutExpired:
                kill_group(worker.pid, signal.SIGKILL)
        if code not in (0, 1):
            tail = self.log_path.read_text(errors="replace").splitlines()[-15:]
            raise InfrastructureError(f"Locust exited with code {code}; last lines of {self.log_path}:\n"
                                      + "\n".join(tail))
        return code

    def stop(self) -> None:
        """SIGTERM each process group (Locust then writes its stats), SIGKILL what is left."""
        for proc in self.processes:
            if proc.poll() is None:
                kill_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + _TERM_GRACE_S
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            kill_group(proc.pid, signal.SIGKILL)  # stragglers of the group (gevent helpers) go too
