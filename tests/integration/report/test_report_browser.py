"""A real run with a fault, its ``report.html`` and the suite's ``index.html`` opened in headless
Chromium: every chart drawn, no console error, nothing fetched but the file itself, the fault
windows on the time charts. Screenshots are kept under the test's tmp dir and in tests/artifacts/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium_cdp import Chromium, Page, chromium_or_skip

from harness.report.index import write_suite_index

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "tests" / "artifacts"

SCENARIO = """
name: report-e2e
description: orders and payouts; the provider link slowed for a few seconds
seed: 21
duration: 10s
load: {users: 8, spawn_rate: 8, mix: {order: 6, payout: 2, get_order: 1, get_payout: 1}, duplicates: 0.05}
faults:
  - {at: 3s, for: 3s, kind: latency, link: provider, latency: 1200ms, jitter: 200ms}
recovery: {deadline: 30s}
slo: ["p99 < 1500ms", "error_rate < 0.2"]
"""

# Per canvas: its size, pixels drawn at all, and pixels in colour (the series; axes and grid are grey).
_CANVASES = """[...document.querySelectorAll("canvas")].map(c => {
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let drawn = 0, coloured = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] === 0) continue;
    drawn++;
    if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) coloured++;
  }
  const host = c.closest("[data-oq-chart], [data-oq-spark]");
  return {chart: host ? (host.dataset.oqChart || "spark") + " " + (host.dataset.op || "") : "?",
          width: c.width, height: c.height, drawn, coloured};
})"""

# Every address the page names in an attribute: all must stay inside the run directory.
_ADDRESSES = """[...document.querySelectorAll("[src], [href]")]
  .map(el => el.getAttribute("src") || el.getAttribute("href"))"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium_or_skip()  # no need to make the run when the browser is missing
    tmp = tmp_path_factory.mktemp("report-run")
    scenario = tmp / "report-e2e.yaml"
    scenario.write_text(SCENARIO)
    out = tmp / "runs"
    result = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode in (0, 3), result.stdout + result.stderr
    (found,) = [p for p in out.iterdir() if p.is_dir()]
    return found


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    with Chromium.start(tmp_path_factory.mktemp("chromium-profile")) as chromium:
        yield chromium


def _keep(shot: Path) -> None:
    """Also copy the screenshot to tests/artifacts/ (ignored by git), where CI can pick it up."""
    ARTIFACTS.mkdir(exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    shutil.copy2(shot, ARTIFACTS / shot.name)


def _assert_clean(page: Page, url: str) -> None:
    assert page.console_errors == []
    assert page.requests == [url], "the page fetched something other than itself"
    addresses = page.evaluate(_ADDRESSES)
    assert all(":" not in a and not a.startswith("/") for a in addresses), addresses


def _assert_drawn(page: Page, expected: int) -> list[dict[str, Any]]:
    canvases = page.evaluate(_CANVASES)
    assert len(canvases) == expected, canvases
    for canvas in canvases:
        assert canvas["width"] > 100 and canvas["height"] > 20, canvas
        assert canvas["drawn"] > 0 and canvas["coloured"] > 0, f"chart not drawn: {canvas}"
    return list(canvases)


def test_the_report_draws_every_chart_with_the_fault_windows(run_dir: Path, browser: Chromium,
                                                             tmp_path: Path) -> None:
    report = run_dir / "report.html"
    url = report.as_uri()
    with browser.open(url) as page:
        shot = page.screenshot(tmp_path / "report.png")
        _keep(shot)
        _check_report(page, url)
    assert shot.stat().st_size > 50_000


def _check_report(page: Page, url: str) -> None:
    _assert_clean(page, url)
    ops = {op["op"] for op in json.loads(page.evaluate('document.getElementById("oq-data").textContent'))
           ["timeline"]["ops"]}
    assert {"order", "payout", "get_order", "get_payout"} <= ops
    drawn = int(page.evaluate("document.body.dataset.chartsDrawn"))
    assert drawn == 2 * len(ops) + 1  # throughput and latency per operation, and the backlog
    canvases = _assert_drawn(page, drawn)
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
        _keep(page.screenshot(tmp_path / "suite-index.png"))
        _assert_clean(page, url)
        _assert_drawn(page, 1)
        assert page.evaluate('document.querySelectorAll(".oq-band").length') == 1
        link = page.evaluate('document.querySelector("td a").getAttribute("href")')
    assert (index.parent / link).resolve() == (run_dir / "report.html").resolve()
