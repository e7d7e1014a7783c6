"""End-to-end orders/s of the reference service on the local stage, and where the CPU goes.

One stage (PostgreSQL, Toxiproxy, the mock provider, the service), no faults. wrk posts orders
with unique ids through the ``client`` link; the service stores each, calls the provider through
the ``provider`` link over the ``db`` link's database, and the provider settles it and calls back
through the ``callbacks`` link. The benchmark then waits until no order is pending and checks,
order by order, that the service's state equals the provider's and that the provider holds one
record per order. It prints:

- accepted/s: wrk's answered requests per second (each a 201 from the service);
- settled/s: orders divided by the time from the first request until the last order settled;
- the CPU milliseconds each component spent per order, from the first request until the last
  settlement, and the capacity they imply: the orders/s two otherwise idle cores would settle
  (the machine is shared, so this is steadier than the wall-clock rates);
- with ``--profile``, py-spy's summary of the service and the provider: own time by function and
  time by package;
- the median settled rate against the target, 1,000 orders/s with none mismatched or duplicated:
  PASS, or MISS and exit code 1.

Run ``python -m bench.order_service_e2e [--seconds 15] [--connections 96] [--rounds 3]`` (the defaults),
or ``--quick`` (2 rounds of 10 s, what ``make bench`` runs).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psycopg

from bench._figures import Figure
from harness.stage import LocalStage, StageConfig

# Every wrk thread numbers its own requests; the round and thread numbers keep ids unique.
_LUA = """
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
local counter = 0
request = function()
  counter = counter + 1
  local body = '{"order_id":"%s-' .. tostring(tid) .. '-' .. tostring(counter) ..
    '","account_id":"acc-' .. tostring(counter %% 97) .. '","amount_minor":1234,"currency":"EUR"}'
  return wrk.format("POST", "/orders", {["Content-Type"] = "application/json"}, body)
end
"""
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_COMPONENTS = ("sut", "provider", "postgres", "toxiproxy", "wrk")
_TARGET_PER_S = 1000.0  # the issue's: orders/s end to end, every one settled and returned


@dataclass(frozen=True)
class Round:
    prefix: str
    wrk_seconds: float
    answered: int
    accepted_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    orders: int
    settle_seconds: float
    settled_per_s: float
    mismatched: int
    duplicated: int
    cpu_ms_per_order: dict[str, float]

    @property
    def capacity(self) -> float:
        """Orders/s two idle cores could settle at this CPU cost per order (everything on the stage counted)."""
        total_ms = sum(self.cpu_ms_per_order.values())
        return 2000.0 / total_ms if total_ms else float("nan")


def _wrk(url: str, script: Path, connections: int, seconds: float) -> str:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
               "-s", str(script), url]
    return subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout


def _latency_ms(text: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * _UNITS_MS[match.group(2)] if match else float("nan")


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk output without {pattern!r}:\n{text}")
    return float(match.group(1))


def _errors(text: str) -> int:
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return (int(non_2xx.group(1)) if non_2xx else 0) + (sum(int(n) for n in sockets.groups()) if sockets else 0)


# ---- CPU accounting from /proc ----------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far) for every process we can read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLK_TCK)
    return table


def _cpu_by_component(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each component: its root process and every descendant (PostgreSQL's backends)."""
    table = _proc_table()
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, (parent, _) in table.items():
        children[parent].append(pid)
    totals = {}
    for name, root in roots.items():
        seen, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            seen += table.get(pid, (0, 0.0))[1]
            todo.extend(children.get(pid, []))
        totals[name] = seen
    return totals


def _children_cpu() -> float:
    """CPU seconds of the children this process has waited for: the wrk runs (py-spy is waited for later)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _roots(stage: LocalStage) -> dict[str, int]:
    roots = {"sut": stage.components["sut"].pid, "provider": stage.components["provider"].pid,
             "postgres": stage.postgres.pid, "toxiproxy": stage.toxiproxy_process.pid}
    return {name: pid for name, pid in roots.items() if pid is not None}


# ---- profiles -----------------------------------------------------------------------------------


def _start_profiles(stage: LocalStage, seconds: float, out: Path) -> list[tuple[str, Path, subprocess.Popen[bytes]]]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy not found (pip install py-spy): no profile", file=sys.stderr)
        return []
    running = []
    for name in ("sut", "provider"):
        pid = stage.components[name].pid
        path = out / f"{name}.collapsed"
        process = subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "97",
                                    "-f", "raw", "-o", str(path), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running.append((name, path, process))
    return running


_PACKAGES = (("order_service/", "order_service (our code)"), ("mock_provider/", "mock_provider (its code)"),
             ("psycopg", "psycopg"), ("aiohttp/", "aiohttp (client)"), ("httpx/", "httpx/httpcore (client)"),
             ("httpcore/", "httpx/httpcore (client)"), ("anyio/", "httpx/httpcore (client)"),
             ("starlette/", "starlette"), ("uvicorn/", "uvicorn + httptools"), ("sqlite3", "sqlite"),
             ("asyncio/", "asyncio event loop"), ("prometheus_client/", "prometheus_client"))


def _package(frame: str) -> str:
    for needle, name in _PACKAGES:
        if needle in frame:
            return name
    return "other"


def summarise_profile(text: str, top: int = 12) -> str:
    """Own time by function and by package from py-spy's collapsed stacks (``frame;frame;... count``)."""
    own: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        # A sample belongs to the innermost frame that is not the event loop plumbing itself.
        packages[_package(frames[-1])] += int(count)
    if total == 0:
        return "  (no samples)"
    lines = [f"  {total} samples; own time by package:"]
    lines += [f"    {n / total:6.1%}  {name}" for name, n in packages.most_common()]
    lines.append("  own time by function:")
    lines += [f"    {n / total:6.1%}  {frame[:110]}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


# ---- one round ----------------------------------------------------------------------------------


def _settle(stage: LocalStage, prefix: str, deadline_s: float) -> tuple[int, float]:
    """Wait until none of this round's orders is pending; return (orders, when) in monotonic time."""
    end = time.monotonic() + deadline_s
    pattern = (prefix + "-%",)
    with psycopg.connect(stage.sut_database_url, autocommit=True) as conn:
        # The poll reads the service's partial index of pending rows only: a scan of the whole
        # table ten times a second would be counted as the database's cost per order.
        while True:
            row = conn.execute("SELECT count(*) FROM orders WHERE status = 'pending' AND order_id LIKE %s",
                               pattern).fetchone()
            if (row is not None and row[0] == 0) or time.monotonic() > end:
                settled_at = time.monotonic()
                break
            time.sleep(0.1)
        total = conn.execute("SELECT count(*) FROM orders WHERE order_id LIKE %s", pattern).fetchone()
    return (int(total[0]) if total else 0), settled_at


def _compare(stage: LocalStage, prefix: str) -> tuple[int, int]:
    """(orders whose service state differs from the provider's, orders with more than one provider record)."""
    with psycopg.connect(stage.sut_database_url, autocommit=True) as conn:
        ours: dict[str, str] = dict(conn.execute("SELECT order_id, status FROM orders WHERE order_id LIKE %s",
                                 (prefix + "-%",)).fetchall())
    theirs: dict[str, list[str]] = collections.defaultdict(list)
    with httpx.stream("GET", f"{stage.provider_url}/_ledger/orders", timeout=60) as response:
        for line in response.iter_lines():
            if line.strip():
                record = orjson.loads(line)
                if record["merchant_order_id"].startswith(prefix + "-"):
                    theirs[record["merchant_order_id"]].append(record["status"])
    mismatched = sum(theirs.get(order_id, [""])[0] != status for order_id, status in ours.items())
    return mismatched, sum(len(statuses) > 1 for statuses in theirs.values())


def run_round(stage: LocalStage, index: int, seconds: float, connections: int, work: Path,
              profile: bool) -> tuple[Round, dict[str, str]]:
    prefix = f"r{index}"
    script = work / f"{prefix}.lua"
    script.write_text(_LUA % prefix)
    profiles = _start_profiles(stage, seconds, work) if profile else []
    before = {**_cpu_by_component(_roots(stage)), "wrk": _children_cpu()}
    started = time.monotonic()
    output = _wrk(stage.client_url, script, connections, seconds)
    wrk_done = time.monotonic()
    wrk_cpu = _children_cpu()
    orders, settled_at = _settle(stage, prefix, deadline_s=120)
    after = {**_cpu_by_component(_roots(stage)), "wrk": wrk_cpu}
    mismatched, duplicated = _compare(stage, prefix)
    summaries = {}
    for name, path, process in profiles:
        process.wait(timeout=60)
        summaries[name] = summarise_profile(path.read_text()) if path.exists() else "  (py-spy wrote nothing)"
    answered = int(_number(r"^\s+(\d+) requests in", output))
    window = wrk_done - started
    return Round(prefix=prefix, wrk_seconds=window, answered=answered,
                 accepted_per_s=_number(r"^Requests/sec:\s+([\d.]+)", output), p50_ms=_latency_ms(output, "50"),
                 p99_ms=_latency_ms(output, "99"), errors=_errors(output), orders=orders,
                 settle_seconds=settled_at - started, settled_per_s=orders / (settled_at - started),
                 mismatched=mismatched, duplicated=duplicated,
                 cpu_ms_per_order={name: 1000 * (after[name] - before.get(name, 0.0)) / max(1, orders)
                                   for name in after}), summaries


def service_counters(metrics: str) -> list[str]:
    """The service's own counts (provider outcomes, callbacks, reconciler actions) from its /metrics text."""
    wanted = ("provider_calls_total{", "callbacks_total{", "reconciler_actions_total{")
    return [f"{line.split(' ')[0]}={float(line.split(' ')[1]):.0f}" for line in metrics.splitlines()
            if line.startswith(wanted)]


def report(rounds: list[Round], connections: int) -> str:
    lines = [f"order_service end to end, correct variant, no faults, wrk -t2 -c{connections} through Toxiproxy",
             f"{'round':>5} {'accepted/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'orders':>7} "
             f"{'settled/s':>9} {'settle s':>8} {'mismatch':>8} {'dup':>4}  CPU ms per order: "
             f"{' '.join(f'{n:>8}' for n in _COMPONENTS)} {'capacity':>9}"]
    for r in rounds:
        cpu = " ".join(f"{r.cpu_ms_per_order.get(n, 0.0):8.2f}" for n in _COMPONENTS)
        lines.append(f"{r.prefix:>5} {r.accepted_per_s:10.0f} {r.p50_ms:7.1f} {r.p99_ms:7.1f} {r.errors:6d} "
                     f"{r.orders:7d} {r.settled_per_s:9.0f} {r.settle_seconds:8.1f} {r.mismatched:8d} "
                     f"{r.duplicated:4d}                   {cpu} {r.capacity:9.0f}")
    lines.append("capacity: orders/s that 2 otherwise idle cores would settle at the measured CPU cost per order "
                 "(the sum over components, wrk included)")
    load = os.getloadavg()
    lines.append(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs "
                 "(shared: other work on the machine counts against every number above)")
    return "\n".join(lines)


@dataclass(frozen=True)
class Run:
    """Every round of one stage, the service's counters, and the last round's profiles."""

    rounds: list[Round]
    counters: list[str]
    summaries: dict[str, str]


def measure(seconds: float, connections: int, rounds: int, *, variant: str = "correct", profile: bool = False,
            sut_env: dict[str, str] | None = None) -> Run:
    """One stage, a warm-up, then ``rounds`` loaded rounds, each printed as it ends."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install it (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory(prefix="orderquake-e2e-") as tmp:
        work = Path(tmp)
        stage = LocalStage.start(StageConfig(root=work / "stage", variant=variant, sut_env=sut_env or {}))
        try:
            warm = work / "warm.lua"
            warm.write_text(_LUA % "warm")
            _wrk(stage.client_url, warm, connections, 2)
            done: list[Round] = []
            summaries: dict[str, str] = {}
            for index in range(rounds):
                result, summaries = run_round(stage, index, seconds, connections, work,
                                              profile and index == rounds - 1)
                done.append(result)
                print(f"round {index + 1}: {result.settled_per_s:.0f} orders/s settled, "
                      f"{sum(result.cpu_ms_per_order.values()):.2f} CPU ms per order", flush=True)
            counters = service_counters(httpx.get(f"{stage.sut_url}/metrics", timeout=10).text)
        finally:
            stage.stop()
    return Run(done, counters, summaries)


_HARNESS = ("provider", "toxiproxy", "wrk")


def figures(quick: bool = True) -> list[Figure]:
    """The suite's rows: end-to-end orders/s, orders per CPU-second, and the harness's share of the CPU."""
    seconds, connections, rounds = (10.0, 96, 2) if quick else (15.0, 96, 3)
    run = measure(seconds, connections, rounds)
    print(report(run.rounds, connections))
    verdict(run.rounds)
    cpu = {name: statistics.median(r.cpu_ms_per_order.get(name, 0.0) for r in run.rounds) for name in _COMPONENTS}
    total = sum(cpu.values())
    harness = sum(cpu[name] for name in _HARNESS)
    wrong = sum(r.mismatched + r.duplicated for r in run.rounds)
    heaviest = max(cpu, key=lambda name: cpu[name])
    split = ", ".join(f"{name} {ms:.2f}" for name, ms in sorted(cpu.items(), key=lambda kv: -kv[1]))
    reproduce = f"python -m bench.order_service_e2e --seconds {seconds:g} --rounds {rounds} --connections {connections}"
    return [
        Figure("reference service end to end: orders/s settled (wrk through Toxiproxy, no faults)",
               f"{statistics.median(r.settled_per_s for r in run.rounds):,.0f}/s (accepted "
               f"{statistics.median(r.accepted_per_s for r in run.rounds):,.0f}/s; {wrong} wrong)",
               f"the 2 shared cores: every component is CPU-bound together ({heaviest} the heaviest)", reproduce),
        Figure("reference service end to end: orders per CPU-second (every component)",
               f"{1000 / total:,.0f} per CPU-s ({total:.2f} CPU ms per order: {split})",
               "the sum of every process's CPU per order, from /proc, first request to last settlement", reproduce),
        Figure("harness CPU share at the e2e benchmark's load (provider + Toxiproxy + load generator over total)",
               f"{harness / total:.0%} ({harness:.2f} of {total:.2f} CPU ms per order)",
               "at the e2e benchmark's saturating closed-loop load (wrk, 96 connections), not at a knee (see "
               "capacity_share for that); wrk stands for the load generator", reproduce),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.order_service_e2e", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each loaded round (default 15)")
    parser.add_argument("--connections", type=int, default=96, help="wrk connections (default 96)")
    parser.add_argument("--rounds", type=int, default=3, help="loaded rounds on the same stage (default 3)")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 10 s (what 'make bench' runs)")
    parser.add_argument("--variant", default="correct", help="service variant (default correct)")
    parser.add_argument("--profile", action="store_true", help="py-spy the service and the provider (last round)")
    parser.add_argument("--sut-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra service environment, e.g. ORDERQUAKE_SUT_POOL_SIZE=32")
    args = parser.parse_args(argv)
    seconds, rounds = (10.0, 2) if args.quick else (args.seconds, args.rounds)
    run = measure(seconds, args.connections, rounds, variant=args.variant, profile=args.profile,
                  sut_env=dict(item.split("=", 1) for item in args.sut_env))
    print(report(run.rounds, args.connections))
    print("service counters over the whole run (warm-up included): " + ", ".join(run.counters))
    for name, summary in run.summaries.items():
        print(f"\nprofile of the {name} (py-spy, loaded window):\n{summary}")
    return verdict(run.rounds)


def verdict(rounds: list[Round]) -> int:
    """Print the median settled rate against the target (every order settled, none mismatched); 0 if met."""
    settled = statistics.median(r.settled_per_s for r in rounds)
    wrong = sum(r.mismatched + r.duplicated for r in rounds)
    ok = settled >= _TARGET_PER_S and wrong == 0
    print(f"median settled {settled:.0f} orders/s over {len(rounds)} round(s), {wrong} mismatched or duplicated "
          f"(target {_TARGET_PER_S:.0f}/s, none wrong): {'PASS' if ok else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
