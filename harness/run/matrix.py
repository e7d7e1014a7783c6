"""The harness's self-test: variants of the reference service against scenarios, over seeds.

A cell is *expected* to pass (the correct service, every scenario) or to be *caught* (a seeded
bug, by the scenario that declares it in ``expect: {variant: category}``: that category above
zero and exit code 1). Cells without an expectation are run only with ``full`` and shown
without judgement. Any cell that differs from its expectation is marked, and makes the matrix
fail: a harness that misses a seeded bug, or condemns correct code, cannot be trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness._exceptions import ExitCode
from harness.run.request import RunOutcome, RunRequest

CORRECT = "correct"


@dataclass(frozen=True)
class Cell:
    """One run of the matrix and what it was expected to show."""

    scenario: str
    variant: str
    seed: int
    expected: str | None  # "pass", a category name, or None (no expectation)
    exit_code: int
    violations: dict[str, int]
    run_dir: str

    @property
    def outcome(self) -> str:
        if self.exit_code not in (ExitCode.PASS, ExitCode.VIOLATION, ExitCode.SLO_BREACH):
            return f"error({self.exit_code})"
        if not self.violations:
            return "pass"
        return "caught:" + ",".join(sorted(self.violations))

    @property
    def as_expected(self) -> bool | None:
        if self.expected is None:
            return None
        if self.expected == "pass":
            return self.exit_code in (ExitCode.PASS, ExitCode.SLO_BREACH) and not self.violations
        return self.exit_code == ExitCode.VIOLATION and self.violations.get(self.expected, 0) > 0


@dataclass(frozen=True)
class Planned:
    scenario: Path
    scenario_name: str
    variant: str
    seed: int
    expected: str | None


def plan(scenarios: Iterable[tuple[Path, str, dict[str, str]]], variants: Sequence[str], seeds: Sequence[int],
         *, full: bool) -> list[Planned]:
    """The cells to run: (scenario path, name, expect mapping) x variants x seeds."""
    cells: list[Planned] = []
    for path, name, expect in scenarios:
        for variant in variants:
            expected = "pass" if variant == CORRECT else expect.get(variant)
            if expected is None and not full:
                continue
            cells.extend(Planned(path, name, variant, seed, expected) for seed in seeds)
    return cells


def cell_from(outcome: RunOutcome, planned: Planned) -> Cell:
    violations = {category.value: count for category, count in outcome.verdict.violations.items()}
    return Cell(scenario=planned.scenario_name, variant=planned.variant, seed=planned.seed,
                expected=planned.expected, exit_code=outcome.exit_code, violations=violations,
                run_dir=str(outcome.run_dir.path))


def run_matrix(cells: Sequence[Planned], run_one: Callable[[RunRequest], RunOutcome], *, base: RunRequest,
               out_file: Path | None = None, echo: Callable[[str], None] = print) -> list[Cell]:
    """Run every planned cell in order, appending each result to ``out_file`` as it lands."""
    results = []
    for index, planned in enumerate(cells, start=1):
        request = RunRequest(scenario=planned.scenario, target=base.target, variant=planned.variant,
                             seed=planned.seed, duration=base.duration, users=base.users, workers=base.workers,
                             out=base.out, allow_remote=base.allow_remote)
        cell = cell_from(run_one(request), planned)
        results.append(cell)
        mark = {True: "as expected", False: "UNEXPECTED", None: ""}[cell.as_expected]
        echo(f"[{index}/{len(cells)}] {cell.scenario} x {cell.variant} seed {cell.seed}: {cell.outcome} {mark}")
        if out_file is not None:
            with out_file.open("a") as handle:
                handle.write(json.dumps({**asdict(cell), "outcome": cell.outcome,
                                         "as_expected": cell.as_expected}) + "\n")
        if cell.exit_code == ExitCode.INTERRUPTED:
            break
    return results


def render(cells: Sequence[Cell]) -> str:
    """Scenarios as rows, variants as columns; each cell sums its seeds, '!' marks a surprise."""
    scenarios = list(dict.fromkeys(c.scenario for c in cells))
    variants = list(dict.fromkeys(c.variant for c in cells))
    table: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        table.setdefault((cell.scenario, cell.variant), []).append(cell)
    rows = [["scenario", *variants]]
    for scenario in scenarios:
        row = [scenario]
        for variant in variants:
            group = table.get((scenario, variant), [])
            row.append(_summarise(group) if group else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def _summarise(group: Sequence[Cell]) -> str:
    passed = sum(1 for c in group if c.outcome == "pass")
    caught = [c for c in group if c.outcome.startswith("caught")]
    categories = sorted({k for c in caught for k in c.violations})
    text = f"pass {passed}/{len(group)}" if not caught else f"caught {len(caught)}/{len(group)} {','.join(categories)}"
    errors = [c for c in group if c.outcome.startswith("error")]
    if errors:
        text += f" err {len(errors)}"
    if any(c.as_expected is False for c in group):
        text = "!" + text
    return text


def matrix_passed(cells: Sequence[Cell]) -> bool:
    return all(c.as_expected is not False for c in cells)


def summary_json(cells: Sequence[Cell]) -> dict[str, Any]:
    return {"cells": len(cells), "unexpected": [asdict(c) for c in cells if c.as_expected is False],
            "passed": matrix_passed(cells)}
