"""The console entry point: a reader that stops early (``orderquake faults | head -1``) gets no traceback."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs Linux's F_SETPIPE_SZ to shrink the pipe")
def test_stdout_closed_after_one_line_exits_quietly() -> None:
    whole = subprocess.run([sys.executable, "-m", "harness", "faults"], cwd=ROOT, capture_output=True, check=True)
    read_end, write_end = os.pipe()
    # The writer must still be writing when the reader goes: with a pipe of one page and more than a
    # page to write, it is blocked in write() until the reader has closed, whatever the scheduling.
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, os.sysconf("SC_PAGE_SIZE"))
    capacity = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
    assert len(whole.stdout) > capacity, "the catalogue fits in the pipe: this test would prove nothing"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "faults"], cwd=ROOT, stdout=write_end,
                            stderr=subprocess.PIPE)
    os.close(write_end)
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(read_end, 1)  # one byte at a time: never drain more than the first line
        assert chunk, "the catalogue ended before its first line did"
        line += chunk
    os.close(read_end)
    _, stderr = proc.communicate(timeout=60)
    assert line == whole.stdout.splitlines(keepends=True)[0]
    assert b"Traceback" not in stderr and b"BrokenPipeError" not in stderr, stderr.decode()
    assert stderr == b"", stderr.decode()
    assert proc.returncode == 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away


def test_the_compose_stage_without_the_docker_sdk_is_refused_before_a_run_directory_is_made(tmp_path: Path) -> None:
    """The SDK is an optional extra: without it (hidden here, as a fresh install has it not), exit 2 and say
    how to install it, with no traceback and nothing written."""
    hide = ("import sys; sys.modules['docker'] = None; sys.modules['docker.errors'] = None; "
            "from harness.cli.main import main; raise SystemExit(main(sys.argv[1:]))")
    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-c", hide, "run", "scenarios/smoke.yaml", "--stage", "compose", "--out",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "orderquake[compose]" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
