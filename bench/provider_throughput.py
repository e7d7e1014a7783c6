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
  later, its callback journaled as dropped rather than sent);
- ``delivering``: the provider's whole work per order, as in every real run: create, settle
  200 ms later, sign the callback, deliver it to a live receiver (``bench._receiver``, answering
  200, on wrk's core) and journal the attempt. Its CPU is counted from the first request until
  the receiver has every callback, so the settlement and delivery tail is in it;
- ``previous`` (with ``--previous-src DIR``): ``delivering`` for the provider in another source
  tree (``git archive <commit> mock_provider contract | tar -x -C DIR``), side by side;
- ``delivering-2``: ``delivering`` served by ``--processes 2`` (a parent and two provider
  processes, one ledger shard each), the two free to use both cores (``--server-core`` and
  ``--load-core``, which wrk and the receiver keep sharing); its CPU is every process's;
- ``keyed`` and ``keyed-2``: ``delivering`` with one and two processes, every order sent with an
  ``Idempotency-Key`` as a SUT sends it. With two processes a key's creation is decided by the
  process owning the key, so about half of them are relayed from the process the connection landed on.

``delivering-2 / delivering`` and ``keyed-2 / keyed``, per provider CPU-second, say how close
to linear a second process scales; on two cores shared with wrk and the receiver, the wall
rate cannot double.

The provider targets run ``python -m mock_provider``, exactly as the stage starts it. Each
target is measured under load (throughput and latency percentiles) and at one connection
(the latency a request pays on an idle server; the provider's minus hello's is the latency the
provider adds). The run repeats ``--rounds`` times because the machine is shared; the table
gives the best and the median, and next to them requests per second of server CPU time (read
from ``/proc``), which estimates what a core of its own would serve and moves far less with the
neighbours' load. Run ``python -m bench.provider_throughput`` (or this file).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
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

try:
    from bench._figures import Figure
except ImportError:  # run as a file (``python bench/provider_throughput.py``) or loaded by path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench._figures import Figure

API_KEY = "bench-key"
_ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("hello", "sqlite", "provider", "settling", "delivering", "delivering-2", "keyed", "keyed-2")
_PROVIDERS = ("provider", "settling", "delivering", "previous", "delivering-2", "keyed", "keyed-2")
_PROCESSES = {"delivering-2": 2, "keyed-2": 2}
_KEYED = ("keyed", "keyed-2")
# The provider's behaviour per target: order creation alone; with settlement running behind
# it (200 ms after each order; callbacks dropped at once, so no HTTP leaves the process); and
# with every callback signed and delivered to the receiver.
_BEHAVIOUR: dict[str, dict[str, Any]] = {"provider": {"settlement_stalled": True},
                                         "settling": {"settle_delay_ms": 200, "callback_drop_rate": 1.0},
                                         "delivering": {"settle_delay_ms": 200},
                                         "previous": {"settle_delay_ms": 200},
                                         "delivering-2": {"settle_delay_ms": 200},
                                         "keyed": {"settle_delay_ms": 200}, "keyed-2": {"settle_delay_ms": 200}}
_DELIVERING = ("delivering", "previous", "delivering-2", "keyed", "keyed-2")

# Every wrk thread numbers its own requests; the thread number keeps ids unique across threads, and
# the run's own prefix (wrk's script argument) across the runs against one server, so that a keyed
# order is never a replay of an earlier run's.
_LUA = """
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
local prefix = ''
function init(args)
  prefix = args[1] or ''
end
local counter = 0
request = function()
  counter = counter + 1
  local id = 'bench-' .. prefix .. tostring(tid) .. '-' .. tostring(counter)
  local body = '{"merchant_order_id":"' .. id ..
    '","amount_minor":1234,"currency":"EUR","callback_url":"CALLBACK_URL"}'
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer API_KEY"}
  if KEYED then headers["Idempotency-Key"] = id end
  return wrk.format("POST", "/v1/orders", headers, body)
end
"""


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

    uvicorn.run(_baseline_app(kind, db), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                loop="uvloop", http="httptools", backlog=4096)


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


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def spawn(command: list[str], port: int, *, cwd: Path = _ROOT, pythonpath: Path = _ROOT,
          quiet: bool = False) -> Iterator[int]:
    """Run ``command`` (a server that will listen on ``port``); yield its pid; stop (then kill) it after."""
    env = os.environ | {"PYTHONPATH": str(pythonpath)}
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=output)
    try:
        _wait_listening(port, process)
        yield process.pid
    finally:
        _stop(process)


@contextmanager
def receiver(core: str) -> Iterator[int]:
    """The live callback receiver (``bench._receiver``) pinned to ``core``; yields its port."""
    port = _free_port()
    with spawn(["taskset", "-c", core, sys.executable, "-m", "bench._receiver", str(port)], port):
        yield port


def delivered(port: int) -> int:
    """How many requests the receiver on ``port`` has answered."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_count", timeout=5) as response:
        return int(response.read())


@contextmanager
def _server(kind: str, workdir: Path, core: str, previous_src: Path | None) -> Iterator[tuple[int, int]]:
    """A server for ``kind`` pinned to ``core``, stopped (then killed) on the way out."""
    port = _free_port()
    db = workdir / f"{kind}-{port}.db"
    if kind in _PROVIDERS:
        source = previous_src if kind == "previous" and previous_src is not None else _ROOT
        command = ["taskset", "-c", core, sys.executable, "-m", "mock_provider", "--port", str(port), "--db", str(db),
                   "--api-key", API_KEY, "--webhook-secret", "bench-secret", "--seed", "1"]
        if _PROCESSES.get(kind, 1) > 1:
            command += ["--processes", str(_PROCESSES[kind])]
        # The working directory comes first on sys.path with -m: the source tree's own package is run.
        context = spawn(command, port, cwd=source, pythonpath=source)
    else:
        context = spawn(["taskset", "-c", core, sys.executable, str(Path(__file__).resolve()), "--serve", kind,
                         "--port", str(port), "--db", str(db)], port)
    with context as pid:
        if kind in _BEHAVIOUR:
            _settings(port, _BEHAVIOUR[kind])
        yield port, pid


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


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds used so far by process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux ``/proc/<pid>/task/<tid>/children``)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and every process under it: a provider's parent and all its processes."""
    return cpu_s(pid) + sum(tree_cpu_s(child) for child in children(pid))


_runs = itertools.count(1)


def run_wrk(url: str, script: Path | None, connections: int, seconds: float, core: str) -> str:
    """wrk's ``--latency`` output for one thread and ``connections`` connections, pinned to ``core``.

    A script gets the run's number as its argument (the prefix of the ids it makes).
    """
    command = ["taskset", "-c", core, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    command += ["-s", str(script)] if script is not None else []
    command += [url] + (["--", f"r{next(_runs)}-"] if script is not None else [])
    return subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout


def _wait_delivered(port: int, expected: int, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while delivered(port) < expected:
        if time.monotonic() > end:
            raise RuntimeError(f"the receiver got {delivered(port)} of {expected} callbacks within {deadline_s:.0f} s")
        time.sleep(0.02)


def _wrk(target: str, server: tuple[int, int], script: Path, connections: int, seconds: float,
         core: str, receiver_port: int | None) -> Measurement:
    """One wrk run; for a delivering target the CPU window runs on until every callback has arrived."""
    port, pid = server
    cpu_before = tree_cpu_s(pid)
    before = delivered(receiver_port) if receiver_port is not None else 0
    measured = parse_wrk(target, connections, run_wrk(f"http://127.0.0.1:{port}/", script, connections, seconds,
                                                      core))
    if receiver_port is not None:
        _wait_delivered(receiver_port, before + measured.requests)
    return dataclasses.replace(measured, server_cpu_s=tree_cpu_s(pid) - cpu_before)


def _script(folder: Path, callback_url: str, *, keyed: bool = False) -> Path:
    path = folder / f"orders-{abs(hash(callback_url))}{'-keyed' if keyed else ''}.lua"
    path.write_text(_LUA.replace("CALLBACK_URL", callback_url).replace("API_KEY", API_KEY)
                    .replace("KEYED", "true" if keyed else "false"))
    return path


# Where a delivering provider's samples go: the first matching (label, frames wanted in the leaf,
# frames wanted anywhere in the stack) takes the sample. The WAL checkpoint runs on a worker thread
# whose samples are mostly fsync waits (about 1% of the process's CPU by /proc): left out.
_SHARES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("callback HTTP client", ("callback_client", "aiohttp/", "yarl/", "multidict/", "aiohappyeyeballs/"), ()),
    ("settlement", (), ("settle_due",)),
    ("group commit", (), ("_commit_loop",)),
    ("delivery bookkeeping (journal, signature, tasks)", (), ("Deliverer",)),
    ("incoming HTTP (uvicorn, httptools)", ("uvicorn/",), ()),
    ("Starlette objects and routing", ("starlette/",), ()),
    ("event loop (uvloop: epoll, socket calls)", ("asyncio/runners.py",), ()),
    ("order creation (validation, insert, idempotency)", (),
     ("mock_provider/app.py", "mock_provider/provider.py", "mock_provider/ledger.py")),
    ("asyncio tasks and futures", ("asyncio/",), ()),
)
_WORKER_THREAD = ("concurrent/futures/thread.py", "threading.py")


def profile_shares(collapsed: str) -> list[tuple[str, float]]:
    """Shares of the event loop thread's samples by part of the work, largest first, from py-spy's raw output."""
    counts: dict[str, int] = {}
    for line in collapsed.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit() or any(name in stack for name in _WORKER_THREAD):
            continue
        leaf = stack.rsplit(";", 1)[-1]
        label = next((label for label, in_leaf, in_stack in _SHARES
                      if any(n in leaf for n in in_leaf) or any(n in stack for n in in_stack)), "other")
        counts[label] = counts.get(label, 0) + int(count)
    total = sum(counts.values())
    return sorted(((label, n / total) for label, n in counts.items()), key=lambda kv: -kv[1]) if total else []


def _profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy not found (pip install py-spy): no profile", file=sys.stderr)
        return None
    return subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "200", "-f", "raw",
                             "-o", str(out), "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(rounds: int, seconds: float, connections: int, server_core: str, load_core: str,
            previous_src: Path | None = None, targets: tuple[str, ...] = TARGETS,
            profiles: dict[str, list[tuple[str, float]]] | None = None,
            processes_cores: str | None = None) -> list[Measurement]:
    """Every target, ``rounds`` times, under load and at one connection.

    A target of several provider processes runs on ``processes_cores`` (default: the server's core
    and the load's, both); a one-process target always on ``server_core``.

    With ``profiles``, each delivering target gets one more loaded run in the last round, under
    py-spy (after the measured ones, so the sampling never touches their numbers); its shares
    land in ``profiles[target]``.
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install it (apt-get install -y wrk)")
    chosen = targets + (("previous",) if previous_src is not None else ())
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="provider-bench-") as tmp, receiver(load_core) as receiver_port:
        dropped = _script(Path(tmp), "http://127.0.0.1:9/callbacks")
        live = _script(Path(tmp), f"http://127.0.0.1:{receiver_port}/callbacks")
        keyed = _script(Path(tmp), f"http://127.0.0.1:{receiver_port}/callbacks", keyed=True)
        for round_no in range(rounds):
            for target in chosen:
                delivers = target in _DELIVERING
                script, counted = ((keyed if target in _KEYED else live), receiver_port) if delivers \
                    else (dropped, None)
                # Several processes may use both cores; one process keeps a core of its own.
                cores = (processes_cores or f"{server_core},{load_core}") if _PROCESSES.get(target, 1) > 1 \
                    else server_core
                with _server(target, Path(tmp), cores, previous_src) as server:
                    _wrk(target, server, script, connections, 1.0, load_core, counted)  # warm-up
                    loaded = _wrk(target, server, script, connections, seconds, load_core, counted)
                    idle = _wrk(target, server, script, 1, min(seconds, 3.0), load_core, counted)
                    if profiles is not None and target in ("delivering", "previous") and round_no == rounds - 1:
                        out = Path(tmp) / f"{target}.collapsed"
                        spy = _profile(server[1], seconds, out)
                        _wrk(target, server, script, connections, seconds + 1, load_core, counted)
                        if spy is not None and spy.wait(timeout=60) == 0 and out.exists():
                            profiles[target] = profile_shares(out.read_text())
                results += [loaded, idle]
                print(f"round {round_no + 1} {target:10s} {loaded.requests_per_s:9.0f} req/s "
                      f"({loaded.per_cpu_s:6.0f} per server CPU-s) "
                      f"p50 {loaded.p50_ms:.2f} ms p99 {loaded.p99_ms:.2f} ms errors {loaded.errors}; "
                      f"1 connection p50 {idle.p50_ms:.3f} ms", flush=True)
    return results


def _of(results: list[Measurement], target: str, conns: int) -> list[Measurement]:
    return [m for m in results if m.target == target and m.connections == conns]


def report(results: list[Measurement], connections: int) -> str:
    """The table: best and median per target, the provider's share of hello, the latency it adds.

    Wall-clock rates move with whatever else the machine runs; requests per server CPU-second
    hardly do, so the table gives both and the ratios for both.
    """
    lines = [f"{'target':10s} {'best req/s':>11s} {'median req/s':>13s} {'median /CPU-s':>14s} {'p50 ms':>8s} "
             f"{'p99 ms':>8s} {'idle p50 ms':>12s} {'errors':>7s}"]
    best: dict[str, float] = {}
    median: dict[str, float] = {}
    per_cpu: dict[str, float] = {}
    idle: dict[str, float] = {}
    present = [t for t in (*TARGETS, "previous") if _of(results, t, connections)]
    for target in present:
        loaded = _of(results, target, connections)
        best[target] = max(m.requests_per_s for m in loaded)
        median[target] = statistics.median(m.requests_per_s for m in loaded)
        per_cpu[target] = statistics.median(m.per_cpu_s for m in loaded)
        idle[target] = statistics.median(m.p50_ms for m in _of(results, target, 1))
        lines.append(f"{target:10s} {best[target]:11.0f} {median[target]:13.0f} {per_cpu[target]:14.0f} "
                     f"{statistics.median(m.p50_ms for m in loaded):8.2f} "
                     f"{statistics.median(m.p99_ms for m in loaded):8.2f} {idle[target]:12.3f} "
                     f"{sum(m.errors for m in loaded):7d}")

    def share(a: str, b: str, table: dict[str, float]) -> str:
        return f"{table[a] / table[b]:.0%}" if table.get(a) and table.get(b) else "n/a"
    lines.append(f"provider / hello: best {share('provider', 'hello', best)}, "
                 f"median {share('provider', 'hello', median)}, per CPU-s {share('provider', 'hello', per_cpu)} "
                 f"(target >= 40%); provider / sqlite insert: median {share('provider', 'sqlite', median)}; "
                 f"settling / hello: median {share('settling', 'hello', median)}")
    if "provider" in best and "hello" in best:
        lines.append(f"provider: best {best['provider']:.0f}, median {median['provider']:.0f}, "
                     f"per CPU-s {per_cpu['provider']:.0f} orders/s; "
                     f"latency added at one connection: {idle['provider'] - idle['hello']:.3f} ms (p50)")
    if "delivering" in per_cpu:
        lines.append(f"delivering (create, settle, sign, deliver, journal): {per_cpu['delivering']:.0f} orders per "
                     f"provider CPU-s (target >= 5000), {share('delivering', 'hello', per_cpu)} of hello per CPU-s")
    if "previous" in per_cpu:
        lines.append(f"previous source, delivering: {per_cpu['previous']:.0f} orders per provider CPU-s; "
                     f"now / previous {share('delivering', 'previous', per_cpu)}")
    for one, two in (("delivering", "delivering-2"), ("keyed", "keyed-2")):
        if one in per_cpu and two in per_cpu:
            lines.append(f"{two} / {one}, per provider CPU-s: {_ratio(per_cpu, two, one)} "
                         f"({per_cpu[two]:.0f} vs {per_cpu[one]:.0f}; round by round "
                         f"{', '.join(f'{r:.2f}' for r in paired(results, two, one, connections))}); "
                         f"wall: {_ratio(median, two, one)} ({median[two]:.0f} vs {median[one]:.0f} orders/s)")
    return "\n".join(lines)


def paired(results: list[Measurement], a: str, b: str, connections: int) -> list[float]:
    """``a`` over ``b`` per provider CPU-second, round by round (each round measures both, one after the other)."""
    return [x.per_cpu_s / y.per_cpu_s for x, y in zip(_of(results, a, connections), _of(results, b, connections),
                                                          strict=False) if y.per_cpu_s > 0]


def _ratio(table: dict[str, float], a: str, b: str) -> str:
    return f"{table[a] / table[b]:.2f}" if table.get(a) and table.get(b) else "n/a"


_REPRODUCE = "python -m bench.provider_throughput"


@contextmanager
def previous_source(commit: str | None) -> Iterator[Path | None]:
    """The provider of ``commit`` (``git archive`` of mock_provider and contract) in a temporary tree."""
    if not commit:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="provider-previous-") as tmp:
        archive = subprocess.run(["git", "archive", commit, "mock_provider", "contract"], cwd=_ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


def figures(quick: bool = True) -> list[Figure]:
    """The suite's rows: the provider's whole work per CPU-second, beside a bare Starlette app.

    With ``BENCH_PROVIDER_PREVIOUS=<commit>`` in the environment, that commit's provider is
    measured too, in the same rounds, as ``previous``.
    """
    rounds, seconds, connections = (2, 4.0, 64) if quick else (3, 5.0, 64)
    commit = os.environ.get("BENCH_PROVIDER_PREVIOUS")
    profiles: dict[str, list[tuple[str, float]]] = {}
    with previous_source(commit) as previous_src:
        results = measure(rounds, seconds, connections, "0", "1", previous_src, profiles=profiles)
    print(report(results, connections))

    def per_cpu(target: str) -> float:
        return statistics.median(m.per_cpu_s for m in _of(results, target, connections))

    def wall(target: str) -> float:
        return statistics.median(m.requests_per_s for m in _of(results, target, connections))
    reproduce = f"{_REPRODUCE} --rounds {rounds} --seconds {seconds:g}"
    delivering, hello = per_cpu("delivering"), per_cpu("hello")
    def shares(target: str) -> str:
        found = profiles.get(target)
        return ("py-spy shares: " + ", ".join(f"{label} {share:.0%}" for label, share in found[:6])) if found \
            else "no py-spy profile"
    for target, found in profiles.items():
        print(f"profile of {target}: " + ", ".join(f"{label} {share:.1%}" for label, share in found))
    rows = [
        Figure("mock provider, orders per provider CPU-s, settlement + signed delivery to a live receiver",
               f"{delivering:,.0f} /CPU-s ({wall('delivering'):,.0f}/s wall, 1 core)",
               "the provider's one Python thread, every part of the work in it (target >= 5,000); "
               + shares("delivering"), reproduce),
        Figure("mock provider delivering / bare Starlette hello, per CPU-s, same run", f"{delivering / hello:.0%} "
               f"(hello {hello:,.0f} /CPU-s)", "each order is two HTTP exchanges (its creation and its callback) "
               "plus the ledger; hello is one exchange and no storage", reproduce),
        Figure("mock provider, creation only (settlement stalled), per CPU-s", f"{per_cpu('provider'):,.0f} /CPU-s",
               "the ASGI stack per request plus a group-committed SQLite insert", reproduce),
    ]
    for one, two, what in (("delivering", "delivering-2", "no idempotency key: each process creates what it "
                             "receives"),
                           ("keyed", "keyed-2", "every order with an Idempotency-Key: about half are relayed to the "
                            "process owning the key")):
        rows.append(Figure(f"mock provider, 2 processes / 1, orders per provider CPU-s, {one} (settlement + signed "
                           "delivery)",
                           f"{per_cpu(two) / per_cpu(one):.2f} ({per_cpu(two):,.0f} vs {per_cpu(one):,.0f} /CPU-s; "
                           f"wall {wall(two):,.0f} vs {wall(one):,.0f}/s)",
                           f"{what}; CPU of the parent and both processes from /proc; the two processes share the "
                           "2 cores with wrk and the receiver, one process has a core of its own", reproduce))
    if commit:
        rows.append(Figure(f"mock provider of commit {commit}, delivering, per CPU-s, same rounds",
                           f"{per_cpu('previous'):,.0f} /CPU-s (now / then {delivering / per_cpu('previous'):.2f})",
                           "as above, with aiohttp for callbacks and the outbox read back from SQLite; "
                           + shares("previous"),
                           f"BENCH_PROVIDER_PREVIOUS={commit} python -m bench provider_throughput"))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.provider_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of the whole set (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each loaded run (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 4 s (what 'make bench' runs)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections under load (default 64)")
    parser.add_argument("--server-core", default="0", help="core the server is pinned to (default 0)")
    parser.add_argument("--load-core", default="1", help="core wrk and the receiver are pinned to (default 1)")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated subset of {TARGETS}")
    parser.add_argument("--processes-cores", help="cores of the targets with several provider processes (default: "
                                                  "--server-core and --load-core; give --server-core alone to measure "
                                                  "their own cost on one core)")
    parser.add_argument("--previous-src", type=Path, help="a source tree whose provider is measured as 'previous'")
    parser.add_argument("--serve", choices=("hello", "sqlite"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.port, args.db)
        return
    rounds, seconds = (2, 4.0) if args.quick else (args.rounds, args.seconds)
    targets = tuple(t for t in args.targets.split(",") if t)
    results = measure(rounds, seconds, args.connections, args.server_core, args.load_core, args.previous_src,
                      targets, processes_cores=args.processes_cores)
    print(report(results, args.connections))


if __name__ == "__main__":
    main()
