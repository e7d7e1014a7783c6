"""Offered rate and Locust CPU per operation with 1, 2 and 4 local workers (docs/distributed.md).

    python scripts/measure_workers.py [--workers 1 2 4] [--users 16] [--duration 20]

Runs the same fault-free scenario against the reference service with ``--workers N`` and, while it
runs, samples every Locust process of the run (found by its working directory, the run directory)
in ``/proc``: its CPU seconds (utime + stime) at the last sample. Per worker: the operations it
invoked (its ``history/<pid>.jsonl``), its offered rate, its CPU seconds and CPU per operation;
and the machine's busy share over the run (``/proc/stat``), to tell whether the machine was the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
SCENARIO = """
name: measure-workers
description: fault-free load for the worker measurement
seed: 3
duration: {duration}s
load: {{users: {users}, spawn_rate: {users}, duplicates: 0.05,
       mix: {{order: 6, payout: 2, get_order: 1, get_payout: 1}}}}
recovery: {{deadline: 30s}}
"""


def _locust_cpu(run_dir: Path) -> dict[int, tuple[str, float]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) != run_dir:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if b"locust" not in argv:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        role = "worker" if b"--worker" in argv else "master"
        found[int(entry.name)] = (role, (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def _busy() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def measure(workers: int, users: int, duration: int, out: Path) -> dict[str, object]:
    scenario = out / f"scenario-{workers}.yaml"
    scenario.write_text(SCENARIO.format(users=users, duration=duration))
    runs = out / f"runs-{workers}"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(scenario), "--workers", str(workers),
                             "--out", str(runs), "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    cpu: dict[int, tuple[str, float]] = {}
    busy_start = None
    while proc.poll() is None:
        dirs = [p for p in runs.glob("*") if p.is_dir()] if runs.exists() else []
        if dirs:
            now = _locust_cpu(dirs[0].resolve())
            if now and busy_start is None:
                busy_start = _busy()
            if now:
                busy_end = _busy()
            cpu.update(now)
        time.sleep(0.25)
    run_dir = next(p for p in runs.glob("*") if p.is_dir())
    facts = json.loads((run_dir / "run.json").read_text())
    verdict = json.loads((run_dir / "verdict.json").read_text())
    seconds = float(facts["load_seconds"])
    per_worker = []
    for pid, (role, used) in sorted(cpu.items()):
        history = run_dir / "history" / f"{pid}.jsonl"
        ops = history.read_bytes().count(b'"type":"invoke"') if history.exists() else 0
        per_worker.append({"pid": pid, "role": role, "cpu_s": round(used, 2), "ops": ops,
                           "offered_per_s": round(ops / seconds, 1),
                           "cpu_ms_per_op": round(1000 * used / ops, 3) if ops else None})
    assert busy_start is not None
    busy = (busy_end[0] - busy_start[0]) / max(1, busy_end[1] - busy_start[1])
    total_ops = sum(int(w["ops"]) for w in per_worker)  # type: ignore[call-overload]
    return {"workers": workers, "verdict": verdict["verdict"], "load_seconds": round(seconds, 1),
            "offered_per_s": round(total_ops / seconds, 1), "ok": verdict["counts"]["ok"],
            "machine_busy": round(busy, 2), "load_average_1m": round(os.getloadavg()[0], 1),
            "processes": per_worker}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="measure-workers-") as tmp:
        for workers in args.workers:
            print(json.dumps(measure(workers, args.users, args.duration, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
