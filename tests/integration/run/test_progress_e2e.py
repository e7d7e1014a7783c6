"""End to end: ``orderquake run`` with stderr a pipe prints plain progress lines; ``--quiet`` only the verdict."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = """
name: e2e-progress
description: a few users placing orders, no faults
seed: 21
duration: 12s
load: {users: 6, spawn_rate: 6, mix: {order: 1}, duplicates: 0}
recovery: {deadline: 30s}
"""
LOAD_LINE = re.compile(r"^load \d+\.\d/12\.0 s: \d+(\.\d)? ops/s, ok \d+\.\d% fail \d+\.\d% info \d+\.\d%, "
                       r"p99 \d+\.\d ms, faults: none$")


def _run(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    # capture_output: stdout and stderr are pipes, as in CI.
    return subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out", str(tmp_path / "runs"),
                           *options], cwd=ROOT, capture_output=True, text=True, timeout=300)


def _is_summary(stdout: str) -> bool:
    lines = stdout.splitlines()
    return (len(lines) >= 3 and lines[0].startswith("verdict: PASS (exit 0)")
            and all(line.startswith("  ") for line in lines[1:]) and lines[-1].startswith("  report: "))


def test_without_a_terminal_progress_is_plain_lines_with_phase_and_rates(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    load_lines = [line for line in lines if LOAD_LINE.match(line)]
    assert len(load_lines) >= 2, result.stderr
    # Every line that reports load is load going on: some operations completed.
    assert all(not line.startswith("load 0.0 ops/s") for line in load_lines), result.stderr
    step = re.compile(r"^(run|stage|load|recovery|final reads|check): ")
    changes = [line.split(":")[0] for line in lines if step.match(line)]
    assert changes == ["run", "stage", "load", "recovery", "final reads", "check"], result.stderr
    assert _is_summary(result.stdout), result.stdout


def test_quiet_prints_only_the_verdict_summary(tmp_path: Path) -> None:
    result = _run(tmp_path, "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert _is_summary(result.stdout), result.stdout
