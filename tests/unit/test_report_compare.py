"""``orderquake compare`` on run directories written by hand: the limits, the verdict order, the exit codes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness._exceptions import UsageError
from harness.checker.model import Category, CategoryResult, Counts, RunVerdict, SloOutcome, Verdict
from harness.cli.main import main
from harness.report.compare import Limits, Outcome, RunSummary, compare_runs
from harness.rundir import RunDir

ORIGIN = 1_700_000_000.0


def orders(latencies_ms: Sequence[float], outcomes: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One order per latency, invoked 10 ms apart; ``outcomes`` defaults to every one ``ok``."""
    events = []
    for n, latency in enumerate(latencies_ms):
        outcome = outcomes[n] if outcomes else "ok"
        base = {"op": "order", "id": f"o-{n}", "process": 1, "attempt": 1, "value": {}, "error": None}
        start = 1.0 + n * 0.01
        events.append({**base, "type": "invoke", "status": None, "wall": ORIGIN + start, "time": round(start * 1e9)})
        end = start + latency / 1000
        events.append({**base, "type": outcome, "status": None, "wall": ORIGIN + end, "time": round(end * 1e9)})
    return events


def verdict(kind: str = "pass", *, recovery: float | None = 1.0, lost: int = 0) -> RunVerdict:
    """``kind``: pass, slo (an SLO breached), fail or unknown."""
    slo = (SloOutcome("p99 < 100ms", 355.0, kind != "slo"),)
    invariants = {Category.LOST: CategoryResult(lost, True, tuple({"id": f"o-{n}", "kind": "order", "history": []}
                                                                  for n in range(min(lost, 20))))}
    value = {"slo": Verdict.PASS, "pass": Verdict.PASS}.get(kind) or Verdict(kind)
    return RunVerdict(verdict=value, checkers={}, invariants=invariants, money={},
                      counts=Counts(attempted=100, ok=100, ids=100), slo=slo, recovery_seconds=recovery,
                      scenario="unit")


def make_run(root: Path, name: str, events: list[dict[str, Any]], result: RunVerdict | None = None,
             faults: Sequence[dict[str, Any]] = ()) -> Path:
    run_dir = RunDir.create(name, out=root / name)
    (run_dir.history / "1.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    run_dir.faults.write_text("".join(json.dumps(f) + "\n" for f in faults))
    run_dir.write_json(run_dir.run_info, {"load_started_wall": ORIGIN, "load_seconds": 10.0})
    run_dir.write_json(run_dir.verdict, (result or verdict()).to_json())
    return run_dir.path


BASE_LATENCIES = [20.0] * 95 + [40.2] * 5  # p99 40.2 ms


def test_a_slower_run_names_the_p99_limit_with_both_values(tmp_path: Path) -> None:
    base = make_run(tmp_path, "base", orders(BASE_LATENCIES))
    slow = make_run(tmp_path, "slow", orders([320.0] * 95 + [355.0] * 5))
    comparison = compare_runs(base, slow, Limits.parse(p99_increase="20%"))
    assert comparison.exceeded == ["p99 of order: 40.2 ms -> 355.0 ms (+783%), limit +20%"]
    assert comparison.exit_code == 1
    # The same rise is within a limit large enough, and an unchecked p95 never counts.
    assert compare_runs(base, slow, Limits.parse(p99_increase="800%")).exceeded == []
    assert compare_runs(base, slow, Limits()).exceeded == []
    assert compare_runs(base, slow, Limits.parse(p95_increase="1500%")).exit_code == 0
    assert compare_runs(base, slow, Limits.parse(p95_increase="1.5%")).exceeded == [
        "p95 of order: 20.0 ms -> 320.0 ms (+1500%), limit +1.5%"]


def test_a_run_compared_with_itself_exceeds_nothing_even_at_zero_limits(tmp_path: Path) -> None:
    events = orders([10.0, 50.0, 900.0], ["ok", "fail", "info"])
    run = make_run(tmp_path, "run", events, verdict("fail", lost=3, recovery=None))
    limits = Limits.parse(p99_increase="0%", p95_increase="0%", error_rate_increase="0",
                          info_rate_increase="0%", recovery_increase="0s")
    comparison = compare_runs(run, run, limits)
    assert comparison.exceeded == [] and comparison.exit_code == 0


def test_error_and_info_rates_are_compared_in_points(tmp_path: Path) -> None:
    base = make_run(tmp_path, "base", orders([10.0] * 8))
    flaky = make_run(tmp_path, "flaky", orders([10.0] * 8, ["ok"] * 6 + ["fail", "info"]))
    exceeded = compare_runs(base, flaky, Limits.parse(error_rate_increase="5%", info_rate_increase="0.05")).exceeded
    assert exceeded == ["error rate of order: 0.0% -> 25.0% (+25.0 points), limit +5 points",
                        "info rate of order: 0.0% -> 12.5% (+12.5 points), limit +5 points"]
    assert compare_runs(base, flaky, Limits.parse(error_rate_increase="0.25", info_rate_increase="13%")
                        ).exceeded == []


@pytest.mark.parametrize(("before", "after", "limit", "expected"), [
    (1.0, 14.0, "10s", ["recovery: 1s -> 14s (+13s), limit +10s"]),
    (1.0, 14.0, "13s", []),
    (1.0, 2.6, "1.5s", ["recovery: 1s -> 2.6s (+1.6s), limit +1.5s"]),
    (1.0, None, "10s", ["recovery: 1s -> never consistent, limit +10s"]),
    (None, 3.0, "0s", []),
    (5.0, 1.0, "0s", []),
])
def test_recovery_limit(tmp_path: Path, before: float | None, after: float | None, limit: str,
                        expected: list[str]) -> None:
    base = make_run(tmp_path, "base", orders([10.0]), verdict(recovery=before))
    run = make_run(tmp_path, "run", orders([10.0]), verdict(recovery=after))
    assert compare_runs(base, run, Limits.parse(recovery_increase=limit)).exceeded == expected


@pytest.mark.parametrize(("before", "after", "worse"), [
    ("pass", "slo", True), ("slo", "fail", True), ("pass", "fail", True), ("pass", "unknown", True),
    ("unknown", "fail", True),
    ("fail", "pass", False), ("slo", "pass", False), ("unknown", "pass", False), ("unknown", "slo", False),
    ("fail", "fail", False), ("fail", "unknown", False),
])
def test_a_worse_verdict_fails_the_comparison(tmp_path: Path, before: str, after: str, worse: bool) -> None:
    base = make_run(tmp_path, "base", orders([10.0]), verdict(before))
    run = make_run(tmp_path, "run", orders([10.0]), verdict(after))
    exceeded = compare_runs(base, run, Limits()).exceeded
    if worse:
        assert exceeded == [f"verdict: {Outcome.of(verdict(before)).label} -> {Outcome.of(verdict(after)).label}, "
                            "worse than the baseline"]
    else:
        assert exceeded == []


@pytest.mark.parametrize(("option", "value", "message"), [
    ("p99_increase", "20", "expected a percentage of zero or more like '20%', got --max-p99-increase='20'"),
    ("p95_increase", "-5%", "got --max-p95-increase='-5%'"),
    ("p99_increase", "fast%", "got --max-p99-increase='fast%'"),
    ("error_rate_increase", "2", "expected a rate increase from 0 to 1 like '0.05' or '5%', "
                                 "got --max-error-rate-increase='2'"),
    ("info_rate_increase", "nan", "got --max-info-rate-increase='nan'"),
    ("recovery_increase", "10 parsecs", "got --max-recovery-increase='10 parsecs'"),
])
def test_bad_limits_name_their_option(option: str, value: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        Limits.parse(**{option: value})
    assert message in str(raised.value)


def test_limits_parse_percentages_fractions_and_durations() -> None:
    assert Limits.parse(p99_increase="20%", p95_increase=" 7.5% ", error_rate_increase="5%",
                        info_rate_increase="0.01", recovery_increase="1.5s") == Limits(
        p99_increase=0.2, p95_increase=0.075, error_rate_increase=0.05, info_rate_increase=0.01,
        recovery_increase=1.5)


def test_markdown_and_json_show_both_runs_side_by_side(tmp_path: Path) -> None:
    faults = [{"name": "f1-latency", "kind": "latency", "params": {"link": "provider", "latency": 300},
               "phase": "start", "at": ORIGIN + 0.5, "t": 0.5, "error": None},
              {"name": "f1-latency", "kind": "latency", "params": {"link": "provider", "latency": 300},
               "phase": "heal", "at": ORIGIN + 2.5, "t": 2.5, "error": None}]
    base = make_run(tmp_path, "base", orders(BASE_LATENCIES))
    slow = make_run(tmp_path, "slow", orders([320.0] * 95 + [355.0] * 5), verdict("fail", lost=2), faults)
    comparison = compare_runs(base, slow, Limits.parse(p99_increase="20%"))
    markdown = comparison.to_markdown()
    assert "| verdict | pass | fail | worse |" in markdown
    assert "| order | p99 | 40.2 ms | 355.0 ms | +783% |" in markdown
    assert "| lost | 0 | 2 | +2 |" in markdown
    assert "| run | f1-latency | latency | provider | 0.5s to 2.5s | 100 | 0 | 0 | 0 | lost 2 |" in markdown
    assert "- EXCEEDED: p99 of order: 40.2 ms -> 355.0 ms (+783%), limit +20%" in markdown
    data = comparison.to_json()
    assert data["exceeded"] == comparison.exceeded and data["exit_code"] == 1
    assert data["run"]["operations"]["order"]["p99_ms"] == 355.0
    assert data["run"]["blast_radius"][0]["violations"] == {"lost": 2}
    assert data["baseline"]["blast_radius"] == [] and data["baseline"]["outcome"] == "pass"
    assert json.loads(json.dumps(data)) == data


def test_cli_writes_both_files_into_the_run_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "base", orders(BASE_LATENCIES))
    slow = make_run(tmp_path, "slow", orders([355.0] * 100))
    assert main(["compare", str(base), str(slow), "--max-p99-increase", "20%"]) == 1
    out = capsys.readouterr().out
    assert "p99 of order: 40.2 ms -> 355.0 ms (+783%), limit +20%" in out
    assert json.loads((slow / "compare.json").read_text())["exit_code"] == 1
    assert (slow / "compare.md").read_text() in out
    assert main(["compare", str(slow), str(slow), "--max-p99-increase", "0%", "--out", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "compare.json").read_text())["exceeded"] == []


@pytest.mark.parametrize(("args", "message"), [
    (["{missing}", "{run}"], "expected a run directory, got {missing} (not a directory)"),
    (["{run}", "{empty}"], "expected {empty}/history/ with the client history"),
    (["{run}", "{unjudged}"], "expected {unjudged}/verdict.json, got none"),
    (["{run}", "{run}", "--max-p99-increase", "20"], "got --max-p99-increase='20'"),
    (["{run}", "{run}", "--max-recovery-increase", "soon"], "got --max-recovery-increase='soon'"),
    (["{run}", "{damaged}"], "verdict.json: expected verdict.json as orderquake writes it"),
])
def test_cli_usage_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               args: list[str], message: str) -> None:
    run = make_run(tmp_path, "run", orders([10.0]))
    (tmp_path / "empty").mkdir()
    unjudged = make_run(tmp_path, "unjudged", orders([10.0]))
    (unjudged / "verdict.json").unlink()
    damaged = make_run(tmp_path, "damaged", orders([10.0]))
    (damaged / "verdict.json").write_text('{"verdict": "maybe"}')
    paths = {"missing": tmp_path / "missing", "run": run, "empty": tmp_path / "empty", "unjudged": unjudged,
             "damaged": damaged}
    assert main(["compare", *(arg.format(**paths) for arg in args)]) == 2
    err = capsys.readouterr().err
    assert message.format(**paths) in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_summary_reads_what_the_checker_wrote(tmp_path: Path) -> None:
    run = make_run(tmp_path, "run", orders([10.0, 20.0]), verdict("slo", recovery=2.5))
    summary = RunSummary.read(run)
    assert summary.outcome is Outcome.SLO_BREACH
    assert summary.to_json()["recovery_seconds"] == 2.5 and summary.to_json()["exit_code"] == 3
