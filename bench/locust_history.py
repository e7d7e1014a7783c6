"""What recording the history costs the load generator: Locust throughput with it on and off.

Starts a tiny bench-only server speaking the SUT HTTP contract (in-memory, no database), then
runs the same Locust users against it in alternating rounds, history on, history off, on,
off, ... in one run, and prints both median throughputs and their ratio (target: on >= 90% of
off). Alternating rounds spread the machine's noise over both sides; Locust's CPU time per
request is printed too, since on a shared machine it is the steadier measure of the cost.

    python -m bench.locust_history [--users 20] [--seconds 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from harness.load import LoadShape, locust_command

_TARGET_RATIO = 0.90


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _round(url: str, shape: LoadShape, folder: Path, *, history: bool, seed: int) -> tuple[float, float]:
    """One Locust run: its requests per second (Locust's own aggregated statistics) and the
    Locust process's CPU microseconds per request, which a busy shared machine disturbs less."""
    argv, env = locust_command(shape, host=url, history_dir=folder / "history", locust_dir=folder / "locust",
                               seed=seed, run_id=f"rbench{seed}", history=history)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        proc.wait(timeout=shape.duration_s + shape.stop_timeout_s + 60)
    finally:
        _stop(proc)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with (folder / "locust" / "locust_stats.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                requests = int(row["Request Count"])
                return float(row["Requests/s"]), cpu_s * 1e6 / max(1, requests)
    raise RuntimeError(f"no aggregated row in {folder / 'locust' / 'locust_stats.csv'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        _serve(args.serve)
        return 0
    shape = LoadShape(users=args.users, spawn_rate=args.users, duration_s=args.seconds, duplicates=0.05,
                      mix={"order": 8, "payout": 1, "get_order": 1}, request_timeout_s=5.0)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "bench.locust_history", "--serve", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    on: list[tuple[float, float]] = []
    off: list[tuple[float, float]] = []
    try:
        _wait_healthy(url, server)
        with tempfile.TemporaryDirectory(prefix="orderquake-bench-") as tmp:
            for n in range(args.rounds):
                for history, results in ((True, on), (False, off)):
                    folder = Path(tmp) / f"{n}-{'on' if history else 'off'}"
                    rps, cpu_us = _round(url, shape, folder, history=history, seed=n)
                    results.append((rps, cpu_us))
                    lines = sum(1 for p in (folder / "history").glob("*.jsonl") for _ in p.open("rb"))
                    print(f"round {n + 1} history {'on ' if history else 'off'}: {rps:8.1f} req/s, "
                          f"{cpu_us:6.0f} us Locust CPU per request" + (f" ({lines} history lines)" if history else ""))
    finally:
        _stop(server)
    rps_on, rps_off = (statistics.median(r for r, _ in side) for side in (on, off))
    cpu_on, cpu_off = (statistics.median(c for _, c in side) for side in (on, off))
    ratio = rps_on / rps_off
    print(f"median throughput: history on {rps_on:.1f} req/s, off {rps_off:.1f} req/s; ratio {ratio:.1%} "
          f"(target >= {_TARGET_RATIO:.0%}); {args.users} users, {args.seconds:g} s rounds, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"median Locust CPU per request: on {cpu_on:.0f} us, off {cpu_off:.0f} us: recording costs "
          f"{cpu_on / cpu_off - 1:+.1%} CPU, a throughput ratio of {cpu_off / cpu_on:.1%} when Locust is the limit")
    print("PASS" if ratio >= _TARGET_RATIO else "MISS")
    return 0 if ratio >= _TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
