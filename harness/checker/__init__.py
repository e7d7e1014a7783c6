"""The checker: the client history, the SUT's final state and the provider's ledger, joined per id.

    evidence = read_evidence(run_dir.evidence_files())    # the edge: files to plain records (DuckDB)
    findings = judge(evidence.judged[0])                  # pure, one id
    result = invariants_checker(evidence)                 # one concern; the others in ``checkers``
    verdict, reason = compose([result, ...])              # fail over unknown over pass

``harness.run.verdict.judge_run`` composes every checker over a run directory; it is what the
run and ``orderquake check`` both call. ``read_evidence`` is the reader they use
(``harness.checker.reading_duckdb``); ``harness.checker.reading.read_evidence`` is the plain-Python
definition it is tested against, and its fallback.
"""

from harness.checker.checkers import (
    check_safe,
    coverage_checker,
    fault_checker,
    history_checker,
    integrity_checker,
    invariants_checker,
    money_checker,
    reading_checker,
    run_checker,
)
from harness.checker.evidence import (
    ClientSummary,
    Evidence,
    EvidenceFiles,
    ForgedClaim,
    HistoryDamage,
    IdEvidence,
    ProviderRecord,
    SutRow,
    is_clean,
)
from harness.checker.judge import Finding, judge
from harness.checker.model import (
    Category,
    CategoryResult,
    CheckerResult,
    Counts,
    Kind,
    MoneyFlow,
    RunVerdict,
    SloOutcome,
    Verdict,
    compose,
)
from harness.checker.reading import EvidenceError
from harness.checker.reading_duckdb import read_evidence

__all__ = [
    "Category",
    "CategoryResult",
    "CheckerResult",
    "ClientSummary",
    "Counts",
    "Evidence",
    "EvidenceError",
    "EvidenceFiles",
    "Finding",
    "ForgedClaim",
    "HistoryDamage",
    "IdEvidence",
    "Kind",
    "MoneyFlow",
    "ProviderRecord",
    "RunVerdict",
    "SloOutcome",
    "SutRow",
    "Verdict",
    "check_safe",
    "compose",
    "coverage_checker",
    "fault_checker",
    "history_checker",
    "integrity_checker",
    "invariants_checker",
    "is_clean",
    "judge",
    "money_checker",
    "read_evidence",
    "reading_checker",
    "run_checker",
]
