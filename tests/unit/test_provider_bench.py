"""The throughput benchmark's reading of wrk output and its summary table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:18431/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.48ms    7.34ms 114.12ms   93.51%
    Req/Sec     5.40k     0.88k    6.46k    78.00%
  Latency Distribution
     50%  850.00us
     75%   12.05ms
     90%   15.12ms
     99%    1.20s
  26995 requests in 5.03s, 7.38MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   5364.78
Transfer/sec:      1.47MB
"""


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "provider_throughput.py"
    spec = importlib.util.spec_from_file_location("provider_throughput_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_parse_wrk_reads_rate_percentiles_in_any_unit_and_all_errors(bench: ModuleType) -> None:
    m = bench.parse_wrk("provider", 64, WRK_OUTPUT)
    assert m.requests_per_s == pytest.approx(5364.78)
    assert m.p50_ms == pytest.approx(0.85) and m.p99_ms == pytest.approx(1200.0)
    assert m.errors == 4 + 2 + 1
    assert m.requests == 26995
    assert bench.Measurement("p", 64, 1.0, 1.0, 1.0, 0, requests=5000, server_cpu_s=0.5).per_cpu_s == 10000


def test_parse_wrk_refuses_output_without_a_rate(bench: ModuleType) -> None:
    with pytest.raises(RuntimeError, match="Requests/sec"):
        bench.parse_wrk("hello", 64, "unable to connect to 127.0.0.1:1 Connection refused\n")


def test_report_gives_ratio_and_added_latency(bench: ModuleType) -> None:
    make = bench.Measurement
    results = [make("hello", 64, 10000.0, 5.0, 9.0, 0), make("hello", 1, 5000.0, 0.1, 0.2, 0),
               make("sqlite", 64, 8000.0, 6.0, 10.0, 0), make("sqlite", 1, 4000.0, 0.12, 0.3, 0),
               make("provider", 64, 6000.0, 9.0, 20.0, 0), make("provider", 1, 3000.0, 0.25, 0.5, 0),
               make("settling", 64, 5000.0, 9.0, 20.0, 0), make("settling", 1, 3000.0, 0.25, 0.5, 0)]
    table = bench.report(results, 64)
    assert "provider / hello: best 60%, median 60%, per CPU-s n/a" in table
    assert "latency added at one connection: 0.150 ms" in table
    assert "settling / hello: median 50%" in table


def test_profile_shares_name_each_part_of_the_work_and_leave_the_checkpoint_thread_out(bench: ModuleType) -> None:
    collapsed = "\n".join([
        "main (mock_provider/__main__.py:49);Runner.run (asyncio/runners.py:118) 30",
        "Task.__step;HttpToolsProtocol.data_received (uvicorn/protocols/http/httptools_impl.py:174) 20",
        "Deliverer.run (mock_provider/delivery.py:92);Provider.settle_due (mock_provider/provider.py:261);"
        "Ledger.all (mock_provider/ledger.py:207) 25",
        "Deliverer._post (mock_provider/delivery.py:149);"
        "CallbackClient.__call__ (mock_provider/callback_client.py:145) 15",
        "endpoint (mock_provider/app.py:128);Provider.create (mock_provider/provider.py:195) 10",
        "Thread._bootstrap (threading.py:1002);_WorkItem.run (concurrent/futures/thread.py:58) 400",
        "not a sample line",
    ])
    shares = dict(bench.profile_shares(collapsed))
    assert shares == pytest.approx({"event loop (uvloop: epoll, socket calls)": 0.3,
                                    "settlement": 0.25, "incoming HTTP (uvicorn, httptools)": 0.2,
                                    "callback HTTP client": 0.15,
                                    "order creation (validation, insert, idempotency)": 0.1})
    assert bench.profile_shares("") == []


def test_report_puts_two_processes_beside_one_per_cpu_second(bench: ModuleType) -> None:
    make = bench.Measurement
    runs = (("delivering", 6000.0, 24000, 4.0), ("delivering-2", 9000.0, 36000, 6.4),
            ("keyed", 5000.0, 20000, 4.0), ("keyed-2", 6000.0, 24000, 6.0))
    results = [make(target, 64, rate, 9.0, 20.0, 0, requests=requests, server_cpu_s=cpu)
               for target, rate, requests, cpu in runs]
    results += [make(target, 1, 1000.0, 0.3, 0.5, 0) for target, *_ in runs]
    table = bench.report(results, 64)
    assert ("delivering-2 / delivering, per provider CPU-s: 0.94 (5625 vs 6000; round by round 0.94); wall: 1.50"
            in table)
    assert "keyed-2 / keyed, per provider CPU-s: 0.80 (4000 vs 5000; round by round 0.80); wall: 1.20" in table


def test_a_provider_and_its_processes_are_counted_together(bench: ModuleType) -> None:
    import os
    import subprocess
    import time
    # A child that burns 0.3 CPU-s, then sleeps: the tree's CPU holds it beside this process's own.
    busy = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", busy])
    try:
        deadline = time.monotonic() + 30
        while bench.cpu_s(child.pid) < 0.3:
            assert time.monotonic() < deadline, "the child did not burn its CPU in time"
            time.sleep(0.05)
        used, own = bench.cpu_s(child.pid), bench.cpu_s(os.getpid())  # read before the tree: both only grow
        assert child.pid in bench.children(os.getpid())
        assert bench.tree_cpu_s(os.getpid()) >= own + used
    finally:
        child.kill()
        child.wait()
