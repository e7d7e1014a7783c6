"""The stages of a pytest session: one per (target, variant, seed) kept for the session, or one per test.

A stage is started the first time a test asks for it and stopped at the end of the session (or
of the test, with ``@pytest.mark.orderquake(stage="test")``). Between tests a shared stage is
healed, and each load run on it judges only its own ids (``harness.pytest_plugin.scope``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.pytest_plugin.settings import OrderquakeSettings
from harness.stage import LocalStage, StageConfig


@dataclass
class Leased:
    """A started stage and the ids of the load runs that used it, oldest first."""

    stage: LocalStage
    run_ids: list[str] = field(default_factory=list)


def start_stage(settings: OrderquakeSettings, root: Path) -> Leased:
    """A fresh stage for ``settings`` under ``root`` (its databases, sockets and ``logs/``)."""
    stage = LocalStage.start(StageConfig(root=root, target=settings.target, seed=settings.seed,
                                         variant=settings.variant, log_dir=root / "logs"))
    return Leased(stage)


@dataclass
class StagePool:
    """The session's shared stages by ``settings.stage_key``; ``close()`` stops them all."""

    make_root: Callable[[str], Path]
    stages: dict[tuple[str, str, int], Leased] = field(default_factory=dict)

    def get(self, settings: OrderquakeSettings) -> Leased:
        leased = self.stages.get(settings.stage_key)
        if leased is None:
            leased = start_stage(settings, self.make_root(f"stage-{settings.variant}-{settings.seed}"))
            self.stages[settings.stage_key] = leased
        return leased

    def close(self) -> None:
        errors = []
        for leased in self.stages.values():
            try:
                leased.stage.stop()
            except Exception as exc:  # stop the others anyway; report every one at the end
                errors.append(f"{type(exc).__name__}: {exc}")
        self.stages.clear()
        if errors:
            raise RuntimeError("orderquake could not stop every stage: " + "; ".join(errors))
