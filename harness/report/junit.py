"""``junit.xml``: one test case per invariant, per SLO rule and per fault, valid against the JUnit 10 schema.

CI systems (Jenkins' xUnit plugin, GitHub Actions and GitLab CI readers) show a failing test
case by name, so each concern is its own case: a red ``lost`` says more than a red run. A failure
carries the count, a few example ids and the path of ``report.html``, where everything else is.
A checker that could not decide becomes an ``error`` naming why, never a pass.

    write_junit(verdict, run_dir.junit, run_dir)                 # one run
    write_suite_junit([(verdict, run_dir), ...], Path("results.xml"))  # a suite
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness._exceptions import UsageError
from harness.checker.model import Category, RunVerdict, Verdict
from harness.rundir import RunDir
from harness.scenario.slo import Metric, SloRule

_EXAMPLES_SHOWN = 5


@dataclass
class FaultSpans:
    """One fault of the journal (``faults.jsonl``): when it started and healed, and what went wrong."""

    name: str
    kind: str
    starts: list[float] = field(default_factory=list)
    heals: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Why this fault did not do what the scenario said; empty when it applied and healed."""
        missing = len(self.starts) - len(self.heals)
        never = [f"started at {self.starts[-1]:g} s and never healed"] if missing > 0 else []
        return self.errors + never


def read_fault_journal(path: Path) -> list[FaultSpans]:
    """The faults of ``faults.jsonl`` in the order they first appear.

    Lines that are not journal records are passed over here: the ``faults`` checker already
    makes such a journal ``unknown`` and says why, and that becomes its own error case.
    """
    faults: dict[str, FaultSpans] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("name") is None:
            continue
        name = str(record["name"])
        fault = faults.setdefault(name, FaultSpans(name, str(record.get("kind") or "unknown kind")))
        phase, t = record.get("phase"), _seconds(record.get("t"))
        if phase == "start":
            fault.starts.append(t)
        elif phase == "heal":
            fault.heals.append(t)
        if record.get("error"):
            verb = {"start": "failed to apply", "heal": "failed to heal"}.get(str(phase), f"phase {phase!r}")
            fault.errors.append(f"{verb} at {t:g} s: {record['error']}")
    return list(faults.values())


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0.0
    try:
        return round(float(value), 3)
    except ValueError:
        return 0.0


_UNITS = {Metric.P50: " ms", Metric.P95: " ms", Metric.P99: " ms", Metric.RECOVERY: " s", Metric.RPS: " req/s"}


def format_observed(rule: str, value: float | None) -> str:
    """An SLO observation in the unit of its metric: ms for p50/p95/p99, s for recovery, % for error_rate.

    >>> format_observed("p99 < 1500ms", 2100.0), format_observed("error_rate < 0.3", 0.125)
    ('2100 ms', '12.5%')
    """
    if value is None:
        return "not observed"
    try:
        metric: Metric | None = SloRule.parse(rule).metric
    except UsageError:
        metric = None
    if metric is Metric.ERROR_RATE:
        return f"{round(value * 100, 2):g}%"
    return f"{round(value, 1):g}{_UNITS.get(metric, '') if metric is not None else ''}"


def report_path(run_dir: RunDir) -> str:
    """``report.html`` as a CI log should name it: relative to the working directory when inside it."""
    try:
        return run_dir.report.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(run_dir.report)


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", {"classname": classname, "name": name, "time": "0"})


def _fail(case: ET.Element, kind: str, message: str, details: list[str], report: str | None) -> None:
    failure = ET.SubElement(case, "failure", {"type": kind, "message": message})
    failure.text = "\n".join([*details, *([f"report: {report}"] if report else [])])


def _example_id(example: object) -> str:
    return str(example.get("id", example)) if isinstance(example, dict) else str(example)


def junit_suite(verdict: RunVerdict, run_dir: RunDir | None = None) -> ET.Element:
    """The ``<testsuite>`` of one run: a case per undecided checker, invariant, money, SLO rule and fault.

    ``run_dir`` gives the fault journal and the report path; without it there are no fault cases.
    """
    scenario = verdict.scenario or "run"
    classname = f"orderquake.{scenario}"
    report = report_path(run_dir) if run_dir is not None else None
    suite = ET.Element("testsuite", {"name": scenario})
    props = ET.SubElement(suite, "properties")
    facts = {"target": verdict.target, "variant": verdict.variant, "seed": verdict.seed,
             "verdict": verdict.verdict.value, "exit_code": int(verdict.exit_code), "reason": verdict.reason,
             "started": verdict.started, "finished": verdict.finished, "report": report}
    for key, value in facts.items():
        ET.SubElement(props, "property", {"name": key, "value": "" if value is None else str(value)})
    unknown = verdict.verdict is Verdict.UNKNOWN
    for name, result in verdict.checkers.items():
        if result.valid is Verdict.UNKNOWN:
            case = _case(suite, classname, f"checker {name}")
            error = ET.SubElement(case, "error", {"type": "unknown", "message": result.reason or "could not decide"})
            error.text = f"report: {report}" if report else None
    _invariant_cases(suite, classname, verdict, report, unknown)
    _money_case(suite, classname, verdict, report, unknown)
    for slo in verdict.slo:
        case = _case(suite, classname, f"slo {slo.rule}")
        if not slo.passed:
            observed = format_observed(slo.rule, slo.observed)
            _fail(case, "slo", f"{slo.rule}: observed {observed}", [f"rule: {slo.rule}", f"observed: {observed}"],
                  report)
    if run_dir is not None:
        _fault_cases(suite, classname, read_fault_journal(run_dir.faults), report)
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(len(suite.findall("testcase/failure"))))
    suite.set("errors", str(len(suite.findall("testcase/error"))))
    suite.set("skipped", str(len(suite.findall("testcase/skipped"))))
    if verdict.duration_seconds is not None:
        suite.set("time", f"{float(verdict.duration_seconds):.3f}")
    if verdict.started:
        suite.set("timestamp", verdict.started)
    return suite


def _invariant_cases(suite: ET.Element, classname: str, verdict: RunVerdict, report: str | None,
                     unknown: bool) -> None:
    """Every violation category, judged or not, so a CI's list of cases is the same from run to run."""
    for category in Category:
        entry = verdict.invariants.get(category)
        if entry is None and not category.violation:
            continue
        case = _case(suite, classname, f"invariant {category.value}")
        if entry is None:
            ET.SubElement(case, "skipped", {"message": "not judged: see the checkers' errors"})
        elif entry.violation and entry.count > 0:
            shown = entry.examples[:_EXAMPLES_SHOWN]
            ids = ", ".join(_example_id(e) for e in shown)
            more = f" and {entry.count - len(shown)} more" if entry.count > len(shown) else ""
            details = [f"count: {entry.count}", f"examples: {ids}{more}",
                       *(json.dumps(example, default=str) for example in shown)]
            _fail(case, category.value, f"{entry.count} {category.value}: {ids}{more}", details, report)
        elif unknown:
            ET.SubElement(case, "skipped", {"message": "verdict unknown: not decided"})
        elif entry.count > 0:
            ET.SubElement(case, "system-out").text = f"{entry.count} {category.value} (reported, not a violation)"


def _money_case(suite: ET.Element, classname: str, verdict: RunVerdict, report: str | None, unknown: bool) -> None:
    if not verdict.money:
        return
    case = _case(suite, classname, "money conserved")
    flows = {f"{kind.value}s {currency or '(no currency)'}": flow
             for (kind, currency), flow in sorted(verdict.money.items(), key=lambda i: (i[0][0], i[0][1] or ""))}
    broken = {name: flow for name, flow in flows.items() if flow.conserved is False}
    if broken:
        details = [f"{name}: provider {flow.provider_minor} minor, SUT {flow.sut_minor} minor"
                   for name, flow in broken.items()]
        _fail(case, "money", f"money not conserved in {len(broken)} flow(s): {'; '.join(details)}", details, report)
    elif unknown or any(flow.conserved is None for flow in flows.values()):
        ET.SubElement(case, "skipped", {"message": "money conservation not decided"})


def _fault_cases(suite: ET.Element, classname: str, faults: list[FaultSpans], report: str | None) -> None:
    for fault in faults:
        case = _case(suite, classname, f"fault {fault.name} ({fault.kind})")
        times = f"started: {_at(fault.starts)}; healed: {_at(fault.heals)}"
        if fault.problems:
            _fail(case, "fault", f"{fault.name}: {'; '.join(fault.problems)}", [*fault.problems, times], report)
        else:
            ET.SubElement(case, "system-out").text = times


def _at(seconds: list[float]) -> str:
    return ", ".join(f"{t:g} s" for t in seconds) or "never"


def _write(root: ET.Element, path: Path) -> None:
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write_junit(verdict: RunVerdict, path: Path, run_dir: RunDir | None = None) -> None:
    """Write one run's ``junit.xml``."""
    _write(junit_suite(verdict, run_dir), path)


def write_suite_junit(runs: Iterable[tuple[RunVerdict, RunDir | None]], path: Path) -> None:
    """Write the ``<testsuites>`` of a suite: one ``<testsuite>`` per (verdict, run directory)."""
    root = ET.Element("testsuites", {"name": "orderquake"})
    totals = dict.fromkeys(("tests", "failures", "errors"), 0)
    seconds = 0.0
    for verdict, run_dir in runs:
        suite = junit_suite(verdict, run_dir)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        seconds += float(suite.get("time", "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.3f}")
    _write(root, path)
