from pathlib import Path

import pytest
from lxml import etree

from harness.checker.model import RunVerdict
from harness.report import write_html, write_junit, write_suite_junit

# The schema Jenkins' xUnit plugin validates against (MIT, jenkinsci/xunit-plugin), kept with the tests.
XSD = Path(__file__).resolve().parents[1] / "data" / "junit-10.xsd"

VERDICT = {
    "scenario": "db-outage", "seed": 7, "target": "reference", "variant": "ack-before-commit",
    "verdict": "fail", "exit_code": 1, "started": "2026-11-23T06:00:00Z", "finished": "2026-11-23T06:01:00Z",
    "duration_seconds": 60.25,
    "invariants": {"lost": {"count": 2, "violation": True, "examples": [{"id": "r-o-1-1", "history": []}]},
                   "recovered": {"count": 3, "violation": False, "examples": []},
                   "duplicated": {"count": 0, "violation": True, "examples": []}},
    "checkers": {"invariants": {"valid": "fail", "reason": "2 lost"}},
    "money": {"orders": {"EUR": {"provider_minor": 100, "sut_minor": 100}}},
    "slo": [{"rule": "p99 < 1500ms", "observed": 2100.0, "pass": False}],
    "counts": {"attempted": 10, "ok": 8, "fail": 0, "info": 2}, "recovery_seconds": 4.0,
}


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def test_run_junit_is_valid_and_names_failing_invariants(tmp_path, schema) -> None:
    path = tmp_path / "junit.xml"
    write_junit(RunVerdict.from_json(VERDICT), path)
    doc = etree.parse(str(path))
    schema.assertValid(doc)
    failed = {case.get("name") for case in doc.iter("testcase") if case.find("failure") is not None}
    assert failed == {"invariant lost", "slo p99 < 1500ms"}
    assert doc.getroot().get("failures") == "2"


def test_unknown_verdict_is_an_error_never_a_pass(tmp_path, schema) -> None:
    path = tmp_path / "junit.xml"
    unknown = {**VERDICT, "verdict": "unknown", "exit_code": 4, "slo": [], "invariants": {},
               "checkers": {"evidence": {"valid": "unknown", "reason": "state/sut_orders.jsonl: missing"}}}
    write_junit(RunVerdict.from_json(unknown), path)
    doc = etree.parse(str(path))
    schema.assertValid(doc)
    assert doc.getroot().get("errors") == "1"
    assert all(case.find("failure") is None for case in doc.iter("testcase"))
    assert "sut_orders.jsonl" in doc.find(".//error").get("message")


def test_suite_junit_is_valid(tmp_path, schema) -> None:
    path = tmp_path / "suite.xml"
    write_suite_junit([RunVerdict.from_json(VERDICT), RunVerdict.from_json(
        {**VERDICT, "scenario": "smoke", "verdict": "pass", "exit_code": 0, "invariants": {}, "slo": []})], path)
    doc = etree.parse(str(path))
    schema.assertValid(doc)
    assert doc.getroot().get("tests") == str(len(list(doc.iter("testcase"))))


def test_html_report_shows_verdict_examples_and_faults(tmp_path) -> None:
    import json

    (tmp_path / "verdict.json").write_text(json.dumps(VERDICT))
    (tmp_path / "faults.jsonl").write_text(
        json.dumps({"name": "db_outage#1", "phase": "start", "t": 5.0, "params": {}}) + "\n"
        + json.dumps({"name": "db_outage#1", "phase": "heal", "t": 20.0, "params": {}}) + "\n")
    (tmp_path / "run.json").write_text(json.dumps({"timeline": [{"t": 0, "ok": 5, "fail": 0, "info": 1,
                                                                 "p99_ms": 12.0}]}))
    text = write_html(tmp_path).read_text()
    assert 'class="badge fail"' in text
    assert "r-o-1-1" in text and "db_outage#1" in text and "<svg" in text
