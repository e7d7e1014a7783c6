"""The comparison with a baseline as HTML: a section of ``report.html`` and the page ``compare.html``.

Both show one ``Comparison`` (``harness.report.compare``, where every limit is judged): the two
verdicts, the counts, each operation's percentiles and rates side by side with the change, the
recovery, the blast radius of both runs and the limits exceeded. A change for the worse is
coloured; a change past a limit given is marked as such. On the latency charts, the baseline's
p99 per second is drawn dashed beside the run's (``baseline_series``), on the same seconds since
the load started, so a regression shows where in the scenario it happens.

    >>> comparison = compare_runs(Path("runs/main"), Path("runs/branch"), Limits.parse(p99_increase="20%"))
    ... # doctest: +SKIP
    >>> write_compare_page(comparison, Path("runs/branch"))  # doctest: +SKIP
    PosixPath('runs/branch/compare.html')
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness._exceptions import UsageError
from harness.report import _format as fmt
from harness.report._page import document, e, section
from harness.report.analysis import FaultWindow, OperationStats
from harness.report.compare import Comparison, Metric, Outcome, RunSummary, operations_of, relative_change
from harness.report.series import Timeline, read_timeline
from harness.report.story import chart_windows, colours
from harness.rundir import RunDir

_OUTCOME_CSS = {Outcome.PASS: "pass", Outcome.SLO_BREACH: "slo", Outcome.UNKNOWN: "unknown", Outcome.FAIL: "fail"}
_LATENCIES = ((Metric.P95, "p95_ms"), (Metric.P99, "p99_ms"))
_RATES = ((Metric.ERROR_RATE, "error_rate"), (Metric.INFO_RATE, "info_rate"))


def comparison_section(comparison: Comparison, *, page_dir: Path) -> str:
    """The section itself; links to both runs' reports are relative to ``page_dir``."""
    body = (_runs(comparison, page_dir) + _limits(comparison) + '<div class="pair">' + _counts(comparison)
            + _blast(comparison) + "</div>" + _operations(comparison))
    note = ("Latency changes are relative to the baseline, rates change in percentage points. "
            "Red: worse than the baseline; marked <b>over limit</b>: past a limit given. "
            "The baseline's p99 is drawn dashed on the latency charts.")
    return section("comparison", "Compared with the baseline", body, note=note)


def baseline_series(baseline: Timeline, seconds: int, name: str) -> dict[str, Any]:
    """The baseline's p99 per operation and second, padded to the run's ``seconds``, for the charts."""
    return {"name": name, "p99": {series.op: [*series.p99_ms, *[None] * (seconds - len(series.p99_ms))]
                                  for series in baseline.ops}}


def render_compare_page(comparison: Comparison, out: Path) -> str:
    """``compare.html`` as a string: the comparison, then each operation's latency with the baseline's
    p99 dashed and the run's fault windows shaded; links are relative to ``out``."""
    base_timeline = read_timeline(RunDir(comparison.baseline.path))
    run_timeline = read_timeline(RunDir(comparison.run.path), min_seconds=base_timeline.seconds)
    windows = chart_windows(comparison.run.windows, run_timeline.seconds)
    rows = "".join(
        f'<div><div class="grid-head"><span><code>{e(series.op)}</code> latency p50 · p95 · p99, baseline p99 '
        f'dashed</span></div><div class="chart" data-oq-chart="latency" data-op="{e(series.op)}"></div></div>'
        for series in run_timeline.ops)
    charts = section("latency", "Latency over time, against the baseline",
                     f'<div class="panel"><div class="grid">{rows}</div></div>' if rows else
                     '<p class="note">The run\'s history holds no operation.</p>',
                     note="Seconds since the load started, in both runs. Solid: the run's percentiles per second; "
                          "dashed: the baseline's p99. Shaded: the run's fault windows. Drag to zoom, double-click "
                          "to zoom out.")
    data = {"timeline": run_timeline.to_json(), "windows": [w.to_json() for w in windows],
            "baseline": baseline_series(base_timeline, run_timeline.seconds, comparison.baseline.path.name)}
    scenario = comparison.run.verdict.scenario or comparison.run.path.name
    body = (_hero(comparison, scenario) + "<main>" + comparison_section(comparison, page_dir=out) + charts
            + "<footer>orderquake compare: this file needs no network.</footer></main>")
    return document(f"orderquake compare · {scenario}: {_gate_word(comparison)}", body, data=data,
                    page_script="report.js")


def write_compare_page(comparison: Comparison, out: Path) -> Path:
    """Write ``compare.html`` into ``out`` (made if missing), atomically, and return its path."""
    path = out / "compare.html"
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".html.tmp")
        tmp.write_text(render_compare_page(comparison, out), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise UsageError(f"expected a directory to write the comparison into, got --out {out}: {exc}") from exc
    return path


# --- the parts ----------------------------------------------------------------------------------

def _gate_word(comparison: Comparison) -> str:
    return "worse than the baseline" if comparison.breaches else "no worse than the baseline"


def _hero(comparison: Comparison, scenario: str) -> str:
    css = "fail" if comparison.breaches else "pass"
    pill = "WORSE" if comparison.breaches else "NO WORSE"
    return (f'<header class="hero v-{css}"><div class="wrap"><div class="hero-top"><span class="pill">{pill}</span>'
            f'<h1>{e(scenario)}<span class="sub"> {e(comparison.run.path.name)} against '
            f'{e(comparison.baseline.path.name)}</span></h1></div><p class="why">{_sentence(comparison)}</p>'
            "</div></header>")


def _sentence(comparison: Comparison) -> str:
    n = len(comparison.breaches)
    if n:
        return f"<b>Worse than the baseline</b>: {n} limit{'s' if n != 1 else ''} exceeded."
    given = _limits_text(comparison)
    if given:
        return f"No worse than the baseline within the limits given ({e(given)})."
    return "No limit given: only the verdicts are compared, and the run's is no worse."


def _runs(comparison: Comparison, page_dir: Path) -> str:
    worse = comparison.breached(Metric.VERDICT)
    boxes = [_run_box("baseline", comparison.baseline, page_dir),
             f'<div class="cmp-arrow{" worse" if worse else ""}">{"worse" if worse else "→"}</div>',
             _run_box("this run", comparison.run, page_dir)]
    return f'<div class="cmp-runs"><p class="cmp-gate">{_sentence(comparison)}</p>{"".join(boxes)}</div>'


def _run_box(role: str, summary: RunSummary, page_dir: Path) -> str:
    report = summary.path / "report.html"
    name = e(summary.path.name)
    link = f'<a href="{e(_relative(report, page_dir))}">{name}</a>' if report.exists() else name
    v = summary.verdict
    facts = " · ".join(str(x) for x in (v.scenario, v.variant, f"seed {v.seed}" if v.seed is not None else None,
                                        f"exit {int(v.exit_code)}") if x)
    return (f'<div class="cmp-run v-{_OUTCOME_CSS[summary.outcome]}"><span class="cmp-role">{e(role)}</span>'
            f'<span class="pill">{e(summary.outcome.label.upper())}</span><div>{link}<br>'
            f'<small>{e(facts)}</small></div></div>')


def _relative(path: Path, page_dir: Path) -> str:
    return Path(os.path.relpath(path.resolve(), page_dir.resolve())).as_posix()


def _limits_text(comparison: Comparison) -> str:
    limits = comparison.limits
    parts = [f"{name} +{fmt.percent(value)}" for name, value in (("p99", limits.p99_increase),
                                                                  ("p95", limits.p95_increase)) if value is not None]
    parts += [f"{name} +{value * 100:g} points" for name, value in (("error rate", limits.error_rate_increase),
                                                                    ("info rate", limits.info_rate_increase))
              if value is not None]
    if limits.recovery_increase is not None:
        parts.append(f"recovery +{fmt.seconds(limits.recovery_increase)}")
    return ", ".join(parts)


def _limits(comparison: Comparison) -> str:
    given = _limits_text(comparison)
    checked = f"Limits given: {e(given)}; the verdict is always compared." if given else \
        "No limit given: the verdict alone is compared."
    if not comparison.breaches:
        return f'<div class="limits"><p>{checked} None exceeded.</p></div>'
    items = "".join(f"<li>{e(breach.text)}</li>" for breach in comparison.breaches)
    return f'<div class="limits over-list"><p>{checked} Exceeded:</p><ul>{items}</ul></div>'


def _delta(text: str, worse: bool, over: bool) -> str:
    css = "delta over" if over else "delta worse" if worse else "delta"
    mark = ' <span class="badge">over limit</span>' if over else ""
    return f'<span class="{css}">{e(text)}</span>{mark}'


def _relative_delta(before: float | None, after: float | None, over: bool = False) -> str:
    if before is None or after is None:
        return ""
    text = relative_change(before, after)
    return _delta(text, after > before and text not in ("0%", "+0%"), over)


def _counts(comparison: Comparison) -> str:
    base, run = comparison.baseline.verdict, comparison.run.verdict
    rows = []
    for name, worse_if_more in (("attempted", False), ("ok", False), ("fail", True), ("info", True), ("ids", False)):
        before, after = getattr(base.counts, name), getattr(run.counts, name)
        change = _relative_delta(before, after) if worse_if_more else e(relative_change(before, after))
        rows.append((e(name), e(fmt.count(before)), e(fmt.count(after)), change))
    for category in sorted({*base.violations, *run.violations}, key=lambda c: c.value):
        before, after = base.violations.get(category, 0), run.violations.get(category, 0)
        rows.append((f"<code>{e(category.value)}</code>", e(fmt.count(before)), e(fmt.count(after)),
                     _delta(f"{after - before:+d}", after > before, False)))
    rows.append(_recovery_row(comparison))
    body = "".join(f'<tr><td>{label}</td><td class="num">{b}</td><td class="num">{a}</td>'
                   f'<td class="num">{change}</td></tr>' for label, b, a, change in rows)
    table = ('<div class="table-wrap"><table class="cmp-counts"><thead><tr><th></th><th class="num">baseline</th>'
             f'<th class="num">run</th><th class="num">change</th></tr></thead><tbody>{body}</tbody></table></div>')
    return f'<div><h3>Counts, violations and recovery</h3>{table}</div>'


def _recovery_row(comparison: Comparison) -> tuple[str, str, str, str]:
    before, after = comparison.baseline.verdict.recovery_seconds, comparison.run.verdict.recovery_seconds
    over = comparison.breached(Metric.RECOVERY)
    if before is not None and after is not None:
        change = _delta(("+" if after >= before else "\u2212") + fmt.seconds(abs(after - before)), after > before,
                        over)
    elif after is None and before is not None:
        change = _delta("never consistent", True, over)
    else:
        change = ""
    return ("time to consistency", e(_recovery(before)), e(_recovery(after)), change)


def _recovery(seconds: float | None) -> str:
    return "never" if seconds is None else fmt.seconds(seconds)


def _operations(comparison: Comparison) -> str:
    base, run = comparison.baseline.operations, comparison.run.operations
    ops = operations_of(comparison.baseline, comparison.run)
    if not ops:
        return '<p class="note">Neither history holds an operation.</p>'
    groups = ["p50", "p95", "p99", "error rate", "info rate"]
    head = ('<tr><th rowspan="2">operation</th><th colspan="2" class="num">count</th>'
            + "".join(f'<th colspan="3" class="num grp">{g}</th>' for g in groups) + "</tr><tr>"
            + '<th class="num">base</th><th class="num">run</th>'
            + '<th class="num grp">base</th><th class="num">run</th><th class="num">change</th>' * len(groups)
            + "</tr>")
    body = "".join(_operation_row(comparison, op, base.get(op), run.get(op)) for op in ops)
    return ('<h3>Operations, side by side</h3><div class="table-wrap"><table class="cmp-ops">'
            f"<thead>{head}</thead><tbody>{body}</tbody></table></div>")


def _operation_row(comparison: Comparison, op: str, before: OperationStats | None,
                   after: OperationStats | None) -> str:
    def value(stats: OperationStats | None, attribute: str) -> Any:
        return None if stats is None else getattr(stats, attribute)

    cells = [f"<td><code>{e(op)}</code></td>",
             f'<td class="num">{e(fmt.count(value(before, "count")))}</td>',
             f'<td class="num">{e(fmt.count(value(after, "count")))}</td>']
    over = {"p50_ms": False, **{a: comparison.breached(m, op) for m, a in (*_LATENCIES, *_RATES)}}
    for attribute in ("p50_ms", "p95_ms", "p99_ms"):
        b, a = value(before, attribute), value(after, attribute)
        cells.append(_triple(attribute.removesuffix("_ms"), op, fmt.milliseconds(b), fmt.milliseconds(a),
                             _relative_delta(b, a, over[attribute]), over[attribute]))
    for attribute in ("error_rate", "info_rate"):
        b, a = value(before, attribute), value(after, attribute)
        change = "" if b is None or a is None else _delta(f"{(a - b) * 100:+.1f} pt", round((a - b) * 100, 1) > 0,
                                                          over[attribute])
        cells.append(_triple(attribute.replace("_", " "), op, fmt.percent(b), fmt.percent(a), change,
                             over[attribute]))
    return f"<tr>{''.join(cells)}</tr>"


def _triple(metric: str, op: str, before: str, after: str, change: str, over: bool) -> str:
    css = "num over-cell" if over else "num"
    return (f'<td class="num grp muted">{e(before)}</td><td class="num">{e(after)}</td>'
            f'<td class="{css}" data-metric="{e(metric)}" data-op="{e(op)}">{change}</td>')


def _blast(comparison: Comparison) -> str:
    rows = [*_window_rows("baseline", comparison.baseline.windows),
            *_window_rows("run", comparison.run.windows)]
    if not rows:
        return '<div><h3>Blast radius per fault</h3><p class="note">No fault in either run.</p></div>'
    head = "".join(f'<th class="{"num" if n >= 3 else ""}">{e(h)}</th>' for n, h in enumerate(
        ["run", "fault", "kind · link", "window", "invoked", "in flight", "ended fail", "ended info",
         "violations begun"]))
    return (f'<div><h3>Blast radius per fault</h3><div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div></div>')


def _window_rows(role: str, windows: Sequence[FaultWindow]) -> list[str]:
    rows = []
    for window, colour in zip(windows, colours(len(windows)), strict=True):
        healed = fmt.seconds(window.end_t) if window.end_t is not None else "never healed"
        violations = ", ".join(f"{n} {c}" for c, n in sorted(window.violations.items()))
        rows.append(
            f"<tr><td>{e(role)}</td><td class=\"nowrap\"><span class=\"swatch\" style=\"--band:{e(colour)}\"></span>"
            f"<code>{e(window.name)}</code></td><td>{e(window.kind)}{f' · {e(window.link)}' if window.link else ''}"
            f'</td><td class="num">{e(fmt.seconds(window.start_t))} → {e(healed)}</td>'
            f'<td class="num">{e(fmt.count(window.invoked))}</td><td class="num">{e(fmt.count(window.in_flight))}</td>'
            f'<td class="num{" bad" if window.ended_fail else ""}">{e(fmt.count(window.ended_fail))}</td>'
            f'<td class="num{" warn" if window.ended_info else ""}">{e(fmt.count(window.ended_info))}</td>'
            f'<td class="{"bad" if violations else "muted"}">{e(violations or "none")}</td></tr>')
    return rows
