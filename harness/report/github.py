"""GitHub Actions output: a Markdown job summary and workflow-command annotations.

Both are switched on by the variables GitHub sets in a job, and do nothing elsewhere:

- ``GITHUB_STEP_SUMMARY`` (a file path): a summary is appended to it: the verdict in one line with
  why, the invariants with their counts, the SLOs with what was observed, the blast radius of
  each fault window, and the path of ``report.html``;
- ``GITHUB_ACTIONS=true``: ``::error`` lines (one per violated category, with its count and a few
  ids) and ``::warning`` lines (an SLO breached, a checker that could not decide) on stdout, which
  GitHub shows as annotations on the run.

    write_github_outputs(verdict, run_dir)          # every run, from write_outputs
    write_suite_summary(runs, exit_code)            # once per suite, one row per scenario
"""

from __future__ import annotations

import html
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from harness._exceptions import ExitCode
from harness.checker.model import Category, RunVerdict, Verdict
from harness.report.analysis import FaultWindow, blast_radius
from harness.report.junit import format_observed, report_path
from harness.rundir import RunDir

_IDS_SHOWN = 3
_REASON_SHOWN = 300
# A suite's tally, by exit code; 2 and 4 are both a verdict of unknown.
_STATUS = {ExitCode.PASS: "pass", ExitCode.VIOLATION: "fail", ExitCode.SLO_BREACH: "SLO breach",
           ExitCode.INTERRUPTED: "interrupted"}


def escape_data(text: str) -> str:
    """The message of a workflow command, escaped as GitHub's toolkit does (``%``, CR, LF).

    >>> escape_data("50% lost\\nsee report")
    '50%25 lost%0Asee report'
    """
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property of a workflow command (``title=``): the data escapes plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, title: str, message: str) -> str:
    """One workflow command: ``::error title=...::...``."""
    return f"::{level} title={escape_property(title)}::{escape_data(message)}"


def _ids(examples: Sequence[object]) -> list[str]:
    return [str(e.get("id", e)) if isinstance(e, Mapping) else str(e) for e in examples[:_IDS_SHOWN]]


def workflow_commands(verdict: RunVerdict, report: str) -> list[str]:
    """The annotations of one run: errors for violations, warnings for SLO breaches and undecided checkers."""
    scenario = f"orderquake {verdict.scenario or 'run'}"
    lines = []
    for category, entry in verdict.invariants.items():
        if entry.violation and entry.count > 0:
            ids = ", ".join(_ids(entry.examples))
            lines.append(command("error", f"{scenario}: {entry.count} {category.value}",
                                 f"{entry.count} {category.value} (e.g. {ids}); report: {report}"))
    broken = [f"{kind.value}s {currency or '(no currency)'}: provider {flow.provider_minor} minor, "
              f"SUT {flow.sut_minor} minor" for (kind, currency), flow in verdict.money.items()
              if flow.conserved is False]
    if broken:
        lines.append(command("error", f"{scenario}: money not conserved", f"{'; '.join(broken)}; report: {report}"))
    for name, result in verdict.checkers.items():
        if result.valid is Verdict.FAIL and name not in ("invariants", "money"):
            lines.append(command("error", f"{scenario}: checker {name} failed",
                                 f"{result.reason or 'failed'}; report: {report}"))
    for outcome in verdict.slo:
        if not outcome.passed:
            lines.append(command("warning", f"{scenario}: SLO breached: {outcome.rule}",
                                 f"{outcome.rule}: observed {format_observed(outcome.rule, outcome.observed)}; "
                                 f"report: {report}"))
    undecided = [(name, result.reason) for name, result in verdict.checkers.items()
                 if result.valid is Verdict.UNKNOWN]
    if verdict.verdict is Verdict.UNKNOWN and not undecided:
        undecided = [("verdict", verdict.reason)]
    for name, reason in undecided:
        lines.append(command("warning", f"{scenario}: could not decide ({name})",
                             f"{reason or 'no reason given'}; report: {report}"))
    return lines


def _cell(text: object) -> str:
    """Text for a Markdown table cell: no HTML, no column break, one line."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def _code(text: object) -> str:
    return "`" + " ".join(str(text).split()).replace("`", "'").replace("|", "\\|") + "`"


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= _REASON_SHOWN else text[:_REASON_SHOWN - 1] + "…"


def _word(verdict: RunVerdict) -> str:
    if verdict.verdict is Verdict.PASS and verdict.exit_code is ExitCode.SLO_BREACH:
        return "PASS, SLO breached"
    if verdict.interrupted:
        return "INTERRUPTED"
    return verdict.verdict.value.upper()


def _why(verdict: RunVerdict) -> str:
    breached = [o.rule for o in verdict.slo if not o.passed]
    if verdict.verdict is not Verdict.PASS:
        return _short(verdict.reason) or "no reason given"
    if breached:
        return "correctness intact; SLO breached: " + ", ".join(breached)
    return "every checker passed"


def verdict_line(verdict: RunVerdict) -> str:
    """The verdict in one line, with why: ``**FAIL** (exit 1) db-outage against reference (correct), seed 7: ...``."""
    return (f"**{_word(verdict)}** (exit {int(verdict.exit_code)}) {verdict.scenario or 'run'} against "
            f"{verdict.target or '?'} ({verdict.variant or 'correct'}), seed "
            f"{'?' if verdict.seed is None else verdict.seed}: {_cell(_why(verdict))}")


def _invariants_table(verdict: RunVerdict) -> list[str]:
    if not verdict.invariants:
        return ["_The invariants were not judged: see why above._"]
    rows = ["| invariant | count | result | examples |", "|---|---:|---|---|"]
    for category in Category:
        entry = verdict.invariants.get(category)
        if entry is None:
            continue
        if entry.violation and entry.count > 0:
            result = "**violation**"
        elif not entry.violation:
            result = "reported"
        elif verdict.verdict is Verdict.UNKNOWN:
            result = "not decided"
        else:
            result = "ok"
        examples = ", ".join(_code(e) for e in _ids(entry.examples))
        rows.append(f"| {category.value} | {entry.count} | {result} | {examples} |")
    return rows


def _slo_table(verdict: RunVerdict) -> list[str]:
    if not verdict.slo:
        return ["_No SLO in this scenario._"]
    rows = ["| SLO | observed | result |", "|---|---:|---|"]
    rows += [f"| {_code(o.rule)} | {format_observed(o.rule, o.observed)} | {'pass' if o.passed else '**breach**'} |"
             for o in verdict.slo]
    return rows


def _window(window: FaultWindow) -> str:
    end = "never healed" if window.end_t is None else f"{window.end_t:g} s"
    return f"{window.start_t:g} s to {end}"


def _blast_table(windows: Sequence[FaultWindow]) -> list[str]:
    if not windows:
        return ["_No fault ran._"]
    rows = ["| fault | kind | link | window | invoked | in flight | ended info | ended fail | violations |",
            "|---|---|---|---|---:|---:|---:|---:|---|"]
    for w in windows:
        violations = ", ".join(f"{name} {count}" for name, count in w.violations.items() if count) or "none"
        rows.append(f"| {_cell(w.name)} | {_cell(w.kind)} | {_cell(w.link or '-')} | {_window(w)} | {w.invoked} | "
                    f"{w.in_flight} | {w.ended_info} | {w.ended_fail} | {_cell(violations)} |")
    return [*rows, "_violations: the verdict's examples (up to 20 per category) first invoked in the window._"]


def run_summary(verdict: RunVerdict, windows: Sequence[FaultWindow] | str, report: str) -> str:
    """One run's Markdown summary; ``windows`` is the blast radius, or why it could not be computed."""
    blast = [f"_Blast radius not computed: {_cell(windows)}_"] if isinstance(windows, str) else _blast_table(windows)
    parts = [f"### orderquake: {verdict.scenario or 'run'}", verdict_line(verdict),
             "#### Invariants", *_invariants_table(verdict),
             "#### Service levels", *_slo_table(verdict),
             "#### Blast radius per fault window", *blast,
             f"Report: {_code(report)}"]
    return "\n\n".join(_join_tables(parts)) + "\n\n"


def _join_tables(parts: list[str]) -> list[str]:
    """Table rows kept on consecutive lines; every other block separated by a blank line."""
    blocks: list[str] = []
    for part in parts:
        if part.startswith("|") and blocks and blocks[-1].startswith("|"):
            blocks[-1] += "\n" + part
        else:
            blocks.append(part)
    return blocks


def suite_summary(runs: Sequence[tuple[RunVerdict, RunDir]], exit_code: int) -> str:
    """The suite's Markdown summary: its exit code and one row per scenario."""
    tally: dict[str, int] = {}
    for verdict, _ in runs:
        status = _STATUS.get(verdict.exit_code, "unknown")
        tally[status] = tally.get(status, 0) + 1
    counts = ", ".join(f"{n} {word}" for word, n in tally.items())
    rows = ["| scenario | variant | seed | verdict | exit | why | report |", "|---|---|---:|---|---:|---|---|"]
    rows += [f"| {_cell(v.scenario or 'run')} | {_cell(v.variant or 'correct')} | {'' if v.seed is None else v.seed} | "
             f"{_word(v)} | {int(v.exit_code)} | {_cell(_why(v))} | {_code(report_path(d))} |" for v, d in runs]
    parts = [f"## orderquake suite: exit {exit_code}", f"{len(runs)} run(s): {counts or 'none'}", *rows]
    return "\n\n".join(_join_tables(parts)) + "\n\n"


def _append(environ: Mapping[str, str], text: str) -> None:
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:  # the verdict and its exit code stand; only the summary is lost
        print(f"github: could not append the job summary to GITHUB_STEP_SUMMARY={path}: {exc}", file=sys.stderr)


def write_github_outputs(verdict: RunVerdict, run_dir: RunDir, *, environ: Mapping[str, str] | None = None,
                         out: TextIO | None = None) -> None:
    """The job summary and the annotations of one run, as far as the environment asks for them."""
    env = os.environ if environ is None else environ
    report = report_path(run_dir)
    if env.get("GITHUB_STEP_SUMMARY"):
        windows: Sequence[FaultWindow] | str
        try:
            windows = blast_radius(run_dir, verdict)
        except (OSError, ValueError) as exc:  # a damaged journal or history: the checkers already said so
            windows = f"{type(exc).__name__}: {exc}"
        _append(env, run_summary(verdict, windows, report))
    if env.get("GITHUB_ACTIONS") == "true":
        stream = out or sys.stdout
        for line in workflow_commands(verdict, report):
            print(line, file=stream)
        stream.flush()


def write_suite_summary(runs: Sequence[tuple[RunVerdict, RunDir]], exit_code: int, *,
                        environ: Mapping[str, str] | None = None) -> None:
    """The suite's job summary (the annotations were printed by each run)."""
    _append(os.environ if environ is None else environ, suite_summary(runs, exit_code))
