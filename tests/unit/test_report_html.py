"""``report.html`` and the suite's ``index.html`` on run directories built by hand: the series the
charts draw, the sentence that says why, escaping, the inlined assets, and no address outside the page."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from rundir_builder import SCENARIO, build_run, record, sut_row

from harness.checker.model import Kind, RunVerdict, Verdict
from harness.cli import run as cli_run
from harness.load.history import iter_events
from harness.report import _format as fmt
from harness.report._page import UPLOT_VERSION, asset
from harness.report.analysis import per_operation
from harness.report.headline import headline
from harness.report.html import render_html, write_html
from harness.report.index import render_suite_index, write_suite_index
from harness.report.series import per_second
from harness.report.story import Window, attempts, relation
from harness.run.request import RunOutcome
from harness.run.verdict import judge_run
from harness.rundir import RunDir

ORIGIN = 100.0  # rundir_builder's load_started_wall
LATENCY_FAULT = [
    {"name": "f1-latency", "kind": "latency", "params": {"link": "provider", "latency": 2500, "jitter": 300,
                                                          "stream": "downstream", "toxicity": 1.0},
     "phase": "start", "at": ORIGIN + 2.0, "t": 2.0, "error": None},
    {"name": "f1-latency", "kind": "latency", "params": {"link": "provider", "latency": 2500, "jitter": 300,
                                                          "stream": "downstream", "toxicity": 1.0},
     "phase": "heal", "at": ORIGIN + 5.0, "t": 5.0, "error": None},
]


def event(kind: str, op_name: str, op_id: str, *, wall: float, ms: float, process: int = 1, attempt: int = 1,
          amount: int = 1000, currency: str = "EUR") -> dict[str, Any]:
    """One history event at ``wall`` (seconds since the load started) and monotonic ``ms``."""
    return {"type": kind, "op": op_name, "id": op_id, "process": process, "attempt": attempt,
            "wall": ORIGIN + wall, "time": int(ms * 1_000_000), "status": {"ok": 201, "fail": 422}.get(kind),
            "value": {"amount_minor": amount, "currency": currency}, "error": None}


def pair(op_name: str, op_id: str, outcome: str, *, at: float, latency_ms: float, **kw: Any) -> list[dict[str, Any]]:
    return [event("invoke", op_name, op_id, wall=at, ms=at * 1000, **kw),
            event(outcome, op_name, op_id, wall=at + latency_ms / 1000, ms=at * 1000 + latency_ms, **kw)]


def judged(root: Path, events: Sequence[Mapping[str, Any]], *, kept: Sequence[str] = (),
           faults: Sequence[Mapping[str, Any]] = LATENCY_FAULT, scenario: str = SCENARIO,
           provider: Sequence[Mapping[str, Any]] | None = None) -> tuple[RunVerdict, RunDir]:
    run_dir = build_run(root, events, faults=faults, scenario=scenario,
                        sut={Kind.ORDER: [sut_row(Kind.ORDER, i, "succeeded", currency="EUR") for i in kept]},
                        provider={Kind.ORDER: list(provider) if provider is not None else
                                  [record(Kind.ORDER, i, "succeeded") for i in kept]})
    verdict, _ = judge_run(run_dir)
    run_dir.write_json(run_dir.verdict, verdict.to_json())
    return verdict, run_dir


def page_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="oq-data">(.*?)</script>', page, re.S)
    assert match is not None
    return dict(json.loads(match.group(1)))


def visible_text(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", page.split("<script", 1)[0])


# --- the series the charts draw -----------------------------------------------------------------

def test_throughput_is_counted_at_completion_and_latency_per_second_per_operation(tmp_path: Path) -> None:
    events = [*pair("order", "a", "ok", at=0.2, latency_ms=10), *pair("order", "b", "ok", at=0.5, latency_ms=30),
              *pair("order", "c", "fail", at=0.9, latency_ms=200),  # completes in second 1
              *pair("order", "d", "info", at=2.1, latency_ms=5000),  # a timeout: completes in second 7
              event("invoke", "order", "e", wall=3.0, ms=3000),  # never completes
              *pair("get_order", "a", "ok", at=1.5, latency_ms=4)]
    _, run_dir = judged(tmp_path, events, kept=["a", "b", "c", "d"])
    timeline = page_data(render_html(run_dir.path))["timeline"]
    order = next(s for s in timeline["ops"] if s["op"] == "order")
    assert timeline["seconds"] == 10  # the load lasted 10 s (run.json), the last completion is in second 7
    assert order["ok"][:2] == [2, 0] and order["fail"][:2] == [0, 1] and order["info"][7] == 1
    assert order["p50"][0] == 10.0 and order["p99"][0] == 30.0 and order["p99"][1] == 200.0
    assert order["p99"][7] is None, "an info outcome has no latency: it is the client's timeout"
    assert timeline["never_completed"] == {"order": 1}
    assert [s["op"] for s in timeline["ops"]] == ["order", "get_order"]


@given(st.lists(st.tuples(st.sampled_from(["order", "payout", "get_order"]),
                          st.sampled_from(["ok", "fail", "info", None]),
                          st.floats(0, 20), st.floats(0.1, 6000)), max_size=60))
def test_the_series_add_up_to_the_per_operation_table(tmp_path_factory: Any, ops: list[Any]) -> None:
    """Differential: the charts and the table (``analysis.per_operation``) count the same operations."""
    events = []
    for n, (op_name, outcome, at, latency) in enumerate(ops):
        pairs = pair(op_name, f"x{n}", outcome or "ok", at=at, latency_ms=latency, process=n % 3)
        events += pairs if outcome else pairs[:1]
    root = tmp_path_factory.mktemp("run")
    run_dir = build_run(root, events)
    timeline = per_second(iter_events(run_dir.history), origin_wall=ORIGIN)
    stats = per_operation(run_dir)
    assert {s.op for s in timeline.ops} == set(stats)
    for series in timeline.ops:
        table = stats[series.op]
        assert sum(series.ok) == table.ok and sum(series.fail) == table.fail
        assert sum(series.info) + timeline.never_completed.get(series.op, 0) == table.info
        worst = max((v for v in series.p99_ms if v is not None), default=None)
        assert (worst is None) == (table.max_ms is None)
        assert worst is None or table.max_ms is None or worst <= table.max_ms


def test_fault_windows_are_sent_to_the_charts_labelled_by_kind_and_link(tmp_path: Path) -> None:
    _, run_dir = judged(tmp_path, pair("order", "a", "ok", at=1.0, latency_ms=5), kept=["a"])
    page = render_html(run_dir.path)
    windows = page_data(page)["windows"]
    assert [(w["label"], w["start"], w["end"]) for w in windows] == [("latency · provider", 2.0, 5.0)]
    text = visible_text(page)
    assert "f1-latency" in text and "latency 2500 ms, jitter 300 ms, downstream" in text


def test_the_backlog_and_its_deadline_come_from_consistency_and_the_scenario(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path, pair("order", "a", "ok", at=1.0, latency_ms=5),
                        scenario=SCENARIO + "recovery: {deadline: 45s}\n",
                        consistency=[{"t": 0.0, "pending": 7}, {"t": 1.0, "pending": None}, {"t": 2.0, "pending": 0}])
    backlog = page_data(render_html(run_dir.path))["backlog"]
    assert backlog == {"t": [0.0, 1.0, 2.0], "pending": [7, None, 0], "deadline": 45.0}


# --- the sentence that says why -----------------------------------------------------------------

def test_a_failing_run_says_which_invariant_how_many_and_worth_how_much(tmp_path: Path) -> None:
    events = [*pair("order", "o1", "ok", at=1.0, latency_ms=5),
              *pair("order", "o2", "ok", at=1.5, latency_ms=5, amount=99_999)]
    verdict, run_dir = judged(tmp_path, events, kept=["o1"])
    assert verdict.verdict is Verdict.FAIL
    sentence = re.sub(r"<[^>]+>", "", headline(verdict))
    assert sentence.startswith("1 order lost: acknowledged to the client, no record in the SUT, worth 999.99 EUR.")
    assert "Money is conserved (orders 10.00 EUR)" in sentence
    page = render_html(run_dir.path)
    assert 'class="hero v-fail"' in page and ">FAIL<" in page


def test_money_not_conserved_is_said_in_major_units(tmp_path: Path) -> None:
    events = pair("order", "o1", "ok", at=1.0, latency_ms=5, amount=1000)
    provider = [record(Kind.ORDER, "o1", "succeeded", n=0), record(Kind.ORDER, "o1", "succeeded", n=1)]
    verdict, run_dir = judged(tmp_path, events, kept=["o1"], provider=provider)
    sentence = re.sub(r"<[^>]+>", "", headline(verdict))
    assert "duplicated" in sentence
    assert "Money is not conserved: orders: the SUT records 10.00 EUR less than the provider moved." in sentence
    text = visible_text(render_html(run_dir.path))
    assert "20.00 EUR" in text and "\u221210.00 EUR" in text and "not conserved" in text


def test_a_passing_run_and_an_undecided_one_say_so() -> None:
    passing = RunVerdict.from_json({"verdict": "pass", "counts": {"attempted": 3, "ok": 3, "ids": 3},
                                    "slo": [{"rule": "p99 < 1500ms", "observed": 2100.0, "pass": False}]})
    assert "Every one of 3 submissions" in headline(passing) and "2100 ms" in headline(passing)
    undecided = RunVerdict.from_json({"verdict": "unknown", "checkers": {
        "faults": {"valid": "unknown", "reason": "f1 failed to apply"}, "run": {"valid": "pass"}}})
    assert "Not decided" in headline(undecided) and "f1 failed to apply" in headline(undecided)


def test_amounts_are_shown_in_the_currency_s_major_unit() -> None:
    assert fmt.money(123456, "EUR") == "1,234.56 EUR"
    assert fmt.money(1500, "JPY") == "1,500 JPY"
    assert fmt.money(1500, "KWD") == "1.500 KWD"
    assert fmt.money(-7, "EUR") == "\u22120.07 EUR"
    assert fmt.money(42, None) == "42 (minor units, no currency)"


# --- examples told on a line of time ------------------------------------------------------------

def test_an_example_s_story_pairs_its_attempts_and_places_the_faults() -> None:
    history = [event("invoke", "order", "o", wall=2.0, ms=2000, process=1, attempt=1),
               event("invoke", "order", "o", wall=2.001, ms=2001, process=2, attempt=2),
               event("ok", "order", "o", wall=2.004, ms=2004, process=2, attempt=2),
               event("info", "order", "o", wall=7.0, ms=7000, process=1, attempt=1)]
    tries = attempts(history, ORIGIN)
    assert [(a.attempt, a.outcome, round(a.latency_ms or 0)) for a in tries] == [(1, "info", 5000), (2, "ok", 3)]
    window = Window(label="latency · provider", colour="#000", start=3.0, end=4.0, title="")
    assert relation(window, [2.0, 7.0]) == "during latency · provider"
    assert relation(window, [2.0, 2.004]) == "latency · provider began 996 ms after"
    assert relation(window, [6.0]) == "latency · provider healed 2 s before"


def test_each_violation_has_its_examples_with_their_story(tmp_path: Path) -> None:
    events = [*pair("order", "o1", "ok", at=1.0, latency_ms=5), *pair("order", "o2", "ok", at=3.0, latency_ms=5)]
    _, run_dir = judged(tmp_path, events, kept=["o1"])
    page = render_html(run_dir.path)
    block = page[page.index('id="cat-lost"'):]
    assert "o2" in block and '<svg class="story"' in block and "3.000 s order #1 → ok 201 in 5.0 ms" in block
    assert "SUT: no record" in block and "during latency · provider" in block


# --- the page itself ----------------------------------------------------------------------------

def test_every_value_from_the_run_is_escaped(tmp_path: Path) -> None:
    evil = '<img src=x onerror=alert(1)>"</script><!--'
    events = pair("order", evil, "ok", at=1.0, latency_ms=5)
    _, run_dir = judged(tmp_path, events, scenario=SCENARIO.replace("name: unit", f"name: '{evil}'"))
    page = render_html(run_dir.path)
    assert "<img src=x" not in page and "</script><!--" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    data = page_data(page)
    assert data["timeline"]["ops"][0]["ok"][1] == 1  # the data block still reads back as JSON


def test_the_page_is_one_file_with_its_assets_inlined_and_no_address_outside(tmp_path: Path) -> None:
    _, run_dir = judged(tmp_path, pair("order", "a", "ok", at=1.0, latency_ms=5), kept=["a"])
    path = write_html(run_dir.path)
    assert path == run_dir.report
    page = path.read_text()
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, re.I), "an external address"
    assert not re.search(r"<(?:script|img|iframe|link)[^>]*\s(?:src|href)=", page, re.I), "a fetched resource"
    library = asset("uPlot.iife.min.js")
    assert library.startswith(f"/*! https://github.com/leeoniya/uPlot (v{UPLOT_VERSION}) */")
    assert library.split("*/", 1)[1].strip()[:2000] in page
    assert asset("uPlot.min.css")[:500] in page and "Permission is hereby granted" in page
    assert asset("charts.js")[-300:] in page and asset("report.js")[-100:] in page
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert {"verdict.json", "run.json", "scenario.yaml"} <= set(hrefs)
    assert all(not h.startswith(("/", "http")) for h in hrefs)
    for name in ("charts.js", "report.js", "index.js"):
        assert "</script" not in asset(name).lower()


def test_a_run_without_a_verdict_still_has_a_page(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path, pair("order", "a", "ok", at=1.0, latency_ms=5))
    page = render_html(run_dir.path)
    assert "NOT JUDGED" in page and "no readable" in page
    assert page_data(page)["timeline"]["ops"][0]["ok"][1] == 1


def test_the_suite_index_has_a_row_per_run_linking_to_its_report(tmp_path: Path) -> None:
    out = tmp_path / "suite"
    _, failing = judged(out / "a", pair("order", "o2", "ok", at=1.0, latency_ms=5))
    unjudged = build_run(out / "b", pair("order", "a", "ok", at=1.0, latency_ms=5))
    path = write_suite_index([failing.path, unjudged.path], out)
    assert path == out / "index.html"
    page = path.read_text()
    assert f'href="a/{failing.path.name}/report.html"' in page and f'href="b/{unjudged.path.name}/report.html"' in page
    text = visible_text(page)
    assert "1 lost" in text and "no verdict" in text and "1 failed, 1 undecided" in text
    runs = page_data(page)["runs"]
    assert runs[0]["ok"][1] == 1 and runs[0]["faults"][0]["start"] == 2.0
    assert render_suite_index([failing.path], out).count('data-oq-spark="') == 1


def test_orderquake_suite_writes_the_index_next_to_its_run_directories(tmp_path: Path, monkeypatch: Any) -> None:
    out = tmp_path / "runs"
    judged_runs = iter([judged(out, pair("order", "o", "ok", at=1.0, latency_ms=5), kept=["o"]),
                        judged(out, pair("order", "p", "ok", at=1.0, latency_ms=5))])

    def fake_run(request: Any) -> RunOutcome:
        verdict, run_dir = next(judged_runs)
        return RunOutcome(run_dir=run_dir, verdict=verdict)

    monkeypatch.setattr(cli_run, "run", fake_run)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    args = argparse.Namespace(paths=[str(scenario), str(scenario)], junit=None, target=None, variant=None, seed=None,
                              duration=None, users=None, workers=0, soak=False, out=out, allow_remote=False,
                              quiet=True)
    assert cli_run._suite(args) == 1
    page = (out / "index.html").read_text()
    assert page.count('data-oq-spark="') == 2 and "1 failed, 1 passed" in visible_text(page)
