"""One row of the benchmark suite's table, the table itself, and ``bench/RESULTS.md``.

Every benchmark module has ``figures(quick=True) -> list[Figure]``: it measures and returns its
rows, so ``python -m bench`` collects numbers, never parses printed text. Each row says what
limits the number and how to reproduce it alone.
"""

from __future__ import annotations

import os
import platform
import subprocess
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One measured figure: ``value`` already formatted with its unit."""

    name: str
    value: str
    limits: str
    reproduce: str


def table(figures: Sequence[Figure], widths: tuple[int, int, int] = (46, 34, 56)) -> str:
    """The terminal table: figure, value and what limits it, each column wrapped to its width."""
    header = ("figure", "value", "limited by")
    lines = ["  ".join(f"{h:<{w}}" for h, w in zip(header, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for figure in figures:
        cells = [textwrap.wrap(text, w) or [""] for text, w in zip((figure.name, figure.value, figure.limits),
                                                                     widths, strict=True)]
        for row in range(max(len(c) for c in cells)):
            lines.append("  ".join(f"{(c[row] if row < len(c) else ''):<{w}}"
                                   for c, w in zip(cells, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _proc(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> dict[str, str]:
    """CPU model, cores, RAM and kernel, from /proc."""
    cpuinfo = _proc("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown")
    mem_kib = next((int(line.split()[1]) for line in _proc("/proc/meminfo").splitlines()
                    if line.startswith("MemTotal:")), 0)
    kernel = _proc("/proc/sys/kernel/osrelease").strip() or platform.release()
    return {"cpu": model, "cores": str(os.cpu_count()), "ram": f"{mem_kib / (1 << 20):.1f} GiB",
            "kernel": kernel}


def git_commit(root: Path) -> str:
    """HEAD's commit, with ``+ uncommitted changes`` when the bench or provider files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False).stdout.strip()
    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "bench", "mock_provider", ":!bench/RESULTS.md")
    return commit + (" + uncommitted changes in bench/ or mock_provider/" if dirty else "")


def results_markdown(figures: Sequence[Figure], *, started: datetime, seconds: float, commit: str,
                     load: tuple[tuple[float, float, float], tuple[float, float, float]], notes: Sequence[str]) -> str:
    """``bench/RESULTS.md``: when, where, on which commit, then every figure with its limit and command."""
    box = machine()
    lines = ["# orderquake benchmark results", "",
             "Written by `make bench` (`python -m bench`) from one run; every figure below comes from that run.", "",
             f"- date: {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC, {seconds / 60:.1f} min for the whole suite",
             f"- machine: {box['cpu']}, {box['cores']} cores, {box['ram']} RAM, Linux {box['kernel']} "
             "(shared with other work: CPU-time figures move less than wall-clock ones)",
             f"- load average (1 min) at the start {load[0][0]:.2f}, at the end {load[1][0]:.2f}",
             f"- git commit: {commit}", "",
             "| figure | value | what limits it | reproduce |", "|---|---|---|---|"]
    def cell(text: str) -> str:
        return text.replace("|", "\\|")
    lines += [f"| {cell(f.name)} | {cell(f.value)} | {cell(f.limits)} | `{cell(f.reproduce)}` |" for f in figures]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
