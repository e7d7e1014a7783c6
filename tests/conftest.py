"""Shared test configuration: unit tests need no server; integration tests start real ones.

Property-based tests run under a Hypothesis settings profile. ``ci`` (the default) is derandomized:
the examples come from a fixed seed, so a run fails or passes the same way every time and a red
``make test`` is a real failure, never bad luck. ``explore`` (``HYPOTHESIS_PROFILE=explore``, or
``make test-explore``) draws fresh random seeds and runs ten times the examples, to hunt for the
inputs ``ci`` never tries; what it finds is reproduced with the printed ``@reproduce_failure``
blob or ``--hypothesis-seed``, then fixed and, where useful, pinned with ``@example``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Example runtimes depend on the machine and, in the integration tests, on real servers.
_SLOW_IS_FINE = [HealthCheck.too_slow]

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True, database=None,
                          suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("explore", derandomize=False, max_examples=1000, deadline=None, print_blob=True,
                          suppress_health_check=_SLOW_IS_FINE)
# An unknown name fails here, loudly, rather than quietly running some other profile.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Anything under tests/integration is an integration test, whether or not it says so.
    for item in items:
        if "/tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _not_a_github_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs inside these tests must not write into the job summary or annotate the CI job that runs them."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
