"""The report's tables, each from one typed source: money, checkers, operations, SLOs, fault windows.

Every number carries its unit; amounts are in the currency's major unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.checker.model import RunVerdict, Verdict
from harness.report import _format as fmt
from harness.report._page import cell, e, table
from harness.report.analysis import FaultWindow, OperationStats
from harness.report.junit import format_observed
from harness.stage.toxics import SCHEMA, ToxicKind

_TOXICS = {kind.value for kind in ToxicKind}
_VALID_CSS = {Verdict.PASS: "good", Verdict.FAIL: "bad", Verdict.UNKNOWN: "warn"}


def money(verdict: RunVerdict) -> str:
    """Per flow and currency: what the provider moved, what the SUT records, the difference."""
    rows = []
    for (kind, currency), flow in sorted(verdict.money.items(), key=lambda i: (i[0][0].value, i[0][1] or "")):
        difference = None if flow.sut_minor is None else flow.sut_minor - flow.provider_minor
        verdict_cell = (cell("conserved", "good") if flow.conserved else cell("not proven", "warn")
                        if flow.conserved is None else cell("not conserved", "bad"))
        rows.append([cell(e(f"{kind.value}s")), cell(e(currency or "unknown")),
                     cell(e(fmt.money(flow.provider_minor, currency)), "num"),
                     cell(e(fmt.money(flow.sut_minor, currency)), "num"),
                     cell(e(fmt.money(difference, currency)), "num" + (" bad" if difference else "")), verdict_cell])
    if not rows:
        return '<p class="note">No money moved, or it could not be read: see the checkers.</p>'
    return table(["flow", "currency", "provider moved", "SUT records", "difference", ""], rows,
                 numeric=(2, 3, 4))


def checkers(verdict: RunVerdict) -> str:
    rows = [[cell(f"<code>{e(name)}</code>"), cell(e(result.valid.value), _VALID_CSS[result.valid]),
             cell(e(result.reason or ("" if result.valid is Verdict.PASS else "no reason given")))]
            for name, result in verdict.checkers.items()]
    return table(["checker", "result", "why"], rows)


def operations(stats: Mapping[str, OperationStats]) -> str:
    rows = []
    for op in stats.values():
        rows.append([cell(f"<code>{e(op.op)}</code>"), cell(e(fmt.count(op.count)), "num"),
                     cell(e(fmt.count(op.ok)), "num"), cell(e(fmt.count(op.fail)), "num bad" if op.fail else "num"),
                     cell(e(fmt.count(op.info)), "num warn" if op.info else "num"),
                     *(cell(e(fmt.percent(rate)), "num") for rate in (op.error_rate, op.info_rate)),
                     *(cell(e(fmt.milliseconds(ms)), "num") for ms in (op.p50_ms, op.p95_ms, op.p99_ms, op.max_ms))])
    if not rows:
        return '<p class="note">The history holds no operation.</p>'
    return table(["operation", "count", "ok", "fail", "info", "error rate", "info rate", "p50", "p95", "p99", "max"],
                 rows, numeric=range(1, 11))


def slos(verdict: RunVerdict) -> str:
    if not verdict.slo:
        return '<p class="note">The scenario sets no service level.</p>'
    rows = [[cell(f"<code>{e(s.rule)}</code>"), cell(e(format_observed(s.rule, s.observed)), "num"),
             cell("met", "good") if s.passed else cell("breached", "bad")] for s in verdict.slo]
    return table(["rule", "observed", ""], rows, numeric=(1,))


def fault_windows(windows: Sequence[FaultWindow], colours: Sequence[str],
                  journal: Sequence[Mapping[str, Any]], seconds: int) -> str:
    """Blast radius: per fault window as applied, the operations it touched and how they ended."""
    if not windows:
        return '<p class="note">No fault was injected in this run.</p>'
    params = {str(r.get("name")): r.get("params") for r in journal if r.get("phase") == "start"}
    errors: dict[str, list[str]] = {}
    for record in journal:
        if record.get("error"):
            errors.setdefault(str(record.get("name")), []).append(f"{record.get('phase')}: {record['error']}")
    rows = []
    any_error = bool(errors)
    for window, colour in zip(windows, colours, strict=True):
        end = window.end_t if window.end_t is not None else float(seconds)
        healed = fmt.seconds(window.end_t) if window.end_t is not None else "never healed"
        violations = ", ".join(f"{count} {category}" for category, count in sorted(window.violations.items()))
        problems = "; ".join(errors.get(window.name, ()))
        rows.append([
            cell(f'<span class="swatch" style="--band:{e(colour)}"></span><code>{e(window.name)}</code>', "nowrap"),
            cell(e(window.kind) + (f" · {e(window.link)}" if window.link else "")),
            cell(e(describe_params(window.kind, params.get(window.name)))),
            cell(e(f"{fmt.seconds(window.start_t)} → {healed}"), "num"),
            cell(e(fmt.seconds(end - window.start_t)), "num"),
            cell(e(fmt.count(window.invoked)), "num"), cell(e(fmt.count(window.in_flight)), "num"),
            cell(e(fmt.count(window.ended_fail)), "num" + (" bad" if window.ended_fail else "")),
            cell(e(fmt.count(window.ended_info)), "num" + (" warn" if window.ended_info else "")),
            cell(e(violations or "none"), "bad" if violations else "muted"),
            *([cell(e(problems), "bad" if problems else "")] if any_error else []),
        ])
    headers = ["fault", "kind · link", "as applied", "window", "lasted", "invoked in it", "in flight at start",
               "ended fail", "ended info", "violations begun in it", *(["errors"] if any_error else [])]
    return table(headers, rows, numeric=range(3, 9))


def describe_params(kind: str, params: object) -> str:
    """A fault's parameters as applied, durations in ms: ``latency 2500 ms, jitter 300 ms, downstream``."""
    if not isinstance(params, Mapping):
        return ""
    schema = SCHEMA[ToxicKind(kind)] if kind in _TOXICS else ()
    in_ms = {a.name for a in schema if a.duration}
    order = [a.name for a in schema]
    parts = []
    for key, value in sorted(params.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        if key == "link" or (key == "toxicity" and value == 1.0):
            continue
        if key == "stream":
            parts.append(str(value))
        elif key in in_ms or key.endswith("ms"):
            parts.append(f"{key} {value:g} ms" if isinstance(value, int | float) else f"{key} {value}")
        else:
            parts.append(f"{key} {value}")
    return ", ".join(parts)
