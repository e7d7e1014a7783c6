"""On a real run with a provider latency fault, the report and run.json's metrics read the history in SQL
(``harness.load.history_sql``), and give exactly what their Python definitions give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checker.model import RunVerdict
from harness.load.history import iter_events
from harness.load.history_sql import Shared, operations, vouched
from harness.report import html
from harness.run.metrics import client_metrics, history_metrics
from harness.rundir import RunDir

pytestmark = pytest.mark.integration


def test_the_report_page_is_the_same_from_sql_and_from_python(run_dir: Path) -> None:
    run = RunDir(run_dir)
    verdict = RunVerdict.from_json(json.loads(run.verdict.read_text()))
    assert vouched(verdict)
    with operations(run.history, clean=True) as ops:
        assert ops is not None  # a real run's history is well-formed: the SQL path is the one taken
        (count,) = ops.rows("SELECT count(*) FROM ops")[0]
        assert count > 100
    from_sql = html.render_html(run_dir)
    assert html.render_html(run_dir, shared=Shared(None)) == from_sql  # None: the Python readers


def test_run_json_metrics_are_the_same_from_sql_and_from_python(run_dir: Path) -> None:
    run = RunDir(run_dir)
    info = json.loads(run.run_info.read_text())
    origin, seconds = info["load_started_wall"], info["load_seconds"]
    expected = client_metrics(iter_events(run.history), load_seconds=seconds, origin_wall=origin)
    assert expected.completed > 100 and expected.timeline
    assert history_metrics(run.history, load_seconds=seconds, origin_wall=origin, clean=True) == expected
