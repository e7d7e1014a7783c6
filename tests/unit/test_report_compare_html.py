"""The comparison as HTML on run directories written by hand: the section in ``report.html`` (with
``--baseline``), ``compare.html``, the baseline's dashed series, escaping, and no address outside."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_report_compare import BASE_LATENCIES, ORIGIN, make_run, orders, verdict

from harness.cli.main import main
from harness.load.history import iter_events
from harness.report.compare import Limits, compare_runs
from harness.report.compare_html import render_compare_page, write_compare_page
from harness.report.html import render_html
from harness.report.series import per_second
from harness.rundir import RunDir

SLOW = [320.0] * 95 + [355.0] * 5  # p95 320 ms, p99 355 ms
FAULTS = [{"name": "f1-latency", "kind": "latency", "params": {"link": "provider", "latency": 300},
           "phase": phase, "at": ORIGIN + t, "t": t, "error": None} for phase, t in (("start", 0.5), ("heal", 2.5))]


def page_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="oq-data">(.*?)</script>', page, re.S)
    assert match is not None
    return dict(json.loads(match.group(1)))


def section_of(page: str) -> str:
    start = page.index('<section id="comparison">')
    return page[start:page.index("</section>", start)]


def cell(section: str, metric: str, op: str = "order") -> str:
    match = re.search(rf'<td class="([^"]*)" data-metric="{metric}" data-op="{op}">(.*?)</td>', section)
    assert match is not None, f"no {metric} change of {op}"
    return f"{match.group(1)}|{match.group(2)}"


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split("<script", 1)[0]))


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    base = make_run(tmp_path, "base", orders(BASE_LATENCIES))
    slow = make_run(tmp_path, "slow", orders(SLOW), verdict("fail", lost=2, recovery=4.0), FAULTS)
    return base, slow


def test_the_section_puts_both_runs_side_by_side_and_marks_the_limit_exceeded(runs: tuple[Path, Path]) -> None:
    base, slow = runs
    comparison = compare_runs(base, slow, Limits.parse(p99_increase="20%"))
    section = section_of(render_html(slow, comparison))
    words = text(section)
    assert "Worse than the baseline : 2 limits exceeded." in words
    assert f"baseline PASS {base.name} unit · exit 0 worse this run FAIL {slow.name} unit · exit 1" in words
    assert "Limits given: p99 +20%; the verdict is always compared. Exceeded:" in words
    assert "p99 of order: 40.2 ms -&gt; 355.0 ms (+783%), limit +20%" in section
    assert "verdict: pass -&gt; fail, worse than the baseline" in section
    # Per operation: both values and the change; the p99 past its limit, the p95 worse with no limit on it.
    assert "40.2 ms" in section and "355 ms" in section
    assert cell(section, "p99") == ('num over-cell|<span class="delta over">+783%</span> '
                                    '<span class="badge">over limit</span>')
    assert cell(section, "p95") == 'num|<span class="delta worse">+1500%</span>'
    assert cell(section, "error rate") == 'num|<span class="delta">+0.0 pt</span>'
    # Counts, violations, recovery; and the blast radius of the run's fault.
    assert "lost 0 2 +2" in words and "time to consistency 1 s 4 s +3 s" in words
    assert "run f1-latency latency · provider 500 ms → 2.5 s 100 0 0 0 2 lost" in words


def test_a_better_run_is_not_coloured_and_no_limit_says_the_verdict_alone_is_compared(
        runs: tuple[Path, Path]) -> None:
    base, slow = runs
    comparison = compare_runs(slow, base, Limits())
    section = section_of(render_html(base, comparison))
    assert "No limit given: only the verdicts are compared, and the run's is no worse." in text(section)
    assert cell(section, "p99") == 'num|<span class="delta">-89%</span>'
    assert 'class="delta worse"' not in section and 'class="badge"' not in section
    assert "No fault in either run" not in section and "baseline f1-latency" in text(section)


def test_the_latency_charts_get_the_baseline_p99_per_second_padded_to_the_run(tmp_path: Path) -> None:
    # The baseline's load lasted longer than the run's: the run's charts are stretched to its seconds.
    base = make_run(tmp_path, "base", orders([20.0] * 50))
    RunDir(base).write_json(RunDir(base).run_info, {"load_started_wall": ORIGIN, "load_seconds": 12.0})
    run = make_run(tmp_path, "run", orders(SLOW))
    page = render_html(run, compare_runs(base, run, Limits()))
    data = page_data(page)
    expected = per_second(iter_events(RunDir(base).history), origin_wall=ORIGIN, min_seconds=12).ops[0].p99_ms
    assert data["baseline"]["name"] == base.name
    assert data["baseline"]["p99"]["order"] == list(expected) and len(expected) == 12
    assert data["timeline"]["seconds"] == 12 and len(data["timeline"]["ops"][0]["p99"]) == 12
    assert data["baseline"]["p99"]["order"][1] == 20.0 and max(filter(None, data["timeline"]["ops"][0]["p99"])) == 355.0
    assert "baseline p99 dashed" in page and page.index('id="comparison"') < page.index('id="timeline"')
    # Without a baseline: no section, no dashed series.
    alone = render_html(run)
    assert 'id="comparison"' not in alone and "baseline" not in page_data(alone)


def test_compare_html_is_the_section_and_the_latency_charts_on_one_offline_page(runs: tuple[Path, Path],
                                                                                  tmp_path: Path) -> None:
    base, slow = runs
    (base / "report.html").write_text("base report")
    comparison = compare_runs(base, slow, Limits.parse(p99_increase="20%"))
    path = write_compare_page(comparison, tmp_path / "out")
    page = path.read_text()
    assert path == tmp_path / "out" / "compare.html"
    assert section_of(page) == section_of(render_compare_page(comparison, tmp_path / "out"))
    assert '<span class="pill">WORSE</span>' in page
    assert page.count('data-oq-chart="latency"') == 1 and 'data-oq-chart="throughput"' not in page
    data = page_data(page)
    assert data["baseline"]["p99"]["order"][1] == 40.2 and data["windows"][0]["label"] == "latency · provider"
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, re.I), "an external address"
    assert not re.search(r"<(?:script|img|iframe|link)[^>]*\s(?:src|href)=", page, re.I), "a fetched resource"
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert hrefs == [f"../base/{base.name}/report.html"]  # the run has no report.html: its name is not a link
    assert (path.parent / hrefs[0]).resolve() == (base / "report.html").resolve()


def test_every_value_from_either_run_is_escaped(tmp_path: Path) -> None:
    evil = '<img src=x onerror=alert(1)>"</script><!--'
    faults = [{**f, "name": evil} for f in FAULTS]
    base = make_run(tmp_path, "base" + evil.replace("/", ""), orders(BASE_LATENCIES))
    run = make_run(tmp_path, "run" + evil.replace("/", ""), orders(SLOW), faults=faults)
    (base / "report.html").write_text("")
    comparison = compare_runs(base, run, Limits.parse(p99_increase="20%"))
    for page in (render_html(run, comparison), render_compare_page(comparison, tmp_path)):
        assert "<img src=x" not in page and "<!--" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in section_of(page)
        assert page_data(page)["baseline"]["name"] == base.name  # the data block still reads back as JSON


def test_report_with_baseline_and_limits_rewrites_the_page_and_exits_0(runs: tuple[Path, Path],
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    base, slow = runs
    assert main(["report", str(slow), "--baseline", str(base), "--max-p99-increase", "20%"]) == 0
    page = (slow / "report.html").read_text()
    assert "p99 of order: 40.2 ms -&gt; 355.0 ms (+783%), limit +20%" in section_of(page)
    assert str(slow / "report.html") in capsys.readouterr().out
    assert main(["report", str(slow)]) == 0
    assert 'id="comparison"' not in (slow / "report.html").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["{slow}", "--max-p99-increase", "20%"], "expected --baseline BASELINE_RUN with --max-p99-increase"),
    (["{slow}", "--baseline", "{base}", "--max-p99-increase", "20"], "got --max-p99-increase='20'"),
    (["{slow}", "--baseline", "{missing}"], "expected a run directory, got {missing} (not a directory)"),
])
def test_report_usage_errors_exit_2_with_one_line(runs: tuple[Path, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str], args: list[str],
                                                  message: str) -> None:
    base, slow = runs
    paths = {"base": base, "slow": slow, "missing": tmp_path / "missing"}
    assert main(["report", *(a.format(**paths) for a in args)]) == 2
    err = capsys.readouterr().err
    assert message.format(**paths) in err and "Traceback" not in err and err.count("\n") == 1


def test_compare_also_writes_compare_html_and_keeps_its_exit_codes(runs: tuple[Path, Path], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    base, slow = runs
    assert main(["compare", str(base), str(slow), "--max-p99-increase", "20%", "--out", str(tmp_path / "o")]) == 1
    assert f"and {tmp_path / 'o' / 'compare.html'}" in capsys.readouterr().out
    assert "over limit" in (tmp_path / "o" / "compare.html").read_text()
    assert main(["compare", str(slow), str(slow), "--max-p99-increase", "0%"]) == 0
    assert "NO WORSE" in (slow / "compare.html").read_text()
