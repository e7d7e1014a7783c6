"""``junit.xml``: valid against the JUnit 10 schema for a passing run, a failing run and a suite; a case
per invariant, SLO rule and fault, each failure with its count, examples and the report's path."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from rundir_builder import SCENARIO, build_run, op, record, sut_row

from harness.checker.model import Category, Kind, RunVerdict, Verdict
from harness.report import write_junit, write_suite_junit
from harness.run.verdict import judge_run
from harness.rundir import RunDir

# The schema Jenkins' xUnit plugin validates against (MIT, jenkinsci/xunit-plugin), kept with the tests.
XSD = Path(__file__).resolve().parents[1] / "data" / "junit-10.xsd"

WITH_SLO = SCENARIO + 'slo: ["p99 < 1ms", "error_rate < 0.5"]\n'  # each operation takes 5 ms


def _fault(name: str, phase: str, t: float, error: str | None = None, kind: str = "db_outage") -> dict[str, Any]:
    return {"name": name, "kind": kind, "params": {}, "phase": phase, "at": 100.0 + t, "t": t, "error": error}


CLEAN_FAULTS = [_fault("db_outage#1", "start", 2.0), _fault("db_outage#1", "heal", 8.0)]


def judged(root: Path, *, lost: bool, faults: Sequence[Mapping[str, Any]] = CLEAN_FAULTS,
           scenario: str = WITH_SLO) -> tuple[RunVerdict, RunDir]:
    """A judged run of two orders; with ``lost`` the second one was acknowledged and never recorded."""
    events = [*op("order", "o1", "ok", time=1_000_000_000), *op("order", "o2", "ok", time=3_000_000_000)]
    kept = ["o1"] if lost else ["o1", "o2"]
    run_dir = build_run(root, events, faults=faults, scenario=scenario,
                        sut={Kind.ORDER: [sut_row(Kind.ORDER, i, "succeeded") for i in kept]},
                        provider={Kind.ORDER: [record(Kind.ORDER, i, "succeeded") for i in kept]})
    verdict, _ = judge_run(run_dir)
    return verdict, run_dir


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def _cases(doc: Any, child: str) -> dict[str, Any]:
    return {case.get("name"): case.find(child) for case in doc.iter("testcase") if case.find(child) is not None}


def test_a_passing_run_is_valid_with_a_case_per_invariant_slo_and_fault(tmp_path: Path, schema: Any) -> None:
    verdict, run_dir = judged(tmp_path, lost=False, scenario=SCENARIO + 'slo: ["p99 < 1s"]\n')
    assert verdict.verdict is Verdict.PASS, verdict.reason
    write_junit(verdict, run_dir.junit, run_dir)
    doc = etree.parse(str(run_dir.junit))
    schema.assertValid(doc)
    names = [case.get("name") for case in doc.iter("testcase")]
    assert {f"invariant {c.value}" for c in Category if c.violation} <= set(names)
    assert {"slo p99 < 1s", "fault db_outage#1 (db_outage)", "money conserved"} <= set(names)
    assert (doc.getroot().get("failures"), doc.getroot().get("errors")) == ("0", "0")
    assert doc.getroot().get("tests") == str(len(names))


def test_a_failing_invariant_is_a_failed_case_with_its_count_examples_and_report(tmp_path: Path,
                                                                                  schema: Any) -> None:
    verdict, run_dir = judged(tmp_path, lost=True)
    assert verdict.verdict is Verdict.FAIL and verdict.violations == {Category.LOST: 1}
    write_junit(verdict, run_dir.junit, run_dir)
    doc = etree.parse(str(run_dir.junit))
    schema.assertValid(doc)
    failed = _cases(doc, "failure")
    assert set(failed) == {"invariant lost", "slo p99 < 1ms"}
    lost = failed["invariant lost"]
    assert lost.get("message") == "1 lost: o2" and lost.get("type") == "lost"
    assert "count: 1" in lost.text and str(run_dir.report) in lost.text
    assert '"id": "o2"' in lost.text  # the example itself, with its history
    assert failed["slo p99 < 1ms"].get("message") == "p99 < 1ms: observed 5 ms"
    assert doc.getroot().get("failures") == "2"


def test_a_fault_that_failed_to_apply_or_never_healed_is_a_failed_case(tmp_path: Path, schema: Any) -> None:
    faults = [_fault("db_outage#1", "start", 2.0, error="ConnectionError: toxiproxy refused"),
              _fault("db_outage#1", "heal", 8.0),
              _fault("latency#2", "start", 4.0, kind="latency")]
    verdict, run_dir = judged(tmp_path, lost=False, faults=faults)
    assert verdict.verdict is Verdict.UNKNOWN
    write_junit(verdict, run_dir.junit, run_dir)
    doc = etree.parse(str(run_dir.junit))
    schema.assertValid(doc)
    failed = _cases(doc, "failure")
    apply = failed["fault db_outage#1 (db_outage)"]
    assert "failed to apply at 2 s: ConnectionError: toxiproxy refused" in apply.get("message")
    assert "never healed" in failed["fault latency#2 (latency)"].get("message")
    assert "checker faults" in _cases(doc, "error")  # the run did not test what it claims: unknown


def test_unknown_verdict_is_an_error_never_a_pass(tmp_path: Path, schema: Any) -> None:
    unknown = {"scenario": "db-outage", "verdict": "unknown", "slo": [], "invariants": {},
               "checkers": {"evidence": {"valid": "unknown", "reason": "state/sut_orders.jsonl: missing"}}}
    path = tmp_path / "junit.xml"
    write_junit(RunVerdict.from_json(unknown), path)
    doc = etree.parse(str(path))
    schema.assertValid(doc)
    assert doc.getroot().get("errors") == "1"
    assert all(case.find("failure") is None for case in doc.iter("testcase"))
    assert "sut_orders.jsonl" in doc.find(".//error").get("message")
    assert doc.find(".//testcase[@name='invariant lost']/skipped") is not None


def test_suite_junit_is_valid_with_one_testsuite_per_run(tmp_path: Path, schema: Any) -> None:
    passing = judged(tmp_path / "a", lost=False, scenario=SCENARIO)
    failing = judged(tmp_path / "b", lost=True)
    path = tmp_path / "suite.xml"
    write_suite_junit([passing, failing], path)
    doc = etree.parse(str(path))
    schema.assertValid(doc)
    root = doc.getroot()
    assert len(root.findall("testsuite")) == 2
    assert root.get("tests") == str(len(list(doc.iter("testcase"))))
    assert root.get("failures") == "2"
    assert len(doc.findall(".//testcase[@name='fault db_outage#1 (db_outage)']")) == 2
