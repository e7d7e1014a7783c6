"""What a run is asked for and what it gives back: the runner's input and output."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from harness.checker.model import RunVerdict
from harness.run.progress import ProgressMode
from harness.rundir import RunDir


class StageKind(StrEnum):
    """Which backend holds the stage (``--stage``): processes on loopback, or docker-compose.yml's containers."""

    LOCAL = "local"
    COMPOSE = "compose"


@dataclass(frozen=True)
class RunRequest:
    """What ``orderquake run`` was asked for; ``None`` means "as the scenario says"."""

    scenario: Path
    target: Path | None = None
    variant: str | None = None
    seed: int | None = None
    duration: float | None = None
    users: int | None = None
    workers: int = 0
    soak: bool = False
    out: Path | None = None
    allow_remote: bool = False
    remote_workers: int = 0  # Locust workers expected from `orderquake worker` (harness.distributed)
    master_bind: str | None = None  # HOST:PORT the master binds for them (default 127.0.0.1:5557)
    remote_wait: float = 120.0  # seconds the run waits for every remote worker to join
    attach: Path | None = None  # a stage file: run against a stage that already exists (harness.stage.attach)
    stage: StageKind = StageKind.LOCAL
    progress: ProgressMode = ProgressMode.AUTO  # QUIET: nothing on stderr, the caller prints the verdict
    provider_processes: int = 1  # mock provider processes (StageConfig.provider_processes); local stage only


@dataclass(frozen=True)
class RunOutcome:
    """The run directory and the verdict written into it."""

    run_dir: RunDir
    verdict: RunVerdict

    @property
    def exit_code(self) -> int:
        return int(self.verdict.exit_code)
