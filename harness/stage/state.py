"""State files of running stages: found by ``status``/``fault``/``down``, cleaned when orphaned.

Each stage writes ``<state dir>/<name>.json`` listing every process it started with its start
time (so a recycled pid is never killed), the owner (the orderquake process that runs it) and
whether it was left running on purpose (``orderquake up``). A stage whose owner died without
detaching it was left by a killed harness: the next command stops its processes and removes it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness._paths import state_dir
from harness.stage.process import alive, kill_group, start_time, terminate, wait_gone

DEFAULT_STAGE = "default"
# ``up`` records PostgreSQL and Toxiproxy from two threads; one writer at a time keeps the file whole.
_WRITING = threading.RLock()


@dataclass
class ProcessEntry:
    name: str
    pid: int
    started: int | None
    url: str = ""
    group: bool = True  # the pid leads its own process group


@dataclass
class StageState:
    name: str
    owner_pid: int
    owner_started: int | None
    detached: bool
    root: str
    toxiproxy_url: str = ""
    processes: list[ProcessEntry] = field(default_factory=list)
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    remove_root: bool = False
    scratch: list[str] = field(default_factory=list)  # folders outside root that die with the stage

    @property
    def path(self) -> Path:
        return state_dir() / f"{self.name}.json"

    def save(self) -> None:
        with _WRITING:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(self), indent=2))
            tmp.replace(self.path)

    @classmethod
    def load(cls, path: Path) -> StageState | None:
        try:
            data = json.loads(path.read_text())
            data["processes"] = [ProcessEntry(**p) for p in data.get("processes", [])]
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None

    @property
    def owner_alive(self) -> bool:
        return alive(self.owner_pid, self.owner_started)

    @property
    def orphaned(self) -> bool:
        return not self.detached and not self.owner_alive

    def record(self, name: str, pid: int | None, url: str = "", *, group: bool = True) -> None:
        """Add (or replace) a process and save at once, so a crash right after leaves no stranger."""
        if pid is None:
            return
        with _WRITING:
            self.processes = [p for p in self.processes if p.name != name]
            self.processes.append(ProcessEntry(name=name, pid=pid, started=start_time(pid), url=url, group=group))
            self.save()

    def kill_all(self) -> list[str]:
        """Stop every recorded process still alive (newest first); return the names stopped."""
        stopped = []
        for entry in reversed(self.processes):
            if not alive(entry.pid, entry.started):
                continue
            if entry.group:
                kill_group(entry.pid, signal.SIGKILL)
            else:
                os.kill(entry.pid, signal.SIGKILL)
            wait_gone(entry.pid, entry.started, 5.0)
            stopped.append(entry.name)
        return stopped

    def stop_all(self, grace_s: float = 3.0) -> list[str]:
        """SIGTERM every recorded process (newest first), SIGKILL what outlives ``grace_s``."""
        stopped = []
        for entry in reversed(self.processes):
            if alive(entry.pid, entry.started):
                terminate(entry.pid, entry.started, grace_s=grace_s)
                stopped.append(entry.name)
        return stopped

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        for folder in self.scratch:
            shutil.rmtree(folder, ignore_errors=True)
        if self.remove_root:
            shutil.rmtree(self.root, ignore_errors=True)


def new_state(name: str, root: Path, *, detached: bool = False) -> StageState:
    pid = os.getpid()
    return StageState(name=name, owner_pid=pid, owner_started=start_time(pid), detached=detached, root=str(root))


def all_states() -> list[StageState]:
    folder = state_dir()
    if not folder.exists():
        return []
    return [s for s in (StageState.load(p) for p in sorted(folder.glob("*.json"))) if s is not None]


def find(name: str = DEFAULT_STAGE) -> StageState | None:
    path = state_dir() / f"{name}.json"
    return StageState.load(path) if path.exists() else None


def clean_orphans() -> list[str]:
    """Stop what stages left behind by a killed orderquake still run; return a line per stage cleaned."""
    cleaned = []
    for state in all_states():
        if state.orphaned:
            names = state.kill_all()
            state.discard()
            cleaned.append(f"cleaned stage {state.name!r} left by a stopped orderquake (pid {state.owner_pid}): "
                           f"{', '.join(names) or 'no process was still running'}")
    return cleaned
