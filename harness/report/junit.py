"""``junit.xml``: one test case per invariant and per SLO, valid against the JUnit 10 schema.

CI systems (Jenkins' xUnit plugin, GitHub Actions and GitLab CI readers) show a failing test
case by name, so each checker category is its own case: a red ``lost`` says more than a red
run. A verdict of ``unknown`` becomes an ``error`` (the harness could not decide), never a pass.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_EXAMPLES_SHOWN = 5


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", {"classname": classname, "name": name, "time": "0"})


def junit_suite(verdict: dict[str, Any]) -> ET.Element:
    """The ``<testsuite>`` of one run, from its ``verdict.json`` payload."""
    scenario = str(verdict.get("scenario", "run"))
    classname = f"orderquake.{scenario}"
    suite = ET.Element("testsuite", {"name": scenario})
    props = ET.SubElement(suite, "properties")
    for key in ("target", "variant", "seed", "verdict", "exit_code", "started", "finished"):
        ET.SubElement(props, "property", {"name": key, "value": str(verdict.get(key, ""))})
    failures = errors = 0
    unknown = verdict.get("verdict") == "unknown"
    if unknown:
        case = _case(suite, classname, "final reads")
        reason = str(verdict.get("reason") or "the harness could not complete its final reads")
        ET.SubElement(case, "error", {"type": "unknown", "message": reason})
        errors += 1
    for category, entry in sorted(verdict.get("invariants", {}).items()):
        case = _case(suite, classname, f"invariant {category}")
        count = int(entry.get("count", 0))
        if unknown:
            ET.SubElement(case, "skipped", {"message": "verdict unknown: not decided"})
        elif entry.get("violation") and count > 0:
            examples = [str(e.get("id", e)) if isinstance(e, dict) else str(e)
                        for e in entry.get("examples", [])[:_EXAMPLES_SHOWN]]
            message = f"{count} {category}: {', '.join(examples)}"
            failure = ET.SubElement(case, "failure", {"type": category, "message": message})
            failure.text = json.dumps(entry.get("examples", [])[:_EXAMPLES_SHOWN], indent=1, default=str)
            failures += 1
        elif count > 0:
            ET.SubElement(case, "system-out").text = f"{count} {category} (reported, not a violation)"
    money = verdict.get("money") or {}
    if money:
        case = _case(suite, classname, "money conserved")
        broken = {k: v for k, v in money.items() if isinstance(v, dict) and v.get("conserved") is False}
        if broken and not unknown:
            ET.SubElement(case, "failure", {"type": "money", "message": json.dumps(broken, default=str)})
            failures += 1
    for slo in verdict.get("slo", []):
        case = _case(suite, classname, f"slo {slo.get('rule')}")
        if not slo.get("pass"):
            ET.SubElement(case, "failure", {"type": "slo",
                                            "message": f"{slo.get('rule')}: observed {slo.get('observed')}"})
            failures += 1
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(len(suite.findall("testcase/skipped"))))
    if verdict.get("duration_seconds") is not None:
        suite.set("time", f"{float(verdict['duration_seconds']):.3f}")
    if verdict.get("started"):
        suite.set("timestamp", str(verdict["started"]))
    return suite


def _write(root: ET.Element, path: Path) -> None:
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write_junit(verdict: dict[str, Any], path: Path) -> None:
    """Write one run's ``junit.xml``."""
    _write(junit_suite(verdict), path)


def write_suite_junit(verdicts: Iterable[dict[str, Any]], path: Path) -> None:
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
