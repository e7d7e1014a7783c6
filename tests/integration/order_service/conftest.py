"""Fixtures for the reference service's tests: a whole local stage per test, stopped whatever happens.

Each test states its variant and tuning; the stage (PostgreSQL, Toxiproxy, the real mock provider
and the service) comes from ``harness.stage`` so these tests exercise exactly what a run does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from order_service_support import FAST_SUT, StageFactory, behave

from harness.stage import LocalStage, StageConfig


@pytest.fixture
def stage_factory(tmp_path: Path) -> Iterator[StageFactory]:
    """Start stages on demand (``stage_factory("no-reconciler", ENV=...)``); every one is stopped at the end."""
    started: list[LocalStage] = []

    def start(variant: str = "correct", **sut_env: str) -> LocalStage:
        root = tmp_path / f"stage{len(started)}"
        stage = LocalStage.start(StageConfig(root=root, variant=variant, seed=7, sut_env={**FAST_SUT, **sut_env}))
        started.append(stage)
        # Deterministic settlement: the tests below compare states, not rates.
        behave(stage, decline_rate=0.0, reject_rate=0.0, settle_delay_ms=100)
        return stage

    try:
        yield start
    finally:
        for stage in reversed(started):
            stage.stop()
