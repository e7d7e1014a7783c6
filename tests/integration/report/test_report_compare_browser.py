"""Two real runs of one scenario, the second with the provider link slowed, compared: ``report.html``
rebuilt with ``--baseline`` and ``compare.html`` opened in headless Chromium. Every chart drawn, no
console error, nothing fetched but the file, the comparison table showing the latency increase,
and the baseline's p99 dashed on the latency charts. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chromium_cdp import Chromium, Page
from page_checks import assert_clean, assert_drawn, keep

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]

# The order p99's change cell, and the limit lines, as the page shows them.
_P99 = """(() => { const c = document.querySelector('#comparison td[data-metric="p99"][data-op="order"]');
  return {text: c.textContent, over: c.classList.contains("over-cell")}; })()"""
_EXCEEDED = '[...document.querySelectorAll("#comparison .over-list li")].map(li => li.textContent)'
_LEGEND = """[...document.querySelectorAll('[data-oq-chart=latency][data-op=order] .u-series .u-label')]
  .map(el => el.textContent)"""


def _orderquake(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def compared(run_dir: Path, baseline_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the slow run (the session's run stays as the run wrote it), its report rebuilt against
    the baseline, and ``compare.html`` written beside it."""
    slow = tmp_path_factory.mktemp("compared") / run_dir.name
    shutil.copytree(run_dir, slow)
    report = _orderquake("report", str(slow), "--baseline", str(baseline_dir), "--max-p99-increase", "20%")
    assert report.returncode == 0, report.stdout + report.stderr
    compare = _orderquake("compare", str(baseline_dir), str(slow), "--max-p99-increase", "20%")
    assert compare.returncode == 1, compare.stdout + compare.stderr  # the exit code compare always had
    assert (slow / "compare.html").exists() and "p99 of order: " in compare.stdout
    return slow


def _ops(page: Page) -> list[str]:
    data = json.loads(page.evaluate('document.getElementById("oq-data").textContent'))
    baseline: dict[str, Any] = data["baseline"]["p99"]
    ops = [op["op"] for op in data["timeline"]["ops"]]
    assert set(ops) <= set(baseline)
    for op in ops:  # the dashed series has a value in most seconds of load, on the run's seconds
        assert len(baseline[op]) == data["timeline"]["seconds"]
    assert sum(v is not None for v in baseline["order"]) >= 8, baseline["order"]
    return ops


def _check_comparison(page: Page) -> None:
    p99 = page.evaluate(_P99)
    assert p99["over"] and p99["text"].startswith("+") and "over limit" in p99["text"], p99
    exceeded = page.evaluate(_EXCEEDED)
    assert any(line.startswith("p99 of order: ") and line.endswith("limit +20%") for line in exceeded), exceeded
    assert page.evaluate('document.querySelector("#comparison .cmp-gate").textContent').startswith(
        "Worse than the baseline")
    assert page.evaluate(_LEGEND) == ["second", "p50", "p95", "p99", "baseline p99"]


def test_the_report_with_a_baseline_compares_near_the_top_and_dashes_its_p99(compared: Path, browser: Chromium,
                                                                           tmp_path: Path) -> None:
    url = (compared / "report.html").as_uri()
    with browser.open(url) as page:
        keep(page.screenshot(tmp_path / "report-with-baseline.png"))
        assert_clean(page, url)
        ops = _ops(page)
        assert {"order", "payout", "get_order", "get_payout"} <= set(ops)
        drawn = int(page.evaluate("document.body.dataset.chartsDrawn"))
        assert drawn == 2 * len(ops) + 1
        assert_drawn(page, drawn)
        _check_comparison(page)
        order = page.evaluate('[...document.querySelectorAll("main > section")].map(s => s.id)')
        assert order[:2] == ["comparison", "timeline"], order


def test_compare_html_draws_the_latency_of_each_operation_against_the_baseline(compared: Path, browser: Chromium,
                                                                             tmp_path: Path) -> None:
    url = (compared / "compare.html").as_uri()
    with browser.open(url) as page:
        keep(page.screenshot(tmp_path / "compare.png"))
        assert_clean(page, url)
        ops = _ops(page)
        assert int(page.evaluate("document.body.dataset.chartsDrawn")) == len(ops)
        assert {c["chart"] for c in assert_drawn(page, len(ops))} == {f"latency {op}" for op in ops}
        _check_comparison(page)
        assert page.evaluate('document.querySelector(".pill").textContent') == "WORSE"
        assert page.evaluate('document.querySelectorAll(".oq-band-label").length') == len(ops)
