"""The worked example must be able to fail: against ``ack-before-commit`` (answers 201 before the
order is durable) with the same db_outage, it fails, and its message shows the lost orders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).with_name("test_example.py")


def test_the_example_fails_against_ack_before_commit(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=EXAMPLE.read_text())
    result = pytester.runpytest_subprocess("--orderquake-variant", "ack-before-commit", "-k", "db_outage",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "orderquake verdict fail, expected pass" in out
    assert re.search(r"^E +lost: [1-9]\d*$", out, re.MULTILINE), out
    # the first examples, one line each: id, why, and the client's history of that id
    examples = re.findall(r"^E +(r[0-9a-f]+-o-\d+-\d+): client got ok .*SUT has no record \| order#1 .* ok 201",
                          out, re.MULTILINE)
    assert examples, out
    run_dir = re.search(r"run directory: (\S+)", out)
    assert run_dir is not None and (Path(run_dir.group(1)) / "report.html").is_file()
    verdict = json.loads((Path(run_dir.group(1)) / "verdict.json").read_text())
    assert verdict["verdict"] == "fail"
    assert set(examples) <= {example["id"] for example in verdict["invariants"]["lost"]["examples"]}
