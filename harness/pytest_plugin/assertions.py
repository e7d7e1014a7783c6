"""``assert_verdict``: a verdict that is not the one expected fails the test with what happened.

The failure message is what a CI log shows, so it stands on its own: the verdict and its reason,
then each violated category with its count and its first examples, one line each with the id,
why it is a violation, and the client's history of that id (every attempt, when, and its outcome).

    AssertionError: orderquake verdict fail, expected pass: invariants: 3 lost
      run directory: /tmp/pytest-of-qa/pytest-7/test_db_outage0/orderquake/20261123T...-test_db_outage
      lost: 3
        r4f1c2a9b-o-8812-17: client got ok, SUT has no record | order#1 +3.412s..+3.418s ok 201 pending
      submissions: 412 (406 ids): ok 371, fail 35, info 6
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.checker.model import Category, RunVerdict, Verdict

EXAMPLES_SHOWN = 3
_KEPT = 64
# The run directory of each verdict an orderquake_load run returned, so that the message can name it
# and time the history from the load's start. Keyed by identity (a verdict is not hashable); the
# verdict is held too, so its id cannot be reused while the entry lives.
_RUN_DIRS: dict[int, tuple[RunVerdict, Path]] = {}


def remember(verdict: RunVerdict, run_dir: Path) -> None:
    """Note where ``verdict`` was judged (``orderquake_load`` does, for every run)."""
    _RUN_DIRS[id(verdict)] = (verdict, run_dir)
    while len(_RUN_DIRS) > _KEPT:
        del _RUN_DIRS[next(iter(_RUN_DIRS))]


def run_dir_of(verdict: RunVerdict) -> Path | None:
    entry = _RUN_DIRS.get(id(verdict))
    return entry[1] if entry is not None and entry[0] is verdict else None


def _history(example: Mapping[str, Any], origin: float) -> str:
    from harness.report.story import attempts  # pairs invokes with completions, as the report does

    steps = []
    for attempt in attempts(list(example.get("history") or ()), origin):
        when = "+?" if attempt.start is None else f"+{attempt.start:.3f}s"
        if attempt.end is not None:
            when += f"..+{attempt.end:.3f}s"
        detail = " ".join(str(part) for part in (attempt.status, attempt.error) if part not in (None, ""))
        steps.append(f"{attempt.op}#{attempt.attempt} {when} {attempt.outcome}" + (f" {detail}" if detail else ""))
    return "; ".join(steps) or "no client history"


def _origin(verdict: RunVerdict, run_dir: Path | None) -> float:
    """The wall time the load started, so the history reads in seconds from it (0: absolute times)."""
    if run_dir is None:
        return 0.0
    from harness.run.verdict import RunFacts
    from harness.rundir import RunDir

    facts = RunFacts.read(RunDir(run_dir))
    return (facts.load_started_wall or 0.0) if facts is not None else 0.0


def describe_verdict(verdict: RunVerdict, *, run_dir: Path | None = None, shown: int = EXAMPLES_SHOWN) -> str:
    """Every line of the failure message after the first."""
    lines = []
    run_dir = run_dir or run_dir_of(verdict)
    if run_dir is not None:
        lines.append(f"  run directory: {run_dir} (report.html, verdict.json)")
    origin = _origin(verdict, run_dir)
    for category, result in verdict.invariants.items():
        if not (result.violation and result.count):
            continue
        lines.append(f"  {category.value}: {result.count}")
        for example in result.examples[:shown]:
            where = f" [{example['where']}]" if example.get("where") else ""
            lines.append(f"    {example.get('id')}: {example.get('why')}{where} | {_history(example, origin)}")
        if result.count > shown:
            lines.append(f"    ... and {result.count - shown} more in verdict.json")
    for outcome in verdict.slo:
        if not outcome.passed:
            lines.append(f"  slo breached: {outcome.rule} (observed {outcome.observed})")
    counts = verdict.counts
    lines.append(f"  submissions: {counts.attempted} ({counts.ids} ids): ok {counts.ok}, fail {counts.fail}, "
                 f"info {counts.info}")
    return "\n".join(lines)


def assert_verdict(verdict: RunVerdict, expected: Verdict | str = Verdict.PASS, *,
                   category: Category | str | None = None, run_dir: Path | None = None) -> None:
    """Fail the test unless ``verdict`` is ``expected`` (and, if given, ``category`` was violated).

    >>> assert_verdict(load.verdict())  # doctest: +SKIP
    >>> assert_verdict(load.verdict(), "fail", category="lost")  # doctest: +SKIP

    ``run_dir`` names the run directory in the message; a verdict from ``orderquake_load`` knows its own.
    """
    __tracebackhide__ = True  # pytest shows the message, not this function's source
    try:
        wanted = Verdict(expected)
    except ValueError:
        raise ValueError(f"expected one of {', '.join(v.value for v in Verdict)}, got expected={expected!r}") from None
    try:
        violated = None if category is None else Category(category)
    except ValueError:
        raise ValueError(f"expected one of {', '.join(c.value for c in Category if c.violation)}, "
                         f"got category={category!r}") from None
    missing = violated is not None and not verdict.violations.get(violated)
    if verdict.verdict is wanted and not missing:
        return
    head = f"orderquake verdict {verdict.verdict.value}, expected {wanted.value}"
    if missing and violated is not None:
        head += f" with {violated.value} violations (none found)"
    reason = f": {verdict.reason}" if verdict.reason else ""
    raise AssertionError(f"{head}{reason}\n{describe_verdict(verdict, run_dir=run_dir)}")
