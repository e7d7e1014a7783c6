"""A resilience check written as a test: orders under load survive a PostgreSQL outage.

Copy this file to start your own. It runs against the reference order service by default; point
it at your own service with a target file (DESIGN.md section 4):

    .venv/bin/pytest tests/resilience --orderquake-target targets/my-service.yaml
    ORDERQUAKE_TARGET=targets/my-service.yaml .venv/bin/pytest tests/resilience   # the same, for CI

``--orderquake-variant`` and ``--orderquake-seed`` choose the variant and the seed the same way,
and ``@pytest.mark.orderquake(...)`` on a test wins over all of them. Each load run keeps its run
directory (``report.html``, ``verdict.json``, the history, the logs) under the test's ``tmp_path``;
a failure prints its path and the first examples of every violation.
"""

from __future__ import annotations

import pytest

from harness.pytest_plugin import assert_verdict

pytestmark = pytest.mark.integration


def test_orders_survive_a_db_outage(orderquake_load, orderquake_faults) -> None:
    with orderquake_load(users=8, mix={"order": 1}, duration="12s") as load:
        load.wait_until(3)
        with orderquake_faults.db_outage():  # PostgreSQL stopped hard; started again on leaving the block
            load.wait_until(7)
    assert_verdict(load.verdict())


def test_orders_survive_a_slow_provider(orderquake_load, orderquake_faults, orderquake_stage) -> None:
    # The same session stage as above: each load run judges only the ids its own clients chose.
    assert "provider" in orderquake_stage.links
    with orderquake_load(users=4, mix={"order": 3, "get_order": 1}, duration="6s") as load:
        load.wait_until(1)
        with orderquake_faults.latency("provider", 300, jitter=100):  # the SUT's calls to the provider
            load.wait_until(4)
    assert_verdict(load.verdict())
