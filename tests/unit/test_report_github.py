"""GitHub Actions output: the job summary and the annotations of a run and of a suite, only when the
job's variables ask for them, with workflow-command data escaped as GitHub's toolkit does."""

from pathlib import Path

import pytest
from test_report_junit import judged

from harness.checker.model import RunVerdict
from harness.report.github import (
    escape_data,
    escape_property,
    workflow_commands,
    write_github_outputs,
    write_suite_summary,
)


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    return summary


def test_a_failing_run_writes_its_tables_and_prints_its_errors(github: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    verdict, run_dir = judged(tmp_path / "runs", lost=True)
    github.write_text("earlier step\n")
    write_github_outputs(verdict, run_dir)
    text = github.read_text()
    assert text.startswith("earlier step\n")  # appended, never overwritten
    assert "**FAIL** (exit 1) unit against unit-target (correct), seed 4: invariants: 1 lost" in text
    assert "| lost | 1 | **violation** | `o2` |" in text
    assert "| duplicated | 0 | ok |  |" in text
    assert "| `p99 < 1ms` | 5 ms | **breach** |" in text
    assert "| `error_rate < 0.5` | 0% | pass |" in text
    # o2 was invoked 3 s into the load, inside db_outage#1's window (2 s to 8 s)
    assert "| db_outage#1 | db_outage | - | 2 s to 8 s | 1 | 0 | 0 | 0 | lost 1 |" in text
    assert f"Report: `{run_dir.report}`" in text
    out = capsys.readouterr().out.splitlines()
    assert f"::error title=orderquake unit%3A 1 lost::1 lost (e.g. o2); report: {run_dir.report}" in out
    assert any(line.startswith("::warning title=orderquake unit%3A SLO breached%3A p99 < 1ms::p99 < 1ms: "
                               "observed 5 ms") for line in out)
    assert len(out) == 2


def test_an_unknown_verdict_warns_with_each_reason(github: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdict = RunVerdict.from_json({"scenario": "db-outage", "verdict": "unknown", "checkers": {
        "evidence": {"valid": "unknown", "reason": "state/sut_orders.jsonl: 3 records, expected 4"}}})
    assert workflow_commands(verdict, "r/report.html") == [
        "::warning title=orderquake db-outage%3A could not decide (evidence)::state/sut_orders.jsonl: 3 records, "
        "expected 4; report: r/report.html"]


def test_neither_variable_set_writes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    verdict, run_dir = judged(tmp_path / "runs", lost=True)
    before = sorted(tmp_path.rglob("*"))
    write_github_outputs(verdict, run_dir)
    write_suite_summary([(verdict, run_dir)], 1)
    assert capsys.readouterr().out == ""
    assert sorted(tmp_path.rglob("*")) == before


def test_the_suite_summary_has_one_row_per_scenario(github: Path, tmp_path: Path) -> None:
    failing = judged(tmp_path / "a", lost=True)
    passing = judged(tmp_path / "b", lost=False, faults=())
    write_suite_summary([failing, passing], 1)
    text = github.read_text()
    assert text.startswith("## orderquake suite: exit 1\n\n2 run(s): 1 fail, 1 SLO breach")
    rows = [line for line in text.splitlines() if line.startswith("| unit |")]
    assert len(rows) == 2
    assert "| FAIL | 1 | invariants: 1 lost |" in rows[0] and str(failing[1].report) in rows[0]


def test_workflow_command_data_is_escaped_as_github_documents() -> None:
    assert escape_data("100% lost\r\nsee: a, b") == "100%25 lost%0D%0Asee: a, b"
    assert escape_property("orderquake x: 1, 2\n%") == "orderquake x%3A 1%2C 2%0A%25"
    verdict = RunVerdict.from_json({"scenario": "s", "verdict": "fail", "invariants": {
        "lost": {"count": 1, "violation": True, "examples": [{"id": "evil\n::error::injected"}]}}})
    (line,) = workflow_commands(verdict, "report.html")
    assert "\n" not in line and "evil%0A::error::injected" in line
