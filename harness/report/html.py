"""``report.html``: one self-contained page a person would rather look at than read.

Built from the run directory alone, top to bottom in the order a person asks: the verdict and in
one sentence why; what the clients saw second by second, per operation, with every fault window
shaded on one shared time axis; what each fault touched; how fast the backlog drained after
heal; each violation with its examples told on a line of time; then the money, the checkers, the
operations, the service levels and links to every file of the run. The page works offline: the
charting library (uPlot, see ``harness.report._page``) and its data are inlined.

Given a ``Comparison`` with a baseline run (``orderquake report RUN --baseline BASELINE``), the
comparison section (``harness.report.compare_html``) comes right after the cards, and every latency
chart draws the baseline's p99 dashed beside the run's.

    >>> write_html(Path("runs/20261201T092448Z-db-outage"))  # doctest: +SKIP
    PosixPath('runs/20261201T092448Z-db-outage/report.html')
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness._exceptions import OrderquakeError
from harness.checker.model import Category, CategoryResult, Kind, RunVerdict, Verdict
from harness.load.history_sql import Shared, opened, vouched
from harness.report import _format as fmt
from harness.report import story, tables
from harness.report._page import UPLOT_VERSION, document, e, section
from harness.report.analysis import FaultWindow, OperationStats, blast_radius, per_operation
from harness.report.compare import Comparison
from harness.report.compare_html import baseline_series, comparison_section
from harness.report.headline import MEANING, headline
from harness.report.series import Backlog, Timeline, backlog, load_origin, read_jsonl, read_timeline
from harness.rundir import RunDir
from harness.scenario import Scenario, load_scenario

_EXAMPLES_OPEN = 5

@dataclass(frozen=True)
class _Run:
    """Everything the page shows, read once from the run directory."""

    run_dir: RunDir
    verdict: RunVerdict | None
    info: Mapping[str, Any]
    scenario: Scenario | None
    journal: list[dict[str, Any]]
    windows: list[FaultWindow]
    colours: list[str]
    stats: dict[str, OperationStats]
    timeline: Timeline
    backlog: Backlog
    origin: float
    problems: list[str]


def render_html(run_dir: Path, comparison: Comparison | None = None, *, shared: Shared | None = None) -> str:
    """The report page of a finished (or interrupted) run, as a string; with ``comparison`` (whose
    run is this one), compared with its baseline; ``shared``: the history's operations, already opened."""
    baseline = read_timeline(RunDir(comparison.baseline.path)) if comparison is not None else None
    run = _read(RunDir(run_dir), min_seconds=baseline.seconds if baseline is not None else 0, shared=shared)
    verdict = run.verdict
    title = f"{verdict.scenario if verdict and verdict.scenario else run_dir.name}: {_word(verdict)}"
    compared = comparison_section(comparison, page_dir=run_dir) if comparison is not None else ""
    data = _chart_data(run)
    if comparison is not None and baseline is not None:
        data["baseline"] = baseline_series(baseline, run.timeline.seconds, comparison.baseline.path.name)
    body = (_hero(run) + "<main>" + _cards(run) + compared + _timeline(run, compared=bool(compared)) + _faults(run)
            + _recovery(run) + _violations(run) + _tail(run) + "</main>")
    return document(f"orderquake · {title}", body, data=data, page_script="report.js")


def write_html(run_dir: Path, comparison: Comparison | None = None, *, shared: Shared | None = None) -> Path:
    """Write ``report.html`` into the run directory (compared with a baseline when ``comparison`` is
    given) and return its path."""
    path = RunDir(run_dir).report
    path.write_text(render_html(run_dir, comparison, shared=shared), encoding="utf-8")
    return path


# --- reading ------------------------------------------------------------------------------------

def _read(run_dir: RunDir, *, min_seconds: int = 0, shared: Shared | None = None) -> _Run:
    problems: list[str] = []
    verdict = None
    try:
        verdict = RunVerdict.from_json(json.loads(run_dir.verdict.read_text()))
    except (OSError, ValueError) as exc:
        problems.append(f"verdict.json could not be read ({exc}): the run was not judged")
    info = _json_object(run_dir.run_info)
    scenario = None
    try:
        scenario = load_scenario(run_dir.scenario)
    except (OrderquakeError, OSError) as exc:
        problems.append(f"scenario.yaml could not be read: {exc}")
    journal = [r for r in read_jsonl(run_dir.faults) if isinstance(r.get("name"), str)]
    windows: list[FaultWindow] = []
    with opened(shared, run_dir.history, clean=vouched(verdict)) as ops:  # read once, in SQL, when it may be
        origin = load_origin(run_dir, ops)
        timeline = read_timeline(run_dir, min_seconds=min_seconds, ops=ops)
        if verdict is not None:
            try:
                windows = blast_radius(run_dir, verdict, ops)
            except ValueError as exc:
                problems.append(f"the fault windows could not be placed: {exc}")
        stats = per_operation(run_dir, ops)
    samples = read_jsonl(run_dir.consistency)
    return _Run(run_dir=run_dir, verdict=verdict, info=info, scenario=scenario, journal=journal, windows=windows,
                colours=story.colours(len(windows)),
                stats=stats, timeline=timeline,
                backlog=backlog(samples, deadline_s=scenario.recovery_deadline if scenario else None),
                origin=origin, problems=problems)


def _json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


# --- the header ---------------------------------------------------------------------------------

def _word(verdict: RunVerdict | None) -> str:
    if verdict is None:
        return "not judged"
    if verdict.verdict is Verdict.PASS and any(not s.passed for s in verdict.slo):
        return "pass, SLO breached"
    return verdict.verdict.value


def _css(verdict: RunVerdict | None) -> str:
    if verdict is None:
        return "unknown"
    if verdict.verdict is Verdict.PASS and any(not s.passed for s in verdict.slo):
        return "slo"
    return verdict.verdict.value


def _hero(run: _Run) -> str:
    v = run.verdict
    scenario = v.scenario if v and v.scenario else run.run_dir.path.name
    description = f'<p class="note">{e(run.scenario.description)}</p>' if run.scenario and \
        run.scenario.description else ""
    load = _number(run.info.get("load_seconds"))
    facts = [("scenario", scenario), ("target", v.target if v else None), ("variant", v.variant if v else None),
             ("seed", v.seed if v else None),
             ("load", fmt.seconds(load) if load is not None else None),
             ("whole run", fmt.seconds(v.duration_seconds) if v and v.duration_seconds is not None else None),
             ("started", _when(v.started) if v else None), ("exit code", int(v.exit_code) if v else None)]
    dl = "".join(f"<div><dt>{e(k)}</dt><dd>{e(val)}</dd></div>" for k, val in facts if val is not None)
    chips = ""
    if v is not None:
        chips = '<div class="chips">' + "".join(
            f'<span class="chip {e(r.valid.value)}" title="{e(r.reason or r.valid.value)}">{e(name)}</span>'
            for name, r in v.checkers.items()) + "</div>"
    target = f'<span class="sub"> against {e(v.target)} ({e(v.variant)})</span>' if v and v.target else ""
    return (f'<header class="hero v-{_css(v)}"><div class="wrap"><div class="hero-top">'
            f'<span class="pill">{e(_word(v).upper())}</span><h1>{e(scenario)}{target}</h1></div>{description}'
            f'<p class="why">{headline(v)}</p><dl class="facts">{dl}</dl>{chips}{_links(run.run_dir)}</div></header>')


def _when(iso: str | None) -> str | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return iso


def _links(run_dir: RunDir) -> str:
    files = [("Locust's report", run_dir.locust / "report.html"), ("verdict.json", run_dir.verdict),
             ("junit.xml", run_dir.junit), ("run.json", run_dir.run_info), ("faults.jsonl", run_dir.faults),
             ("scenario.yaml", run_dir.scenario)]
    files += [(f"logs/{p.name}", p) for p in sorted(run_dir.logs.glob("*.log"))]
    links = "".join(f'<a href="{e(run_dir.relative(p))}">{e(label)}</a>' for label, p in files if p.exists())
    return f'<nav class="links"><span>files:</span>{links}</nav>'


def _cards(run: _Run) -> str:
    v = run.verdict
    if v is None:
        return ""
    violations = sum(v.violations.values())
    p99 = _number(run.info.get("metrics", {}).get("p99_ms")) if isinstance(run.info.get("metrics"), dict) else None
    cards = [(fmt.count(v.counts.attempted), "submissions", ""), (fmt.count(v.counts.ok), "ok", "good"),
             (fmt.count(v.counts.fail), "fail", "bad" if v.counts.fail else ""),
             (fmt.count(v.counts.info), "info (unknown)", "warn" if v.counts.info else ""),
             (fmt.count(violations), "violations", "bad" if violations else "good"),
             (fmt.seconds(v.recovery_seconds) if v.recovery_seconds is not None else "never",
              "time to consistency", "" if v.recovery_seconds is not None else "bad"),
             (fmt.milliseconds(p99), "p99 latency", "")]
    return '<div class="cards">' + "".join(
        f'<div class="card {css}"><b>{e(value)}</b><span>{e(label)}</span></div>' for value, label, css in cards
    ) + "</div>"


# --- the charts ---------------------------------------------------------------------------------

def _chart_data(run: _Run) -> dict[str, Any]:
    return {"timeline": run.timeline.to_json(), "backlog": run.backlog.to_json(),
            "windows": [w.to_json() for w in story.chart_windows(run.windows, run.timeline.seconds)]}


def _timeline(run: _Run, *, compared: bool = False) -> str:
    if not run.timeline.ops:
        return section("timeline", "Load and faults over time", '<p class="note">The history holds no operation.</p>')
    rows = []
    for series in run.timeline.ops:
        stats = run.stats.get(series.op)
        summary = (f"{fmt.count(stats.count)} ops · p99 {fmt.milliseconds(stats.p99_ms)}" if stats else "")
        rows.append(
            f'<div class="op-row"><div><div class="grid-head"><span><code>{e(series.op)}</code> completed per second'
            f'</span><small>{e(summary)}</small></div><div class="chart" data-oq-chart="throughput" '
            f'data-op="{e(series.op)}"></div></div><div><div class="grid-head"><span><code>{e(series.op)}</code> '
            f'latency p50 · p95 · p99{" · baseline p99 dashed" if compared else ""}</span></div>'
            f'<div class="chart" data-oq-chart="latency" data-op="{e(series.op)}"></div></div></div>')
    never = ", ".join(f"{fmt.count(n)} {op}" for op, n in run.timeline.never_completed.items())
    never_note = (f" Invokes that never completed have no second to be drawn in: {e(never)} "
                  "(counted as info in the tables)." if never else "")
    note = ("Seconds since the load started. Bars: operations completed in that second, stacked ok (green), "
            "fail (red, the SUT said no) and info (amber, outcome unknown). Lines: latency of the ok and fail "
            "completions" + (", and dashed, the baseline's p99 on the same seconds" if compared else "")
            + ". Shaded: each fault window as applied. Hover for values; drag across a chart to zoom "
            "all of them, double-click to zoom out." + never_note)
    return section("timeline", "Load and faults over time",
                   f'<div class="panel"><div class="grid">{"".join(rows)}</div></div>', note=note)


def _faults(run: _Run) -> str:
    body = tables.fault_windows(run.windows, run.colours, run.journal, run.timeline.seconds)
    note = ("What each fault touched, from the moment it was applied to the moment it was healed: the operations "
            "invoked inside the window, those already in flight when it began, how they ended, and the violation "
            "examples whose id was first submitted inside it (at most 20 examples are kept per category, so this is "
            "a lower bound).") if run.windows else ""
    return section("faults", "Fault windows (blast radius)", body, note=note)


def _recovery(run: _Run) -> str:
    b = run.backlog
    if not b.t:
        return section("recovery", "Recovery after heal",
                       '<p class="note">No backlog was sampled (the run stopped before recovery).</p>')
    v = run.verdict
    drained = next((t for t, n in zip(b.t, b.pending, strict=True) if n == 0), None)
    deadline = f" The scenario's recovery deadline is {fmt.seconds(b.deadline_s)}." if b.deadline_s is not None else ""
    if drained is not None:
        state = f"The backlog drained {fmt.seconds(drained)} after recovery began."
    else:
        state = f"The backlog never drained: {fmt.count(b.pending[-1])} still pending at the last sample."
    if v is not None and v.recovery_seconds is not None:
        state += f" Time to consistency: {fmt.seconds(v.recovery_seconds)}."
    note = ("Orders and payouts the SUT still holds as pending, sampled every second once every fault was healed "
            "and the load stopped. " + state + deadline)
    return section("recovery", "Recovery after heal",
                   '<div class="panel"><div class="chart" data-oq-chart="backlog"></div></div>', note=note)


# --- violations ---------------------------------------------------------------------------------

def _violations(run: _Run) -> str:
    v = run.verdict
    if v is None:
        return ""
    found = [(c, r) for c, r in v.invariants.items() if r.count]
    found.sort(key=lambda i: (not i[0].violation, -i[1].count))
    if not any(c.violation for c, _ in found):
        ok = ("No violation: every id is accounted for." if v.invariants and v.verdict is not Verdict.UNKNOWN
              else "No violation was found in the evidence that could be judged.")
        lead = f'<div class="ok-line">{e(ok)}</div>'
    else:
        lead = ""
    windows = story.chart_windows(run.windows, run.timeline.seconds)
    provider_times = _provider_times(run.run_dir, [x for _, r in found for x in r.examples], run.origin)
    blocks = [_category(c, r, windows, provider_times, run) for c, r in found]
    return section("violations", "Violations and their examples", lead + "".join(blocks))


def _category(category: Category, result: CategoryResult, windows: Sequence[story.Window],
              provider_times: Mapping[str, tuple[float | None, float | None]], run: _Run) -> str:
    examples = [_example(x, windows, provider_times, run.origin) for x in result.examples]
    when = story.overview(result.examples, origin=run.origin, windows=windows, seconds=run.timeline.seconds,
                          violation=category.violation) if len(result.examples) > 1 else ""
    shown = "".join(examples[:_EXAMPLES_OPEN])
    more = ""
    if len(examples) > _EXAMPLES_OPEN:
        more = (f"<details><summary>{len(examples) - _EXAMPLES_OPEN} more examples</summary>"
                f"{''.join(examples[_EXAMPLES_OPEN:])}</details>")
    kept = (f" · {len(result.examples)} examples kept" if result.count > len(result.examples) else "")
    css = "category" if category.violation else "category reported"
    return (f'<div class="{css}" id="cat-{e(category.value)}"><h3><span class="count">{fmt.count(result.count)}</span>'
            f"<code>{e(category.value)}</code><small>{e(kept)}</small></h3><p>{e(MEANING[category])}</p>"
            f'{f"<div class=example>{when}</div>" if when else ""}{shown}{more}</div>')


def _example(example: Mapping[str, Any], windows: Sequence[story.Window],
             provider_times: Mapping[str, tuple[float | None, float | None]], origin: float) -> str:
    where = f" · where: {e(example.get('where'))}" if example.get("where") else ""
    evidence = json.dumps(example, indent=1, default=str)
    return (f'<div class="example"><div class="example-head"><code>{e(example.get("id"))}</code>'
            f'<span>{e(example.get("kind"))}{where}</span><span class="why-line">{e(example.get("why"))}</span></div>'
            f"{story.render(example, origin=origin, windows=windows, provider_times=provider_times)}"
            f"<details><summary>evidence (JSON)</summary><pre>{e(evidence)}</pre></details></div>")


def _provider_times(run_dir: RunDir, examples: Sequence[Mapping[str, Any]], origin: float
                    ) -> dict[str, tuple[float | None, float | None]]:
    """When the provider created and settled each record the examples name, from its ledger."""
    wanted: dict[Kind, set[str]] = {}
    for example in examples:
        for record in example.get("provider") or ():
            if isinstance(record, Mapping) and example.get("kind") in {k.value for k in Kind}:
                wanted.setdefault(Kind(example["kind"]), set()).add(str(record.get("provider_id")))
    times: dict[str, tuple[float | None, float | None]] = {}
    for kind, ids in wanted.items():
        for record in read_jsonl(run_dir.provider_ledger(kind)):
            if str(record.get("id")) in ids:
                times[str(record["id"])] = (_epoch(record.get("created_at"), origin),
                                            _epoch(record.get("settled_at"), origin))
    return times


def _epoch(iso: object, origin: float) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso).timestamp() - origin
    except ValueError:
        return None


# --- the tables at the end ----------------------------------------------------------------------

def _tail(run: _Run) -> str:
    v = run.verdict
    parts = []
    if v is not None:
        money = section("money", "Money, per flow and currency", tables.money(v),
                        note="Every provider record that moved money (duplicates included) against every SUT row in "
                             "a money-moving state, in major units.")
        checkers = section("checkers", "Checkers", tables.checkers(v),
                           note="Fail if any checker failed, else unknown if any could not decide, else pass.")
        parts.append(f'<div class="pair">{money}{checkers}</div>')
    parts.append(section("operations", "Operations", tables.operations(run.stats),
                         note="Client-side, from the history. Latency percentiles over ok and fail completions; "
                              "error rate counts info (unknown) as an error, as the SLOs do."))
    if v is not None:
        parts.append(section("slo", "Service levels", tables.slos(v)))
    notes = list(run.problems)
    if v is not None:
        notes += [f"fault error: {x}" for x in v.fault_errors]
        notes += [f"torn history line (ignored): {x}" for x in v.torn_lines]
    extra = "".join(f"<li>{e(n)}</li>" for n in notes)
    footer = (f"<footer>{f'<ul>{extra}</ul>' if extra else ''}orderquake report of <code>{e(run.run_dir.path.name)}"
              f"</code> · charts drawn with uPlot {e(UPLOT_VERSION)} (MIT), inlined: this file needs no network."
              "</footer>")
    return "".join(parts) + footer
