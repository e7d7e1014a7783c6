"""The orchestrator of one run: stage, load and nemesis, heal, settle, final reads, check.

    run(RunRequest) -> RunOutcome

Jepsen's run shape: the load and the fault schedule run together; then every fault is healed,
load stops, the system is given the scenario's recovery deadline to settle (sampled every second:
time to consistency), the SUT's state and the provider's ledger are read directly, and the pure
checker joins them with the history. Everything the verdict and the report need lands in the
run directory, so ``orderquake check`` and ``orderquake report`` work from it alone.
"""

from harness.run.request import RunOutcome, RunRequest
from harness.run.runner import run
from harness.rundir import RunDir

__all__ = ["RunDir", "RunOutcome", "RunRequest", "run"]
