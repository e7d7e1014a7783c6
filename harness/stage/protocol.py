"""What a run and its faults use of a stage, whichever backend holds it (local processes, attach).

``LocalStage`` (harness/stage/local.py) starts everything; ``AttachedStage``
(harness/stage/attach.py) starts nothing and refuses what would need it (``postgres``,
``state``, ``restart``: the process faults, which attach mode refuses before a run starts).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from harness.stage.local import Link
    from harness.stage.postgres import PostgresServer
    from harness.stage.process import SupervisedProcess
    from harness.stage.provider_control import ProviderControl
    from harness.stage.state import StageState
    from harness.stage.toxiproxy import ToxiproxyClient
    from harness.target import Target


class Stage(Protocol):
    target: Target
    toxiproxy: ToxiproxyClient
    links: dict[str, Link]
    components: dict[str, SupervisedProcess]

    @property
    def postgres(self) -> PostgresServer: ...
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
