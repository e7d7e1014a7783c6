"""The fault catalogue: one small class per fault, ``apply`` / ``heal``, registered by name.

``REGISTRY[kind](name, params)`` makes a fault; ``fault.apply(ctx)`` injects it and
``fault.heal(ctx)`` undoes it (safe after a failed or partial apply). The orchestrator schedules
them and journals each start and heal in ``faults.jsonl``; ``orderquake faults`` prints the
catalogue with each fault's parameters.
"""

from harness.faults.base import Fault, FaultContext, Param, ParamError
from harness.faults.forged import FORGED_JOURNAL
from harness.faults.registry import REGISTRY, describe, fault_class, make_fault

__all__ = ["FORGED_JOURNAL", "REGISTRY", "Fault", "FaultContext", "Param", "ParamError", "describe", "fault_class",
           "make_fault"]
