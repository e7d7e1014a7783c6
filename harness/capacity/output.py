"""What a capacity run leaves: ``capacity.json``, a table on the terminal, ``junit.xml`` with a case per step.

JUnit follows the project's conventions (``harness.report.junit``): one ``<testsuite>`` per series,
a case per step named by its rate, a case for the knee; a step the checker could not decide is an
``error``. A ladder is meant to break, so a broken step fails its case only at or below
``--min-knee`` (the rate the knee must reach; a CI gate), and the knee's case fails when it is below
that rate. Without ``--min-knee`` nothing fails: the cases carry the numbers and why a step broke.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.capacity.knee import Step
from harness.capacity.runner import Series
from harness.capacity.usl import predictions

VERSION = 1


def capacity_json(series: Sequence[Series], *, scenario: str, target: str, variant: str,
                  rates: Sequence[float], step_seconds: float, min_knee: float | None) -> dict[str, Any]:
    """``capacity.json``: every step of every series, each knee and model, side by side."""
    knees = {s.name: s.knee.rate for s in series}
    return {"version": VERSION, "scenario": scenario, "target": target, "variant": variant,
            "rates": list(rates), "step_seconds": step_seconds, "min_knee": min_knee,
            "knees": knees, "series": [s.to_json() for s in series]}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _status(step: Step) -> str:
    word = "holds" if step.holds else "BROKEN"
    return word + (" (harness-limited)" if step.harness_limited else "")


def table(series: Series) -> Table:
    """One series as a rich table: a row per step, the knee in the caption."""
    held = f" holding {', '.join(f.kind for f in series.faults)}" if series.faults else ""
    out = Table(title=f"capacity: {series.name}{held}", title_justify="left")
    for header in ("rate/s", "sent/s", "done/s", "ok/s", "p50 ms", "p99 ms", "max ms", "err", "backlog",
                   "CPU s sut/pg/prov/toxi/locust", "step"):
        out.add_column(header, justify="right" if header != "step" else "left")
    for step in series.steps:
        cpu = "/".join(f"{step.cpu.get(name, 0.0):.1f}" for name in ("sut", "postgres", "provider", "toxiproxy",
                                                                      "locust"))
        out.add_row(f"{step.rate:g}", f"{step.achieved_offer:.1f}", f"{step.load.throughput:.1f}",
                    f"{step.load.ok_per_second:.1f}", _ms(step.load.latency.p50_ms), _ms(step.load.latency.p99_ms),
                    _ms(step.load.latency.max_ms), f"{step.load.error_rate:.1%}",
                    "-" if step.backlog is None else str(step.backlog), cpu,
                    _status(step) + ("" if step.holds else ": " + "; ".join(step.broken)))
    knee = series.knee
    bound = " (a lower bound)" if knee.lower_bound else ""
    model = series.fit.verdict() if series.fit else "no model"
    fit = series.fit
    peak = ""
    if fit is not None and fit.peak_throughput is not None:
        peak = f"; peak {fit.peak_throughput:.0f}/s at concurrency {fit.peak_concurrency:.1f}"
    elif fit is not None and fit.ceiling is not None:
        peak = f"; no peak, ceiling {fit.ceiling:.0f}/s"
    predicted = "; ".join(
        f"at {p['factor']:g}x the knee ({p['load']:g}/s): "
        + (f"{p['latency_ms']:.0f} ms mean latency" if p["latency_ms"] is not None else p["note"])
        for p in predictions(fit, knee.rate))
    out.caption = (f"knee: {'none' if knee.rate is None else f'{knee.rate:g}/s'}{bound}. {knee.why}. "
                   f"USL: {model}{peak}" + (f". Predicted {predicted}" if predicted else ""))
    out.caption_justify = "left"
    return out


def print_tables(series: Sequence[Series], *, console: Console | None = None) -> None:
    if console is None:
        console = Console(soft_wrap=False)
        if not console.is_terminal:  # a log or a pipe: wide enough for every column, never cut
            console = Console(soft_wrap=False, width=180)
    for one in series:
        console.print(table(one))
    if len(series) > 1:
        console.print("knees side by side: " + ", ".join(
            f"{s.name} {s.knee.rate:g}/s" if s.knee.rate is not None else f"{s.name} none" for s in series))


def junit(series: Sequence[Series], path: Path, *, min_knee: float | None, report: str | None) -> None:
    """Write ``junit.xml``: a suite per series, a case per step and one for the knee."""
    root = ET.Element("testsuites", {"name": "orderquake capacity"})
    for one in series:
        suite = ET.SubElement(root, "testsuite", {"name": f"capacity {one.name}"})
        classname = f"orderquake.capacity.{one.name}"
        for step in one.steps:
            case = ET.SubElement(suite, "testcase", {"classname": classname, "name": f"step {step.index} "
                                                     f"{step.rate:g}/s", "time": f"{step.seconds:.3f}"})
            lines = [f"achieved offer {step.achieved_offer:g}/s, throughput {step.load.throughput:g}/s, "
                     f"p99 {_ms(step.load.latency.p99_ms)} ms, error rate {step.load.error_rate:.2%}",
                     *(f"harness-limited: {why}" for why in step.limits), *(f"broken: {why}" for why in step.broken)]
            if step.verdict == "unknown":
                ET.SubElement(case, "error", {"type": "unknown", "message": step.verdict_reason or "not decided"})
            elif step.broken and min_knee is not None and step.rate <= min_knee:
                failure = ET.SubElement(case, "failure", {"type": "capacity", "message": "; ".join(step.broken)})
                failure.text = "\n".join([*lines, *([f"report: {report}"] if report else [])])
                continue
            ET.SubElement(case, "system-out").text = "\n".join(lines)
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": "knee", "time": "0"})
        knee = one.knee
        if min_knee is not None and (knee.rate is None or knee.rate < min_knee):
            ET.SubElement(case, "failure", {"type": "capacity", "message": (
                f"knee {knee.rate:g}/s" if knee.rate is not None else "no knee") + f" below {min_knee:g}/s: "
                + knee.why})
        else:
            ET.SubElement(case, "system-out").text = knee.why
        for key in ("tests", "failures", "errors"):
            tag = {"tests": "testcase", "failures": "testcase/failure", "errors": "testcase/error"}[key]
            suite.set(key, str(len(suite.findall(tag))))
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
