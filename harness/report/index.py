"""``index.html`` of a suite: one row per run with its verdict, its key counts, a small chart of its
throughput with the fault windows shaded, and a link to its ``report.html``.

Written next to the run directories (their parent folder), so the links are relative and the
folder can be moved or attached to a CI job whole.

    >>> write_suite_index([Path("runs/a-smoke"), Path("runs/b-db-outage")], Path("runs"))  # doctest: +SKIP
    PosixPath('runs/index.html')
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checker.model import RunVerdict, Verdict
from harness.load.history import iter_events
from harness.report import _format as fmt
from harness.report._page import cell, document, e, table
from harness.report.analysis import blast_radius
from harness.report.series import per_second
from harness.report.story import colours
from harness.rundir import RunDir

_ORDER = {"fail": 0, "unknown": 1, "slo": 2, "pass": 3}


def write_suite_index(run_dirs: list[Path], out: Path) -> Path:
    """Write ``out/index.html`` for the runs of a suite, in the order given; return its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(render_suite_index(run_dirs, out), encoding="utf-8")
    return path


def render_suite_index(run_dirs: Sequence[Path], out: Path) -> str:
    """The index page as a string; links are relative to ``out``."""
    runs = [_Row.read(RunDir(p), out) for p in run_dirs]
    tally = Counter(row.css for row in runs)
    worst = min(tally, key=lambda css: _ORDER[css]) if tally else "unknown"
    words = {"pass": "passed", "fail": "failed", "unknown": "undecided", "slo": "breached an SLO"}
    summary = ", ".join(f"{tally[css]} {words[css]}" for css in sorted(tally, key=lambda c: _ORDER[c]))
    rows = [[cell(f'<span class="tag v-{row.css}">{e(row.word)}</span>'),
             cell(f'<a href="{e(row.href)}"><b>{e(row.scenario)}</b></a><br><span class="note">'
                  f"{e(row.folder)}</span>"),
             cell(f"{e(row.target)}<br><span class=\"note\">{e(row.seed)}</span>"),
             cell(f"{e(row.submissions)}<br><span class=\"note\">{e(row.outcomes)}</span>", "num"),
             cell(e(row.violations), "bad" if row.violations != "none" else "muted"),
             cell(e(row.slo), "bad" if "breached" in row.slo else ""),
             cell(f"{e(row.recovery)}<br><span class=\"note\">run {e(row.duration)}</span>", "num"),
             cell(f'<div class="spark" data-oq-spark="{i}"></div>', "spark-cell")] for i, row in enumerate(runs)]
    body = (f'<header class="hero v-{worst}"><div class="wrap"><div class="hero-top"><span class="pill">'
            f'{e("SUITE " + worst.upper() if worst != "slo" else "SUITE SLO BREACHED")}</span>'
            f"<h1>orderquake suite <span class=\"sub\">{len(runs)} run(s)</span></h1></div>"
            f'<p class="why">{e(summary or "No run.")}</p></div></header><main>'
            + table(["verdict", "scenario", "target · variant", "submissions", "violations", "service levels",
                     "recovery", "completed per second, faults shaded"], rows, css="index", numeric=(3, 6))
            + '<footer>Each scenario links to its own report. Charts: ok (green) and fail or info (red) per second '
              "since the load started; shaded: the fault windows as applied.</footer></main>")
    return document(f"orderquake suite: {summary}", body, data={"runs": [row.spark for row in runs]},
                    page_script="index.js")


@dataclass(frozen=True)
class _Row:
    """What the index shows of one run, read from its directory (a run that left no verdict says so)."""

    css: str
    word: str
    scenario: str
    folder: str
    href: str
    target: str
    seed: str
    submissions: str
    outcomes: str
    violations: str
    slo: str
    recovery: str
    duration: str
    spark: dict[str, Any]

    @classmethod
    def read(cls, run_dir: RunDir, out: Path) -> _Row:
        try:
            verdict: RunVerdict | None = RunVerdict.from_json(json.loads(run_dir.verdict.read_text()))
        except (OSError, ValueError):
            verdict = None
        href = Path(os.path.relpath(run_dir.report, out)).as_posix()
        if verdict is None:
            return cls(css="unknown", word="no verdict", scenario=run_dir.path.name, folder=run_dir.path.name,
                       href=href, target="", seed="", submissions="", outcomes="", violations="not judged",
                       slo="", recovery="", duration="", spark=_spark(run_dir, None))
        breached = [s for s in verdict.slo if not s.passed]
        css = "slo" if verdict.verdict is Verdict.PASS and breached else verdict.verdict.value
        violations = ", ".join(f"{n} {c.value}" for c, n in sorted(verdict.violations.items(), key=lambda i: -i[1]))
        c = verdict.counts
        return cls(
            css=css, word="pass, SLO breached" if css == "slo" else verdict.verdict.value,
            scenario=verdict.scenario or run_dir.path.name, folder=run_dir.path.name, href=href,
            target=f"{verdict.target} · {verdict.variant}", seed=f"seed {verdict.seed}",
            submissions=fmt.count(c.attempted),
            outcomes=f"ok {fmt.count(c.ok)} · fail {fmt.count(c.fail)} · info {fmt.count(c.info)}",
            violations=violations or "none",
            slo=(f"{len(breached)} of {len(verdict.slo)} breached" if breached else
                 f"{len(verdict.slo)} met" if verdict.slo else "none set"),
            recovery=fmt.seconds(verdict.recovery_seconds) if verdict.recovery_seconds is not None else "never",
            duration=fmt.seconds(verdict.duration_seconds), spark=_spark(run_dir, verdict))


def _spark(run_dir: RunDir, verdict: RunVerdict | None) -> dict[str, Any]:
    """Completions per second of every operation: ok, and the rest (fail and info); the fault windows."""
    try:
        info = json.loads(run_dir.run_info.read_text())
    except (OSError, ValueError):
        info = {}
    origin = info.get("load_started_wall") if isinstance(info, dict) else None
    load = info.get("load_seconds") if isinstance(info, dict) else None
    if not isinstance(origin, int | float):
        return {"t": [], "ok": [], "bad": [], "faults": []}
    timeline = per_second(iter_events(run_dir.history), origin_wall=float(origin),
                          min_seconds=math.ceil(load) if isinstance(load, int | float) else 0)
    ok = [sum(series.ok[s] for series in timeline.ops) for s in range(timeline.seconds)]
    bad = [sum(series.fail[s] + series.info[s] for series in timeline.ops) for s in range(timeline.seconds)]
    windows = []
    if verdict is not None:
        try:
            windows = blast_radius(run_dir, verdict)
        except ValueError:
            windows = []
    faults = [{"start": w.start_t, "end": w.end_t if w.end_t is not None else float(timeline.seconds),
               "colour": colour, "label": w.kind, "title": f"{w.name}: {w.kind}"}
              for w, colour in zip(windows, colours(len(windows)), strict=True)]
    return {"t": list(range(timeline.seconds)), "ok": ok, "bad": bad, "faults": faults}
