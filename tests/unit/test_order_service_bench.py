"""The end-to-end benchmark's parsing and summaries (the numbers it prints must come from the right places)."""

from __future__ import annotations

import importlib.util
import sys

from harness._paths import PROJECT_ROOT

# bench/ is a folder of scripts, not an installed package: load the module from its file.
_spec = importlib.util.spec_from_file_location("order_service_e2e", PROJECT_ROOT / "bench" / "order_service_e2e.py")
assert _spec is not None and _spec.loader is not None
e2e = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = e2e  # dataclasses look their module up there
_spec.loader.exec_module(e2e)

WRK = """Running 8s test @ http://127.0.0.1:1
  Latency Distribution
     50%  263.90ms
     99%    1.20s
  1942 requests in 8.02s, 300.00KB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:    242.10
"""


def test_wrk_output_is_read() -> None:
    assert e2e._latency_ms(WRK, "50") == 263.9 and e2e._latency_ms(WRK, "99") == 1200.0
    assert e2e._errors(WRK) == 9


def test_a_profile_is_summarised_by_function_and_package() -> None:
    collapsed = ("main (order_service/__main__.py:1);run (psycopg/cursor.py:9) 30\n"
                 "main (order_service/__main__.py:1);send (aiohttp/client.py:5) 10\n"
                 "main (order_service/__main__.py:1) 10\n")
    summary = e2e.summarise_profile(collapsed)
    assert "50 samples" in summary
    assert "60.0%  psycopg" in summary and "20.0%  aiohttp (client)" in summary
    assert "20.0%  order_service (our code)" in summary
    assert e2e.summarise_profile("") == "  (no samples)"


def test_service_counters_are_picked_from_metrics() -> None:
    metrics = ('# HELP x\nprovider_calls_total{kind="order",result="accepted"} 12.0\n'
               'provider_calls_created{kind="order",result="accepted"} 1.7e9\norders_pending 3.0\n')
    assert e2e.service_counters(metrics) == ['provider_calls_total{kind="order",result="accepted"}=12']
