"""CPU seconds used by each component of the stage, from the kernel's own accounting in ``/proc``.

Every component runs in its own session (``harness.stage.process``), and PostgreSQL forks a backend
per connection (each of which calls ``setsid``), so a component's CPU is that of its leader and every
descendant (by parent pid) or member of its session: ``utime + stime`` of each live one, plus
``cutime + cstime`` (what its exited children used, once reaped). A backend that exited between
two samples is still counted, in its parent's ``cutime``. Sample before and after a step; the difference is the step's.

    >>> before = sample({"sut": stage.components["sut"].pid})  # doctest: +SKIP
    >>> used(before, sample({"sut": stage.components["sut"].pid}))  # doctest: +SKIP
    {'sut': 1.37}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(path: Path) -> tuple[int, int, int] | None:
    """(parent, session, ticks) of one /proc/<pid>/stat, or None when the process is gone."""
    try:
        text = path.read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    # after the command: state ppid pgrp session ... utime(11) stime(12) cutime(13) cstime(14)
    return int(fields[1]), int(fields[3]), sum(int(v) for v in fields[11:15])


def sample(leaders: Mapping[str, int | None], *, proc: Path = Path("/proc")) -> dict[str, float]:
    """CPU seconds so far of each component (by its leader's pid); a component not running is left out."""
    wanted = {pid: name for name, pid in leaders.items() if pid}
    table: dict[int, tuple[int, int, int]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit() and (stat := _stat(entry / "stat")) is not None:
            table[int(entry.name)] = stat
    totals: dict[str, int] = {}
    for pid, (_, session, ticks) in table.items():
        owner, seen = wanted.get(pid) or wanted.get(session), 0
        ancestor = pid
        while owner is None and ancestor in table and seen < 64:  # up the parents to a leader, if any
            ancestor, seen = table[ancestor][0], seen + 1
            owner = wanted.get(ancestor)
        if owner is not None:
            totals[owner] = totals.get(owner, 0) + ticks
    return {name: ticks / _TICKS for name, ticks in totals.items()}


def used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each component used between two samples (a restarted one counts from zero)."""
    return {name: round(max(0.0, value - before.get(name, 0.0)) if value >= before.get(name, 0.0) else value, 3)
            for name, value in after.items()}
