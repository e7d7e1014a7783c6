"""``junit.xml``: one test case per invariant and per SLO, valid against the JUnit 10 schema.

CI systems (Jenkins' xUnit plugin, GitHub Actions and GitLab CI readers) show a failing test
case by name, so each checker category is its own case: a red ``lost`` says more than a red
run. A checker that could not decide becomes an ``error`` naming why, never a pass.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from harness.checker.model import RunVerdict, Verdict

_EXAMPLES_SHOWN = 5


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", {"classname": classname, "name": name, "time": "0"})


def junit_suite(verdict: RunVerdict) -> ET.Element:
    """The ``<testsuite>`` of one run: a case per checker that did not pass, per invariant, money and SLO."""
    scenario = verdict.scenario or "run"
    classname = f"orderquake.{scenario}"
    suite = ET.Element("testsuite", {"name": scenario})
    props = ET.SubElement(suite, "properties")
    facts = {"target": verdict.target, "variant": verdict.variant, "seed": verdict.seed,
             "verdict": verdict.verdict.value, "exit_code": int(verdict.exit_code), "started": verdict.started,
             "finished": verdict.finished}
    for key, value in facts.items():
        ET.SubElement(props, "property", {"name": key, "value": "" if value is None else str(value)})
    failures = errors = 0
    unknown = verdict.verdict is Verdict.UNKNOWN
    for name, result in verdict.checkers.items():
        if result.valid is Verdict.UNKNOWN:
            case = _case(suite, classname, f"checker {name}")
            ET.SubElement(case, "error", {"type": "unknown", "message": result.reason or "could not decide"})
            errors += 1
    for category, entry in sorted(verdict.invariants.items()):
        case = _case(suite, classname, f"invariant {category.value}")
        if entry.violation and entry.count > 0:
            examples = [str(e.get("id", e)) if isinstance(e, dict) else str(e)
                        for e in entry.examples[:_EXAMPLES_SHOWN]]
            message = f"{entry.count} {category.value}: {', '.join(examples)}"
            failure = ET.SubElement(case, "failure", {"type": category.value, "message": message})
            failure.text = json.dumps(list(entry.examples[:_EXAMPLES_SHOWN]), indent=1, default=str)
            failures += 1
        elif unknown:
            ET.SubElement(case, "skipped", {"message": "verdict unknown: not decided"})
        elif entry.count > 0:
            ET.SubElement(case, "system-out").text = f"{entry.count} {category.value} (reported, not a violation)"
    if verdict.money:
        case = _case(suite, classname, "money conserved")
        broken = {f"{kind.value}s {currency or '(no currency)'}": flow.to_json()
                  for (kind, currency), flow in verdict.money.items() if flow.conserved is False}
        if broken:
            ET.SubElement(case, "failure", {"type": "money", "message": json.dumps(broken, default=str)})
            failures += 1
    for slo in verdict.slo:
        case = _case(suite, classname, f"slo {slo.rule}")
        if not slo.passed:
            ET.SubElement(case, "failure", {"type": "slo", "message": f"{slo.rule}: observed {slo.observed}"})
            failures += 1
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(len(suite.findall("testcase/skipped"))))
    if verdict.duration_seconds is not None:
        suite.set("time", f"{float(verdict.duration_seconds):.3f}")
    if verdict.started:
        suite.set("timestamp", verdict.started)
    return suite


def _write(root: ET.Element, path: Path) -> None:
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write_junit(verdict: RunVerdict, path: Path) -> None:
    """Write one run's ``junit.xml``."""
    _write(junit_suite(verdict), path)


def write_suite_junit(verdicts: Iterable[RunVerdict], path: Path) -> None:
    """Write the ``<testsuites>`` of a suite of runs, one ``<testsuite>`` per run."""
    root = ET.Element("testsuites", {"name": "orderquake"})
    tests = failures = errors = 0
    for verdict in verdicts:
        suite = junit_suite(verdict)
        root.append(suite)
        tests += int(suite.get("tests", "0"))
        failures += int(suite.get("failures", "0"))
        errors += int(suite.get("errors", "0"))
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    _write(root, path)
