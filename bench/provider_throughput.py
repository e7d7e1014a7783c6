"""Order-creation throughput of one mock provider process, against two baselines, measured with wrk.

In one run, on the same server stack (Starlette under uvicorn with uvloop and httptools, the
server pinned to one core with ``taskset``, wrk pinned to the other):

- ``hello``: a bare Starlette endpoint returning a small JSON body (the ceiling of the stack);
- ``sqlite``: the same endpoint inserting one row into SQLite in WAL mode (autocommit,
  ``synchronous=NORMAL``), the cost of a naive durable write;
- ``provider``: ``POST /v1/orders`` of the mock provider with its group-committed ledger, each
  request a unique ``merchant_order_id`` (a wrk Lua script counts them), no idempotency key,
  settlement stalled so only order creation is measured;
- ``settling``: the same with settlement running behind the load (each order settled 200 ms
  later, its callback journaled as dropped rather than sent).

Each target is measured under load (throughput and latency percentiles) and at one connection
(the latency a request pays on an idle server; the provider's minus hello's is the latency the
provider adds). The run repeats ``--rounds`` times because the machine is shared; the table
gives the best and the median, and next to them requests per second of server CPU time (read
from ``/proc``), which estimates what a core of its own would serve and moves far less with the
neighbours' load. Run ``python -m bench.provider_throughput`` (or this file).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

API_KEY = "bench-key"
TARGETS = ("hello", "sqlite", "provider", "settling")
# The provider's behaviour per target: order creation alone, and with settlement running behind
# it (200 ms after each order; callbacks dropped at once, so no HTTP leaves the process).
_BEHAVIOUR: dict[str, dict[str, Any]] = {"provider": {"settlement_stalled": True},
              "settling": {"settle_delay_ms": 200, "callback_drop_rate": 1.0}}

# Every wrk thread numbers its own requests; the thread number keeps ids unique across threads.
_LUA = """
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
local counter = 0
request = function()
  counter = counter + 1
  local body = '{"merchant_order_id":"bench-' .. tostring(tid) .. '-' .. tostring(counter) ..
    '","amount_minor":1234,"currency":"EUR","callback_url":"http://127.0.0.1:9/callbacks"}'
  return wrk.format("POST", "/v1/orders",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %s"}, body)
end
""" % API_KEY  # noqa: UP031 (Lua braces make str.format awkward)


@dataclass(frozen=True)
class Measurement:
    """One wrk run against one target."""

    target: str
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    server_cpu_s: float = 0.0

    @property
    def per_cpu_s(self) -> float:
        """Requests per second of server CPU: what one core of its own would serve, whatever the neighbours do."""
        return self.requests / self.server_cpu_s if self.server_cpu_s > 0 else 0.0


# ---- the baseline servers (run in a child process by ``--serve``) ---------------------------------
def _baseline_app(kind: str, db: Path) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    connection = sqlite3.connect(str(db), isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")

    async def hello(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"hello": "world"}, status_code=201)

    async def insert(request: Request) -> JSONResponse:
        body = await request.body()
        cursor = connection.execute("INSERT INTO orders (body) VALUES (?)", (body.decode(),))
        return JSONResponse({"id": cursor.lastrowid}, status_code=201)

    return Starlette(routes=[Route("/v1/orders", hello if kind == "hello" else insert, methods=["POST"])])


def _serve(kind: str, port: int, db: Path) -> None:
    import uvicorn

    if kind in _BEHAVIOUR:
        from mock_provider.app import create_app

        app = create_app(db=db, api_key=API_KEY, webhook_secret="bench-secret", seed=1)
    else:
        app = _baseline_app(kind, db)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, loop="uvloop",
                http="httptools", backlog=4096)


# ---- the harness ----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"benchmark server exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"benchmark server not listening on {port} after {timeout_s} s")


@contextmanager
def _server(kind: str, workdir: Path, core: str) -> Iterator[tuple[int, int]]:
    """A server for ``kind`` pinned to ``core``, stopped (then killed) on the way out."""
    port = _free_port()
    db = workdir / f"{kind}-{port}.db"
    command = ["taskset", "-c", core, sys.executable, str(Path(__file__).resolve()), "--serve", kind,
               "--port", str(port), "--db", str(db)]
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(command, env=env)
    try:
        _wait_listening(port, process)
        if kind in _BEHAVIOUR:
            _settings(port, _BEHAVIOUR[kind])
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _settings(port: int, changes: dict[str, Any]) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/_control/behaviour", method="PUT",
                                     data=json.dumps(changes).encode())
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency_ms(text: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {percentile}% latency in wrk output:\n{text}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(target: str, connections: int, text: str) -> Measurement:
    """Read throughput, latency percentiles and errors from ``wrk --latency`` output."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    if rate is None:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    total = re.search(r"^\s+(\d+) requests in", text, re.MULTILINE)
    return Measurement(target, connections, float(rate.group(1)), _latency_ms(text, "50"), _latency_ms(text, "99"),
                       errors, int(total.group(1)) if total else 0)


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds used so far by process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(target: str, server: tuple[int, int], script: Path, connections: int, seconds: float,
         core: str) -> Measurement:
    port, pid = server
    command = ["taskset", "-c", core, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
               "-s", str(script), f"http://127.0.0.1:{port}/"]
    cpu_before = _cpu_s(pid)
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    measured = parse_wrk(target, connections, result.stdout)
    return dataclasses.replace(measured, server_cpu_s=_cpu_s(pid) - cpu_before)


def measure(rounds: int, seconds: float, connections: int, server_core: str, load_core: str) -> list[Measurement]:
    """Every target, ``rounds`` times, under load and at one connection."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install it (apt-get install -y wrk)")
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="provider-bench-") as tmp:
        script = Path(tmp) / "orders.lua"
        script.write_text(_LUA)
        for round_no in range(rounds):
            for target in TARGETS:
                with _server(target, Path(tmp), server_core) as server:
                    _wrk(target, server, script, connections, 1.0, load_core)  # warm-up
                    loaded = _wrk(target, server, script, connections, seconds, load_core)
                    idle = _wrk(target, server, script, 1, min(seconds, 3.0), load_core)
                results += [loaded, idle]
                print(f"round {round_no + 1} {target:8s} {loaded.requests_per_s:9.0f} req/s "
                      f"({loaded.per_cpu_s:6.0f} per server CPU-s) "
                      f"p50 {loaded.p50_ms:.2f} ms p99 {loaded.p99_ms:.2f} ms errors {loaded.errors}; "
                      f"1 connection p50 {idle.p50_ms:.3f} ms", flush=True)
    return results


def report(results: list[Measurement], connections: int) -> str:
    """The table: best and median per target, the provider's share of hello, the latency it adds.

    Wall-clock rates move with whatever else the machine runs; requests per server CPU-second
    hardly do, so the table gives both and the ratios for both.
    """
    def of(target: str, conns: int) -> list[Measurement]:
        return [m for m in results if m.target == target and m.connections == conns]

    lines = [f"{'target':9s} {'best req/s':>11s} {'median req/s':>13s} {'median /CPU-s':>14s} {'p50 ms':>8s} "
             f"{'p99 ms':>8s} {'idle p50 ms':>12s} {'errors':>7s}"]
    best: dict[str, float] = {}
    median: dict[str, float] = {}
    per_cpu: dict[str, float] = {}
    idle: dict[str, float] = {}
    for target in TARGETS:
        loaded = of(target, connections)
        best[target] = max(m.requests_per_s for m in loaded)
        median[target] = statistics.median(m.requests_per_s for m in loaded)
        per_cpu[target] = statistics.median(m.per_cpu_s for m in loaded)
        idle[target] = statistics.median(m.p50_ms for m in of(target, 1))
        lines.append(f"{target:9s} {best[target]:11.0f} {median[target]:13.0f} {per_cpu[target]:14.0f} "
                     f"{statistics.median(m.p50_ms for m in loaded):8.2f} "
                     f"{statistics.median(m.p99_ms for m in loaded):8.2f} {idle[target]:12.3f} "
                     f"{sum(m.errors for m in loaded):7d}")

    def share(a: str, b: str, table: dict[str, float]) -> str:
        return f"{table[a] / table[b]:.0%}" if table[b] else "n/a"
    lines.append(f"provider / hello: best {share('provider', 'hello', best)}, "
                 f"median {share('provider', 'hello', median)}, per CPU-s {share('provider', 'hello', per_cpu)} "
                 f"(target >= 40%); provider / sqlite insert: median {share('provider', 'sqlite', median)}; "
                 f"settling / hello: median {share('settling', 'hello', median)}")
    lines.append(f"provider: best {best['provider']:.0f}, median {median['provider']:.0f}, "
                 f"per CPU-s {per_cpu['provider']:.0f} orders/s (target >= 5000); "
                 f"latency added at one connection: {idle['provider'] - idle['hello']:.3f} ms (p50)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.provider_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of the whole set (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each loaded run (default 5)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections under load (default 64)")
    parser.add_argument("--server-core", default="0", help="core the server is pinned to (default 0)")
    parser.add_argument("--load-core", default="1", help="core wrk is pinned to (default 1)")
    parser.add_argument("--serve", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.port, args.db)
        return
    results = measure(args.rounds, args.seconds, args.connections, args.server_core, args.load_core)
    print(report(results, args.connections))


if __name__ == "__main__":
    main()
