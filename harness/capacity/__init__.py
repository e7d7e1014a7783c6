"""Capacity planning: open-model steps until an SLO or an invariant breaks, the knee, and a model past it.

    outcome = capacity(CapacityRequest(scenario=path, rates=(20, 40, 80)))   # harness.capacity.session
    outcome.series[0].knee          # the highest step that holds below the first broken one
    outcome.series[0].fit           # Gunther's USL fitted to the steps (harness.capacity.usl)

| module | what |
|---|---|
| ``plan`` | the request: step rates, held faults (short specs) |
| ``steps`` | one step's client numbers from the history (pure) |
| ``knee`` | step verdicts, harness-limited, the knee (pure) |
| ``usl`` | the Universal Scalability Law fit (pure) |
| ``cpu`` | CPU seconds per component from ``/proc`` |
| ``runner`` | one series on one stage: steps, recovery, final reads, verdict, attribution |
| ``output`` | ``capacity.json``, the terminal table, ``junit.xml`` |
| ``session`` | the whole command: the series with and without the compared fault |
"""

from harness.capacity.knee import Knee, Step, find_knee
from harness.capacity.output import print_tables
from harness.capacity.plan import CapacityRequest, geometric, parse_fault, parse_rates
from harness.capacity.runner import Series
from harness.capacity.session import CapacityOutcome, capacity
from harness.capacity.usl import UslFit, fit_usl

__all__ = ["CapacityOutcome", "CapacityRequest", "Knee", "Series", "Step", "UslFit", "capacity", "find_knee",
           "fit_usl", "geometric", "parse_fault", "parse_rates", "print_tables"]
