"""How fast and how small the checker is on a large run: 1,000,000 orders with their history.

Writes a synthetic run directory (history of 8 processes with duplicates and unknown outcomes,
the SUT state, the provider ledger, the final-read marker) into a temporary folder, then runs
``load_inputs`` + ``check`` in a fresh child process and prints its wall time, its CPU time and
its peak RSS (sampled from /proc, the history worker's added in), and the machine's load
average: on a shared machine the CPU time is the steadier number. Target: within 10 s and 1 GiB.

    python -m bench.checker_scale [--orders 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

_PROCESSES = 8
_TARGET_SECONDS = 10.0
_TARGET_BYTES = 1 << 30


def generate(run_dir: Path, orders: int) -> None:
    """Every 100th order is submitted twice, every 200th ends ``info``, every 20th is declined."""
    history = run_dir / "history"
    state = run_dir / "state"
    history.mkdir(parents=True)
    state.mkdir()
    files = [(history / f"{p}.jsonl").open("w") for p in range(_PROCESSES)]
    with (state / "sut_orders.jsonl").open("w") as sut, (state / "provider_orders.ndjson").open("w") as ledger:
        for n in range(orders):
            process = n % _PROCESSES
            op_id = f"rbench-o-{process}-{n}"
            amount = 100 + n % 9000
            attempts = 2 if n % 100 == 0 else 1
            out = files[process]
            for attempt in range(1, attempts + 1):
                # The history writer's layout, key for key (harness.load.history.HistoryWriter).
                head = f'"op":"order","id":"{op_id}","process":{process}'
                tail = f'"attempt":{attempt},"value":{{"amount_minor":{amount},"currency":"EUR"}}'
                out.write(f'{{"type":"invoke",{head},"time":{n * 10},"wall":1795416377.96,{tail},'
                          '"status":null,"error":null}\n')
                if n % 200 == 0 and attempt == 1:
                    out.write(f'{{"type":"info",{head},"time":{n * 10 + 5},"wall":1795416378.96,{tail},'
                              '"status":null,"error":"ReadTimeout: timed out"}\n')
                else:
                    out.write(f'{{"type":"ok",{head},"time":{n * 10 + 5},"wall":1795416378.96,{tail},'
                              '"status":201,"error":null}\n')
            status = "declined" if n % 20 == 0 else "succeeded"
            sut.write(f'{{"order_id":"{op_id}","status":"{status}","amount_minor":{amount}}}\n')
            ledger.write(f'{{"id":"po_{n}","merchant_order_id":"{op_id}","amount_minor":{amount},"currency":"EUR",'
                         f'"status":"{status}","idempotency_key":"{op_id}","created_at":"2026-01-01T00:00:00Z",'
                         '"settled_at":"2026-01-01T00:00:01Z"}\n')
    for handle in files:
        handle.close()
    (state / "sut_payouts.jsonl").write_text("")
    (state / "provider_payouts.ndjson").write_text("")
    (state / "complete.json").write_text("{}")


class _TreeRss(threading.Thread):
    """The peak of this process's RSS plus its children's, sampled every 10 ms from /proc."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kib = 0
        self._done = threading.Event()

    @staticmethod
    def _rss_kib(pid: int | str) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self) -> None:
        me = os.getpid()
        while not self._done.wait(0.01):
            children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
            self.peak_kib = max(self.peak_kib, self._rss_kib(me) + sum(map(self._rss_kib, children)))

    def stop(self) -> None:
        self._done.set()
        self.join()


def measure(run_dir: Path) -> dict[str, object]:
    """Run the checker once on ``run_dir``; called in a child so the RSS is the checker's alone."""
    from harness.checker import check, load_inputs

    sampler = _TreeRss()
    sampler.start()
    started = time.perf_counter()
    inputs = load_inputs(run_dir)
    loaded = time.perf_counter()
    result = check(inputs)
    finished = time.perf_counter()
    sampler.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # A large history is summarised by a second process (harness.checker.history_files), which
    # runs while this one reads the state: its CPU counts, and the memory of both at once.
    worker = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kib = max(usage.ru_maxrss, sampler.peak_kib)
    return {"cpu_s": round(usage.ru_utime + usage.ru_stime + worker.ru_utime + worker.ru_stime, 3),
            "worker_peak_rss_bytes": worker.ru_maxrss * 1024,
            "load_s": round(loaded - started, 3), "check_s": round(finished - loaded, 3),
            "total_s": round(finished - started, 3), "peak_rss_bytes": peak_kib * 1024,
            "verdict": result.verdict.value, "attempted": result.counts.attempted,
            "violations": {c.value: n for c, n in result.violations.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return 0
    with tempfile.TemporaryDirectory(prefix="orderquake-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        started = time.perf_counter()
        generate(run_dir, args.orders)
        size = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
        print(f"generated {args.orders} orders ({size / 1e6:.0f} MB of artifacts) in "
              f"{time.perf_counter() - started:.1f} s")
        child = subprocess.run([sys.executable, "-m", "bench.checker_scale", "--measure", str(run_dir)],
                               capture_output=True, text=True, check=False)
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return 1
        numbers = json.loads(child.stdout)
    seconds = float(numbers["total_s"])
    rss = int(numbers["peak_rss_bytes"])
    print(f"checker: load {numbers['load_s']} s + check {numbers['check_s']} s = {seconds} s wall, "
          f"{numbers['cpu_s']} s CPU in both processes (target {_TARGET_SECONDS:.0f} s); peak RSS "
          f"{rss / (1 << 20):.0f} MiB, with the history worker's "
          f"(its own peak {int(numbers['worker_peak_rss_bytes']) >> 20} MiB; target 1024 MiB); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"verdict {numbers['verdict']}, {numbers['attempted']} submissions, violations {numbers['violations']}")
    ok = seconds <= _TARGET_SECONDS and rss <= _TARGET_BYTES
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
