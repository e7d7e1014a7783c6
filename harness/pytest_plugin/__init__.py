"""orderquake as a pytest plugin: resilience checks written as tests (entry point ``pytest11``).

    import pytest
    from harness.pytest_plugin import assert_verdict

    @pytest.mark.integration
    def test_orders_survive_a_db_outage(orderquake_load, orderquake_faults):
        with orderquake_load(users=8, mix={"order": 1}, duration="12s") as load:
            load.wait_until(3)
            with orderquake_faults.db_outage():
                load.wait_until(7)
        assert_verdict(load.verdict())

Fixtures (nothing starts until a test asks for one):

- ``orderquake_stage``: a running ``LocalStage`` for the configured target (``.links``,
  ``.provider_url``, ``.client_url``, ...), shared by the session's tests with the same target,
  variant and seed; ``@pytest.mark.orderquake(stage="test")`` gives a test its own.
- ``orderquake_faults``: ``db_outage()``, ``latency(link, ms)`` and ``inject(kind, **params)`` over the
  whole catalogue (``orderquake faults``), as context managers that heal on exit.
- ``orderquake_load``: ``orderquake_load(users=, mix=, duration=, ...)`` runs Locust in the background;
  ``load.verdict()`` heals, waits for recovery, reads the final state and returns the ``RunVerdict``
  judged on a run directory under the test's ``tmp_path`` (``report.html`` included).
- ``orderquake_settings``: the resolved settings, and where each came from.

Settings, each taken from the first of these that gives it (only that value is checked, and an
invalid one names its source: ``invalid seed 'x' from --orderquake-seed``):

1. the marker ``@pytest.mark.orderquake(target=..., variant=..., seed=..., stage=...)``, the
   closest to the test winning (function over class over module);
2. the options ``--orderquake-target``, ``--orderquake-variant``, ``--orderquake-seed``;
3. the environment ``ORDERQUAKE_TARGET``, ``ORDERQUAKE_VARIANT``, ``ORDERQUAKE_SEED``;
4. the ini keys ``orderquake_target``, ``orderquake_variant``, ``orderquake_seed``;

and otherwise the reference service (``targets/reference.yaml``), variant ``correct``, seed 1.
A relative target path is relative to the directory pytest was started in (options, environment)
or to the rootdir (marker, ini). Values given for the whole session are checked when pytest
starts; a marker's when its test asks for a fixture.
"""

from harness.pytest_plugin.assertions import assert_verdict, describe_verdict
from harness.pytest_plugin.settings import OrderquakeSettings, SettingError, StageScope

__all__ = ["OrderquakeSettings", "SettingError", "StageScope", "assert_verdict", "describe_verdict"]
