"""What a run and its faults use of a stage, whichever backend holds it (local processes, attach).

``LocalStage`` (harness/stage/local.py) starts everything; ``AttachedStage``
(harness/stage/attach.py) starts nothing and refuses what would need it (``postgres``,
``state``, ``restart``: the process faults, which attach mode refuses before a run starts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness._exceptions import InfrastructureError, OrderquakeError
from harness.stage.postgres import StopMode

if TYPE_CHECKING:
    from harness.stage.local import Link
    from harness.stage.provider_control import ProviderControl
    from harness.stage.state import StageState
    from harness.stage.toxiproxy import ToxiproxyClient
    from harness.target import Target


class Database(Protocol):
    """What the process faults do to the SUT's database: a local postmaster or its container."""

    @property
    def url(self) -> str: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def running(self) -> bool: ...
    def start(self, deadline_s: float = 30.0) -> None: ...
    def stop(self, mode: StopMode | str = StopMode.FAST, deadline_s: float = 30.0) -> None: ...
    def kill(self) -> None: ...


class Component(Protocol):
    """A component the crash faults kill: a supervised process or a container."""

    @property
    def running(self) -> bool: ...
    def crash(self) -> None: ...


class Stage(Protocol):
    target: Target
    toxiproxy: ToxiproxyClient
    links: dict[str, Link]

    @property
    def components(self) -> Mapping[str, Component]: ...
    @property
    def postgres(self) -> Database: ...
    @property
    def state(self) -> StageState: ...
    @property
    def provider(self) -> ProviderControl: ...
    @property
    def provider_url(self) -> str: ...
    @property
    def sut_url(self) -> str: ...
    @property
    def client_url(self) -> str: ...
    @property
    def sut_database_url(self) -> str: ...
    @property
    def api_key(self) -> str: ...
    @property
    def webhook_secret(self) -> str: ...
    @property
    def log_dir(self) -> Path: ...

    def flows_env(self) -> str: ...
    def restart(self, name: str) -> None: ...
    def register_process(self, name: str, pids: list[int]) -> None: ...
    def heal(self) -> None: ...
    def stop(self) -> None: ...


def heal_each(steps: Iterable[Callable[[], None]], what: str) -> None:
    """Run every step of a heal, each even when one before it failed; then raise ``InfrastructureError``
    naming every failure, so that one stuck part never leaves the others faulted."""
    errors: list[str] = []
    for step in steps:
        try:
            step()
        except OrderquakeError as exc:
            errors.append(str(exc))
    if errors:
        raise InfrastructureError(f"{what} could not be healed: " + "; ".join(errors))
