from pathlib import Path

from harness.run.matrix import Cell, matrix_passed, plan, render


def _cell(variant: str, expected: str | None, code: int, violations: dict[str, int], seed: int = 1) -> Cell:
    return Cell(scenario="db-outage", variant=variant, seed=seed, expected=expected, exit_code=code,
                violations=violations, run_dir="runs/x")


def test_plan_runs_correct_everywhere_and_variants_where_expected() -> None:
    scenarios = [(Path("a.yaml"), "a", {"ack-before-commit": "lost"}), (Path("b.yaml"), "b", {})]
    cells = plan(scenarios, ["correct", "ack-before-commit", "no-reconciler"], [1, 2], full=False)
    assert [(c.scenario_name, c.variant, c.seed, c.expected) for c in cells] == [
        ("a", "correct", 1, "pass"), ("a", "correct", 2, "pass"),
        ("a", "ack-before-commit", 1, "lost"), ("a", "ack-before-commit", 2, "lost"),
        ("b", "correct", 1, "pass"), ("b", "correct", 2, "pass")]
    assert len(plan(scenarios, ["correct", "ack-before-commit", "no-reconciler"], [1], full=True)) == 6


def test_expectations_are_judged() -> None:
    assert _cell("correct", "pass", 0, {}).as_expected is True
    assert _cell("correct", "pass", 3, {}).as_expected is True  # SLO breach keeps correctness
    assert _cell("correct", "pass", 1, {"lost": 1}).as_expected is False
    assert _cell("ack-before-commit", "lost", 1, {"lost": 3}).as_expected is True
    assert _cell("ack-before-commit", "lost", 1, {"unreturned": 3}).as_expected is False
    assert _cell("ack-before-commit", "lost", 0, {}).as_expected is False
    assert _cell("no-reconciler", None, 1, {"unreturned": 1}).as_expected is None
    assert _cell("correct", "pass", 4, {}).outcome == "error(4)"


def test_render_marks_surprises() -> None:
    cells = [_cell("correct", "pass", 0, {}, seed=1), _cell("correct", "pass", 0, {}, seed=2),
             _cell("ack-before-commit", "lost", 1, {"lost": 2}, seed=1),
             _cell("ack-before-commit", "lost", 0, {}, seed=2)]
    table = render(cells)
    assert "pass 2/2" in table
    assert "!caught 1/2 lost" in table
    assert not matrix_passed(cells)
    assert matrix_passed(cells[:3])
