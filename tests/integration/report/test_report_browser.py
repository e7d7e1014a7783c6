"""A real run with a fault, its ``report.html`` and the suite's ``index.html`` opened in headless
Chromium: every chart drawn, no console error, nothing fetched but the file itself, the fault
windows on the time charts. Screenshots are kept under the test's tmp dir and in tests/artifacts/.
The run is made once per session (``conftest.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chromium_cdp import Chromium, Page
from page_checks import assert_clean, assert_drawn, keep

from harness.report.index import write_suite_index

pytestmark = pytest.mark.integration


def test_the_report_draws_every_chart_with_the_fault_windows(run_dir: Path, browser: Chromium,
                                                             tmp_path: Path) -> None:
    report = run_dir / "report.html"
    url = report.as_uri()
    with browser.open(url) as page:
        shot = page.screenshot(tmp_path / "report.png")
        keep(shot)
        _check_report(page, url)
    assert shot.stat().st_size > 50_000


def _check_report(page: Page, url: str) -> None:
    assert_clean(page, url)
    ops = {op["op"] for op in json.loads(page.evaluate('document.getElementById("oq-data").textContent'))
           ["timeline"]["ops"]}
    assert {"order", "payout", "get_order", "get_payout"} <= ops
    drawn = int(page.evaluate("document.body.dataset.chartsDrawn"))
    assert drawn == 2 * len(ops) + 1  # throughput and latency per operation, and the backlog
    canvases = assert_drawn(page, drawn)
    assert {c["chart"] for c in canvases} >= {"throughput order", "latency payout", "backlog "}
    # The fault window is shaded and labelled on every time chart.
    labels = page.evaluate('[...document.querySelectorAll(".oq-band-label")].map(el => el.textContent)')
    assert labels == ["latency · provider"] * (2 * len(ops)), labels
    band = page.evaluate('(() => { const b = document.querySelector(".oq-band").getBoundingClientRect();'
                         ' return [b.width, b.height]; })()')
    assert band[0] > 20 and band[1] > 100, band
    assert page.evaluate('document.querySelector(".oq-mark").textContent').startswith("recovery deadline 30")
    # Hovering one time chart shows the values of that second in every time chart's legend (one cursor).
    box = page.evaluate('(() => { const b = document.querySelector("[data-oq-chart=throughput] .u-over")'
                        '.getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; })()')
    page.send("Input.dispatchMouseEvent", type="mouseMoved", x=box[0] + box[2] * 0.8, y=box[1] + box[3] / 2)
    ok = page.evaluate('[...document.querySelectorAll("[data-oq-chart=throughput] .u-series:nth-child(2) .u-value")]'
                       '.map(el => el.textContent)')
    assert len(ok) == len(ops) and all(v.endswith(" /s") for v in ok), ok
    p99 = page.evaluate('document.querySelector("[data-oq-chart=latency][data-op=order] .u-series:nth-child(4)'
                        ' .u-value").textContent')
    assert p99.endswith(" ms"), p99  # orders are the busiest operation: every second of load has some
    seconds = page.evaluate('document.querySelector("[data-oq-chart=throughput] .u-series .u-value").textContent')
    assert seconds.endswith(" s") and "\u2013" in seconds, seconds  # the second under the cursor: "9\u201310 s"
    assert "PASS" in page.evaluate('document.querySelector(".pill").textContent')


def test_the_suite_index_draws_a_chart_per_run(run_dir: Path, browser: Chromium, tmp_path: Path) -> None:
    index = write_suite_index([run_dir], run_dir.parent)
    url = index.as_uri()
    with browser.open(url) as page:
        keep(page.screenshot(tmp_path / "suite-index.png"))
        assert_clean(page, url)
        assert_drawn(page, 1)
        assert page.evaluate('document.querySelectorAll(".oq-band").length') == 1
        link = page.evaluate('document.querySelector("td a").getAttribute("href")')
    assert (index.parent / link).resolve() == (run_dir / "report.html").resolve()
