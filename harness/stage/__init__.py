"""The stage: the processes and links a run needs, on loopback (the local backend).

``LocalStage.start(StageConfig(...))`` brings up PostgreSQL, Toxiproxy with the four links of
DESIGN.md section 2, the mock provider and the SUT; ``heal()`` undoes every fault; ``stop()``
leaves nothing behind. See docs/architecture.md for the full interface.
"""

from harness.stage.local import LINKS, LocalStage, StageConfig, check_loopback
from harness.stage.postgres import PostgresServer, StopMode
from harness.stage.process import SupervisedProcess
from harness.stage.toxics import Stream, ToxicKind, validate_toxic
from harness.stage.toxiproxy import ToxiproxyClient

__all__ = ["LINKS", "LocalStage", "PostgresServer", "StageConfig", "StopMode", "Stream", "SupervisedProcess",
           "ToxicKind", "ToxiproxyClient", "check_loopback", "validate_toxic"]
