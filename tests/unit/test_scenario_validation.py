"""Bad scenario files: each gives a ScenarioError naming the file, the line and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness._exceptions import ScenarioError, UsageError
from harness.cli.main import main
from harness.scenario import Overrides, load_scenario, parse_scenario

GOOD = """\
name: demo
duration: 30s
load: {users: 5}
faults:
  - {at: 5s, for: 10s, kind: latency, link: provider, latency: 800ms}
"""


def _error(text: str, overrides: Overrides | None = None) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(textwrap.dedent(text), file="demo.yaml", overrides=overrides)
    return info.value


@pytest.mark.parametrize(("text", "line", "field", "says"), [
    ("name: x\nduration: 30s\nload:\n  users: ten\n", 4, "load.users", "whole number"),
    ("name: x\nduration: 30s\nload: {users: 5, spawn_rate: fast}\n", 3, "load.spawn_rate", "number"),
    ("name: x\nduration: 30s\nfaults:\n  - at: 5s\n    kind: meteor\n", 5, "faults[0].kind", "db_outage"),
    ("name: x\nduration: 30s\nfaults:\n  - {at: 5s, kind: latency, link: moon}\n", 4, "faults[0].link",
     "client, provider, callbacks, db"),
    ("name: x\nduration: -30s\n", 2, "duration", "zero or more"),
    ("name: x\nduration: 0s\n", 2, "duration", "above zero"),
    ("name: x\nduration: 30s\nfaults:\n  - {at: 5s, for: -2s, kind: db_outage}\n", 4, "faults[0].for", "zero or more"),
    ("name: x\nduration: 30s\nfaults:\n  - at: 25s\n    for: 10s\n    kind: db_outage\n", 5, "faults[0].for",
     "at + for <= duration"),
    ("name: x\nduration: 30s\nfaults:\n  - {at: 31s, kind: db_outage}\n", 4, "faults[0].at", "at < duration"),
    ("name: x\nduration: 30s\nlaod: {users: 5}\n", 3, "laod", "load"),
    ("name: x\nduration: 30s\nfaults:\n  - {at: 1s, kind: latency, link: db, latncy: 5}\n", 4, "faults[0].latncy",
     "latency, jitter"),
    ("name: x\nduration: 30s\nfaults:\n  - {at: 1s, kind: latency}\n", 4, "faults[0].link", "needs link"),
    ("name: x\nduration: 30s\nfaults:\n  - {at: 1s, kind: provider_errors, rate: 2}\n", 4, "faults[0].rate",
     "from 0 to 1"),
    ("name: x\nduration: 30s\nslo: ['p42 < 5']\n", 3, "slo[0]", "p99"),
    ("name: x\nduration: 30s\nexpect: {no-idempotency: doubled}\n", 3, "expect.no-idempotency", "duplicated"),
    ("name: x\nduration: 30s\nexpect: {buggy: lost}\n", 3, "expect.buggy", "no-reconciler"),
    ("name: x\nduration: 30s\nnemesis: {kinds: [latency, meteor]}\n", 3, "nemesis.kinds[1].kind", "db_outage"),
    ("name: x\nduration: 30s\nload: {mix: {order: 0}}\n", 3, "load.mix", "above zero"),
    ("name: x\nduration: 30s\nload: {users: 5}\nload: {users: 6}\n", 4, "load", "twice"),
    ("name: x\nduration: 30s\nfaults: [\n", 4, None, "not valid YAML"),
])
def test_bad_file_names_line_and_field(text: str, line: int, field: str | None, says: str) -> None:
    error = _error(text)
    assert (error.file, error.line, error.field) == ("demo.yaml", line, field)
    assert says in str(error)
    assert str(error).startswith(f"demo.yaml:{line}: ")


def test_fault_pushed_outside_by_a_shorter_duration_points_at_the_fault() -> None:
    error = _error(GOOD, Overrides(duration=12))
    assert (error.line, error.field) == (5, "faults[0].for")


def test_soak_without_declared_soak_duration_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="soak"):
        parse_scenario(GOOD, file="demo.yaml", overrides=Overrides(soak=True))


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="could not be read"):
        load_scenario(tmp_path / "absent.yaml")


def test_validate_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nduration: 30s\nfaults:\n  - {at: 5s, kind: latency, link: moon}\n")
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4: faults[0].link: " in err
    assert str(good) not in err
