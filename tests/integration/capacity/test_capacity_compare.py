"""``orderquake capacity --compare-fault``: the same steps without and with a held provider latency, both
knees side by side in capacity.json and the terminal, and the report's charts drawn in headless Chromium
(its screenshot kept as tests/artifacts/capacity.png)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))  # the report tests' browser helpers
from chromium_cdp import Chromium, chromium_or_skip
from page_checks import assert_clean, assert_drawn, keep

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
# Every order and payout waits at least 300 ms for the provider under the fault, so a p99 below 300 ms
# cannot hold there, while without it the same steps answer in tens of milliseconds (a few hundred at
# worst on a busy shared machine: the rates are kept low).
SCENARIO = (HERE / "capacity.yaml").read_text().replace('"p99 < 1500ms"', '"p99 < 300ms"')


def test_compare_fault_lowers_the_knee_and_the_report_draws_both(tmp_path: Path) -> None:
    scenario = tmp_path / "capacity-tight.yaml"
    scenario.write_text(SCENARIO)
    result = subprocess.run(
        [sys.executable, "-m", "harness", "capacity", str(scenario), "--rates", "10,20", "--step-duration", "4",
         "--compare-fault", "latency:provider:300ms", "--recovery", "15s", "--out", str(tmp_path), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "knees side by side: baseline 20/s, fault none" in result.stdout, result.stdout
    (path,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    data = json.loads((path / "capacity.json").read_text())
    assert data["knees"] == {"baseline": 20.0, "fault": None}
    baseline, fault = data["series"]
    assert baseline["faults"] == [] and fault["faults"] == ["latency provider latency=300 jitter=0"]
    assert fault["verdict"] == "pass"  # slower, never wrong
    assert fault["knee"]["first_broken"] == 1 and fault["knee"]["set_by"] == "slo"
    assert all(s["load"]["latency"]["p50_ms"] >= 300 for s in fault["steps"])
    assert fault["model"]["verdict"] and "predictions" in fault["model"]

    chromium_or_skip()
    report = path / "report.html"
    with Chromium.start(tmp_path / "profile") as browser, browser.open(report.as_uri()) as page:
        keep(page.screenshot(tmp_path / "capacity.png"))
        assert_clean(page, report.as_uri())
        assert page.evaluate("document.body.dataset.chartsDrawn") == "2"
        canvases = assert_drawn(page, 2)
        assert {c["chart"].strip() for c in canvases} == {"capacity-throughput", "capacity-latency"}
        legend = page.evaluate('[...document.querySelectorAll("[data-oq-chart=capacity-throughput] .u-series th")]'
                               '.map(el => el.textContent.trim())')
        assert legend == ["offered", "baseline", "baseline model", "fault", "fault model"], legend
        marks = page.evaluate('[...document.querySelectorAll(".oq-mark")].map(el => el.textContent)')
        assert marks == ["baseline knee \u2265 20/s"] * 2, marks  # a lower bound; the fault has no knee to mark
        rows = page.evaluate('document.querySelectorAll("#steps tbody tr").length')
        assert rows >= 4  # two steps per series (the model's predictions are tables too)
