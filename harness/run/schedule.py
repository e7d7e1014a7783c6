"""Runs a fault schedule beside the load: apply each fault at its time, heal it after its span.

The schedule runs in one thread so that a slow ``apply`` (a PostgreSQL stop takes a moment)
delays only the faults behind it, and it records the times each fault *actually* started and
healed in ``faults.jsonl``. ``stop()`` heals everything still active, whatever happened: an
apply that failed half-way is healed too, since every fault's ``heal`` is safe to call after a
partial or failed ``apply``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.rundir import RunDir


@dataclass(frozen=True)
class Planned:
    """One fault of the schedule: when (seconds from load start), for how long, and how."""

    name: str
    kind: str
    at: float
    duration: float | None  # None: until the load phase ends
    params: dict[str, Any]
    apply: Callable[[], None]
    heal: Callable[[], None]


@dataclass
class _Active:
    planned: Planned
    heal_at: float | None


@dataclass
class FaultScheduler:
    """Apply and heal ``plan`` relative to ``start()``; ``stop()`` heals whatever is left."""

    plan: list[Planned]
    run_dir: RunDir
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _active: list[_Active] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _origin: float = 0.0

    def start(self, origin: float | None = None) -> None:
        """Start the schedule; ``origin`` is the monotonic time the load started."""
        self._origin = self.clock() if origin is None else origin
        self._thread = threading.Thread(target=self._loop, name="orderquake-faults", daemon=True)
        self._thread.start()

    def _journal(self, planned: Planned, phase: str, error: str | None) -> None:
        self.run_dir.append_jsonl(self.run_dir.faults, {
            "name": planned.name, "kind": planned.kind, "params": planned.params, "phase": phase,
            "at": self.wall(), "t": round(self.clock() - self._origin, 3), "error": error})
        if error is not None:
            self.errors.append(f"{planned.name} {phase}: {error}")

    def _run_step(self, planned: Planned, phase: str) -> None:
        step = planned.apply if phase == "start" else planned.heal
        try:
            step()
        except Exception as exc:  # recorded and reported; the run goes on and heals at the end
            self._journal(planned, phase, f"{type(exc).__name__}: {exc}")
            return
        self._journal(planned, phase, None)

    def _loop(self) -> None:
        queue = sorted(self.plan, key=lambda p: p.at)
        while not self._stop.is_set():
            now = self.clock() - self._origin
            with self._lock:
                due_heals = [a for a in self._active if a.heal_at is not None and a.heal_at <= now]
                for active in due_heals:
                    self._active.remove(active)
            for active in due_heals:
                self._run_step(active.planned, "heal")
            while queue and queue[0].at <= now and not self._stop.is_set():
                planned = queue.pop(0)
                with self._lock:
                    heal_at = None if planned.duration is None else planned.at + planned.duration
                    self._active.append(_Active(planned, heal_at))
                self._run_step(planned, "start")
            upcoming = [p.at for p in queue] + [a.heal_at for a in self._active if a.heal_at is not None]
            if not upcoming and not self._active:
                return
            wait = min(upcoming) - (self.clock() - self._origin) if upcoming else 0.5
            self._stop.wait(max(0.01, min(wait, 0.5)))

    def stop(self) -> None:
        """Stop scheduling and heal every fault still active, in reverse order of application."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        with self._lock:
            remaining = list(reversed(self._active))
            self._active.clear()
        for active in remaining:
            self._run_step(active.planned, "heal")
