"""The checker: the client history, the SUT's final state and the provider's ledger, joined per id.

    inputs = load_inputs(run_dir)      # the edge: files to CheckInputs
    result = check(inputs)             # pure
    write_verdict(run_dir, result.with_run(scenario=..., seed=..., slo=[...]))
"""

from harness.checker.artifacts import COMPLETE_MARKER, load_inputs, write_verdict
from harness.checker.check import check
from harness.checker.inputs import CheckInputs, ClientOps, ForgedClaim, History, ProviderRecord, SutRecord
from harness.checker.model import (
    Category,
    CategoryResult,
    CheckResult,
    Counts,
    Kind,
    MoneyFlow,
    SloOutcome,
    Verdict,
)

__all__ = [
    "COMPLETE_MARKER",
    "Category",
    "CategoryResult",
    "CheckInputs",
    "CheckResult",
    "ClientOps",
    "Counts",
    "ForgedClaim",
    "History",
    "Kind",
    "MoneyFlow",
    "ProviderRecord",
    "SloOutcome",
    "SutRecord",
    "Verdict",
    "check",
    "load_inputs",
    "write_verdict",
]
