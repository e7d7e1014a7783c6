"""What recording the history costs the load generator: Locust throughput with it on and off.

Starts a tiny bench-only server speaking the SUT HTTP contract (in-memory, no database), then
runs the same Locust users against it side by side: in each round two Locust processes at
once, one recording the history and one not, so that both meet the same machine noise. It
prints both throughputs, their ratio (target: on >= 95% of off, an overhead of at most 5%) and
each process's CPU time per request.

    python -m bench.locust_history [--users 20] [--seconds 8] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench._figures import Figure
from harness.load import LoadShape, locust_command
from harness.load.history import EventType, HistoryWriter, Op
from harness.stage.ports import free_port
from harness.stage.process import terminate

_TARGET_RATIO = 0.95


def _app() -> object:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    stores: dict[str, dict[str, str]] = {"orders": {}, "payouts": {}}
    keys = {"orders": "order_id", "payouts": "payout_id"}

    async def submit(request: Request) -> JSONResponse:
        kind = request.url.path.strip("/")
        op_id = (await request.json())[keys[kind]]
        created = op_id not in stores[kind]
        stores[kind].setdefault(op_id, "pending")
        return JSONResponse({keys[kind]: op_id, "status": "pending"}, status_code=201 if created else 200)

    async def read(request: Request) -> JSONResponse:
        kind = request.url.path.split("/")[1]
        status = stores[kind].get(request.path_params["op_id"])
        if status is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse({keys[kind]: request.path_params["op_id"], "status": status})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/orders", submit, methods=["POST"]), Route("/payouts", submit, methods=["POST"]),
                             Route("/orders/{op_id}", read), Route("/payouts/{op_id}", read),
                             Route("/healthz", health)])


def _serve(port: int) -> None:
    import uvicorn

    uvicorn.run(_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)  # type: ignore[arg-type]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the bench server exited at start")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the bench server at {url} did not answer within {deadline_s:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    terminate(proc.pid, None, grace_s=10.0)  # the whole process group: SIGTERM, then SIGKILL
    proc.wait(timeout=5)


def _wait_with_usage(proc: subprocess.Popen[bytes], timeout_s: float) -> resource.struct_rusage:
    """Wait for ``proc`` and return its own resource usage (``wait4``), polling to a deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage
        if time.monotonic() > deadline:
            raise RuntimeError(f"locust (pid {proc.pid}) did not finish within {timeout_s:.0f} s")
        time.sleep(0.2)


def _side_by_side(url: str, shape: LoadShape, folder: Path, seed: int) -> dict[bool, tuple[float, float]]:
    """History on and history off at the same time, against the same server, through the same noise.

    Returns, per side, Locust's requests per second (its own aggregated statistics) and the
    Locust process's CPU microseconds per request (start-up included, the same on both sides).
    """
    procs = {}
    try:
        for history in (True, False):
            side = folder / ("on" if history else "off")
            argv, env = locust_command(shape, host=url, history_dir=side / "history", locust_dir=side / "locust",
                                       seed=seed, run_id=f"rbench{seed}{'on' if history else 'off'}", history=history)
            procs[history] = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, start_new_session=True)
        usage = {history: _wait_with_usage(proc, shape.duration_s + shape.stop_timeout_s + 60)
                 for history, proc in procs.items()}
    finally:
        for proc in procs.values():
            _stop(proc)
    results = {}
    for history, used in usage.items():
        stats = folder / ("on" if history else "off") / "locust" / "locust_stats.csv"
        with stats.open() as handle:
            row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
        requests = max(1, int(row["Request Count"]))
        results[history] = (float(row["Requests/s"]), (used.ru_utime + used.ru_stime) * 1e6 / requests)
    return results


@dataclass(frozen=True)
class Result:
    """Median ratio of throughputs (on / off) and median Locust CPU microseconds per request per side."""

    ratio: float
    cpu_on_us: float
    cpu_off_us: float
    rps_on: float
    rps_off: float


def measure(users: int, seconds: float, rounds: int) -> Result:
    """``rounds`` side-by-side rounds against one bench server; prints each round."""
    shape = LoadShape(users=users, spawn_rate=users, duration_s=seconds, duplicates=0.05,
                      mix={"order": 8, "payout": 1, "get_order": 1}, request_timeout_s=5.0)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "bench.locust_history", "--serve", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ratios: list[float] = []
    cpu: dict[bool, list[float]] = {True: [], False: []}
    rps: dict[bool, list[float]] = {True: [], False: []}
    try:
        _wait_healthy(url, server)
        with tempfile.TemporaryDirectory(prefix="orderquake-bench-") as tmp:
            for n in range(rounds):
                folder = Path(tmp) / str(n)
                results = _side_by_side(url, shape, folder, seed=n)
                lines = sum(1 for p in (folder / "on" / "history").glob("*.jsonl") for _ in p.open("rb"))
                (rps_on, cpu_on), (rps_off, cpu_off) = results[True], results[False]
                ratios.append(rps_on / rps_off)
                for side, (r, c) in results.items():
                    rps[side].append(r)
                    cpu[side].append(c)
                print(f"round {n + 1}: history on {rps_on:7.1f} req/s ({cpu_on:4.0f} us CPU/request, {lines} history "
                      f"lines), off {rps_off:7.1f} req/s ({cpu_off:4.0f} us CPU/request): ratio {rps_on / rps_off:.1%}",
                      flush=True)
    finally:
        _stop(server)
    return Result(statistics.median(ratios), statistics.median(cpu[True]), statistics.median(cpu[False]),
                  statistics.median(rps[True]), statistics.median(rps[False]))


def writer_cost_us(operations: int = 100_000) -> float:
    """CPU microseconds the history writer spends on one operation (its invoke and its completion),
    in this process alone, so no neighbour's load is in it: the cost the side-by-side ratio only
    estimates through two competing Locust processes."""
    with tempfile.TemporaryDirectory(prefix="orderquake-bench-") as tmp:
        writer = HistoryWriter(Path(tmp), process_file="bench")
        value = {"amount_minor": 1000, "currency": "EUR"}
        started = time.process_time()
        for n in range(operations):
            writer.record(EventType.INVOKE, Op.ORDER, f"r1-o-1-{n}", process=1, attempt=1, value=value)
            writer.record(EventType.OK, Op.ORDER, f"r1-o-1-{n}", process=1, attempt=1, value=value, status=201)
        writer.close()
        return (time.process_time() - started) / operations * 1e6


def figures(quick: bool = True) -> list[Figure]:
    """The suite's rows: history on against off, throughput and Locust CPU per request, and the
    writer's own CPU per operation against Locust's per request."""
    users, seconds, rounds = (20, 6.0, 3) if quick else (20, 8.0, 3)
    result = measure(users, seconds, rounds)
    writer_us = writer_cost_us()
    reproduce = f"python -m bench.locust_history --users {users} --seconds {seconds:g} --rounds {rounds}"
    verdict = "meets" if result.ratio >= _TARGET_RATIO else "misses"
    return [
        Figure("history recording: Locust throughput, history on / off, side by side",
               f"{result.ratio:.1%} ({result.rps_on:.0f} vs {result.rps_off:.0f} req/s; {verdict} >= 95%)",
               "two Locust processes (one per side) and the bench server share 2 cores: each side is CPU-bound "
               "in Locust's own Python (gevent, requests), so the ratio is the ratio of their CPU costs", reproduce),
        Figure("history recording: Locust CPU per request, on vs off",
               f"{result.cpu_on_us:.0f} vs {result.cpu_off_us:.0f} us "
               f"({result.cpu_on_us / result.cpu_off_us - 1:+.1%})",
               "Locust's per-request work (request building, its stats); the history adds two JSON lines per "
               "operation (invoke and completion) encoded and written in Locust's process (harness/load)",
               reproduce),
        Figure("history writer: CPU per operation (invoke + completion), alone",
               f"{writer_us:.1f} us = {writer_us / result.cpu_off_us:.1%} of Locust's {result.cpu_off_us:.0f} us "
               f"per request",
               "orjson encoding of two events and their share of one write(2) per batch; measured in one process "
               "with no competitor, so it is the history's own cost, beside the side-by-side figures' noise",
               "python -m bench.locust_history (writer_cost_us)"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 6 s (what 'make bench' runs)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        _serve(args.serve)
        return 0
    result = measure(args.users, 6.0 if args.quick else args.seconds, args.rounds)
    print(f"median ratio of throughputs, side by side: {result.ratio:.1%} (target >= {_TARGET_RATIO:.0%}); "
          f"{args.users} users each, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"median Locust CPU per request: on {result.cpu_on_us:.0f} us, off {result.cpu_off_us:.0f} us "
          f"({result.cpu_on_us / result.cpu_off_us - 1:+.1%})")
    print("PASS" if result.ratio >= _TARGET_RATIO else "MISS")
    return 0 if result.ratio >= _TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
